// A per-key work queue with client-go's guarantees: a key is in the queue at
// most once (adds of a waiting key are merged), a key is never processed by
// two workers at once, and a key added while it is being processed is
// processed again after the current run (`done`). Delayed adds keep the
// earliest due time per key; rate-limited adds use per-key exponential
// back-off.
import { type BackoffOptions, defaultBackoff, ExponentialBackoff } from "./backoff.ts";

export class WorkQueue<K = string> {
  readonly #ready: K[] = [];
  /** Keys that need processing: waiting in #ready, or re-added while processing. */
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #delayed = new Map<K, { due: number; timer: NodeJS.Timeout }>();
  readonly #waiters: Array<(key: K | undefined) => void> = [];
  readonly #backoff: ExponentialBackoff<K>;
  #shuttingDown = false;
  #drained: (() => void) | undefined;

  constructor(backoff: BackoffOptions = defaultBackoff) {
    this.#backoff = new ExponentialBackoff<K>(backoff);
  }

  /** Keys waiting to be processed (the queue depth). */
  get length(): number {
    return this.#ready.length;
  }

  /** Keys currently handed out to workers. */
  get processing(): number {
    return this.#processing.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // `done` puts it back
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    } else {
      this.#ready.push(key);
    }
  }

  /** Adds `key` after `delayMs`; of several pending delayed adds of a key the earliest wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = Date.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.due <= due) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#delayed.set(key, { due, timer });
  }

  /** Adds `key` after its back-off delay; each call without a `forget` doubles the delay. */
  addRateLimited(key: K): number {
    const delay = this.#backoff.when(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Consecutive rate-limited adds of `key` since the last `forget`. */
  failures(key: K): number {
    return this.#backoff.failures(key);
  }

  /** Ends the back-off of `key` (call after it was processed successfully). */
  forget(key: K): void {
    this.#backoff.forget(key);
  }

  /** Waits for the next key; `undefined` once the queue is shutting down. The caller must call `done`. */
  get(): Promise<K | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#ready.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile it is queued again. */
  done(key: K): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
    if (this.#shuttingDown && this.#processing.size === 0) this.#drained?.();
  }

  /** Stops handing out keys (waiting `get`s resolve to undefined) and resolves when no key is being processed. */
  shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#ready.length = 0;
    this.#dirty.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }
}
