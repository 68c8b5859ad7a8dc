// An informer: a local cache of one kind of object kept current by list +
// watch, from @kubernetes/client-node's makeInformer (which re-lists when the
// watch's resourceVersion has expired, HTTP 410). What we add: a restart with
// back-off when the list or watch fails for another reason (the library stops
// on those), a `synced` promise for the first complete list, and a periodic
// resync that hands every cached object to the handlers again, so a missed
// or failed reconcile is never final (level-triggered).
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { backoffDelay } from "./backoff.ts";
import { describeError } from "./kube-errors.ts";

export type InformerEvent = "add" | "update" | "delete" | "resync";
export type InformerHandler<T> = (obj: T, event: InformerEvent) => void;

/** What an informer caches: any object with a name and namespace (our CRD types use string timestamps, unlike k8s.KubernetesObject). */
export interface CachedObject {
  metadata?: { name?: string; namespace?: string };
}

export interface InformerOptions<T extends CachedObject> {
  /** What is cached, for logs. */
  name: string;
  /** The watch path, e.g. /apis/chronoverse.dev/v1alpha1/namespaces/ns/workflows. */
  path: string;
  list: () => Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>;
  labelSelector?: string;
  logger: Logger;
  /** Hand every cached object to the handlers this often (0: never). */
  resyncMs?: number;
}

export class Informer<T extends CachedObject> {
  readonly #options: InformerOptions<T>;
  readonly #handlers: InformerHandler<T>[] = [];
  #inner: (k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>) | undefined;
  #stopped = true;
  #failures = 0;
  #errors = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #synced = false;
  #markSynced: () => void = () => undefined;
  readonly synced: Promise<void>;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
  }

  /** List/watch failures since the informer was created (each one is retried). */
  get errors(): number {
    return this.#errors;
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  on(handler: InformerHandler<T>): void {
    this.#handlers.push(handler);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#inner?.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return (this.#inner?.list(namespace) ?? []) as readonly T[];
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  async start(kc: k8s.KubeConfig): Promise<void> {
    if (!this.#stopped) return this.synced;
    this.#stopped = false;
    const { path, labelSelector, logger, name } = this.#options;
    const list = async () => {
      const result = await this.#options.list();
      this.#failures = 0;
      if (!this.#synced) {
        this.#synced = true;
        queueMicrotask(() => this.#markSynced());
      }
      return result as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    const inner = k8s.makeInformer<k8s.KubernetesObject>(kc, path, list, labelSelector);
    this.#inner = inner;
    inner.on("add", (obj) => this.#emit(obj as T, "add"));
    inner.on("update", (obj) => this.#emit(obj as T, "update"));
    inner.on("delete", (obj) => this.#emit(obj as T, "delete"));
    inner.on("error", (error: unknown) => {
      if (this.#stopped) return;
      this.#failures++;
      this.#errors++;
      const delayMs = backoffDelay(this.#failures, { baseMs: 500, maxMs: 30_000 });
      logger.warn({ informer: name, err: describeError(error), retryInMs: delayMs }, "list/watch failed");
      this.#restartTimer = setTimeout(() => {
        if (!this.#stopped) void inner.start();
      }, delayMs);
    });
    const resyncMs = this.#options.resyncMs ?? 0;
    if (resyncMs > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const obj of inner.list()) this.#emit(obj as T, "resync");
      }, resyncMs);
      this.#resyncTimer.unref();
    }
    void inner.start();
    return this.synced;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#resyncTimer);
    await this.#inner?.stop();
  }

  #emit(obj: T, event: InformerEvent): void {
    for (const handler of this.#handlers) {
      try {
        handler(obj, event);
      } catch (error) {
        this.#options.logger.error(
          { informer: this.#options.name, err: describeError(error) },
          "handler failed",
        );
      }
    }
  }
}
