// SPEC.md, Jobs: "After downtime, a missed slot is run once (not every missed
// slot), within a start deadline — the Kubernetes CronJob rule." With the
// operator stopped and the schedule held (the CronJob suspended, as when the
// scheduler is down) across two slots of a one-minute workflow, resuming runs
// one run for the missed slots, and the operator, back, records exactly one.

import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkflowJob } from "../../../operator/api/v1alpha1/workflow-job.ts";
import { type Stack, type StackUser, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

const minute = 60_000;

describe("a missed slot after downtime runs once", () => {
  let stack: Stack;
  let user: StackUser;

  beforeAll(async () => {
    stack = await startStack("spec-missed-slot");
    user = await stack.newUser();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function automaticRuns(workflowId: string): Promise<WorkflowJob[]> {
    const list = (await stack.custom.listNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: stack.ns.name,
      plural: "workflowjobs",
      labelSelector: `chronoverse.dev/workflow-id=${workflowId},chronoverse.dev/trigger=AUTOMATIC`,
    })) as { items: WorkflowJob[] };
    return list.items;
  }

  const suspend = (name: string, value: boolean) =>
    stack.batch.patchNamespacedCronJob(
      { name, namespace: stack.ns.name, body: { spec: { suspend: value } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );

  it("runs the latest missed slot once when the schedule comes back", async () => {
    const id = await stack.createWorkflow(user, { interval: 1 });
    const cronJob = await stack.batch.readNamespacedCronJob({ name: id, namespace: stack.ns.name });
    expect(cronJob.spec?.startingDeadlineSeconds).toBe(60);

    // Down: no operator, and no schedule.
    await stack.stopOperator();
    await suspend(id, true);
    const downAt = Date.now();
    // Two slots (minute boundaries) pass while down.
    const twoSlotsLater = (Math.floor(downAt / minute) + 2) * minute + 1000;
    await waitFor("two slots to pass", () => (Date.now() > twoSlotsLater ? true : undefined), {
      timeoutMs: 4 * minute,
      intervalMs: 1000,
    });
    const before = (await automaticRuns(id)).map((run) => run.metadata.name);

    // Back: the schedule resumes (within the start deadline of the latest missed slot), the operator starts.
    await suspend(id, false);
    const upAt = Date.now();
    stack.startOperator();
    const caughtUp = await waitFor(
      "the missed slot's run",
      async () => {
        const missed = (await automaticRuns(id)).filter(
          (run) =>
            !before.includes(run.metadata.name) &&
            Date.parse(run.spec.scheduledAt) > downAt &&
            Date.parse(run.spec.scheduledAt) <= upAt,
        );
        return missed.length > 0 ? missed : undefined;
      },
      { timeoutMs: 2 * minute },
    );
    // Only the latest missed slot ran (the CronJob records it as its last schedule).
    const latestMissed = Math.floor(upAt / minute) * minute;
    expect(caughtUp.map((run) => Date.parse(run.spec.scheduledAt))).toEqual([latestMissed]);
    const missedJobs = (await stack.batch.listNamespacedJob({ namespace: stack.ns.name })).items.filter(
      (job) =>
        job.metadata?.ownerReferences?.some((ref) => ref.name === id) &&
        Date.parse(job.metadata?.annotations?.["batch.kubernetes.io/cronjob-scheduled-timestamp"] ?? "") >
          downAt &&
        Date.parse(job.metadata?.annotations?.["batch.kubernetes.io/cronjob-scheduled-timestamp"] ?? "") <=
          upAt,
    );
    expect(missedJobs).toHaveLength(1);
  });
});
