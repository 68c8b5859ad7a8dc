import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { Controller, objectKey, splitKey } from "./controller.ts";
import { OperatorMetrics } from "./metrics.ts";

const logger = pino({ level: "silent" });

async function total(metrics: OperatorMetrics, result: string): Promise<number> {
  const metric = await metrics.reconcileTotal.get();
  return metric.values.filter((v) => v.labels.result === result).reduce((sum, v) => sum + v.value, 0);
}

describe("Controller", () => {
  it("runs at most N reconciles at once and never one key twice at once", async () => {
    const metrics = new OperatorMetrics();
    let running = 0;
    let most = 0;
    const active = new Set<string>();
    const done: string[] = [];
    const controller = new Controller({
      name: "test",
      workers: 3,
      logger,
      metrics,
      reconcile: async (key) => {
        expect(active.has(key)).toBe(false);
        active.add(key);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        active.delete(key);
        done.push(key);
        return undefined;
      },
    });
    controller.start();
    for (let i = 0; i < 10; i++) controller.enqueue(`ns/${i % 5}`);
    await vi.waitFor(() => expect(done.length).toBeGreaterThanOrEqual(5));
    await controller.stop();
    expect(most).toBeLessThanOrEqual(3);
    expect(new Set(done)).toEqual(new Set(["ns/0", "ns/1", "ns/2", "ns/3", "ns/4"]));
    expect(await total(metrics, "success")).toBe(done.length);
  });

  it("retries a failing key with back-off until it succeeds, then forgets its failures", async () => {
    const metrics = new OperatorMetrics();
    const attempts: number[] = [];
    const controller = new Controller({
      name: "test",
      workers: 1,
      logger,
      metrics,
      backoff: { baseMs: 5, maxMs: 20 },
      reconcile: async () => {
        attempts.push(Date.now());
        if (attempts.length < 4) throw new Error("not yet");
        return undefined;
      },
    });
    controller.start();
    controller.enqueue("ns/a");
    await vi.waitFor(() => expect(attempts).toHaveLength(4));
    expect(controller.queue.failures("ns/a")).toBe(0);
    await controller.stop();
    expect(await total(metrics, "error")).toBe(3);
    expect((await metrics.reconcileErrors.get()).values[0]?.value).toBe(3);
    expect((await metrics.queueRetries.get()).values[0]?.value).toBe(3);
  });

  it("counts write conflicts apart from errors", async () => {
    const metrics = new OperatorMetrics();
    let calls = 0;
    const controller = new Controller({
      name: "test",
      workers: 1,
      logger,
      metrics,
      backoff: { baseMs: 5, maxMs: 20 },
      reconcile: async () => {
        calls++;
        if (calls === 1) throw Object.assign(new Error("conflict"), { code: 409 });
        return undefined;
      },
    });
    controller.start();
    controller.enqueue("ns/a");
    await vi.waitFor(() => expect(calls).toBe(2));
    await controller.stop();
    expect(await total(metrics, "conflict")).toBe(1);
    expect((await metrics.reconcileErrors.get()).values).toEqual([]);
  });

  it("runs a key again after the delay it asks for", async () => {
    const metrics = new OperatorMetrics();
    let calls = 0;
    const controller = new Controller({
      name: "test",
      workers: 1,
      logger,
      metrics,
      reconcile: async () => {
        calls++;
        return calls === 1 ? { requeueAfterMs: 10 } : undefined;
      },
    });
    controller.start();
    controller.enqueue("ns/a");
    await vi.waitFor(() => expect(calls).toBe(2));
    await controller.stop();
    expect(await total(metrics, "requeue")).toBe(1);
  });

  it("waits for the reconcile in flight when stopping, and drops a failing key's retry", async () => {
    const metrics = new OperatorMetrics();
    let release: () => void = () => undefined;
    let calls = 0;
    const controller = new Controller({
      name: "test",
      workers: 1,
      logger,
      metrics,
      reconcile: async () => {
        calls++;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        throw new Error("fails after the stop");
      },
    });
    controller.start();
    controller.enqueue("ns/a");
    await vi.waitFor(() => expect(calls).toBe(1));
    let stopped = false;
    const stopping = controller.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(calls).toBe(1);
    expect(controller.queue.length).toBe(0);
  });

  it("reports its queue depth", async () => {
    const metrics = new OperatorMetrics();
    const controller = new Controller({
      name: "idle",
      workers: 1,
      logger,
      metrics,
      reconcile: async () => undefined,
    });
    controller.enqueue("ns/a");
    controller.enqueue("ns/b");
    expect(await metrics.registry.getSingleMetricAsString("chronoverse_operator_workqueue_depth")).toContain(
      'chronoverse_operator_workqueue_depth{controller="idle"} 2',
    );
    await controller.stop();
  });

  it("refuses a worker count below one", () => {
    expect(
      () =>
        new Controller({
          name: "x",
          workers: 0,
          logger,
          metrics: new OperatorMetrics(),
          reconcile: async () => undefined,
        }),
    ).toThrow(/workers must be a positive integer/);
  });
});

describe("object keys", () => {
  it("joins and splits namespace and name", () => {
    const key = objectKey({ metadata: { namespace: "ns", name: "a" } });
    expect(key).toBe("ns/a");
    expect(splitKey(key)).toEqual({ namespace: "ns", name: "a" });
  });
});
