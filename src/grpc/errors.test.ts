import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { DatabaseUnavailable } from "../db/errors.ts";
import { createLogger } from "../logging.ts";
import { DATABASE_UNAVAILABLE_MESSAGE, INTERNAL_MESSAGE, InvalidArgument, toStatus } from "./errors.ts";

const logger = createLogger({ level: "silent" });

describe("toStatus", () => {
  it("answers a database outage with UNAVAILABLE and the fixed message, never pg's text", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432 (postgres://app:s3cret@db)"), {
      code: "ECONNREFUSED",
    });
    const mapped = toStatus(new DatabaseUnavailable(cause), logger);
    expect(mapped.code).toBe(status.UNAVAILABLE);
    expect(mapped.details).toBe(DATABASE_UNAVAILABLE_MESSAGE);
    expect(JSON.stringify(mapped.metadata?.getMap())).not.toMatch(/ECONNREFUSED|s3cret|10\.0\.0\.5/);
  });

  it("keeps a domain error's code and message", () => {
    expect(toStatus(new InvalidArgument("email", "is required"), logger)).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "email: is required",
    });
  });

  it("turns anything else, including a raw database error it was not told is an outage, into INTERNAL", () => {
    for (const error of [
      new TypeError("x is undefined"),
      Object.assign(new Error("deadlock detected"), { code: "40P01" }),
    ]) {
      expect(toStatus(error, logger)).toMatchObject({ code: status.INTERNAL, details: INTERNAL_MESSAGE });
    }
  });
});
