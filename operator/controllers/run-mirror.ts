// Automatic runs (DESIGN.md, reconciliation step 2): every batch Job a
// workflow's CronJob starts is mirrored into a WorkflowJob with trigger
// AUTOMATIC. Its name is a UUID v5 of the workflow id and the Job's scheduled
// time, so a replay, a re-list or a second operator computes the same name and
// the apiserver's AlreadyExists makes the create happen once. The pure parts
// (name, scheduled time, the object) are exported for tests; `mirrorBatchJob`
// does the one write.
import type * as k8s from "@kubernetes/client-node";
import { v5 as uuidv5 } from "uuid";
import { apiVersion, labels } from "../api/v1alpha1/schema.ts";
import type { Workflow } from "../api/v1alpha1/workflow.ts";
import { type WorkflowJob, workflowJobResource } from "../api/v1alpha1/workflow-job.ts";
import { isConflict } from "../runtime/kube-errors.ts";
import { fieldManager } from "./cronjob-for-workflow.ts";
import { timestamp } from "./run-phase.ts";

/** Labels on WorkflowJobs and the Pods of manual runs, beside `labels` of schema.ts. */
export const runLabels = {
  /** AUTOMATIC or MANUAL (the jobs service sets it on MANUAL runs too). */
  trigger: "chronoverse.dev/trigger",
  /** On an AUTOMATIC WorkflowJob: the name of the batch Job it mirrors. */
  batchJob: "chronoverse.dev/batch-job",
  /** On the Pod of a MANUAL run: the WorkflowJob it runs. */
  workflowJob: "chronoverse.dev/workflow-job",
} as const;

/**
 * Set by the operator on a batch Job once its WorkflowJob exists: the Job is
 * never mirrored again, even after the history limit removed that WorkflowJob.
 */
export const mirroredAnnotation = "chronoverse.dev/workflow-job";

/** Set by the CronJob controller on the Jobs it creates (Kubernetes ≥ 1.28). */
export const scheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/** The UUID v5 namespace of automatic run names (a fixed, random v4 UUID). */
export const automaticRunNamespace = "5b0c7f0e-3f5e-4b1d-9a57-6c2d8e41a9f3";

/**
 * The name of the WorkflowJob of the automatic run of `workflowId` scheduled
 * at `scheduledAt`: UUID v5 of "<workflow id>@<scheduled time, ISO 8601 UTC
 * with milliseconds>". Both inputs are normalised so equal times give equal names.
 */
export function automaticRunName(workflowId: string, scheduledAt: string): string {
  const time = timestamp(scheduledAt);
  if (time === undefined) throw new RangeError(`not a timestamp: ${JSON.stringify(scheduledAt)}`);
  return uuidv5(`${workflowId.toLowerCase()}@${time}`, automaticRunNamespace);
}

/** The workflow id of a batch Job its CronJob created, or undefined for other Jobs. */
export function workflowOfBatchJob(job: k8s.V1Job): string | undefined {
  const owner = job.metadata?.ownerReferences?.find(
    (ref) => ref.controller === true && ref.kind === "CronJob" && ref.apiVersion === "batch/v1",
  );
  const workflowId = job.metadata?.labels?.[labels.workflowId];
  if (owner === undefined || workflowId === undefined || owner.name !== workflowId) return undefined;
  return workflowId;
}

/**
 * When the CronJob controller scheduled `job`: its scheduled-timestamp
 * annotation, else the Job name's suffix (`<cronjob>-<minutes since the epoch>`,
 * the controller's naming rule). Undefined when neither is readable.
 */
export function scheduledTimeOfJob(job: k8s.V1Job): string | undefined {
  const annotated = timestamp(job.metadata?.annotations?.[scheduledTimestampAnnotation]);
  if (annotated !== undefined) return annotated;
  const name = job.metadata?.name ?? "";
  const cronJob = workflowOfBatchJob(job);
  const suffix = name.slice(name.lastIndexOf("-") + 1);
  if (cronJob === undefined || name !== `${cronJob}-${suffix}` || !/^\d{1,12}$/.test(suffix)) {
    return undefined;
  }
  return new Date(Number(suffix) * 60_000).toISOString();
}

/** The WorkflowJob mirroring `job`, or undefined when `job` is not a scheduled run of `workflow`. */
export function workflowJobForBatchJob(job: k8s.V1Job, workflow: Workflow): WorkflowJob | undefined {
  const workflowId = workflowOfBatchJob(job);
  const scheduledAt = scheduledTimeOfJob(job);
  if (workflowId === undefined || scheduledAt === undefined || workflowId !== workflow.metadata.name) {
    return undefined;
  }
  return {
    apiVersion,
    kind: "WorkflowJob",
    metadata: {
      name: automaticRunName(workflowId, scheduledAt),
      namespace: workflow.metadata.namespace ?? "",
      labels: {
        [labels.userId]: workflow.spec.userId,
        [labels.workflowId]: workflowId,
        [runLabels.trigger]: "AUTOMATIC",
        [runLabels.batchJob]: job.metadata?.name ?? "",
        "app.kubernetes.io/managed-by": fieldManager,
        "app.kubernetes.io/part-of": "chronoverse",
      },
      ownerReferences: [
        {
          apiVersion,
          kind: "Workflow",
          name: workflowId,
          uid: workflow.metadata.uid ?? "",
          controller: true,
        },
      ],
    },
    spec: { workflowName: workflowId, userId: workflow.spec.userId, trigger: "AUTOMATIC", scheduledAt },
  };
}

/**
 * Creates the mirror of a batch Job. Returns true when this call created it,
 * false when it already existed (a replay, a restart, another replica).
 */
export async function mirrorBatchJob(custom: k8s.CustomObjectsApi, run: WorkflowJob): Promise<boolean> {
  const { group, version, plural } = workflowJobResource;
  try {
    await custom.createNamespacedCustomObject({
      group,
      version,
      plural,
      namespace: run.metadata.namespace ?? "",
      body: run,
      fieldManager,
    });
    return true;
  } catch (error) {
    if (isConflict(error)) return false; // AlreadyExists: done before.
    throw error;
  }
}
