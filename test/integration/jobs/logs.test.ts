// GetJobLogs and SearchJobLogs over real gRPC: retained lines in Postgres
// (written with retainJobLogs, as the operator does) with paging, stream
// filter, both sort orders, case-insensitive search and highlighting; the
// fallback to the live Pod log (kwok serves it) while nothing is retained;
// and every status code SPEC.md names for these calls.
import { type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GetJobLogsRequest,
  type GetJobLogsResponse,
  LogSortOrder,
  LogStream,
  type SearchJobLogsRequest,
} from "../../../gen/jobs/jobs.ts";
import { type RetainedLine, retainJobLogs } from "../../../services/jobs/logs-store.ts";
import { expectStatus, unary } from "../../support/grpc.ts";
import { waitFor } from "../../support/wait.ts";
import { createLoggingPod, type JobsTest, PodLogFile, startJobsTest } from "./support.ts";

const LINES = 250;

function retainedLines(): RetainedLine[] {
  return Array.from({ length: LINES }, (_, i) => {
    const n = i + 1;
    const stderr = n % 5 === 0;
    return {
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, n)).toISOString(),
      stream: stderr ? "stderr" : "stdout",
      message: n === 7 ? "100% done_ok" : stderr ? `tick ${n}: Error number ${n}, error again` : `tick ${n}`,
    };
  });
}

describe("JobsService: logs", () => {
  let t: JobsTest;
  let userId: string;
  let md: Metadata;
  let workflowId: string;
  let jobId: string;

  beforeAll(async () => {
    t = await startJobsTest();
    userId = uuidv7();
    md = await t.user(userId);
    workflowId = (await t.createWorkflow(userId)).metadata.name ?? "";
    jobId = await t.schedule(userId, workflowId);
    const result = await retainJobLogs(t.svc.db, { jobId, workflowId, userId, lines: retainedLines() });
    expect(result).toEqual({ retained: true, lineCount: LINES });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const logsRequest = (overrides: Partial<GetJobLogsRequest> = {}): GetJobLogsRequest => ({
    id: jobId,
    workflow_id: workflowId,
    user_id: userId,
    cursor: "",
    filters: { stream: LogStream.LOG_STREAM_ALL },
    sort_order: LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED,
    ...overrides,
  });
  const getLogs = async (req: GetJobLogsRequest, metadata: Metadata = md): Promise<GetJobLogsResponse> =>
    (await unary(t.client, t.client.getJobLogs, req, metadata)).response;
  const searchRequest = (
    message: string,
    overrides: Partial<SearchJobLogsRequest> = {},
  ): SearchJobLogsRequest => ({
    id: jobId,
    workflow_id: workflowId,
    user_id: userId,
    cursor: "",
    filters: { stream: LogStream.LOG_STREAM_ALL, message },
    sort_order: LogSortOrder.LOG_SORT_ORDER_ASC,
    disable_highlight: false,
    ...overrides,
  });
  const search = async (req: SearchJobLogsRequest, metadata: Metadata = md) =>
    (await unary(t.client, t.client.searchJobLogs, req, metadata)).response;

  /** Every page of a request, following cursors. */
  const allPages = async (req: GetJobLogsRequest) => {
    const pages: GetJobLogsResponse[] = [];
    let cursor = "";
    do {
      const page = await getLogs({ ...req, cursor });
      pages.push(page);
      cursor = page.cursor;
    } while (cursor !== "");
    return pages;
  };

  describe("retention", () => {
    it("is idempotent per job", async () => {
      const again = await retainJobLogs(t.svc.db, {
        jobId,
        workflowId,
        userId,
        lines: [{ timestamp: new Date().toISOString(), stream: "stdout", message: "late duplicate" }],
      });
      expect(again).toEqual({ retained: false, lineCount: LINES });
      const concurrentJob = uuidv7();
      const results = await Promise.all(
        Array.from({ length: 4 }, () =>
          retainJobLogs(t.svc.db, { jobId: concurrentJob, workflowId, userId, lines: retainedLines() }),
        ),
      );
      expect(results.filter((r) => r.retained)).toHaveLength(1);
      const rows = await t.svc.db
        .selectFrom("job_logs")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("job_id", "=", concurrentJob)
        .executeTakeFirstOrThrow();
      expect(Number(rows.n)).toBe(LINES);
    });
  });

  describe("GetJobLogs", () => {
    it("pages the retained lines newest first (UNSPECIFIED), 100 per page", async () => {
      const pages = await allPages(logsRequest());
      expect(pages.map((p) => p.logs.length)).toEqual([100, 100, 50]);
      const seqs = pages.flatMap((p) => p.logs.map((l) => l.sequence_num));
      expect(seqs).toEqual(Array.from({ length: LINES }, (_, i) => LINES - i));
      const first = pages[0]?.logs[0];
      expect(first).toEqual({
        timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, LINES)).toISOString(),
        message: `tick ${LINES}: Error number ${LINES}, error again`,
        sequence_num: LINES,
        stream: "stderr",
        event_id: `${jobId}/${LINES}`,
      });
      expect(pages[0]).toMatchObject({ id: jobId, workflow_id: workflowId, highlight_token: "" });
      const desc = await allPages(logsRequest({ sort_order: LogSortOrder.LOG_SORT_ORDER_DESC }));
      expect(desc.flatMap((p) => p.logs.map((l) => l.sequence_num))).toEqual(seqs);
    });

    it("pages oldest first with ASC", async () => {
      const pages = await allPages(logsRequest({ sort_order: LogSortOrder.LOG_SORT_ORDER_ASC }));
      const seqs = pages.flatMap((p) => p.logs.map((l) => l.sequence_num));
      expect(seqs).toEqual(Array.from({ length: LINES }, (_, i) => i + 1));
    });

    it("filters by stream", async () => {
      const stderr = await allPages(logsRequest({ filters: { stream: LogStream.LOG_STREAM_STDERR } }));
      const errLines = stderr.flatMap((p) => p.logs);
      expect(errLines).toHaveLength(LINES / 5);
      expect(errLines.every((l) => l.stream === "stderr" && l.sequence_num % 5 === 0)).toBe(true);
      const stdout = await allPages(logsRequest({ filters: { stream: LogStream.LOG_STREAM_STDOUT } }));
      expect(stdout.flatMap((p) => p.logs)).toHaveLength(LINES - LINES / 5);
      expect(stdout.flatMap((p) => p.logs).every((l) => l.stream === "stdout")).toBe(true);
    });

    it("refuses a missing stream filter, bad sort order and bad cursors", async () => {
      await expectStatus(
        getLogs(logsRequest({ filters: { stream: LogStream.LOG_STREAM_UNSPECIFIED } })),
        status.INVALID_ARGUMENT,
        /filters.stream: is required/,
      );
      const { filters: _, ...noFilters } = logsRequest();
      await expectStatus(getLogs(noFilters as GetJobLogsRequest), status.INVALID_ARGUMENT, /filters.stream/);
      await expectStatus(
        getLogs(logsRequest({ sort_order: 9 as LogSortOrder })),
        status.INVALID_ARGUMENT,
        /sort_order/,
      );
      await expectStatus(getLogs(logsRequest({ cursor: "%%%" })), status.INVALID_ARGUMENT, /cursor/);
      const ascCursor = (await getLogs(logsRequest({ sort_order: LogSortOrder.LOG_SORT_ORDER_ASC }))).cursor;
      await expectStatus(getLogs(logsRequest({ cursor: ascCursor })), status.INVALID_ARGUMENT, /cursor/);
    });

    it("is FailedPrecondition when the workflow's log retention is off", async () => {
      const quiet = (await t.createWorkflow(userId, { logRetention: false })).metadata.name ?? "";
      const quietJob = await t.schedule(userId, quiet);
      await expectStatus(
        getLogs(logsRequest({ id: quietJob, workflow_id: quiet })),
        status.FAILED_PRECONDITION,
        /log retention is off/,
      );
    });

    it("checks access: token, owner, workflow, job", async () => {
      await expectStatus(unary(t.client, t.client.getJobLogs, logsRequest()), status.UNAUTHENTICATED);
      await expectStatus(getLogs(logsRequest(), await t.user(uuidv7())), status.PERMISSION_DENIED);
      const other = uuidv7();
      await expectStatus(getLogs(logsRequest({ user_id: other }), await t.user(other)), status.NOT_FOUND);
      await expectStatus(getLogs(logsRequest({ id: uuidv7() })), status.NOT_FOUND);
      await expectStatus(getLogs(logsRequest({ workflow_id: uuidv7() })), status.NOT_FOUND);
      await expectStatus(getLogs(logsRequest({ id: "x" })), status.INVALID_ARGUMENT, /id: must be a UUID/);
    });

    it("keeps serving retained lines after the WorkflowJob is deleted", async () => {
      const gone = await t.schedule(userId, workflowId);
      await retainJobLogs(t.svc.db, {
        jobId: gone,
        workflowId,
        userId,
        lines: [{ timestamp: new Date().toISOString(), stream: "stdout", message: "kept" }],
      });
      await t.custom.deleteNamespacedCustomObject({
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
        name: gone,
      });
      await waitFor("the deletion to reach the service", async () => {
        try {
          await unary(t.client, t.client.getJob, { id: gone, workflow_id: workflowId, user_id: userId }, md);
          return undefined;
        } catch {
          return true;
        }
      });
      const page = await getLogs(logsRequest({ id: gone }));
      expect(page.logs.map((l) => l.message)).toEqual(["kept"]);
    });
  });

  describe("SearchJobLogs", () => {
    it("has a trigram index for the search (pg_trgm ships with PostgreSQL)", async () => {
      const index = await t.svc.db
        .selectFrom("pg_indexes" as never)
        .select("indexdef" as never)
        .where("indexname" as never, "=", "job_logs_message_trgm" as never)
        .executeTakeFirst();
      expect((index as { indexdef?: string } | undefined)?.indexdef).toMatch(/gin \(message gin_trgm_ops\)/);
    });

    it("matches case-insensitively and highlights each match with a random token", async () => {
      const page = await search(searchRequest("ERROR"));
      expect(page.logs).toHaveLength(LINES / 5);
      expect(page.highlight_token).toMatch(/^[0-9a-f]{16}$/);
      const tok = page.highlight_token;
      expect(page.logs[0]?.message).toBe(
        `tick 5: __CV_HL_START_${tok}__Error__CV_HL_END_${tok}__ number 5, __CV_HL_START_${tok}__error__CV_HL_END_${tok}__ again`,
      );
      expect(page.logs[0]?.sequence_num).toBe(5);
      const again = await search(searchRequest("ERROR"));
      expect(again.highlight_token).not.toBe(tok);
    });

    it("returns plain text without a token when highlighting is off", async () => {
      const page = await search(searchRequest("error number 10,", { disable_highlight: true }));
      expect(page.highlight_token).toBe("");
      expect(page.logs.map((l) => l.message)).toEqual(["tick 10: Error number 10, error again"]);
    });

    it("pages matches in both orders and filters by stream", async () => {
      const first = await search(
        searchRequest("TICK", { sort_order: LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED }),
      );
      expect(first.logs).toHaveLength(100);
      expect(first.logs[0]?.sequence_num).toBe(LINES);
      const second = await search(
        searchRequest("TICK", { sort_order: LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED, cursor: first.cursor }),
      );
      const third = await search(
        searchRequest("TICK", { sort_order: LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED, cursor: second.cursor }),
      );
      // 249 lines say "tick" (line 7 does not).
      expect(third.logs).toHaveLength(49);
      expect(third.cursor).toBe("");
      const stdoutOnly = await search(
        searchRequest("error", { filters: { stream: LogStream.LOG_STREAM_STDOUT, message: "error" } }),
      );
      expect(stdoutOnly.logs).toEqual([]);
    });

    it("matches LIKE wildcards literally", async () => {
      const percent = await search(searchRequest("0% done_"));
      expect(percent.logs.map((l) => l.sequence_num)).toEqual([7]);
      expect((await search(searchRequest("_"))).logs.map((l) => l.sequence_num)).toEqual([7]);
    });

    it("refuses an empty message or stream filter, and checks access", async () => {
      await expectStatus(search(searchRequest("")), status.INVALID_ARGUMENT, /filters.message: is required/);
      await expectStatus(
        search(searchRequest("x", { filters: { stream: LogStream.LOG_STREAM_UNSPECIFIED, message: "x" } })),
        status.INVALID_ARGUMENT,
        /filters.stream/,
      );
      await expectStatus(search(searchRequest("x"), await t.user(uuidv7())), status.PERMISSION_DENIED);
      await expectStatus(unary(t.client, t.client.searchJobLogs, searchRequest("x")), status.UNAUTHENTICATED);
      await expectStatus(search(searchRequest("x", { id: uuidv7() })), status.NOT_FOUND);
      const quiet = (await t.createWorkflow(userId, { logRetention: false })).metadata.name ?? "";
      const quietJob = await t.schedule(userId, quiet);
      await expectStatus(
        search(searchRequest("x", { id: quietJob, workflow_id: quiet })),
        status.FAILED_PRECONDITION,
      );
    });
  });

  describe("live fallback", () => {
    let log: PodLogFile;
    let liveJob: string;
    const pod = "live-fallback";

    beforeAll(async () => {
      log = new PodLogFile();
      log.write("stdout", "starting up", "Loading config");
      log.write("stderr", "warning: config LOADING slowly");
      log.write("stdout", "done");
      await createLoggingPod(t, pod, log);
      liveJob = await t.schedule(userId, workflowId);
      await t.setJobStatus(liveJob, { phase: "RUNNING", podName: pod });
    });
    afterAll(() => log?.remove());

    it("reads the running Pod's log while nothing is retained", async () => {
      const page = await waitFor("the pod's log through GetJobLogs", async () => {
        const p = await getLogs(logsRequest({ id: liveJob, sort_order: LogSortOrder.LOG_SORT_ORDER_ASC }));
        return p.logs.length === 4 ? p : undefined;
      });
      expect(page.logs.map((l) => l.message)).toEqual([
        "starting up",
        "Loading config",
        "warning: config LOADING slowly",
        "done",
      ]);
      expect(page.logs.map((l) => l.sequence_num)).toEqual([1, 2, 3, 4]);
      expect(page.logs[0]?.timestamp).toBe("2026-01-01T00:00:00.001Z");
      const desc = await getLogs(logsRequest({ id: liveJob }));
      expect(desc.logs.map((l) => l.sequence_num)).toEqual([4, 3, 2, 1]);

      // STDOUT and STDERR together are ALL, whether or not the node splits the streams (kwok does not).
      const out = await getLogs(
        logsRequest({ id: liveJob, filters: { stream: LogStream.LOG_STREAM_STDOUT } }),
      );
      const err = await getLogs(
        logsRequest({ id: liveJob, filters: { stream: LogStream.LOG_STREAM_STDERR } }),
      );
      expect([...out.logs, ...err.logs].map((l) => l.sequence_num).sort()).toEqual([1, 2, 3, 4]);

      const found = await search(searchRequest("loading", { id: liveJob }));
      const tok = found.highlight_token;
      expect(found.logs.map((l) => l.message)).toEqual([
        `__CV_HL_START_${tok}__Loading__CV_HL_END_${tok}__ config`,
        `warning: config __CV_HL_START_${tok}__LOADING__CV_HL_END_${tok}__ slowly`,
      ]);
    });

    it("switches to the retained copy once there is one", async () => {
      await retainJobLogs(t.svc.db, {
        jobId: liveJob,
        workflowId,
        userId,
        lines: [
          { timestamp: "2026-01-01T00:00:00.001Z", stream: "stdout", message: "starting up" },
          { timestamp: "2026-01-01T00:00:00.002Z", stream: "stderr", message: "retained copy" },
        ],
      });
      const page = await getLogs(
        logsRequest({ id: liveJob, filters: { stream: LogStream.LOG_STREAM_STDERR } }),
      );
      expect(page.logs.map((l) => l.message)).toEqual(["retained copy"]);
    });

    it("is an empty page when the run has no Pod (yet, or any more)", async () => {
      const pending = await t.schedule(userId, workflowId);
      expect((await getLogs(logsRequest({ id: pending }))).logs).toEqual([]);
      const vanished = await t.schedule(userId, workflowId);
      await t.setJobStatus(vanished, { phase: "RUNNING", podName: "no-such-pod" });
      await waitFor("the status to reach the cache", async () => {
        const r = await unary(
          t.client,
          t.client.getJob,
          { id: vanished, workflow_id: workflowId, user_id: userId },
          md,
        );
        return r.response.status === "RUNNING" ? true : undefined;
      });
      expect((await getLogs(logsRequest({ id: vanished }))).logs).toEqual([]);
    });
  });
});
