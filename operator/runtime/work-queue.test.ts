import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "./work-queue.ts";

describe("WorkQueue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands out keys in order and merges repeated adds of a waiting key", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
    expect(queue.length).toBe(0);
    expect(queue.processing).toBe(2);
  });

  it("never hands a key to two workers; a key re-added while processing runs again after done", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    const first = await queue.get();
    queue.add("a");
    queue.add("a");
    expect(queue.length).toBe(0);
    let second: string | undefined;
    void queue.get().then((key) => {
      second = key;
    });
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(first as string);
    await Promise.resolve();
    expect(second).toBe("a");
    queue.done("a");
    expect(queue.length).toBe(0);
    expect(queue.processing).toBe(0);
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const queue = new WorkQueue();
    const next = queue.get();
    queue.add("x");
    expect(await next).toBe("x");
  });

  it("adds after a delay, keeping the earliest due time per key", async () => {
    const queue = new WorkQueue();
    queue.addAfter("a", 1_000);
    queue.addAfter("a", 300);
    queue.addAfter("a", 5_000);
    await vi.advanceTimersByTimeAsync(299);
    expect(queue.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.length).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queue.length).toBe(1);
  });

  it("backs off exponentially on rate-limited adds until forget", async () => {
    const queue = new WorkQueue({ baseMs: 100, maxMs: 250 });
    expect(queue.addRateLimited("a")).toBe(100);
    await vi.advanceTimersByTimeAsync(100);
    const key = await queue.get();
    expect(key).toBe("a");
    expect(queue.addRateLimited("a")).toBe(200);
    queue.done("a");
    expect(queue.addRateLimited("a")).toBe(250);
    expect(queue.failures("a")).toBe(3);
    queue.forget("a");
    expect(queue.failures("a")).toBe(0);
    expect(queue.addRateLimited("a")).toBe(100);
  });

  it("on shutdown releases waiting workers, drops pending keys and waits for keys in flight", async () => {
    const queue = new WorkQueue();
    queue.add("busy");
    const busy = await queue.get();
    const waiting = queue.get();
    queue.add("pending");
    queue.addAfter("later", 1_000);
    let drained = false;
    const shutdown = queue.shutdown().then(() => {
      drained = true;
    });
    expect(await waiting).toBe("pending");
    queue.done("pending");
    await Promise.resolve();
    expect(drained).toBe(false);
    queue.add("ignored");
    expect(queue.length).toBe(0);
    expect(await queue.get()).toBeUndefined();
    queue.done(busy as string);
    await shutdown;
    expect(drained).toBe(true);
  });
});
