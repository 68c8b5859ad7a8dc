// The write side of analytics, for the operator (and any process with the
// Postgres URL) to import. See docs/analytics.md for why this is a module and
// not an internal RPC. Every call is idempotent, so the operator can repeat it
// after a crash or a retried reconcile without counting anything twice.
import type { Kysely } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import { InvalidArgument } from "../../src/grpc/errors.ts";
import { requireUuid } from "./domain.ts";
import {
  type FinishedJob,
  insertFinishedJob,
  insertWorkflow,
  type JobLogLines,
  upsertJobLogLines,
} from "./store.ts";

export type { FinishedJob, JobLogLines };

export interface AnalyticsRecorder {
  /** Counts a workflow for its owner. True the first time, false on a repeat. */
  recordWorkflowCreated(userId: string, workflowId: string): Promise<boolean>;
  /**
   * Counts a job that reached a terminal state (COMPLETED, FAILED, CANCELED)
   * and adds completedAt − startedAt to the durations. Exactly once per job id;
   * true when this call counted it.
   */
  recordJobFinished(job: FinishedJob): Promise<boolean>;
  /**
   * Sets the number of log lines a job has produced in total (not an
   * increment); totals grow by the difference to what was recorded before.
   * Returns the lines added.
   */
  recordJobLogLines(job: JobLogLines): Promise<number>;
}

function instant(field: string, value: Date | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidArgument(field, "must be a valid Date");
  }
  return value;
}

export function createAnalyticsRecorder(db: Kysely<Database>): AnalyticsRecorder {
  return {
    async recordWorkflowCreated(userId, workflowId) {
      return insertWorkflow(db, requireUuid("userId", userId), requireUuid("workflowId", workflowId));
    },
    async recordJobFinished(job) {
      return insertFinishedJob(db, {
        userId: requireUuid("userId", job.userId),
        workflowId: requireUuid("workflowId", job.workflowId),
        jobId: requireUuid("jobId", job.jobId),
        startedAt: instant("startedAt", job.startedAt),
        completedAt: instant("completedAt", job.completedAt),
      });
    },
    async recordJobLogLines(job) {
      if (!Number.isSafeInteger(job.lines) || job.lines < 0) {
        throw new InvalidArgument("lines", "must be a non-negative integer");
      }
      return upsertJobLogLines(db, {
        userId: requireUuid("userId", job.userId),
        workflowId: requireUuid("workflowId", job.workflowId),
        jobId: requireUuid("jobId", job.jobId),
        lines: job.lines,
      });
    },
  };
}
