import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logging.ts";
import { ResourceExhausted, toStatus } from "./errors.ts";
import type { CallContext } from "./handlers.ts";
import {
  ConcurrencyLimiter,
  formatDuration,
  KeyedSerializer,
  limitStream,
  peerAddress,
  TokenBucketLimiter,
} from "./limits.ts";

describe("TokenBucketLimiter", () => {
  const clock = (start = 0) => {
    let now = start;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it("allows a burst of `capacity`, then one per window/capacity, and says when", () => {
    const time = clock();
    const limiter = new TokenBucketLimiter({ capacity: 3, windowMs: 60_000, now: time.now });
    for (let i = 0; i < 3; i++) expect(limiter.take("a")).toEqual({ ok: true });
    expect(limiter.take("a")).toEqual({ ok: false, retryAfterMs: 20_000 });
    time.advance(5_000);
    expect(limiter.take("a")).toEqual({ ok: false, retryAfterMs: 15_000 });
    time.advance(15_000);
    expect(limiter.take("a")).toEqual({ ok: true });
    expect(limiter.take("a").ok).toBe(false);
  });

  it("keeps keys apart", () => {
    const limiter = new TokenBucketLimiter({ capacity: 1, windowMs: 1000, now: () => 0 });
    expect(limiter.take("a").ok).toBe(true);
    expect(limiter.take("a").ok).toBe(false);
    expect(limiter.take("b").ok).toBe(true);
  });

  it("never refills past capacity", () => {
    const time = clock();
    const limiter = new TokenBucketLimiter({ capacity: 2, windowMs: 1000, now: time.now });
    limiter.take("a");
    time.advance(1_000_000);
    expect(limiter.take("a").ok).toBe(true);
    expect(limiter.take("a").ok).toBe(true);
    expect(limiter.take("a").ok).toBe(false);
  });

  it("capacity 0 means no limit and remembers nothing", () => {
    const limiter = new TokenBucketLimiter({ capacity: 0, windowMs: 1000 });
    for (let i = 0; i < 1000; i++) expect(limiter.take("a").ok).toBe(true);
    expect(limiter.size).toBe(0);
  });

  it("holds at most maxKeys keys, forgetting full buckets first, then the oldest", () => {
    const time = clock();
    const limiter = new TokenBucketLimiter({ capacity: 2, windowMs: 1000, maxKeys: 100, now: time.now });
    limiter.take("busy");
    limiter.take("busy");
    for (let i = 0; i < 10_000; i++) limiter.take(`flood-${i}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
    // Full buckets go first: after a refill, the flood is forgotten but a
    // recently emptied key is remembered.
    time.advance(1000);
    limiter.take("busy");
    limiter.take("busy");
    for (let i = 0; i < 200; i++) limiter.take(`again-${i}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});

describe("ConcurrencyLimiter", () => {
  it("counts per key up to the limit; a release (once) makes room", () => {
    const limiter = new ConcurrencyLimiter(2);
    const r1 = limiter.tryAcquire("a");
    const r2 = limiter.tryAcquire("a");
    expect(r1).toBeDefined();
    expect(r2).toBeDefined();
    expect(limiter.tryAcquire("a")).toBeUndefined();
    expect(limiter.tryAcquire("b")).toBeDefined();
    r1?.();
    r1?.();
    expect(limiter.held("a")).toBe(1);
    expect(limiter.tryAcquire("a")).toBeDefined();
    expect(limiter.tryAcquire("a")).toBeUndefined();
  });

  it("limit 0 means no limit", () => {
    const limiter = new ConcurrencyLimiter(0);
    for (let i = 0; i < 100; i++) expect(limiter.tryAcquire("a")).toBeDefined();
  });
});

describe("KeyedSerializer", () => {
  it("runs one task at a time per key, in order, and goes on after a failure", async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task =
      (name: string, fail = false) =>
      async () => {
        running++;
        most = Math.max(most, running);
        await Promise.resolve();
        await Promise.resolve();
        log.push(name);
        running--;
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      serializer.run("k", task("1")),
      serializer.run("k", task("2", true)),
      serializer.run("k", task("3")),
    ]);
    expect(log).toEqual(["1", "2", "3"]);
    expect(most).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
});

describe("limitStream", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const context = (): CallContext => ({
    caller: { kind: "anonymous" },
    method: "/t.T/Stream",
    metadata: undefined as never,
    peer: "127.0.0.1:1",
    signal: new AbortController().signal,
    logger: createLogger({ level: "silent" }),
    setHeader: () => undefined,
  });
  const limits = {
    maxDurationMs: 10_000,
    idleTimeoutMs: 3_000,
    maxDurationVariable: "MAX_VAR",
    idleTimeoutVariable: "IDLE_VAR",
    hint: "call again",
  };

  it("ends a stream that sends nothing for the idle time with RESOURCE_EXHAUSTED naming the limit", async () => {
    vi.useFakeTimers();
    let sawAbort = false;
    const handler = limitStream<null, number>(async (_request, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      sawAbort = true;
    }, limits);
    const done = handler(null, context(), async () => undefined);
    const settled = done.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(3_000);
    const error = await settled;
    expect(error).toBeInstanceOf(ResourceExhausted);
    expect((error as Error).message).toMatch(/nothing sent for 3s.*IDLE_VAR.*call again/);
    expect(sawAbort).toBe(true);
    expect(toStatus(error, createLogger({ level: "silent" })).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("a stream that keeps sending is ended at the longest duration, and a blocked send is abandoned", async () => {
    vi.useFakeTimers();
    let sent = 0;
    let sendRejected: unknown;
    const handler = limitStream<null, number>(async (_request, ctx, send) => {
      while (!ctx.signal.aborted) {
        await send(sent);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      await send(-1).catch((error: unknown) => {
        sendRejected = error;
      });
    }, limits);
    const settled = handler(null, context(), async () => {
      sent++;
    }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10_000);
    const error = await settled;
    expect((error as Error).message).toMatch(/open for 10s.*MAX_VAR/);
    expect(sent).toBeGreaterThan(5);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sendRejected).toBeInstanceOf(ResourceExhausted);
  });

  it("a send that never completes (a client that stops reading) still ends at the idle limit", async () => {
    vi.useFakeTimers();
    const handler = limitStream<null, number>(async (_request, _ctx, send) => {
      await send(1);
    }, limits);
    const settled = handler(null, context(), () => new Promise<void>(() => undefined)).catch(
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await settled).toBeInstanceOf(ResourceExhausted);
  });

  it("a stream that ends on its own ends normally and leaves no timer behind", async () => {
    vi.useFakeTimers();
    const handler = limitStream<null, number>(async (_request, _ctx, send) => {
      await send(1);
    }, limits);
    await handler(null, context(), async () => undefined);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("peerAddress and formatDuration", () => {
  it.each([
    ["127.0.0.1:5000", "127.0.0.1"],
    ["ipv4:10.1.2.3:80", "10.1.2.3"],
    ["[::1]:5000", "::1"],
    ["ipv6:[2001:db8::1]:443", "2001:db8::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["unix:/tmp/sock", "unix:/tmp/sock"],
    ["", ""],
  ])("peerAddress(%j) = %j", (peer, address) => {
    expect(peerAddress(peer)).toBe(address);
  });

  it.each([
    [250, "250ms"],
    [6_000, "6s"],
    [5_400, "6s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [900_000, "15m"],
  ])("formatDuration(%d) = %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
