// Runs with a Pod of their own (DESIGN.md, reconciliation step 3): a WorkflowJob
// with trigger MANUAL gets its Pod once its scheduled time has come; so does
// every later attempt (a system retry, SPEC "Failures") of any run, including an
// AUTOMATIC one whose batch Job's Pod was lost — that Job's failure is final
// (backoffLimit 0), so the retry is the operator's own Pod. Pure: the Pod (built
// by the same podTemplateForWorkflow as the CronJob's pods), its name and the
// due time. The WorkflowJob controller (./workflow-job.ts) creates the Pod, or
// requeues the run for exactly the time left.
import type * as k8s from "@kubernetes/client-node";
import { apiVersion } from "../api/v1alpha1/schema.ts";
import type { Workflow } from "../api/v1alpha1/workflow.ts";
import type { WorkflowJob } from "../api/v1alpha1/workflow-job.ts";
import { defaultPodSettings, type PodSettings, podTemplateForWorkflow } from "./cronjob-for-workflow.ts";
import { runLabels } from "./run-mirror.ts";

/**
 * The Pod name of attempt `attempt` (1-based) of a manual run: the WorkflowJob's
 * name for the first, "<name>-<attempt>" for later ones (system retries).
 */
export function manualPodName(workflowJobName: string, attempt = 1): string {
  return attempt <= 1 ? workflowJobName : `${workflowJobName}-${attempt}`;
}

/**
 * When the Pod may be created, in ms since the epoch: scheduledAt rounded up to
 * a whole second. Kubernetes timestamps have whole seconds, so a Pod created
 * then has a creationTimestamp at or after scheduledAt.
 */
export function dueAt(scheduledAt: string): number {
  const time = Date.parse(scheduledAt);
  if (Number.isNaN(time)) throw new RangeError(`spec.scheduledAt is not a timestamp: ${scheduledAt}`);
  return Math.ceil(time / 1000) * 1000;
}

/** Milliseconds until the Pod of a run due at `scheduledAt` may be created (0: now). */
export function delayUntilDue(scheduledAt: string, now: Date): number {
  return Math.max(0, dueAt(scheduledAt) - now.getTime());
}

/**
 * How long attempt `attempt` of a manual run must still wait for its Pod, and
 * why: its scheduledAt, or for a later attempt (a system retry) also the
 * status.retryAt the retry set. Undefined when the Pod may be created now.
 */
export function manualRunWait(
  run: WorkflowJob,
  attempt: number,
  now: Date,
): { delayMs: number; reason: "WaitingForSchedule" | "RetryScheduled"; message: string } | undefined {
  const retryAt = attempt > 1 ? run.status?.retryAt : undefined;
  const scheduleDelay = delayUntilDue(run.spec.scheduledAt, now);
  const retryDelay = retryAt === undefined ? 0 : delayUntilDue(retryAt, now);
  if (scheduleDelay === 0 && retryDelay === 0) return undefined;
  return retryDelay > scheduleDelay
    ? { delayMs: retryDelay, reason: "RetryScheduled", message: `attempt ${attempt} is due at ${retryAt}` }
    : {
        delayMs: scheduleDelay,
        reason: "WaitingForSchedule",
        message: `the run is due at ${run.spec.scheduledAt}`,
      };
}

/** The Pod of a manual run or of a retry: the workflow's run pod, owned (controller) by the WorkflowJob. */
export function podForManualRun(
  run: WorkflowJob,
  workflow: Workflow,
  settings: PodSettings = defaultPodSettings,
  attempt = 1,
): k8s.V1Pod {
  const name = run.metadata.name ?? "";
  const template = podTemplateForWorkflow(workflow, settings);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: manualPodName(name, attempt),
      namespace: run.metadata.namespace ?? "",
      labels: {
        ...template.metadata.labels,
        [runLabels.workflowJob]: name,
        [runLabels.trigger]: run.spec.trigger,
      },
      annotations: { ...template.metadata.annotations },
      ownerReferences: [
        {
          apiVersion,
          kind: "WorkflowJob",
          name,
          uid: run.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    // restartPolicy Never and activeDeadlineSeconds = the timeout come from the template.
    spec: template.spec,
  };
}
