// An informer for the operator's controllers: the shared list + watch cache of
// src/kube/object-cache.ts (restart with back-off on any failure, re-list on an
// expired resourceVersion, change handlers, periodic resync so a missed or
// failed reconcile is never final — level-triggered), with the shape the
// controllers use: a `synced` promise for the first complete list and lookups
// by namespace and name.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type CacheEvent, ObjectCache } from "../../src/kube/object-cache.ts";

export type InformerEvent = CacheEvent;
export type InformerHandler<T> = (obj: T, event: InformerEvent) => void;

/** What an informer caches: any object with a name and namespace (our CRD types use string timestamps, unlike k8s.KubernetesObject). */
export interface CachedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface InformerOptions<T extends CachedObject> {
  /** What is cached, for logs. */
  name: string;
  /** The watch path of one namespace, e.g. /apis/chronoverse.dev/v1alpha1/namespaces/ns/workflows. */
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
  #cache: ObjectCache<T> | undefined;
  #markSynced: () => void = () => undefined;
  readonly synced: Promise<void>;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
  }

  /** List/watch failures since the informer started (each one is retried). */
  get errors(): number {
    return this.#cache?.stats.errors ?? 0;
  }

  get hasSynced(): boolean {
    return this.#cache?.synced ?? false;
  }

  on(handler: InformerHandler<T>): void {
    this.#handlers.push(handler);
    this.#cache?.on(handler);
  }

  get(namespace: string, name: string): T | undefined {
    const object = this.#cache?.get(name);
    return object?.metadata?.namespace === undefined || object.metadata.namespace === namespace
      ? object
      : undefined;
  }

  list(namespace?: string): readonly T[] {
    const objects = this.#cache?.list() ?? [];
    return namespace === undefined ? objects : objects.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  async start(kc: k8s.KubeConfig): Promise<void> {
    if (this.#cache !== undefined) return this.synced;
    const { name, path, list, labelSelector, logger, resyncMs } = this.#options;
    const cache = new ObjectCache<T>({
      kc,
      name,
      path,
      list,
      logger,
      ...(labelSelector === undefined ? {} : { labelSelector }),
      ...(resyncMs === undefined ? {} : { resyncMs }),
    });
    for (const handler of this.#handlers) cache.on(handler);
    this.#cache = cache;
    void cache.whenSynced().then(() => this.#markSynced());
    void cache.start();
    return this.synced;
  }

  async stop(): Promise<void> {
    await this.#cache?.stop();
  }
}
