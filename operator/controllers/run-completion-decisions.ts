// What the operator does when a run ends (DESIGN.md, reconciliation steps 4–5),
// as pure functions of the objects: whether a run is finished and already
// acted on, how the Workflow's consecutive-failure count moves (exactly once
// per run, by recording the counted run in the same status write), when the
// threshold terminates the workflow, which notification a run files, whether
// a run lost to the system is retried and after what back-off, and which
// finished runs fall outside the history limit. No I/O: table-tested in
// run-completion-decisions.test.ts; ./run-completion.ts carries them out.
import { rfc3339 } from "../api/v1alpha1/schema.ts";
import type { Workflow, WorkflowStatus } from "../api/v1alpha1/workflow.ts";
import {
  type JobPhase,
  terminalJobPhases,
  type WorkflowJob,
  type WorkflowJobStatus,
} from "../api/v1alpha1/workflow-job.ts";

/** Condition on a WorkflowJob written last, once every end-of-run action is done. */
export const finalizedCondition = "Finalized";
/** How many counted run names a Workflow keeps (status.countedRuns). */
export const countedRunsKept = 32;
/** Default number of finished WorkflowJobs kept per workflow. */
export const defaultHistoryLimit = 10;

export function isTerminalPhase(phase: JobPhase | undefined): boolean {
  return phase !== undefined && terminalJobPhases.includes(phase);
}

/** True once the end-of-run actions of this run are done (Finalized=True). */
export function isFinalized(job: WorkflowJob): boolean {
  return job.status?.conditions?.some((c) => c.type === finalizedCondition && c.status === "True") ?? false;
}

/** A finished run whose end-of-run actions are still to do. */
export function needsCompletion(job: WorkflowJob): boolean {
  return isTerminalPhase(job.status?.phase) && !isFinalized(job);
}

/**
 * The Workflow status patch that counts this run, or undefined when nothing
 * changes (already counted, or CANCELED, which does not count). FAILED adds
 * one, COMPLETED resets to zero; either way the run's name joins countedRuns,
 * so that a repeat after a crash finds it there and counts nothing. When the
 * count reaches the maximum on an active workflow the same patch marks the
 * termination (terminatedAt, failureThresholdRun); ./run-completion.ts then
 * sets spec.terminated.
 */
export function failureCountPatch(
  workflow: Pick<Workflow, "spec" | "status">,
  jobName: string,
  phase: JobPhase,
  now: Date,
): Partial<WorkflowStatus> | undefined {
  if (phase !== "FAILED" && phase !== "COMPLETED") return undefined;
  const status = workflow.status ?? {};
  const counted = status.countedRuns ?? [];
  if (counted.includes(jobName)) return undefined;
  const countedRuns = [...counted, jobName].slice(-countedRunsKept);
  if (phase === "COMPLETED") return { consecutiveFailures: 0, countedRuns };
  const consecutiveFailures = (status.consecutiveFailures ?? 0) + 1;
  const patch: Partial<WorkflowStatus> = { consecutiveFailures, countedRuns };
  const alreadyTerminated = workflow.spec.terminated || status.terminatedAt !== undefined;
  if (consecutiveFailures >= workflow.spec.maxConsecutiveFailures && !alreadyTerminated) {
    patch.failureThresholdRun = jobName;
    patch.terminatedAt = rfc3339(now);
  }
  return patch;
}

/**
 * True when this run's failure terminated the workflow and the termination is
 * still in effect (a later update that re-activates the workflow clears
 * terminatedAt): the spec must say terminated and the alert be filed.
 */
export function terminatedByThisRun(workflow: Pick<Workflow, "status">, jobName: string): boolean {
  return workflow.status?.failureThresholdRun === jobName && workflow.status.terminatedAt !== undefined;
}

export type RunNotification = "job-completed" | "job-failed" | "job-canceled";

/** The notification a finished run files (SPEC.md, Notifications). */
export function runNotification(phase: JobPhase): RunNotification | undefined {
  switch (phase) {
    case "COMPLETED":
      return "job-completed";
    case "FAILED":
      return "job-failed";
    case "CANCELED":
      return "job-canceled";
    default:
      return undefined;
  }
}

/** Whether a finished run's output is copied into Postgres. */
export function shouldRetainLogs(workflow: Pick<Workflow, "spec"> | undefined): boolean {
  return workflow?.spec.kind === "CONTAINER" && workflow.spec.logRetention === true;
}

// ---- System retries (SPEC.md, Jobs, "Failures") ----

/** Attempts a run gets in all when the system loses it. */
export const maxAttempts = 3;
const retryBaseMs = 30_000;
const retryMaxMs = 240_000;

/**
 * Reasons (status.reason of a FAILED run) that mean the system lost the run,
 * not that it failed on its own: the Pod was evicted or preempted, deleted
 * from under the run, or its node went away.
 */
export const systemLossReasons: ReadonlySet<string> = new Set([
  "Evicted",
  "Preempted",
  "PodDeleted",
  "PodLost",
  "NodeLost",
  "NodeShutdown",
  "Shutdown",
  "UnexpectedAdmissionError",
]);

/** A failure that is the run's own: a non-zero exit, the deadline, a wrong heartbeat status. */
export function isSystemLoss(status: WorkflowJobStatus | undefined): boolean {
  if (status?.phase !== "FAILED") return false;
  if (status.reason === undefined || !systemLossReasons.has(status.reason)) return false;
  // A container that ran to a non-zero exit failed on its own, whatever happened to the Pod after.
  return status.exitCode === undefined || status.exitCode === 0 || status.reason === "Evicted";
}

/** Back-off before attempt n+1 after the n-th attempt was lost: 30 s × 2^(n−1), at most 240 s. */
export function retryDelayMs(attemptsMade: number): number {
  const n = Math.max(1, attemptsMade);
  return Math.min(retryBaseMs * 2 ** (n - 1), retryMaxMs);
}

export type RetryDecision = { type: "retry"; nextAttempt: number; notBefore: Date } | { type: "finalize" };

/**
 * Whether a finished run is retried instead of finalized: only a run lost to
 * the system, and only while fewer than maxAttempts attempts were made.
 * `finishedAt` (else `now`) anchors the back-off.
 */
export function retryDecision(status: WorkflowJobStatus | undefined, now: Date): RetryDecision {
  if (!isSystemLoss(status)) return { type: "finalize" };
  const made = Math.max(1, status?.attempts ?? 1);
  if (made >= maxAttempts) return { type: "finalize" };
  const from = status?.finishedAt !== undefined ? new Date(status.finishedAt) : now;
  const anchor = Number.isNaN(from.getTime()) ? now : from;
  return {
    type: "retry",
    nextAttempt: made + 1,
    notBefore: new Date(anchor.getTime() + retryDelayMs(made)),
  };
}

/**
 * The status that hands a lost run back for its next attempt: PENDING again,
 * attempts already counting the attempt to come, the previous attempt's Pod,
 * times and exit code cleared (merge-patch nulls), and retryAt — the run
 * tracking creates the attempt's Pod ("<name>-<attempt>") no earlier.
 */
export function retryStatus(decision: { nextAttempt: number; notBefore: Date }): Record<string, unknown> {
  return {
    phase: "PENDING",
    reason: "RetryScheduled",
    attempts: decision.nextAttempt,
    retryAt: rfc3339(decision.notBefore),
    podName: null,
    startedAt: null,
    finishedAt: null,
    exitCode: null,
  };
}

// ---- History ----

function finishedTime(job: WorkflowJob): number {
  const at = job.status?.finishedAt ?? job.metadata.creationTimestamp ?? "";
  const t = Date.parse(at);
  return Number.isNaN(t) ? 0 : t;
}

/**
 * The finished, finalized runs of one workflow beyond the newest `limit`
 * (oldest first), to delete. Runs still being finalized are never chosen, so
 * their logs are retained before their Pods can go.
 */
export function runsBeyondHistory(jobs: readonly WorkflowJob[], limit: number): WorkflowJob[] {
  const finished = jobs
    .filter((job) => isFinalized(job) && job.metadata.deletionTimestamp === undefined)
    .sort(
      (a, b) =>
        finishedTime(b) - finishedTime(a) || (b.metadata.name ?? "").localeCompare(a.metadata.name ?? ""),
    );
  return finished.slice(Math.max(0, limit)).reverse();
}

// ---- Cancellation ----

/**
 * Runs of a terminated or deleted workflow that are canceled: those not yet
 * finished (including runs on their way out with their deleted workflow, which
 * are canceled — and notified — while they still exist).
 */
export function runsToCancel(jobs: readonly WorkflowJob[]): WorkflowJob[] {
  return jobs.filter((job) => !isTerminalPhase(job.status?.phase));
}

/**
 * Runs a rebuild cancels (SPEC.md, Update: "pending runs canceled" when what
 * runs changes): MANUAL runs still waiting for their time — PENDING, no Pod
 * yet — that were scheduled against an older generation of the workflow
 * (annotation `generationAnnotation`, written by ScheduleJob; a run without
 * it is left alone). Runs scheduled for the new spec, runs that have a
 * Pod (they run what they started with) and AUTOMATIC runs (their batch Job
 * exists from the moment they do) are left alone.
 */
export function pendingRunsToCancelOnRebuild(
  jobs: readonly WorkflowJob[],
  buildGeneration: number,
  generationAnnotation: string,
): WorkflowJob[] {
  return jobs.filter((job) => {
    if (job.spec.trigger !== "MANUAL") return false;
    if ((job.status?.phase ?? "PENDING") !== "PENDING" || job.status?.podName) return false;
    if (job.metadata.deletionTimestamp !== undefined) return false;
    // Without a recorded generation (a run made by something other than
    // ScheduleJob, or before it recorded one) nothing says the run is stale.
    const recorded = Number.parseInt(job.metadata.annotations?.[generationAnnotation] ?? "", 10);
    return Number.isInteger(recorded) && recorded < buildGeneration;
  });
}

/** Why a run was canceled (status.reason). */
export type CancelReason = "WorkflowTerminated" | "WorkflowDeleted" | "WorkflowUpdated";

/** The status a canceled run gets. */
export function canceledStatus(
  reason: CancelReason,
  now: Date,
): Pick<WorkflowJobStatus, "phase" | "reason" | "finishedAt"> {
  return { phase: "CANCELED", reason, finishedAt: rfc3339(now) };
}
