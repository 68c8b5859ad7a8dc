import pino from "pino";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.ts";
import { runCompletionFromEnv } from "./run-completion.ts";

const logger = pino({ level: "silent" });
const keys = {
  CHRONOVERSE_USER_TOKEN_KEY: "11".repeat(32),
  CHRONOVERSE_SERVICE_TOKEN_KEY: "22".repeat(32),
};

describe("runCompletionFromEnv", () => {
  it("is off without DATABASE_URL", () => {
    expect(runCompletionFromEnv({ ...keys }, logger, 10)).toBeUndefined();
  });

  it("builds the database, the notifier and the history limit from the environment", async () => {
    const built = runCompletionFromEnv(
      {
        ...keys,
        DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
        CHRONOVERSE_NOTIFICATIONS_ADDRESS: "x:1",
      },
      logger,
      7,
    );
    expect(built?.settings.historyLimit).toBe(7);
    expect(built?.settings.notifier).toBeDefined();
    await built?.close();
  });

  it("names the variable of a bad configuration", () => {
    expect(() =>
      runCompletionFromEnv(
        { ...keys, DATABASE_URL: "postgres://h/db", CHRONOVERSE_TLS_CERT_FILE: "/nope.pem" },
        logger,
        undefined,
      ),
    ).toThrow(ConfigError);
    expect(() =>
      runCompletionFromEnv(
        { ...keys, DATABASE_URL: "postgres://h/db", CHRONOVERSE_TLS_CERT_FILE: "/nope.pem" },
        logger,
        undefined,
      ),
    ).toThrow(/CHRONOVERSE_TLS_CERT_FILE/);
  });
});
