// The build status of a Workflow as a pure function of the Workflow and the
// outcome of one build (applying its CronJob): QUEUED → STARTED → COMPLETED,
// FAILED with the reason, CANCELED when it was terminated before the build
// finished. The operator owns the fields listed in `ownedStatusFields`;
// others (consecutiveFailures) belong to the run controllers.
import { type Condition, rfc3339, setCondition } from "../api/v1alpha1/schema.ts";
import {
  type BuildStatus,
  type Workflow,
  type WorkflowStatus,
  workflowConditions,
} from "../api/v1alpha1/workflow.ts";
import type { Schedule } from "./cronjob-for-workflow.ts";

export type BuildOutcome =
  /** The CronJob matches the spec (suspended when the workflow is terminated). */
  | { type: "built"; schedule: Schedule; cronJobName: string; lastScheduleTime?: string }
  /** The CronJob cannot be built; retrying the same spec will not help. */
  | { type: "failed"; message: string; schedule?: Schedule }
  /** The workflow was terminated before any CronJob existed. */
  | { type: "canceled" };

export const ownedStatusFields = [
  "buildStatus",
  "observedGeneration",
  "schedule",
  "terminatedAt",
  "lastScheduleTime",
  "conditions",
] as const satisfies ReadonlyArray<keyof WorkflowStatus>;

type OwnedStatus = Pick<WorkflowStatus, (typeof ownedStatusFields)[number]>;

const unfinished: ReadonlyArray<BuildStatus | undefined> = [undefined, "QUEUED", "STARTED"];

/**
 * Whether reconciling this workflow begins a build (STARTED is written first).
 * A build begins when one was asked for (QUEUED, or no status yet), when a
 * canceled workflow is active again, and when a failed build meets a new spec.
 * Other spec changes (an interval, a name) only update the CronJob.
 */
export function shouldStartBuild(workflow: Workflow): boolean {
  if (workflow.spec.terminated) return false;
  const status = workflow.status ?? {};
  switch (status.buildStatus) {
    case undefined:
    case "QUEUED":
    case "CANCELED":
      return true;
    case "FAILED":
      return status.observedGeneration !== (workflow.metadata.generation ?? 0);
    default:
      return false;
  }
}

function ownedStatus(status: WorkflowStatus | undefined): OwnedStatus {
  const owned: OwnedStatus = {};
  for (const field of ownedStatusFields) {
    if (status?.[field] !== undefined) Object.assign(owned, { [field]: status[field] });
  }
  return owned;
}

function terminatedAt(workflow: Workflow, now: Date): string | undefined {
  return workflow.spec.terminated ? (workflow.status?.terminatedAt ?? rfc3339(now)) : undefined;
}

/** Status while a build runs. */
export function startedStatus(workflow: Workflow, now: Date): OwnedStatus {
  const generation = workflow.metadata.generation ?? 0;
  return {
    ...ownedStatus(workflow.status),
    buildStatus: "STARTED",
    observedGeneration: generation,
    conditions: setCondition(
      workflow.status?.conditions,
      {
        type: workflowConditions.ready,
        status: "False",
        reason: "Building",
        message: "building the schedule for this generation",
        observedGeneration: generation,
      },
      now,
    ),
  };
}

/** Status after one build of the current generation. */
export function statusAfterBuild(workflow: Workflow, outcome: BuildOutcome, now: Date): OwnedStatus {
  const generation = workflow.metadata.generation ?? 0;
  const previous = workflow.status?.buildStatus;
  const terminated = workflow.spec.terminated;
  let buildStatus: BuildStatus;
  let ready: Omit<Condition, "lastTransitionTime">;
  let schedule: string | undefined;
  let lastScheduleTime = workflow.status?.lastScheduleTime;
  switch (outcome.type) {
    case "built": {
      schedule = outcome.schedule.cron;
      lastScheduleTime = outcome.lastScheduleTime ?? lastScheduleTime;
      const runs = outcome.schedule.clockAligned
        ? `runs "${outcome.schedule.cron}" (UTC)`
        : `runs "${outcome.schedule.cron}" (every ${workflow.spec.intervalMinutes} minutes, counted from the previous run)`;
      if (terminated) {
        buildStatus = unfinished.includes(previous) ? "CANCELED" : (previous as BuildStatus);
        ready = {
          type: workflowConditions.ready,
          status: "True",
          reason: "Suspended",
          message: `the workflow is terminated; CronJob ${outcome.cronJobName} is suspended`,
          observedGeneration: generation,
        };
      } else {
        buildStatus = "COMPLETED";
        ready = {
          type: workflowConditions.ready,
          status: "True",
          reason: "ScheduleReady",
          message: `CronJob ${outcome.cronJobName} ${runs}`,
          observedGeneration: generation,
        };
      }
      break;
    }
    case "failed":
      buildStatus = "FAILED";
      schedule = outcome.schedule?.cron;
      ready = {
        type: workflowConditions.ready,
        status: "False",
        reason: "BuildFailed",
        message: outcome.message,
        observedGeneration: generation,
      };
      break;
    case "canceled":
      buildStatus = unfinished.includes(previous) ? "CANCELED" : (previous as BuildStatus);
      ready = {
        type: workflowConditions.ready,
        status: "False",
        reason: "Canceled",
        message: "the workflow was terminated before its schedule was built",
        observedGeneration: generation,
      };
      break;
  }
  const next: OwnedStatus = {
    buildStatus,
    observedGeneration: generation,
    conditions: setCondition(workflow.status?.conditions, ready, now),
  };
  if (schedule !== undefined) next.schedule = schedule;
  const stoppedAt = terminatedAt(workflow, now);
  if (stoppedAt !== undefined) next.terminatedAt = stoppedAt;
  if (lastScheduleTime !== undefined) next.lastScheduleTime = lastScheduleTime;
  return next;
}

/**
 * The JSON merge patch that turns the owned part of `current` into `next`
 * (null removes a field), or undefined when nothing changes.
 */
export function statusPatch(
  current: WorkflowStatus | undefined,
  next: OwnedStatus,
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const field of ownedStatusFields) {
    const before = current?.[field];
    const after = next[field];
    if (canonicalJson(before) === canonicalJson(after)) continue;
    patch[field] = after ?? null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** JSON with object keys sorted, so that equal values compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
