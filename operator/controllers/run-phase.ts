// The phase of one run (a WorkflowJob), derived from what the operator sees —
// its Pod, or the fact that the Pod is not there — and the status patch that
// brings the WorkflowJob's status there. Pure: no I/O, so every rule is
// table-tested (run-phase.test.ts). The WorkflowJob controller
// (./workflow-job.ts) feeds it and writes the patch.
//
//   no Pod yet            → PENDING
//   Pod Pending           → QUEUED; FAILED once its container has been unable
//                           to start (image not pullable, not creatable) for
//                           the start timeout, or at once when it never can
//   Pod Running           → RUNNING
//   Pod Succeeded         → COMPLETED (exit code 0)
//   Pod Failed            → FAILED (exit code; reason DeadlineExceeded, Evicted,
//                           OOMKilled, NonZeroExitCode, …)
//   Pod gone unfinished   → FAILED (reason PodDeleted, or why its batch Job
//                           failed: DeadlineExceeded for the timeout)
//   workflow terminated   → CANCELED when the run has no Pod (any more); runs
//                           still going are canceled by the run-completion
//                           controller's cancellation
//
// A terminal phase (COMPLETED, FAILED, CANCELED) is final: no observation moves
// a run out of it.
import type * as k8s from "@kubernetes/client-node";
import type { Condition } from "../api/v1alpha1/schema.ts";
import { type JobPhase, terminalJobPhases, type WorkflowJobStatus } from "../api/v1alpha1/workflow-job.ts";

/** The condition this code owns on a WorkflowJob: True once the run has reached a terminal phase. */
export const finishedCondition = "Finished";

/** What the operator concluded about a run from one look at the world. */
export interface RunObservation {
  phase: JobPhase;
  /** Short CamelCase reason (also the condition's reason). */
  reason: string;
  /** One human-readable sentence. */
  message: string;
  podName?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** Look again after this long: the verdict changes with time alone (a pod stuck before its start). */
  recheckAfterMs?: number;
}

/** How long a run's container may fail to start before the run fails (RUN_START_TIMEOUT). */
export const defaultStartTimeoutMs = 120_000;

/**
 * Why a container cannot start, as the kubelet says while it waits. Those in
 * `neverStarts` cannot get better by waiting; the others may (a registry that
 * comes back) and get the start timeout.
 */
const startFailures = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);
const neverStarts = new Set(["InvalidImageName", "ErrImageNeverPull"]);

/** True when `observed` failed a run whose Pod never started: the Pod is then deleted, so the kubelet stops trying. */
export function failedToStart(observed: RunObservation): boolean {
  return observed.phase === "FAILED" && startFailures.has(observed.reason);
}

export function isTerminal(phase: JobPhase | undefined): boolean {
  return phase !== undefined && terminalJobPhases.includes(phase);
}

/**
 * A timestamp as RFC 3339 in UTC. Objects from the typed list calls of
 * @kubernetes/client-node carry Date objects, objects from a watch carry
 * strings; both are accepted.
 */
export function timestamp(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === "string" && value !== "") {
    const time = Date.parse(value);
    return Number.isNaN(time) ? undefined : new Date(time).toISOString();
  }
  return undefined;
}

/** The status of the run's container: the one named "run" or "heartbeat", else the first. */
function runContainerStatus(pod: k8s.V1Pod): k8s.V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === "run" || s.name === "heartbeat") ?? statuses[0];
}

/** Why a failed Pod failed, most specific first. */
function failureReason(pod: k8s.V1Pod, terminated: k8s.V1ContainerStateTerminated | undefined): string {
  const podReason = pod.status?.reason;
  if (podReason !== undefined && podReason !== "") return podReason; // DeadlineExceeded, Evicted, …
  const containerReason = terminated?.reason;
  if (containerReason !== undefined && containerReason !== "" && containerReason !== "Error") {
    if (containerReason !== "Completed") return containerReason; // OOMKilled, ContainerCannotRun, …
  }
  if (terminated !== undefined && terminated.exitCode !== 0) return "NonZeroExitCode";
  return "PodFailed";
}

/** The phase a Pod shows. `now` stands in for a finish time the Pod does not report. */
export function observePod(
  pod: k8s.V1Pod,
  now: Date,
  startTimeoutMs: number = defaultStartTimeoutMs,
): RunObservation {
  const podName = pod.metadata?.name ?? "";
  const container = runContainerStatus(pod);
  const terminated = container?.state?.terminated;
  const startedAt = timestamp(container?.state?.running?.startedAt) ?? timestamp(terminated?.startedAt);
  const base = { podName, ...(startedAt === undefined ? {} : { startedAt }) };
  switch (pod.status?.phase) {
    case "Running":
      return { ...base, phase: "RUNNING", reason: "PodRunning", message: `pod ${podName} is running` };
    case "Succeeded": {
      const finishedAt = timestamp(terminated?.finishedAt) ?? now.toISOString();
      return {
        ...base,
        phase: "COMPLETED",
        reason: "Completed",
        message: `pod ${podName} completed`,
        finishedAt,
        exitCode: terminated?.exitCode ?? 0,
      };
    }
    case "Failed": {
      const finishedAt = timestamp(terminated?.finishedAt) ?? now.toISOString();
      const reason = failureReason(pod, terminated);
      const exitCode = terminated?.exitCode;
      const containerSays = terminated?.message?.trim();
      const detail =
        pod.status?.message ??
        [exitCode === undefined ? "" : `exit code ${exitCode}`, containerSays ?? ""]
          .filter((part) => part !== "")
          .join(", ");
      return {
        ...base,
        phase: "FAILED",
        reason,
        message: `pod ${podName} failed (${reason}${detail === "" ? "" : `: ${detail}`})`,
        finishedAt,
        ...(exitCode === undefined ? {} : { exitCode }),
      };
    }
    default: {
      // Pending (or Unknown): scheduled but not started. A waiting container says why (ImagePullBackOff, …).
      const waiting = container?.state?.waiting?.reason;
      if (waiting !== undefined && startFailures.has(waiting)) {
        const created = timestamp(pod.metadata?.creationTimestamp);
        const since = created === undefined ? now.getTime() : Date.parse(created);
        const leftMs = neverStarts.has(waiting) ? 0 : since + startTimeoutMs - now.getTime();
        const why = container?.state?.waiting?.message?.trim();
        if (leftMs <= 0) {
          return {
            ...base,
            phase: "FAILED",
            reason: waiting,
            message: `pod ${podName} could not start its container (${waiting}${why ? `: ${why}` : ""})`,
            finishedAt: now.toISOString(),
          };
        }
        return {
          ...base,
          phase: "QUEUED",
          reason: waiting,
          message: `pod ${podName} cannot start its container yet (${waiting}${why ? `: ${why}` : ""})`,
          recheckAfterMs: leftMs,
        };
      }
      return {
        ...base,
        phase: "QUEUED",
        reason: waiting !== undefined && waiting !== "" ? waiting : "PodPending",
        message: `pod ${podName} is waiting to start${waiting === undefined ? "" : ` (${waiting})`}`,
      };
    }
  }
}

/** The merge patch for `status` that records `observed`, or undefined when nothing changes. */
export function runStatusPatch(
  current: WorkflowJobStatus | undefined,
  observed: RunObservation,
  generation: number | undefined,
  now: Date,
): Partial<WorkflowJobStatus> | undefined {
  // A terminal phase is final (CANCELED included, which the cancellation writes).
  if (isTerminal(current?.phase)) return undefined;
  const patch: Partial<WorkflowJobStatus> = {};
  if (current?.phase !== observed.phase) patch.phase = observed.phase;
  if (current?.reason !== observed.reason) patch.reason = observed.reason;
  for (const field of ["podName", "startedAt", "finishedAt"] as const) {
    const value = observed[field];
    if (value !== undefined && current?.[field] !== value) patch[field] = value;
  }
  if (observed.exitCode !== undefined && current?.exitCode !== observed.exitCode) {
    patch.exitCode = observed.exitCode;
  }

  const finished = isTerminal(observed.phase);
  const previous = (current?.conditions ?? []).find((c) => c.type === finishedCondition);
  const status: Condition["status"] = finished ? "True" : "False";
  const condition: Condition = {
    type: finishedCondition,
    status,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    lastTransitionTime:
      previous !== undefined && previous.status === status ? previous.lastTransitionTime : now.toISOString(),
    reason: observed.reason,
    message: observed.message.slice(0, 32_768),
  };
  const sameCondition =
    previous !== undefined &&
    previous.status === condition.status &&
    previous.reason === condition.reason &&
    previous.message === condition.message &&
    previous.observedGeneration === condition.observedGeneration;
  if (!sameCondition) {
    // Other writers' condition types are kept (a merge patch replaces the whole list).
    patch.conditions = [
      ...(current?.conditions ?? []).filter((c) => c.type !== finishedCondition),
      condition,
    ];
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** Seconds between a run's due time and its container's start (schedule skew), if both are known. */
export function scheduleSkewSeconds(scheduledAt: string, startedAt: string | undefined): number | undefined {
  if (startedAt === undefined) return undefined;
  const due = Date.parse(scheduledAt);
  const started = Date.parse(startedAt);
  if (Number.isNaN(due) || Number.isNaN(started)) return undefined;
  return Math.max(0, (started - due) / 1000);
}

function trueCondition(job: k8s.V1Job, type: string): k8s.V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/**
 * The phase of an AUTOMATIC run whose Pod is not there (the apiserver says so),
 * from its batch Job (undefined: the Job is gone too). `hadPod`: the run was
 * seen with a Pod before. Undefined means "no verdict yet": the Pod went away
 * and the Job controller has not concluded — its next change wakes the run.
 */
export function observeWithoutPod(input: {
  jobName: string;
  job: k8s.V1Job | undefined;
  hadPod: boolean;
  workflowTerminated: boolean;
  now: Date;
}): RunObservation | undefined {
  const { jobName, job, hadPod, workflowTerminated, now } = input;
  const finishedAt = now.toISOString();
  if (job !== undefined && trueCondition(job, "Complete") !== undefined) {
    return {
      phase: "COMPLETED",
      reason: "Completed",
      message: `batch Job ${jobName} completed`,
      finishedAt: timestamp(job.status?.completionTime) ?? finishedAt,
      exitCode: 0,
    };
  }
  const failed =
    job === undefined ? undefined : (trueCondition(job, "Failed") ?? trueCondition(job, "FailureTarget"));
  if (job !== undefined && failed === undefined) {
    if (hadPod) return undefined;
    if (!workflowTerminated) {
      return { phase: "PENDING", reason: "WaitingForPod", message: `batch Job ${jobName} has no pod yet` };
    }
  }
  let reason: string;
  let message: string;
  if (failed?.reason === "DeadlineExceeded") {
    reason = "DeadlineExceeded";
    message = `batch Job ${jobName} ran past its deadline${failed.message ? `: ${failed.message}` : ""}`;
  } else if (hadPod) {
    reason = "PodDeleted";
    message = `the pod of batch Job ${jobName} was deleted before it finished`;
  } else if (failed !== undefined) {
    reason = failed.reason ?? "JobFailed";
    message = `batch Job ${jobName} failed${failed.message ? `: ${failed.message}` : ""}`;
  } else {
    reason = "JobDeleted";
    message = `batch Job ${jobName} was deleted before its pod ran`;
  }
  if (workflowTerminated) {
    return {
      phase: "CANCELED",
      reason: "WorkflowTerminated",
      message: `the workflow was terminated (${message})`,
      finishedAt,
    };
  }
  return { phase: "FAILED", reason, message, finishedAt };
}
