import { describe, expect, it } from "vitest";
import { DatabaseUnavailable, describeDatabaseError, isDatabaseUnavailable, redactUrls } from "./errors.ts";

/** The shape of what pg throws: an Error with a SQLSTATE or errno code. */
function pgError(message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), fields);
}

describe("isDatabaseUnavailable", () => {
  it.each([
    [
      "a terminated backend",
      pgError("terminating connection due to administrator command", { code: "57P01" }),
    ],
    ["a crash of another backend", pgError("terminating connection because of crash", { code: "57P02" })],
    ["a server starting up", pgError("the database system is starting up", { code: "57P03" })],
    ["a connection exception", pgError("connection failure", { code: "08006" })],
    ["a refused connection", pgError("connect ECONNREFUSED 127.0.0.1:5432", { code: "ECONNREFUSED" })],
    ["a reset connection", pgError("read ECONNRESET", { code: "ECONNRESET" })],
    ["an unknown host", pgError("getaddrinfo ENOTFOUND db", { code: "ENOTFOUND" })],
    ["too many connections", pgError("sorry, too many clients already", { code: "53300" })],
    ["a statement timeout", pgError("canceling statement due to statement timeout", { code: "57014" })],
    ["a connection that ended", pgError("Connection terminated unexpectedly")],
    ["a connect timeout", pgError("Connection terminated due to connection timeout")],
    ["a full pool past the connect timeout", pgError("timeout exceeded when trying to connect")],
    ["an answer that never came", pgError("Query read timeout")],
    [
      "a client after its connection failed",
      pgError("Client has encountered a connection error and is not queryable"),
    ],
    [
      "every address refused (dual stack)",
      Object.assign(
        new AggregateError([pgError("connect ECONNREFUSED ::1:5432", { code: "ECONNREFUSED" })]),
        {},
      ),
    ],
  ])("%s is an outage", (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ["a unique violation", pgError("duplicate key value violates unique constraint", { code: "23505" })],
    ["a syntax error", pgError('syntax error at or near "selec"', { code: "42601" })],
    ["a wrong password", pgError("password authentication failed", { code: "28P01" })],
    ["a missing database", pgError('database "x" does not exist', { code: "3D000" })],
    ["a plain bug", new TypeError("cannot read properties of undefined")],
    ["a string", "Connection terminated"],
    ["nothing", undefined],
    [
      "an outage only as a cause (another client's, e.g. the apiserver's fetch)",
      new TypeError("fetch failed", { cause: pgError("connect ECONNREFUSED", { code: "ECONNREFUSED" }) }),
    ],
  ])("%s is not", (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});

describe("describeDatabaseError", () => {
  it("keeps the code, severity and message, and nothing attached", () => {
    const error = pgError("terminating connection due to administrator command", {
      code: "57P01",
      severity: "FATAL",
      client: { connectionParameters: { password: "hunter2" } },
    });
    const described = describeDatabaseError(error);
    expect(described).toEqual({
      code: "57P01",
      severity: "FATAL",
      message: "terminating connection due to administrator command",
    });
    expect(JSON.stringify(described)).not.toContain("hunter2");
  });

  it("redacts passwords of URLs in messages", () => {
    expect(describeDatabaseError(new Error("cannot parse postgres://app:s3cret@db:5432/cv")).message).toBe(
      "cannot parse postgres://app:***@db:5432/cv",
    );
  });
});

describe("redactUrls", () => {
  it.each([
    ["postgres://u:p@h/db", "postgres://u:***@h/db"],
    [
      "postgresql://user:pa%40ss@10.0.0.1:5432/x?sslmode=require",
      "postgresql://user:***@10.0.0.1:5432/x?sslmode=require",
    ],
    ["postgres://u@h/db", "postgres://u@h/db"],
    ["no url here", "no url here"],
    ["a postgres://a:b@h and redis://c:d@k", "a postgres://a:***@h and redis://c:***@k"],
    ["p@ss in postgres://u:p@ss@h/db", "p@ss in postgres://u:***@h/db"],
    ["://".repeat(50_000), "://".repeat(50_000)],
  ])("%s → %s", (text, redacted) => {
    expect(redactUrls(text)).toBe(redacted);
  });
});

describe("DatabaseUnavailable", () => {
  it("keeps pg's error as its cause, with a redacted message", () => {
    const cause = pgError("connect ECONNREFUSED postgres://u:pw@h", { code: "ECONNREFUSED" });
    const error = new DatabaseUnavailable(cause);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe("database unavailable: connect ECONNREFUSED postgres://u:***@h");
  });
});
