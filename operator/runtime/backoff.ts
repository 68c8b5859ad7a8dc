// Per-key exponential back-off for failed reconciles (client-go's
// ItemExponentialFailureRateLimiter): the n-th consecutive failure of a key
// waits base × 2^(n-1), capped; a success forgets the key.

export interface BackoffOptions {
  /** Delay after the first failure. */
  baseMs: number;
  /** Upper bound for any delay. */
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 200, maxMs: 300_000 };

/** Delay before retry number `failures` (1 = first failure). */
export function backoffDelay(failures: number, { baseMs, maxMs }: BackoffOptions): number {
  if (failures < 1) return 0;
  // 2^(failures-1) overflows to Infinity for large counts; Math.min still caps it.
  return Math.min(baseMs * 2 ** (failures - 1), maxMs);
}

export class ExponentialBackoff<K> {
  readonly #options: BackoffOptions;
  readonly #failures = new Map<K, number>();

  constructor(options: BackoffOptions = defaultBackoff) {
    if (options.baseMs <= 0 || options.maxMs < options.baseMs) {
      throw new Error(`invalid back-off: base ${options.baseMs} ms, max ${options.maxMs} ms`);
    }
    this.#options = options;
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  when(key: K): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    return backoffDelay(failures, this.#options);
  }

  /** Failures of `key` since it was last forgotten. */
  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resets `key` after a success. */
  forget(key: K): void {
    this.#failures.delete(key);
  }
}
