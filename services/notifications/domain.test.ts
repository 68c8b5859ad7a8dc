import { describe, expect, it } from "vitest";
import { InvalidArgument } from "../../src/grpc/errors.ts";
import {
  decodeCursor,
  encodeCursor,
  formatTimestamp,
  MAX_IDS_PER_MARK_READ,
  NOTIFICATION_KINDS,
  parseIdsToMark,
  parseNewNotification,
  parsePayload,
  visibleKinds,
} from "./domain.ts";

const WF = "0193a000-0000-7000-8000-0000000000aa";
const JOB = "0193a000-0000-7000-8000-0000000000bb";
const USER = "0193a000-0000-7000-8000-000000000001";

const workflowPayload = {
  title: "Build failed",
  message: "The workflow could not be built",
  entity_id: WF,
  entity_type: "WORKFLOW",
  action_url: `/workflows/${WF}`,
};

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidArgument) return error.field;
    throw error;
  }
  return undefined;
}

describe("parsePayload", () => {
  it("accepts a workflow payload and a job payload", () => {
    expect(parsePayload(JSON.stringify(workflowPayload))).toEqual(workflowPayload);
    const job = {
      ...workflowPayload,
      entity_id: JOB,
      entity_type: "JOB",
      action_url: `/workflows/${WF}/jobs/${JOB}`,
    };
    expect(parsePayload(JSON.stringify(job))).toEqual(job);
  });

  it("keeps extra keys and lower-cases ids", () => {
    const upper = {
      ...workflowPayload,
      entity_id: WF.toUpperCase(),
      action_url: `/workflows/${WF.toUpperCase()}`,
    };
    const parsed = parsePayload(JSON.stringify({ ...upper, severity: 3 }));
    expect(parsed.entity_id).toBe(WF);
    expect(parsed.action_url).toBe(`/workflows/${WF}`);
    expect(parsed.severity).toBe(3);
  });

  it.each([
    ["", "payload"],
    ["not json", "payload"],
    ["[1,2]", "payload"],
    ["null", "payload"],
    ['"text"', "payload"],
    ["42", "payload"],
    [JSON.stringify("x".repeat(20_000)), "payload"],
  ])("rejects %j as a payload", (json, field) => {
    expect(fieldOf(() => parsePayload(json))).toBe(field);
  });

  it.each([
    ["title", { title: undefined }],
    ["title", { title: "" }],
    ["title", { title: 7 }],
    ["title", { title: "t".repeat(256) }],
    ["message", { message: undefined }],
    ["message", { message: "   " }],
    ["message", { message: "m".repeat(4097) }],
    ["entity_id", { entity_id: "abc" }],
    ["entity_id", { entity_id: undefined }],
    ["entity_type", { entity_type: "USER" }],
    ["entity_type", { entity_type: null }],
    ["action_url", { action_url: undefined }],
    ["action_url", { action_url: "https://example.com/" }],
    ["action_url", { action_url: `/workflows/${JOB}` }],
    ["action_url", { action_url: `/workflows/${WF}/jobs/${JOB}` }],
    ["action_url", { action_url: `/workflows/${WF}/` }],
  ])("names payload.%s", (key, change) => {
    expect(fieldOf(() => parsePayload(JSON.stringify({ ...workflowPayload, ...change })))).toBe(
      `payload.${key}`,
    );
  });

  it("wants a job URL naming the job for a JOB entity", () => {
    const job = { ...workflowPayload, entity_id: JOB, entity_type: "JOB" };
    expect(fieldOf(() => parsePayload(JSON.stringify(job)))).toBe("payload.action_url");
    const other = { ...job, action_url: `/workflows/${WF}/jobs/${WF}` };
    expect(fieldOf(() => parsePayload(JSON.stringify(other)))).toBe("payload.action_url");
  });
});

describe("parseNewNotification", () => {
  const valid = {
    user_id: USER,
    kind: "WEB_ALERT",
    payload: JSON.stringify(workflowPayload),
    idempotency_key: "k1",
  };

  it("accepts every kind", () => {
    for (const kind of NOTIFICATION_KINDS) {
      expect(parseNewNotification({ ...valid, kind }).kind).toBe(kind);
    }
  });

  it.each([
    ["user_id", { user_id: "" }],
    ["user_id", { user_id: "nope" }],
    ["kind", { kind: "" }],
    ["kind", { kind: "EMAIL" }],
    ["kind", { kind: "web_alert" }],
    ["payload", { payload: "[]" }],
    ["idempotency_key", { idempotency_key: "" }],
    ["idempotency_key", { idempotency_key: "k".repeat(256) }],
    ["idempotency_key", { idempotency_key: " ".repeat(1_000_000) }],
    ["idempotency_key", { idempotency_key: "\u{1f511}".repeat(256) }],
  ])("names %s", (field, change) => {
    expect(fieldOf(() => parseNewNotification({ ...valid, ...change }))).toBe(field);
  });
});

describe("parseIdsToMark", () => {
  it("lower-cases and drops duplicates", () => {
    expect(parseIdsToMark([WF, WF.toUpperCase(), JOB])).toEqual([WF, JOB]);
    expect(parseIdsToMark([])).toEqual([]);
  });

  it("names the bad index", () => {
    expect(fieldOf(() => parseIdsToMark([WF, "x"]))).toBe("ids[1]");
    expect(fieldOf(() => parseIdsToMark([""]))).toBe("ids[0]");
  });

  it("limits the number of ids", () => {
    expect(fieldOf(() => parseIdsToMark(Array.from({ length: MAX_IDS_PER_MARK_READ + 1 }, () => WF)))).toBe(
      "ids",
    );
  });
});

describe("visibleKinds", () => {
  it("follows the preference, ALERTS by default", () => {
    expect(visibleKinds("ALL")).toEqual(NOTIFICATION_KINDS);
    expect(visibleKinds("ALERTS")).toEqual(["WEB_ALERT"]);
    expect(visibleKinds("NONE")).toEqual([]);
    expect(visibleKinds(undefined)).toEqual(["WEB_ALERT"]);
  });
});

describe("cursor", () => {
  it("round-trips and is opaque", () => {
    const cursor = encodeCursor(WF);
    expect(cursor).not.toContain(WF);
    expect(decodeCursor(cursor)).toBe(WF);
    expect(decodeCursor("")).toBeUndefined();
  });

  it.each([
    "x",
    "!!!",
    WF,
    Buffer.from("n1:nope").toString("base64url"),
    Buffer.from(`n2:${WF}`).toString("base64url"),
    "A".repeat(1_000_000),
    `${encodeCursor(WF)}${"A".repeat(100_000)}`,
  ])("rejects %j", (cursor) => {
    expect(fieldOf(() => decodeCursor(cursor))).toBe("cursor");
  });
});

describe("formatTimestamp", () => {
  it("is RFC 3339 UTC, empty when unset", () => {
    expect(formatTimestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)))).toBe("2026-01-02T03:04:05.006Z");
    expect(formatTimestamp(null)).toBe("");
  });
});
