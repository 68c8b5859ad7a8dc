// A controller: a work queue of object keys ("namespace/name") and N workers
// that run a reconcile function for each key. A reconcile reads the world and
// converges it; it may ask to run again later (`requeueAfterMs`). A thrown
// error puts the key back with per-key exponential back-off; a success ends
// the back-off.
import type { Logger } from "pino";
import type { BackoffOptions } from "./backoff.ts";
import { describeError, isConflict } from "./kube-errors.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { WorkQueue } from "./work-queue.ts";

export interface ReconcileResult {
  /** Run this key again after this many milliseconds (for time-based follow-ups). */
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | undefined>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
  backoff?: BackoffOptions;
}

export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly #options: ControllerOptions;
  #workers: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new Error(`controller ${options.name}: workers must be a positive integer`);
    }
    this.name = options.name;
    this.#options = options;
    this.queue = new WorkQueue<string>(options.backoff);
    options.metrics.watchQueue(options.name, () => this.queue.length);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.#workers.length > 0) throw new Error(`controller ${this.name} already started`);
    for (let i = 0; i < this.#options.workers; i++) this.#workers.push(this.#work());
  }

  /** Stops taking keys and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    await this.queue.shutdown();
    await Promise.all(this.#workers);
  }

  async #work(): Promise<void> {
    const { reconcile, logger, metrics, name } = this.#options;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const endTimer = metrics.reconcileDuration.startTimer({ controller: name });
      try {
        const result = await reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, result.requeueAfterMs);
          metrics.reconcileTotal.inc({ controller: name, result: "requeue" });
        } else {
          metrics.reconcileTotal.inc({ controller: name, result: "success" });
        }
      } catch (error) {
        // A conflict is the normal race with another writer (or our own write
        // the cache has not seen yet): retry on fresher data, quietly.
        const conflict = isConflict(error);
        metrics.reconcileTotal.inc({ controller: name, result: conflict ? "conflict" : "error" });
        if (!conflict) metrics.reconcileErrors.inc({ controller: name });
        if (!this.queue.shuttingDown) {
          const delayMs = this.queue.addRateLimited(key);
          metrics.queueRetries.inc({ controller: name });
          logger[conflict ? "debug" : "warn"](
            { key, err: describeError(error), retryInMs: delayMs, failures: this.queue.failures(key) },
            conflict
              ? "reconcile hit a write conflict; retrying"
              : "reconcile failed; retrying with back-off",
          );
        }
      } finally {
        endTimer();
        this.queue.done(key);
      }
    }
  }
}
