// In-process building blocks for quotas and rate limits (docs/api.md,
// "Quotas and limits"): a token bucket per key, a concurrency count per key,
// a per-key serializer so that "count, then create" cannot race inside one
// process, and limits on a server stream's lifetime and idleness. State lives
// in the process: with several replicas, each replica counts on its own.
import { ResourceExhausted } from "./errors.ts";
import type { CallContext, ServerStreamHandler } from "./handlers.ts";

/** "1h", "15m", "1m30s", "6s", "250ms": how limits and waits read in messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  let seconds = Math.ceil(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return `${hours ? `${hours}h` : ""}${minutes ? `${minutes}m` : ""}${seconds ? `${seconds}s` : ""}`;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

export interface TokenBucketOptions {
  /** Requests allowed in a burst, refilled evenly over `windowMs`; 0 = no limit. */
  capacity: number;
  windowMs: number;
  /** Keys remembered at most; the fullest (least recently refilled) are forgotten first. */
  maxKeys?: number;
  /** The clock, in milliseconds (injectable for tests). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key: `capacity` requests at once, then one more every
 * `windowMs / capacity`. Memory is bounded by `maxKeys`: full buckets carry
 * no information and are dropped first; past the bound the oldest entries go
 * (a forgotten key starts again with a full bucket).
 */
export class TokenBucketLimiter {
  readonly capacity: number;
  readonly windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketOptions) {
    this.capacity = options.capacity;
    this.windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #refilled(bucket: Bucket, now: number): number {
    const rate = this.capacity / this.windowMs;
    return Math.min(this.capacity, bucket.tokens + Math.max(0, now - bucket.at) * rate);
  }

  /** Takes one token for `key`, or says how long until one is available. */
  take(key: string): TakeResult {
    if (this.capacity <= 0) return { ok: true };
    const now = this.#now();
    const existing = this.#buckets.get(key);
    const tokens = existing === undefined ? this.capacity : this.#refilled(existing, now);
    if (tokens < 1) {
      return { ok: false, retryAfterMs: ((1 - tokens) * this.windowMs) / this.capacity };
    }
    if (existing !== undefined)
      this.#buckets.delete(key); // re-insert: Map order = least recently used first
    else if (this.#buckets.size >= this.#maxKeys) this.#evict(now);
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    return { ok: true };
  }

  #evict(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now) >= this.capacity) this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxKeys) break;
      this.#buckets.delete(key);
    }
  }
}

/** How many things (open streams) each key holds at once; `limit` 0 = no limit. */
export class ConcurrencyLimiter {
  readonly limit: number;
  readonly #held = new Map<string, number>();

  constructor(limit: number) {
    this.limit = limit;
  }

  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** A release function (idempotent), or undefined when `key` is at the limit. */
  tryAcquire(key: string): (() => void) | undefined {
    const held = this.held(key);
    if (this.limit > 0 && held >= this.limit) return undefined;
    this.#held.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = this.held(key) - 1;
      if (now <= 0) this.#held.delete(key);
      else this.#held.set(key, now);
    };
  }
}

/**
 * Runs tasks one at a time per key (in arrival order), so a quota's
 * "count what exists, then create one more" is atomic within this process.
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

export interface StreamLimits {
  /** The longest a stream stays open. */
  maxDurationMs: number;
  /** The longest a stream stays open without sending a message. */
  idleTimeoutMs: number;
  /** Variable names, for the messages. */
  maxDurationVariable: string;
  idleTimeoutVariable: string;
  /** What the client should do, appended to the message. */
  hint: string;
}

/**
 * Bounds a server stream in time: when it has been open `maxDurationMs`, or
 * has sent nothing for `idleTimeoutMs`, the handler's signal aborts, a send
 * in progress is abandoned, and the call ends with RESOURCE_EXHAUSTED naming
 * the limit.
 */
export function limitStream<Req, Res>(
  handler: ServerStreamHandler<Req, Res>,
  limits: StreamLimits,
): ServerStreamHandler<Req, Res> {
  return async (request, context, send) => {
    const controller = new AbortController();
    let exceeded: ResourceExhausted | undefined;
    let rejectLimit: (error: ResourceExhausted) => void = () => undefined;
    const limitReached = new Promise<never>((_, reject) => {
      rejectLimit = reject;
    });
    limitReached.catch(() => undefined);
    const fail = (message: string): void => {
      if (exceeded !== undefined) return;
      exceeded = new ResourceExhausted(`${message}; ${limits.hint}`);
      controller.abort(exceeded);
      rejectLimit(exceeded);
    };
    const maxTimer = setTimeout(
      () =>
        fail(
          `stream: open for ${formatDuration(limits.maxDurationMs)}, the longest a stream may last (${limits.maxDurationVariable})`,
        ),
      limits.maxDurationMs,
    );
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () =>
          fail(
            `stream: nothing sent for ${formatDuration(limits.idleTimeoutMs)}, the longest a stream may stay idle (${limits.idleTimeoutVariable})`,
          ),
        limits.idleTimeoutMs,
      );
    };
    armIdle();
    const limitedSend = async (message: Res): Promise<void> => {
      if (exceeded !== undefined) throw exceeded;
      await Promise.race([send(message), limitReached]);
      armIdle();
    };
    const limitedContext: CallContext = {
      ...context,
      signal: AbortSignal.any([context.signal, controller.signal]),
    };
    try {
      await Promise.race([handler(request, limitedContext, limitedSend), limitReached]);
    } finally {
      clearTimeout(maxTimer);
      clearTimeout(idleTimer);
    }
    if (exceeded !== undefined) throw exceeded;
  };
}

/** The client's IP address from a grpc-js peer string ("1.2.3.4:5678", "[::1]:5678", "ipv4:…"). */
export function peerAddress(peer: string): string {
  if (peer.startsWith("unix:")) return peer;
  const bare = peer.replace(/^ipv[46]:/, "");
  if (bare.startsWith("[")) {
    const end = bare.indexOf("]");
    return end > 0 ? bare.slice(1, end) : bare;
  }
  const colon = bare.lastIndexOf(":");
  // One colon: host:port. More: an IPv6 address without brackets (no port to strip).
  return colon > 0 && bare.indexOf(":") === colon ? bare.slice(0, colon) : bare;
}
