// The informer caches of the jobs service: @kubernetes/client-node's
// makeInformer (list, then watch; it re-lists when the watch's
// resourceVersion has expired, HTTP 410) plus what the library leaves out: a
// restart with back-off when a list or watch fails for another reason (it
// stops on those), a promise for the first complete list, and change events
// that ./store.ts turns into per-job notifications for StreamJobLogs.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../../src/logging.ts";

export type CacheEvent = "add" | "update" | "delete";

export interface CachedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface InformerCacheOptions<T> {
  /** What is cached, for logs. */
  name: string;
  /** Watch path, e.g. /apis/chronoverse.dev/v1alpha1/namespaces/ns/workflowjobs. */
  path: string;
  list: () => Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>;
  logger: Logger;
}

export class InformerCache<T extends CachedObject> {
  readonly #options: InformerCacheOptions<T>;
  readonly #handlers: ((obj: T, event: CacheEvent) => void)[] = [];
  #inner: (k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>) | undefined;
  #stopped = true;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #markSynced: () => void = () => undefined;
  readonly synced: Promise<void>;

  constructor(options: InformerCacheOptions<T>) {
    this.#options = options;
    this.synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
  }

  on(handler: (obj: T, event: CacheEvent) => void): void {
    this.#handlers.push(handler);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#inner?.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return (this.#inner?.list(namespace) ?? []) as readonly T[];
  }

  /** Starts list + watch; resolves once the first list is in the cache. */
  start(kc: k8s.KubeConfig): Promise<void> {
    if (!this.#stopped) return this.synced;
    this.#stopped = false;
    const { path, logger, name } = this.#options;
    const list = async () => {
      const result = await this.#options.list();
      this.#failures = 0;
      queueMicrotask(() => this.#markSynced());
      return result as unknown as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    const inner = k8s.makeInformer<k8s.KubernetesObject>(kc, path, list);
    this.#inner = inner;
    inner.on("add", (obj) => this.#emit(obj as T, "add"));
    inner.on("update", (obj) => this.#emit(obj as T, "update"));
    inner.on("delete", (obj) => this.#emit(obj as T, "delete"));
    inner.on("error", (error: unknown) => {
      if (this.#stopped) return;
      this.#failures++;
      const delayMs =
        Math.min(30_000, 500 * 2 ** Math.min(this.#failures - 1, 6)) * (0.5 + Math.random() / 2);
      const code = (error as { code?: unknown; statusCode?: unknown } | null)?.code;
      logger.warn(
        {
          cache: name,
          err: typeof code === "number" ? `HTTP ${code}` : String(error),
          retryInMs: Math.round(delayMs),
        },
        "list/watch failed",
      );
      this.#timer = setTimeout(() => {
        if (!this.#stopped) void inner.start();
      }, delayMs);
    });
    void inner.start();
    return this.synced;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inner?.stop();
  }

  #emit(obj: T, event: CacheEvent): void {
    for (const handler of this.#handlers) {
      try {
        handler(obj, event);
      } catch (error) {
        this.#options.logger.error({ cache: this.#options.name, err: String(error) }, "cache handler failed");
      }
    }
  }
}
