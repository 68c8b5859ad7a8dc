import { describe, expect, it } from "vitest";
import { LogSortOrder, LogStream } from "../../gen/jobs/jobs.ts";
import type { WorkflowJob } from "../../operator/api/v1alpha1/workflow-job.ts";
import { DomainError } from "../../src/grpc/errors.ts";
import {
  canTransition,
  checkLogRead,
  checkSchedulable,
  decodeJobsCursor,
  decodeLogsCursor,
  encodeLogsCursor,
  highlight,
  jobByIdResponse,
  jobsListEntry,
  type LogLine,
  mergeSplitReads,
  nextStatus,
  pageJobs,
  pageLogLines,
  parseIdempotencyKey,
  parseJobFilters,
  parseLogStreamFilter,
  parseRfc3339,
  parseScheduleTrigger,
  parseSearchMessage,
  parseSortOrder,
  parseTimestampedLine,
  parseWorkflowGeneration,
  readsAreSplit,
  updatedAt,
} from "./domain.ts";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return `${error.name}:${error.field ?? ""}`;
    throw error;
  }
  return "ok";
}

function job(
  name: string,
  scheduledAt: string,
  extra: Partial<WorkflowJob["status"]> = {},
  trigger = "MANUAL",
) {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "WorkflowJob",
    metadata: { name, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { workflowName: "w", userId: "u", trigger, scheduledAt },
    status: { phase: "PENDING", ...extra },
  } as WorkflowJob;
}

describe("ScheduleJob fields", () => {
  it("accepts RFC 3339 timestamps and returns them in UTC", () => {
    expect(parseRfc3339("scheduled_at", "2026-01-02T03:04:05Z")).toBe("2026-01-02T03:04:05.000Z");
    expect(parseRfc3339("scheduled_at", "2026-01-02T05:04:05.5+02:00")).toBe("2026-01-02T03:04:05.500Z");
  });

  it.each(["", "2026-01-02", "tomorrow", "2026-01-02T03:04:05", "2026-13-02T03:04:05Z"])(
    "refuses scheduled_at %j",
    (value) => {
      expect(codeOf(() => parseRfc3339("scheduled_at", value))).toBe("InvalidArgument:scheduled_at");
    },
  );

  it("lets users schedule MANUAL runs only; services may record AUTOMATIC ones", () => {
    expect(parseScheduleTrigger("MANUAL", false)).toBe("MANUAL");
    expect(codeOf(() => parseScheduleTrigger("AUTOMATIC", false))).toBe("InvalidArgument:trigger");
    expect(parseScheduleTrigger("AUTOMATIC", true)).toBe("AUTOMATIC");
    expect(codeOf(() => parseScheduleTrigger("", true))).toBe("InvalidArgument:trigger");
    expect(codeOf(() => parseScheduleTrigger("manual", false))).toBe("InvalidArgument:trigger");
  });

  it("needs an idempotency key for MANUAL runs", () => {
    expect(codeOf(() => parseIdempotencyKey("", "MANUAL"))).toBe("InvalidArgument:idempotency_key");
    expect(parseIdempotencyKey("", "AUTOMATIC")).toBe("");
    expect(codeOf(() => parseIdempotencyKey("k".repeat(256), "MANUAL"))).toBe(
      "InvalidArgument:idempotency_key",
    );
  });

  it("checks the workflow generation only when one is given", () => {
    expect(parseWorkflowGeneration(0)).toBe(0);
    expect(codeOf(() => parseWorkflowGeneration(-1))).toBe("InvalidArgument:workflow_generation");
    const facts = { userId: "u", terminated: false, generation: 3 };
    expect(codeOf(() => checkSchedulable(facts, 0))).toBe("ok");
    expect(codeOf(() => checkSchedulable(facts, 3))).toBe("ok");
    expect(codeOf(() => checkSchedulable(facts, 2))).toBe("FailedPrecondition:workflow_generation");
    expect(codeOf(() => checkSchedulable({ ...facts, terminated: true }, 0))).toBe(
      "FailedPrecondition:workflow_id",
    );
  });
});

describe("phase transitions", () => {
  it.each([
    ["PENDING", "QUEUED", true],
    ["PENDING", "RUNNING", true],
    ["PENDING", "CANCELED", true],
    ["QUEUED", "RUNNING", true],
    ["RUNNING", "COMPLETED", true],
    ["RUNNING", "FAILED", true],
    ["RUNNING", "RUNNING", true],
    ["RUNNING", "QUEUED", false],
    ["RUNNING", "PENDING", false],
    ["COMPLETED", "FAILED", false],
    ["CANCELED", "RUNNING", false],
    ["FAILED", "FAILED", true],
  ] as const)("%s → %s: %s", (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it("fills in start and finish times once, and the pod name when given", () => {
    const t1 = new Date("2026-01-01T00:00:01Z");
    const t2 = new Date("2026-01-01T00:00:09Z");
    const running = nextStatus({ phase: "QUEUED" }, "RUNNING", "pod-1", t1);
    expect(running).toEqual({ phase: "RUNNING", podName: "pod-1", startedAt: t1.toISOString() });
    const done = nextStatus(running, "COMPLETED", "", t2);
    expect(done).toEqual({ ...running, phase: "COMPLETED", finishedAt: t2.toISOString() });
    expect(nextStatus(done, "COMPLETED", "", new Date())).toEqual(done);
    expect(codeOf(() => nextStatus(done, "RUNNING", "", t2))).toBe("FailedPrecondition:status");
    expect(nextStatus(undefined, "QUEUED", "", t1)).toEqual({ phase: "QUEUED" });
  });
});

describe("wire messages", () => {
  it("maps a WorkflowJob to Job B and JobsResponse", () => {
    const j = job("a", "2026-01-01T00:00:00Z", {
      podName: "p",
      attempts: 2,
      startedAt: "2026-01-01T00:00:01Z",
    });
    expect(jobByIdResponse(j)).toMatchObject({
      id: "a",
      workflow_id: "w",
      user_id: "u",
      container_id: "p",
      status: "PENDING",
      started_at: "2026-01-01T00:00:01.000Z",
      completed_at: "",
    });
    expect(jobsListEntry(j).attempts).toBe(2);
  });

  it("takes updated_at from the newest managedFields entry", () => {
    const j = job("a", "2026-01-01T00:00:00Z");
    (j.metadata as Record<string, unknown>).managedFields = [
      { time: "2026-01-01T00:00:05Z" },
      { time: "2026-01-01T00:00:03Z" },
    ];
    expect(updatedAt(j)).toBe("2026-01-01T00:00:05.000Z");
    expect(updatedAt(job("b", "2026-01-01T00:00:00Z"))).toBe("2026-01-01T00:00:00.000Z");
  });
});

describe("ListJobs paging", () => {
  const jobs = Array.from({ length: 23 }, (_, i) =>
    job(`id-${String(i).padStart(2, "0")}`, new Date(Date.UTC(2026, 0, 1, 0, i % 20)).toISOString(), {
      phase: i % 2 === 0 ? "COMPLETED" : "FAILED",
    }),
  );

  it("pages newest first through every job exactly once", () => {
    const seen: string[] = [];
    let cursor = "";
    let pages = 0;
    do {
      const page = pageJobs(jobs, { status: undefined, trigger: undefined }, cursor);
      expect(page.jobs.length).toBeLessThanOrEqual(10);
      seen.push(...page.jobs.map((j) => j.metadata.name ?? ""));
      cursor = page.cursor;
      pages++;
    } while (cursor !== "");
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(23);
    // id-19 (00:19) first; id-20..22 share 00:00..00:02 with id-00..02 and sort by name.
    expect(seen[0]).toBe("id-19");
    expect(seen.at(-1)).toBe("id-00");
  });

  it("filters by status and trigger", () => {
    const page = pageJobs(jobs, parseJobFilters({ status: "FAILED", trigger: "MANUAL" }), "");
    expect(page.jobs.every((j) => j.status?.phase === "FAILED")).toBe(true);
    expect(pageJobs(jobs, parseJobFilters({ status: "", trigger: "AUTOMATIC" }), "").jobs).toEqual([]);
  });

  it("refuses bad filters and cursors", () => {
    expect(codeOf(() => parseJobFilters({ status: "DONE", trigger: "" }))).toBe(
      "InvalidArgument:filters.status",
    );
    expect(codeOf(() => parseJobFilters({ status: "", trigger: "CRON" }))).toBe(
      "InvalidArgument:filters.trigger",
    );
    expect(codeOf(() => decodeJobsCursor("not a cursor!"))).toBe("InvalidArgument:cursor");
    expect(codeOf(() => decodeJobsCursor(Buffer.from("[1]").toString("base64url")))).toBe(
      "InvalidArgument:cursor",
    );
    expect(codeOf(() => decodeJobsCursor(Buffer.from('{"v":1}').toString("base64url")))).toBe(
      "InvalidArgument:cursor",
    );
  });
});

// Issue 11: each field is bounded before it is parsed (base64/JSON, Date.parse).
describe("bounded before parsing", () => {
  it("refuses cursors far longer than any this service makes", () => {
    const json = Buffer.from(`{"v":1,"t":"2026-01-02T03:04:05.000Z","n":"${"a".repeat(100_000)}"}`);
    expect(codeOf(() => decodeJobsCursor(json.toString("base64url")))).toBe("InvalidArgument:cursor");
    expect(codeOf(() => decodeJobsCursor("A".repeat(1_000_000)))).toBe("InvalidArgument:cursor");
    expect(codeOf(() => decodeLogsCursor("A".repeat(1_000_000), "asc"))).toBe("InvalidArgument:cursor");
  });

  it("refuses timestamps padded far past any RFC 3339 time", () => {
    expect(codeOf(() => parseRfc3339("scheduled_at", `2026-01-02T03:04:05.${"0".repeat(100_000)}Z`))).toBe(
      "InvalidArgument:scheduled_at",
    );
    expect(parseRfc3339("scheduled_at", "2026-01-02T03:04:05.123456789+02:00")).toBe(
      "2026-01-02T01:04:05.123Z",
    );
  });

  it("refuses a search text over 1024 characters, even all spaces", () => {
    expect(parseSearchMessage("x".repeat(1024))).toHaveLength(1024);
    expect(codeOf(() => parseSearchMessage(" ".repeat(1_000_000)))).toBe("InvalidArgument:filters.message");
  });
});

describe("the log read rule", () => {
  it.each<[string, boolean, "kept" | "live", string]>([
    ["CONTAINER", true, "kept", "ok"],
    ["CONTAINER", true, "live", "ok"],
    ["CONTAINER", false, "live", "ok"], // following a run in progress: any retention
    ["CONTAINER", false, "kept", "FailedPrecondition:workflow_id"],
    ["HEARTBEAT", false, "kept", "FailedPrecondition:workflow_id"], // no log, Get/Search/finished Stream
    ["HEARTBEAT", false, "live", "FailedPrecondition:workflow_id"], // no log, Stream of a run in progress
  ])("%s with retention %s, %s read → %s", (kind, logRetention, read, expected) => {
    expect(codeOf(() => checkLogRead({ kind, logRetention }, read))).toBe(expected);
  });
});

describe("logs", () => {
  it("needs a stream filter; UNSPECIFIED sort order is newest first", () => {
    expect(codeOf(() => parseLogStreamFilter(LogStream.LOG_STREAM_UNSPECIFIED))).toBe(
      "InvalidArgument:filters.stream",
    );
    expect(codeOf(() => parseLogStreamFilter(undefined))).toBe("InvalidArgument:filters.stream");
    expect(parseLogStreamFilter(LogStream.LOG_STREAM_ALL)).toEqual(["stdout", "stderr"]);
    expect(parseLogStreamFilter(LogStream.LOG_STREAM_STDERR)).toEqual(["stderr"]);
    expect(parseSortOrder(LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED)).toBe("desc");
    expect(parseSortOrder(LogSortOrder.LOG_SORT_ORDER_ASC)).toBe("asc");
    expect(codeOf(() => parseSortOrder(7 as LogSortOrder))).toBe("InvalidArgument:sort_order");
  });

  it("binds a cursor to its sort order", () => {
    const cursor = encodeLogsCursor(42, "asc");
    expect(decodeLogsCursor(cursor, "asc")).toBe(42);
    expect(codeOf(() => decodeLogsCursor(cursor, "desc"))).toBe("InvalidArgument:cursor");
    expect(decodeLogsCursor("", "desc")).toBeUndefined();
  });

  it("pages lines in both orders", () => {
    const lines: LogLine[] = Array.from({ length: 250 }, (_, i) => ({
      seq: i + 1,
      timestamp: "t",
      stream: "stdout",
      message: `m${i + 1}`,
    }));
    const first = pageLogLines(lines, "desc", "");
    expect(first.lines[0]?.seq).toBe(250);
    expect(first.lines).toHaveLength(100);
    const second = pageLogLines(lines, "desc", first.cursor);
    expect(second.lines[0]?.seq).toBe(150);
    const third = pageLogLines(lines, "desc", second.cursor);
    expect(third.lines.map((l) => l.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 50 - i));
    expect(third.cursor).toBe("");
    expect(pageLogLines(lines, "asc", "").lines[0]?.seq).toBe(1);
  });

  it("highlights every case-insensitive match, keeping the original case", () => {
    expect(highlight("Error: an ERROR occurred", "error", "t")).toBe(
      "__CV_HL_START_t__Error__CV_HL_END_t__: an __CV_HL_START_t__ERROR__CV_HL_END_t__ occurred",
    );
    expect(highlight("nothing here", "error", "t")).toBe("nothing here");
    expect(codeOf(() => parseSearchMessage("  "))).toBe("InvalidArgument:filters.message");
  });

  it("reads timestamped log lines", () => {
    expect(parseTimestampedLine("2026-01-01T00:00:00.123456789Z hello world", "f")).toEqual({
      timestamp: "2026-01-01T00:00:00.123Z",
      message: "hello world",
    });
    expect(parseTimestampedLine("no timestamp", "f")).toEqual({ timestamp: "f", message: "no timestamp" });
    expect(parseTimestampedLine("2026-01-01T00:00:00Z ", "f")).toEqual({
      timestamp: "2026-01-01T00:00:00.000Z",
      message: "",
    });
  });

  it("tells split stream reads from a node that ignores the option", () => {
    const a = { timestamp: "2026-01-01T00:00:01Z", message: "a" };
    const b = { timestamp: "2026-01-01T00:00:02Z", message: "b" };
    const c = { timestamp: "2026-01-01T00:00:03Z", message: "c" };
    expect(mergeSplitReads([a, b, c], [a, b, c])).toEqual({
      split: false,
      lines: [a, b, c].map((l) => ({ ...l, stream: "stdout" })),
    });
    expect(mergeSplitReads([a, c], [b])).toEqual({
      split: true,
      lines: [
        { ...a, stream: "stdout" },
        { ...b, stream: "stderr" },
        { ...c, stream: "stdout" },
      ],
    });
    expect(mergeSplitReads([], []).lines).toEqual([]);
    // Not split, with a line written between the two reads.
    expect(mergeSplitReads([a, b], [a, b, c])).toEqual({
      split: false,
      lines: [a, b, c].map((l) => ({ ...l, stream: "stdout" })),
    });
  });

  it.each([
    ["both empty: nothing tells yet", [], [], undefined],
    ["stdout only", ["a"], [], true],
    ["stderr only", [], ["a"], true],
    ["the same log twice", ["a", "b"], ["a", "b"], false],
    ["one read a line behind", ["a"], ["a", "b"], false],
    ["different lines", ["a", "c"], ["b"], true],
  ] as Array<[string, string[], string[], boolean | undefined]>)(
    "readsAreSplit: %s",
    (_name, out, err, split) => {
      const line = (message: string) => ({ timestamp: "2026-01-01T00:00:01.000Z", message });
      expect(readsAreSplit(out.map(line), err.map(line))).toBe(split);
    },
  );
});
