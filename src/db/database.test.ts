import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.ts";
import { clientQueryTimeoutMs, defaultDatabaseTimeouts, poolConfig } from "./database.ts";

describe("poolConfig", () => {
  it("bounds connecting, statements, open transactions, answers and idle connections by default", () => {
    const config = poolConfig({ url: "postgres://u@h/db" });
    expect(config).toMatchObject({
      connectionString: "postgres://u@h/db",
      max: 10,
      connectionTimeoutMillis: defaultDatabaseTimeouts.connectMs,
      idleTimeoutMillis: defaultDatabaseTimeouts.idleMs,
      statement_timeout: defaultDatabaseTimeouts.statementMs,
      idle_in_transaction_session_timeout: defaultDatabaseTimeouts.statementMs,
      query_timeout: defaultDatabaseTimeouts.statementMs + defaultDatabaseTimeouts.connectMs,
      keepAlive: true,
    });
  });

  it("takes the configured bounds, and leaves the unset ones at their defaults", () => {
    const config = poolConfig({
      url: "postgres://u@h/db",
      maxConnections: 3,
      connectMs: 1_000,
      statementMs: 2_000,
    });
    expect(config).toMatchObject({
      max: 3,
      connectionTimeoutMillis: 1_000,
      statement_timeout: 2_000,
      query_timeout: 3_000,
      idleTimeoutMillis: defaultDatabaseTimeouts.idleMs,
    });
  });
});

describe("clientQueryTimeoutMs", () => {
  it("lets the server's statement timeout fire first", () => {
    const timeouts = { connectMs: 5_000, statementMs: 30_000, idleMs: 1 };
    expect(clientQueryTimeoutMs(timeouts)).toBeGreaterThan(timeouts.statementMs);
  });
});

describe("database settings in the configuration (src/config.ts)", () => {
  it("defaults to the bounds above and a 2 s readiness probe", () => {
    const config = loadConfig({ HOME: "/home/x" });
    expect(config.databaseTimeouts).toEqual(defaultDatabaseTimeouts);
    expect(config.databaseHealthIntervalMs).toBe(2_000);
  });

  it("reads each bound as a duration", () => {
    const config = loadConfig({
      HOME: "/home/x",
      DATABASE_CONNECT_TIMEOUT: "2s",
      DATABASE_STATEMENT_TIMEOUT: "1m",
      DATABASE_IDLE_TIMEOUT: "500ms",
      DATABASE_HEALTH_INTERVAL: "10s",
    });
    expect(config.databaseTimeouts).toEqual({ connectMs: 2_000, statementMs: 60_000, idleMs: 500 });
    expect(config.databaseHealthIntervalMs).toBe(10_000);
  });

  it("names a bad bound", () => {
    expect(() => loadConfig({ HOME: "/home/x", DATABASE_STATEMENT_TIMEOUT: "forever" })).toThrow(
      /DATABASE_STATEMENT_TIMEOUT="forever": must be a duration/,
    );
  });
});
