import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({ HOME: "/home/x" });
    expect(config.ports).toEqual({
      users: 50051,
      workflows: 50052,
      jobs: 50053,
      notifications: 50054,
      analytics: 50055,
    });
    expect(config.addresses.jobs).toBe("localhost:50053");
    expect(config.host).toBe("0.0.0.0");
    expect(config.tls).toBeUndefined();
    expect(config.maxMessageBytes).toBe(4 * 1024 * 1024);
    expect(config.shutdownTimeoutMs).toBe(20_000);
    expect(config.tokens.userTokenTtlSeconds).toBe(86_400);
    expect(config.tokens.serviceTokenTtlSeconds).toBe(3_600);
    expect(config.tokens.devKeyDir).toBe("/home/x/.cache/chronoverse/dev-keys");
    expect(config.logLevel).toBe("info");
    expect(config.migrateOnStart).toBe(true);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.limits).toEqual({
      workflowsPerUser: 100,
      manualRunsPerWorkflow: 10,
      logStreamsPerUser: 5,
      logStreamMaxDurationMs: 3_600_000,
      logStreamIdleTimeoutMs: 900_000,
      authAttemptsPerEmail: 10,
      authAttemptsPerAddress: 100,
      authRateWindowMs: 60_000,
    });
  });

  it("reads the quotas and limits, 0 meaning no limit, and names bad ones", () => {
    const config = loadConfig({
      CHRONOVERSE_MAX_WORKFLOWS_PER_USER: "0",
      CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW: "3",
      CHRONOVERSE_MAX_LOG_STREAMS_PER_USER: "2",
      CHRONOVERSE_LOG_STREAM_MAX_DURATION: "2h",
      CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT: "30s",
      CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL: "4",
      CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS: "0",
      CHRONOVERSE_AUTH_RATE_WINDOW: "5m",
    });
    expect(config.limits).toEqual({
      workflowsPerUser: 0,
      manualRunsPerWorkflow: 3,
      logStreamsPerUser: 2,
      logStreamMaxDurationMs: 7_200_000,
      logStreamIdleTimeoutMs: 30_000,
      authAttemptsPerEmail: 4,
      authAttemptsPerAddress: 0,
      authRateWindowMs: 300_000,
    });
    expect(() =>
      loadConfig({ CHRONOVERSE_MAX_WORKFLOWS_PER_USER: "-1", CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT: "soon" }),
    ).toThrow(/CHRONOVERSE_MAX_WORKFLOWS_PER_USER="-1"[\s\S]*CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT="soon"/);
  });

  it("reads every variable", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://u@db:5432/cv",
      CHRONOVERSE_USERS_PORT: "6001",
      CHRONOVERSE_JOBS_ADDRESS: "jobs.cv.svc:50053",
      CHRONOVERSE_HOST: "127.0.0.1",
      CHRONOVERSE_TLS_CERT_FILE: "/tls/tls.crt",
      CHRONOVERSE_TLS_KEY_FILE: "/tls/tls.key",
      CHRONOVERSE_TLS_CA_FILE: "/tls/ca.crt",
      CHRONOVERSE_TLS_CLIENT_AUTH: "require",
      CHRONOVERSE_USER_TOKEN_KEY_FILE: "/keys/user",
      CHRONOVERSE_SERVICE_TOKEN_KEY: "s".repeat(40),
      CHRONOVERSE_USER_TOKEN_TTL: "2h",
      CHRONOVERSE_MIGRATE: "false",
      CHRONOVERSE_NAMESPACE: "chronoverse",
      LOG_LEVEL: "DEBUG",
    });
    expect(config.databaseUrl).toBe("postgres://u@db:5432/cv");
    expect(config.ports.users).toBe(6001);
    expect(config.addresses.users).toBe("localhost:6001");
    expect(config.addresses.jobs).toBe("jobs.cv.svc:50053");
    expect(config.tls).toEqual({
      certFile: "/tls/tls.crt",
      keyFile: "/tls/tls.key",
      caFile: "/tls/ca.crt",
      requireClientCert: true,
    });
    expect(config.tokens.userKey).toEqual({ kind: "file", path: "/keys/user" });
    expect(config.tokens.serviceKey).toMatchObject({
      kind: "env",
      variable: "CHRONOVERSE_SERVICE_TOKEN_KEY",
    });
    expect(config.tokens.userTokenTtlSeconds).toBe(7200);
    expect(config.migrateOnStart).toBe(false);
    expect(config.namespace).toBe("chronoverse");
    expect(config.logLevel).toBe("debug");
  });

  it("lists every problem at once, naming the variable", () => {
    let error: unknown;
    try {
      loadConfig({
        DATABASE_URL: "mysql://x",
        CHRONOVERSE_USERS_PORT: "70000",
        CHRONOVERSE_TLS_CERT_FILE: "/tls/tls.crt",
        CHRONOVERSE_USER_TOKEN_TTL: "soon",
        CHRONOVERSE_USER_TOKEN_KEY: "k".repeat(40),
        CHRONOVERSE_SERVICE_TOKEN_KEY: "k".repeat(40),
        LOG_LEVEL: "loud",
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
    expect(message).toMatch(/CHRONOVERSE_USERS_PORT="70000": must be an integer from 0 to 65535/);
    expect(message).toMatch(/CHRONOVERSE_TLS_CERT_FILE and CHRONOVERSE_TLS_KEY_FILE: set both or neither/);
    expect(message).toMatch(/CHRONOVERSE_USER_TOKEN_TTL="soon"/);
    expect(message).toMatch(/must differ/);
    expect(message).toMatch(/LOG_LEVEL="loud"/);
  });

  it("needs a CA for mutual TLS and refuses a key given twice", () => {
    expect(() =>
      loadConfig({
        CHRONOVERSE_TLS_CERT_FILE: "/c",
        CHRONOVERSE_TLS_KEY_FILE: "/k",
        CHRONOVERSE_TLS_CLIENT_AUTH: "require",
      }),
    ).toThrow(/needs CHRONOVERSE_TLS_CA_FILE/);
    expect(() =>
      loadConfig({ CHRONOVERSE_USER_TOKEN_KEY: "k".repeat(40), CHRONOVERSE_USER_TOKEN_KEY_FILE: "/k" }),
    ).toThrow(/both set/);
  });
});
