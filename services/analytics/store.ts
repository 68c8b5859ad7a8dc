// Analytics counters in Postgres: the reads behind the two RPCs and the
// idempotent writes the operator makes (through ./recorder.ts). A job counts
// once: its row in `analytics_jobs` is the proof it was counted, written in the
// same transaction that adds it to the workflow's totals.
import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import { counter, jobDurationMs, type UserTotals, type WorkflowTotals } from "./domain.ts";

type Db = Kysely<Database> | Transaction<Database>;

export async function getUserTotals(db: Db, userId: string): Promise<UserTotals> {
  const row = await db
    .selectFrom("workflow_analytics")
    .select((eb) => [
      eb.fn.countAll<string>().as("workflows"),
      eb.fn.coalesce(eb.fn.sum<string>("total_jobs"), sql<string>`0`).as("jobs"),
      eb.fn.coalesce(eb.fn.sum<string>("total_joblogs"), sql<string>`0`).as("joblogs"),
      eb.fn.coalesce(eb.fn.sum<string>("total_job_execution_duration_ms"), sql<string>`0`).as("duration_ms"),
    ])
    .where("user_id", "=", userId)
    .executeTakeFirstOrThrow();
  return {
    totalWorkflows: counter(row.workflows),
    totalJobs: counter(row.jobs),
    totalJobLogs: counter(row.joblogs),
    totalJobExecutionDurationMs: counter(row.duration_ms),
  };
}

/** The workflow's totals, or undefined when it has none or belongs to another user. */
export async function getWorkflowTotals(
  db: Db,
  userId: string,
  workflowId: string,
): Promise<WorkflowTotals | undefined> {
  const row = await db
    .selectFrom("workflow_analytics")
    .select(["workflow_id", "total_jobs", "total_joblogs", "total_job_execution_duration_ms"])
    .where("workflow_id", "=", workflowId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    workflowId: row.workflow_id,
    totalJobs: counter(row.total_jobs),
    totalJobLogs: counter(row.total_joblogs),
    totalJobExecutionDurationMs: counter(row.total_job_execution_duration_ms),
  };
}

async function ensureWorkflow(db: Db, userId: string, workflowId: string): Promise<boolean> {
  const inserted = await db
    .insertInto("workflow_analytics")
    .values({ workflow_id: workflowId, user_id: userId })
    .onConflict((oc) => oc.column("workflow_id").doNothing())
    .returning("workflow_id")
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Counts a workflow for its user; true the first time, false on a repeat. */
export async function insertWorkflow(db: Db, userId: string, workflowId: string): Promise<boolean> {
  return ensureWorkflow(db, userId, workflowId);
}

export interface FinishedJob {
  userId: string;
  workflowId: string;
  jobId: string;
  startedAt: Date | null | undefined;
  completedAt: Date | null | undefined;
}

/**
 * Adds a job that reached a terminal state to its workflow's totals (one job,
 * its duration). Exactly once per job id: a repeat, also a concurrent one,
 * finds the job's ledger row already finished and adds nothing. Returns
 * whether this call counted it.
 */
export async function insertFinishedJob(db: Kysely<Database>, job: FinishedJob): Promise<boolean> {
  const durationMs = jobDurationMs(job.startedAt, job.completedAt);
  return db.transaction().execute(async (tx) => {
    await ensureWorkflow(tx, job.userId, job.workflowId);
    // Insert, or claim a ledger row that so far only carried log lines; the
    // WHERE makes a job already counted return nothing.
    const claimed = await tx
      .insertInto("analytics_jobs")
      .values({
        job_id: job.jobId,
        workflow_id: job.workflowId,
        user_id: job.userId,
        execution_duration_ms: durationMs,
      })
      .onConflict((oc) =>
        oc
          .column("job_id")
          .doUpdateSet({ execution_duration_ms: durationMs, updated_at: sql`now()` })
          .where("analytics_jobs.execution_duration_ms", "is", null),
      )
      .returning("workflow_id")
      .executeTakeFirst();
    if (!claimed) return false;
    await tx
      .updateTable("workflow_analytics")
      .set({
        total_jobs: sql`total_jobs + 1`,
        total_job_execution_duration_ms: sql`total_job_execution_duration_ms + ${durationMs}`,
        updated_at: sql`now()`,
      })
      .where("workflow_id", "=", claimed.workflow_id)
      .execute();
    return true;
  });
}

export interface JobLogLines {
  userId: string;
  workflowId: string;
  jobId: string;
  /** Lines the job has produced in total so far (not an increment). */
  lines: number;
}

/**
 * Records how many log lines a job has produced in total. Idempotent: the
 * workflow's total grows only by what exceeds the job's previously recorded
 * count, so a retried or repeated copy adds nothing. Returns the lines added.
 */
export async function upsertJobLogLines(db: Kysely<Database>, job: JobLogLines): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await ensureWorkflow(tx, job.userId, job.workflowId);
    await tx
      .insertInto("analytics_jobs")
      .values({ job_id: job.jobId, workflow_id: job.workflowId, user_id: job.userId })
      .onConflict((oc) => oc.column("job_id").doNothing())
      .execute();
    const current = await tx
      .selectFrom("analytics_jobs")
      .select(["workflow_id", "log_lines"])
      .where("job_id", "=", job.jobId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const added = job.lines - counter(current.log_lines);
    if (added <= 0) return 0;
    await tx
      .updateTable("analytics_jobs")
      .set({ log_lines: job.lines, updated_at: sql`now()` })
      .where("job_id", "=", job.jobId)
      .execute();
    await tx
      .updateTable("workflow_analytics")
      .set({ total_joblogs: sql`total_joblogs + ${added}`, updated_at: sql`now()` })
      .where("workflow_id", "=", current.workflow_id)
      .execute();
    return added;
  });
}
