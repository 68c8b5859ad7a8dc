// Analytics rules from SPEC.md, pure: what a finished job adds to the
// counters, and how stored totals become the uint32/uint64 wire fields.

import { InvalidArgument } from "../../src/grpc/errors.ts";

const UINT32_MAX = 0xffff_ffff;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A required uuid field (request field or recorder argument), lower-cased. */
export function requireUuid(field: string, value: string): string {
  if (value === "") throw new InvalidArgument(field, "is required");
  if (!UUID.test(value)) throw new InvalidArgument(field, "must be a UUID");
  return value.toLowerCase();
}

/**
 * Milliseconds a job ran: completed − started, zero when either is unknown
 * (a run canceled before it started) or when the clocks disagree.
 */
export function jobDurationMs(
  startedAt: Date | null | undefined,
  completedAt: Date | null | undefined,
): number {
  if (!startedAt || !completedAt) return 0;
  const ms = completedAt.getTime() - startedAt.getTime();
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/**
 * Whole seconds of a total kept in milliseconds. Durations are summed in
 * milliseconds and rounded down once, so many short jobs do not lose their
 * fractions one by one.
 */
export function totalSeconds(totalMs: number): number {
  return Math.floor(totalMs / 1000);
}

/** A stored counter (pg returns bigint and sum() as strings) as a number for the wire. */
export function counter(value: string | number | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? Math.min(n, Number.MAX_SAFE_INTEGER) : 0;
}

/** Saturates at the uint32 maximum rather than wrapping on the wire. */
export function uint32(value: number): number {
  return Math.min(value, UINT32_MAX);
}

export interface UserTotals {
  totalWorkflows: number;
  totalJobs: number;
  totalJobLogs: number;
  totalJobExecutionDurationMs: number;
}

export interface WorkflowTotals {
  workflowId: string;
  totalJobs: number;
  totalJobLogs: number;
  totalJobExecutionDurationMs: number;
}

export function userAnalyticsResponse(totals: UserTotals) {
  return {
    total_workflows: uint32(totals.totalWorkflows),
    total_jobs: totals.totalJobs,
    total_joblogs: totals.totalJobLogs,
    total_job_execution_duration: totalSeconds(totals.totalJobExecutionDurationMs),
  };
}

export function workflowAnalyticsResponse(totals: WorkflowTotals) {
  return {
    workflow_id: totals.workflowId,
    total_job_execution_duration: totalSeconds(totals.totalJobExecutionDurationMs),
    total_jobs: uint32(totals.totalJobs),
    total_joblogs: totals.totalJobLogs,
  };
}
