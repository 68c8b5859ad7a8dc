// The informer cache the services read custom resources from: list, then watch from
// the list's resourceVersion (with bookmarks), applying events in order. It
// tracks the newest resourceVersion it has applied, so a writer can wait until
// the cache has caught up with its own write (read-your-writes). Errors
// restart it with back-off: a watch whose resourceVersion has expired (410)
// re-lists; anything else (429 while a freshly installed CRD warms up, a
// dropped connection, a 5xx) re-watches from where it was, or re-lists if the
// list itself failed. Handlers registered with on() see every change,
// including those a re-list discovers.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../logging.ts";

/** "resync": the periodic re-delivery of every cached object (resyncMs). */
export type CacheEvent = "add" | "update" | "delete" | "resync";

export interface CachedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface CacheOptions<T> {
  kc: k8s.KubeConfig;
  /** What is cached, for logs (e.g. "workflows"). */
  name: string;
  /** Watch path, e.g. /apis/chronoverse.dev/v1alpha1/namespaces/ns/workflows. */
  path: string;
  list: () => Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>;
  /** Watch only objects with these labels (the `list` callback applies the same selector). */
  labelSelector?: string;
  /** Hand every cached object to the handlers again this often, as a "resync" (0: never). */
  resyncMs?: number;
  logger: Logger;
  /** A watch silent this long is ended by the client and restarted (client-node's default: 30 s). */
  idleTimeoutMs?: number;
}

/** Compares resourceVersions as the etcd revisions they are; undefined when not numeric. */
export function compareResourceVersions(a: string, b: string): number | undefined {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class ObjectCache<T extends CachedObject> {
  readonly #options: CacheOptions<T>;
  readonly #objects = new Map<string, T>();
  #resourceVersion = "";
  #synced = false;
  #stopped = false;
  #failures = 0;
  #errors = 0;
  #timer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #watch: AbortController | undefined;
  /** Bumped whenever a watch is replaced, so the old one's end is ignored. */
  #watchId = 0;
  #waiters = new Set<() => void>();
  #watchesStarted = 0;
  readonly #handlers: ((object: T, event: CacheEvent) => void)[] = [];

  constructor(options: CacheOptions<T>) {
    this.#options = options;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Watches started so far, list/watch failures since the last event, and in all (for tests and logs). */
  get stats(): { watches: number; failures: number; errors: number } {
    return { watches: this.#watchesStarted, failures: this.#failures, errors: this.#errors };
  }

  /** Calls `handler` after each change is applied to the cache. */
  on(handler: (object: T, event: CacheEvent) => void): void {
    this.#handlers.push(handler);
  }

  get(name: string): T | undefined {
    return this.#objects.get(name);
  }

  list(): T[] {
    return [...this.#objects.values()];
  }

  /** Whether every change up to `resourceVersion` has been applied. */
  hasReached(resourceVersion: string): boolean {
    if (!this.#synced) return false;
    const order = compareResourceVersions(this.#resourceVersion, resourceVersion);
    return order !== undefined && order >= 0;
  }

  /** Resolves true once `ready()` holds, false after `timeoutMs` (or when stopped). */
  waitUntil(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#stopped || ready()) finish(!this.#stopped);
      };
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Starts list + watch; resolves after the first list (or when `timeoutMs` passes without one). */
  async start(timeoutMs = 30_000): Promise<boolean> {
    void this.#relist();
    const resyncMs = this.#options.resyncMs ?? 0;
    if (resyncMs > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const object of [...this.#objects.values()]) this.#emit(object, "resync");
      }, resyncMs);
      this.#resyncTimer.unref();
    }
    return this.waitUntil(() => this.#synced, timeoutMs);
  }

  /** Resolves once the first list is in the cache, however long that takes (never rejects). */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.#synced) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resyncTimer);
    this.#watch?.abort();
    for (const waiter of [...this.#waiters]) waiter();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #emit(object: T, event: CacheEvent): void {
    for (const handler of this.#handlers) {
      try {
        handler(object, event);
      } catch (error) {
        this.#options.logger.error(
          { cache: this.#options.name, err: describe(error) },
          "cache handler failed",
        );
      }
    }
  }

  #retry(what: "list" | "watch", error: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    this.#errors++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(this.#failures - 1, 8)) * (0.5 + Math.random() / 2);
    this.#options.logger.warn(
      { path: this.#options.path, err: describe(error), retryInMs: Math.round(delay) },
      `${this.#options.name} cache ${what} failed`,
    );
    this.#timer = setTimeout(() => void (what === "list" ? this.#relist() : this.#startWatch()), delay);
  }

  async #relist(): Promise<void> {
    if (this.#stopped) return;
    this.#watchId++;
    this.#watch?.abort();
    let result: Awaited<ReturnType<CacheOptions<T>["list"]>>;
    try {
      result = await this.#options.list();
    } catch (error) {
      this.#retry("list", error);
      return;
    }
    const previous = new Map(this.#objects);
    this.#objects.clear();
    for (const item of result.items) {
      if (item.metadata?.name !== undefined) this.#objects.set(item.metadata.name, item);
    }
    this.#resourceVersion = result.metadata?.resourceVersion ?? "";
    this.#synced = true;
    this.#notify();
    for (const [name, item] of this.#objects) this.#emit(item, previous.delete(name) ? "update" : "add");
    for (const gone of previous.values()) this.#emit(gone, "delete");
    await this.#startWatch();
  }

  async #startWatch(): Promise<void> {
    if (this.#stopped) return;
    const id = ++this.#watchId;
    let expired = false;
    let ended = false;
    const watch = new k8s.Watch(this.#options.kc);
    if (this.#options.idleTimeoutMs !== undefined) {
      // Not a public option of client-node's Watch; the field exists since 1.0.
      Object.assign(watch, { requestTimeoutMs: this.#options.idleTimeoutMs });
    }
    this.#watchesStarted++;
    const done = (error: unknown): void => {
      if (ended) return;
      ended = true;
      if (this.#stopped || id !== this.#watchId) return;
      const code = (error as { code?: number; statusCode?: number } | null)?.statusCode;
      // The client ends a watch that was silent for 30 s; that is no failure.
      const idle = (error as { name?: string } | null)?.name === "TimeoutError";
      if (expired || code === 410) {
        void this.#relist();
      } else if (error && !idle) {
        this.#retry("watch", error);
      } else {
        void this.#startWatch(); // closed by the server (its timeout) or idle: continue from here
      }
    };
    try {
      this.#watch = await watch.watch(
        this.#options.path,
        {
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: this.#options.labelSelector,
        },
        (phase: string, object: unknown) => {
          if (id !== this.#watchId) return;
          if (phase === "ERROR") {
            const status = object as { code?: number };
            if (status.code === 410) expired = true;
            return;
          }
          const item = object as T;
          const name = item.metadata?.name;
          let event: CacheEvent | undefined;
          if (phase === "ADDED" || phase === "MODIFIED") {
            if (name !== undefined) this.#objects.set(name, item);
            event = phase === "ADDED" ? "add" : "update";
          } else if (phase === "DELETED") {
            if (name !== undefined) this.#objects.delete(name);
            event = "delete";
          }
          const rv = item.metadata?.resourceVersion;
          if (rv !== undefined && rv !== "") this.#resourceVersion = rv;
          this.#failures = 0;
          this.#notify();
          if (event !== undefined && name !== undefined) this.#emit(item, event);
        },
        done,
      );
    } catch (error) {
      done(error);
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof k8s.ApiException) return `HTTP ${error.code}`;
  const statusCode = (error as { statusCode?: number } | null)?.statusCode;
  if (statusCode !== undefined) return `HTTP ${statusCode}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
