// Retained job logs in Postgres (tables job_logs and job_log_retentions,
// migration 0006). The operator copies a finished run's output here with
// `retainJobLogs`; GetJobLogs, SearchJobLogs and StreamJobLogs read it back in
// pages keyed by the per-job sequence number.
import { type Kysely, sql } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import type { LogLine, LogStreamName, SortDirection } from "./domain.ts";

export interface RetainedLine {
  /** RFC 3339 (nanoseconds are cut to Postgres' microseconds). */
  timestamp: string;
  stream: LogStreamName;
  message: string;
}

export interface RetainJobLogsInput {
  jobId: string;
  workflowId: string;
  userId: string;
  /** In the order the run wrote them; numbered 1..n. */
  lines: readonly RetainedLine[];
}

export interface RetainJobLogsResult {
  /** False when this job's log had been retained before (nothing was written). */
  retained: boolean;
  /** Lines kept for the job (by this call or the earlier one). */
  lineCount: number;
}

const INSERT_CHUNK = 1000;

/**
 * Keeps a finished run's log lines. Idempotent per job: the first call writes
 * the lines and a job_log_retentions row in one transaction; later (or
 * concurrent) calls for the same job change nothing and report the count kept.
 */
export async function retainJobLogs(
  db: Kysely<Database>,
  input: RetainJobLogsInput,
): Promise<RetainJobLogsResult> {
  return db.transaction().execute(async (trx) => {
    const claimed = await trx
      .insertInto("job_log_retentions")
      .values({
        job_id: input.jobId,
        workflow_id: input.workflowId,
        user_id: input.userId,
        line_count: input.lines.length,
      })
      .onConflict((oc) => oc.column("job_id").doNothing())
      .returning("job_id")
      .executeTakeFirst();
    if (claimed === undefined) {
      const existing = await trx
        .selectFrom("job_log_retentions")
        .select("line_count")
        .where("job_id", "=", input.jobId)
        .executeTakeFirstOrThrow();
      return { retained: false, lineCount: existing.line_count };
    }
    for (let start = 0; start < input.lines.length; start += INSERT_CHUNK) {
      const rows = input.lines.slice(start, start + INSERT_CHUNK).map((line, i) => ({
        job_id: input.jobId,
        seq: start + i + 1,
        workflow_id: input.workflowId,
        user_id: input.userId,
        stream: line.stream,
        timestamp: line.timestamp,
        // Postgres text cannot hold NUL characters.
        message: line.message.replaceAll("\u0000", ""),
      }));
      await trx.insertInto("job_logs").values(rows).execute();
    }
    return { retained: true, lineCount: input.lines.length };
  });
}

export interface Retention {
  jobId: string;
  workflowId: string;
  userId: string;
  lineCount: number;
}

/** Whether (and for whom) a job's log was retained. */
export async function findRetention(db: Kysely<Database>, jobId: string): Promise<Retention | undefined> {
  const row = await db
    .selectFrom("job_log_retentions")
    .selectAll()
    .where("job_id", "=", jobId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return { jobId: row.job_id, workflowId: row.workflow_id, userId: row.user_id, lineCount: row.line_count };
}

export interface ReadLogsQuery {
  jobId: string;
  streams: readonly LogStreamName[];
  direction: SortDirection;
  /** Sequence number of the last line of the previous page. */
  afterSeq: number | undefined;
  limit: number;
  /** Case-insensitive substring the message must contain. */
  search?: string;
}

/** Escapes LIKE's wildcards so the search text matches literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Up to `limit` retained lines of a job in the asked order, after `afterSeq`. */
export async function readJobLogs(db: Kysely<Database>, query: ReadLogsQuery): Promise<LogLine[]> {
  let q = db
    .selectFrom("job_logs")
    .select(["seq", "stream", "timestamp", "message"])
    .where("job_id", "=", query.jobId)
    .where("stream", "in", [...query.streams]);
  if (query.afterSeq !== undefined) {
    q = q.where("seq", query.direction === "asc" ? ">" : "<", query.afterSeq);
  }
  if (query.search !== undefined) {
    q = q.where(sql<boolean>`message ilike ${likePattern(query.search)}`);
  }
  const rows = await q.orderBy("seq", query.direction).limit(query.limit).execute();
  return rows.map((row) => ({
    seq: row.seq,
    stream: row.stream,
    timestamp: row.timestamp.toISOString(),
    message: row.message,
  }));
}

/**
 * Removes every retained log of a workflow (DeleteWorkflow; SPEC.md: "retained
 * logs are removed too"). Lines and retention rows go in one transaction;
 * repeating it is harmless. Returns how many runs' logs were removed.
 */
export async function deleteWorkflowLogs(db: Kysely<Database>, workflowId: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    // By job id (the primary key's first column), through the retention rows' workflow index.
    await trx
      .deleteFrom("job_logs")
      .where("job_id", "in", (q) =>
        q.selectFrom("job_log_retentions").select("job_id").where("workflow_id", "=", workflowId),
      )
      .execute();
    const removed = await trx
      .deleteFrom("job_log_retentions")
      .where("workflow_id", "=", workflowId)
      .executeTakeFirst();
    return Number(removed.numDeletedRows);
  });
}

/** The workflows that have retained logs (for the sweep that removes those of deleted workflows). */
export async function workflowsWithRetainedLogs(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom("job_log_retentions").select("workflow_id").distinct().execute();
  return rows.map((row) => row.workflow_id);
}
