import type * as k8s from "@kubernetes/client-node";
import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import type { Workflow } from "../api/v1alpha1/workflow.ts";
import {
  automaticRunName,
  runLabels,
  scheduledTimeOfJob,
  scheduledTimestampAnnotation,
  workflowJobForBatchJob,
  workflowOfBatchJob,
} from "./run-mirror.ts";

const workflowId = "0192f0a4-2222-7000-8000-000000000001";
const userId = "0192f0a4-1111-7000-8000-00000000abcd";
const workflow = {
  apiVersion: "chronoverse.dev/v1alpha1",
  kind: "Workflow",
  metadata: { name: workflowId, namespace: "ns", uid: "uid-1" },
  spec: { userId },
} as unknown as Workflow;

function job(name: string, annotations: Record<string, string> = {}, owner = workflowId): k8s.V1Job {
  return {
    metadata: {
      name,
      namespace: "ns",
      annotations,
      labels: { "chronoverse.dev/workflow-id": workflowId },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "CronJob", name: owner, uid: "c", controller: true }],
    },
  };
}

describe("automaticRunName", () => {
  it("is a lower-case UUID v5, the same for equal times however written", () => {
    const a = automaticRunName(workflowId, "2026-01-02T03:04:00Z");
    expect(validate(a) && version(a)).toBe(5);
    expect(a).toBe(a.toLowerCase());
    expect(automaticRunName(workflowId.toUpperCase(), "2026-01-02T03:04:00.000Z")).toBe(a);
    expect(automaticRunName(workflowId, "2026-01-02T03:05:00Z")).not.toBe(a);
    expect(automaticRunName("0192f0a4-2222-7000-8000-000000000002", "2026-01-02T03:04:00Z")).not.toBe(a);
  });
  it("rejects a non-time", () => {
    expect(() => automaticRunName(workflowId, "later")).toThrow(RangeError);
  });
});

describe("scheduledTimeOfJob", () => {
  it("prefers the CronJob controller's annotation", () => {
    const j = job(`${workflowId}-1`, { [scheduledTimestampAnnotation]: "2026-01-02T03:04:00Z" });
    expect(scheduledTimeOfJob(j)).toBe("2026-01-02T03:04:00.000Z");
  });
  it("falls back to the name's minute suffix", () => {
    const minutes = Date.parse("2026-01-02T03:04:00Z") / 60_000;
    expect(scheduledTimeOfJob(job(`${workflowId}-${minutes}`))).toBe("2026-01-02T03:04:00.000Z");
  });
  it("gives up on other names", () => {
    expect(scheduledTimeOfJob(job(`${workflowId}-manual-x`))).toBeUndefined();
    expect(scheduledTimeOfJob(job("other-29400000"))).toBeUndefined();
  });
});

describe("workflowJobForBatchJob", () => {
  it("mirrors a CronJob's Job", () => {
    const j = job(`${workflowId}-29400000`, { [scheduledTimestampAnnotation]: "2026-01-02T03:04:00Z" });
    const run = workflowJobForBatchJob(j, workflow);
    expect(run?.metadata.name).toBe(automaticRunName(workflowId, "2026-01-02T03:04:00Z"));
    expect(run?.metadata.labels).toMatchObject({
      "chronoverse.dev/user-id": userId,
      "chronoverse.dev/workflow-id": workflowId,
      [runLabels.trigger]: "AUTOMATIC",
      [runLabels.batchJob]: `${workflowId}-29400000`,
    });
    expect(run?.metadata.ownerReferences).toEqual([
      {
        apiVersion: "chronoverse.dev/v1alpha1",
        kind: "Workflow",
        name: workflowId,
        uid: "uid-1",
        controller: true,
      },
    ]);
    expect(run?.spec).toEqual({
      workflowName: workflowId,
      userId,
      trigger: "AUTOMATIC",
      scheduledAt: "2026-01-02T03:04:00.000Z",
    });
  });
  it("ignores Jobs not started by the workflow's CronJob", () => {
    expect(workflowOfBatchJob(job(`${workflowId}-29400000`, {}, "someone-else"))).toBeUndefined();
    const loose = job(`${workflowId}-29400000`);
    loose.metadata = { ...loose.metadata, ownerReferences: [] };
    expect(workflowJobForBatchJob(loose, workflow)).toBeUndefined();
  });
});
