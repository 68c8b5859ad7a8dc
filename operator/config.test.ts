import { describe, expect, it } from "vitest";
import { loadOperatorConfig, OperatorConfigError } from "./config.ts";

describe("loadOperatorConfig", () => {
  it("has production defaults", () => {
    const config = loadOperatorConfig({ CHRONOVERSE_NAMESPACE: "chronoverse", POD_NAME: "operator-0" });
    expect(config).toMatchObject({
      namespace: "chronoverse",
      identity: "operator-0",
      leaseName: "chronoverse-operator",
      lease: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      workers: 4,
      resyncMs: 600_000,
      metricsPort: 8080,
      probePort: 8081,
      host: "0.0.0.0",
      pods: {
        image: "chronoverse:dev",
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
      },
      logLevel: "info",
    });
  });

  it("reads every variable", () => {
    const config = loadOperatorConfig({
      CHRONOVERSE_NAMESPACE: "ns",
      CHRONOVERSE_IMAGE: "registry.example/chronoverse:1.0.0",
      OPERATOR_WORKERS: "8",
      OPERATOR_METRICS_PORT: "0",
      OPERATOR_PROBE_PORT: "9091",
      OPERATOR_LEASE_DURATION_MS: "30000",
      OPERATOR_RENEW_DEADLINE_MS: "20000",
      OPERATOR_RETRY_PERIOD_MS: "4000",
      OPERATOR_RESYNC_SECONDS: "0",
      RUN_MEMORY_LIMIT: "1Gi",
      LOG_LEVEL: "DEBUG",
    });
    expect(config).toMatchObject({
      workers: 8,
      metricsPort: 0,
      probePort: 9091,
      resyncMs: 0,
      lease: { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 4_000 },
      logLevel: "debug",
    });
    expect(config.pods.image).toBe("registry.example/chronoverse:1.0.0");
    expect(config.pods.resources.limits.memory).toBe("1Gi");
  });

  it("reads where runs go and how long they may take to start", () => {
    const config = loadOperatorConfig({
      RUN_NODE_SELECTOR: '{"pool":"runs"}',
      RUN_TOLERATIONS: '[{"key":"pool","operator":"Equal","value":"runs","effect":"NoSchedule"}]',
      RUN_START_TIMEOUT: "30s",
    });
    expect(config.pods.nodeSelector).toEqual({ pool: "runs" });
    expect(config.pods.tolerations).toEqual([
      { key: "pool", operator: "Equal", value: "runs", effect: "NoSchedule" },
    ]);
    expect(config.pods.startTimeoutMs).toBe(30_000);
    expect(loadOperatorConfig({}).pods.startTimeoutMs).toBe(120_000);
  });

  it.each([
    ["RUN_NODE_SELECTOR", "pool=runs"],
    ["RUN_NODE_SELECTOR", '{"pool":1}'],
    ["RUN_TOLERATIONS", '{"key":"pool"}'],
    ["RUN_TOLERATIONS", '[{"key":1}]'],
    ["RUN_TOLERATIONS", '[{"colour":"blue"}]'],
  ])("refuses %s=%s naming the variable", (name, value) => {
    expect(() => loadOperatorConfig({ [name]: value })).toThrow(new RegExp(`${name}=.*must be a JSON`));
  });

  it("lists every bad variable by name", () => {
    let error: unknown;
    try {
      loadOperatorConfig({
        OPERATOR_WORKERS: "many",
        OPERATOR_METRICS_PORT: "70000",
        OPERATOR_RENEW_DEADLINE_MS: "20000",
        RUN_CPU_LIMIT: "lots",
        LOG_LEVEL: "loud",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OperatorConfigError);
    const message = (error as Error).message;
    expect(message).toContain('OPERATOR_WORKERS="many"');
    expect(message).toContain('OPERATOR_METRICS_PORT="70000"');
    expect(message).toContain("renew deadline (20000 ms) < lease duration (15000 ms)");
    expect(message).toContain('RUN_CPU_LIMIT="lots"');
    expect(message).toContain('LOG_LEVEL="loud"');
  });
});
