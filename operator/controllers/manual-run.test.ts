import { describe, expect, it } from "vitest";
import type { Workflow } from "../api/v1alpha1/workflow.ts";
import type { WorkflowJob } from "../api/v1alpha1/workflow-job.ts";
import { cronJobForWorkflow, defaultPodSettings } from "./cronjob-for-workflow.ts";
import { delayUntilDue, dueAt, manualPodName, manualRunWait, podForManualRun } from "./manual-run.ts";

const workflowId = "0192f0a4-2222-7000-8000-000000000001";
const workflow: Workflow = {
  apiVersion: "chronoverse.dev/v1alpha1",
  kind: "Workflow",
  metadata: { name: workflowId, namespace: "ns", uid: "wf-uid", generation: 2 },
  spec: {
    userId: "0192f0a4-1111-7000-8000-00000000abcd",
    displayName: "job",
    kind: "CONTAINER",
    container: { image: "busybox:1.36", command: ["echo", "hi"], timeoutSeconds: 45 },
    intervalMinutes: 5,
    maxConsecutiveFailures: 3,
    logRetention: true,
    terminated: false,
  },
} as Workflow;
const run: WorkflowJob = {
  apiVersion: "chronoverse.dev/v1alpha1",
  kind: "WorkflowJob",
  metadata: { name: "0192f0a4-3333-7000-8000-000000000001", namespace: "ns", uid: "run-uid" },
  spec: {
    workflowName: workflowId,
    userId: workflow.spec.userId,
    trigger: "MANUAL",
    scheduledAt: "2026-01-02T03:04:05.250Z",
  },
};

describe("manual runs", () => {
  it("names pods after the run, numbered from the second attempt", () => {
    expect(manualPodName("abc")).toBe("abc");
    expect(manualPodName("abc", 2)).toBe("abc-2");
  });

  it("is due at scheduledAt rounded up to a whole second", () => {
    expect(dueAt(run.spec.scheduledAt)).toBe(Date.parse("2026-01-02T03:04:06Z"));
    expect(dueAt("2026-01-02T03:04:05Z")).toBe(Date.parse("2026-01-02T03:04:05Z"));
    expect(delayUntilDue(run.spec.scheduledAt, new Date("2026-01-02T03:04:00Z"))).toBe(6000);
    expect(delayUntilDue(run.spec.scheduledAt, new Date("2026-01-02T03:05:00Z"))).toBe(0);
    expect(() => dueAt("soon")).toThrow(RangeError);
  });

  it("waits for scheduledAt, and for retryAt on a later attempt", () => {
    const before = new Date("2026-01-02T03:04:00Z");
    const after = new Date("2026-01-02T03:10:00Z");
    expect(manualRunWait(run, 1, before)).toMatchObject({ delayMs: 6000, reason: "WaitingForSchedule" });
    expect(manualRunWait(run, 1, after)).toBeUndefined();
    const retried = {
      ...run,
      status: { phase: "PENDING" as const, attempts: 2, retryAt: "2026-01-02T03:10:30Z" },
    };
    expect(manualRunWait(retried, 2, after)).toMatchObject({ delayMs: 30_000, reason: "RetryScheduled" });
    expect(manualRunWait(retried, 2, new Date("2026-01-02T03:11:00Z"))).toBeUndefined();
    // retryAt only counts for the attempt it was set for.
    expect(manualRunWait(retried, 1, after)).toBeUndefined();
  });

  it("builds the CronJob's pod, owned by the WorkflowJob", () => {
    const pod = podForManualRun(run, workflow, defaultPodSettings);
    const template = cronJobForWorkflow(workflow, defaultPodSettings).spec?.jobTemplate.spec?.template;
    expect(pod.spec).toEqual(template?.spec);
    expect(pod.spec?.restartPolicy).toBe("Never");
    expect(pod.spec?.activeDeadlineSeconds).toBe(45);
    expect(pod.metadata?.name).toBe(run.metadata.name);
    expect(pod.metadata?.labels).toMatchObject({
      ...template?.metadata?.labels,
      "chronoverse.dev/workflow-job": run.metadata.name,
    });
    expect(pod.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "chronoverse.dev/v1alpha1",
        kind: "WorkflowJob",
        name: run.metadata.name,
        uid: "run-uid",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });
});
