// When a run ends (operator/controllers/run-completion.ts) against the real
// apiserver, a real notifications service and real Postgres: the consecutive
// failure count on the Workflow, termination at the threshold (the workflow
// controller then suspends the CronJob), the notifications and analytics of
// each run, and the cancellation of unfinished runs when a workflow is
// terminated or deleted. Runs are driven through the WorkflowJob status.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workflow } from "../../../operator/api/v1alpha1/workflow.ts";
import { getWorkflowTotals } from "../../../services/analytics/store.ts";
import { readJobLogs } from "../../../services/jobs/logs-store.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, kindsFor, startCompletionTest } from "./completion-support.ts";
import { readCronJob, statusOf } from "./harness.ts";

const t0 = Date.parse("2026-11-25T08:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

describe("operator: when a run ends", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("completion");
    await t.operator();
  });

  afterAll(async () => {
    await t?.stop();
  });

  async function fail(workflow: Workflow, second: number) {
    const run = await t.finishedRun(workflow, {
      phase: "FAILED",
      reason: "NonZeroExitCode",
      exitCode: 1,
      startedAt: at(second),
      finishedAt: at(second + 2),
    });
    await t.waitFinalized(run.metadata.name ?? "");
    return run.metadata.name ?? "";
  }

  async function succeed(workflow: Workflow, second: number) {
    const run = await t.finishedRun(workflow, {
      phase: "COMPLETED",
      reason: "Completed",
      exitCode: 0,
      startedAt: at(second),
      finishedAt: at(second + 3),
    });
    await t.waitFinalized(run.metadata.name ?? "");
    return run.metadata.name ?? "";
  }

  it("counts failures, resets on success, and terminates the workflow at the maximum with an alert", async () => {
    const workflow = await t.createWorkflow({ maxConsecutiveFailures: 3, logRetention: false });
    const id = workflow.metadata.name ?? "";

    const first = await fail(workflow, 0);
    expect((await t.workflows.get(id)).status?.consecutiveFailures).toBe(1);
    const ok = await succeed(workflow, 10);
    let current = await t.workflows.get(id);
    expect(current.status?.consecutiveFailures).toBe(0);
    expect(current.status?.countedRuns).toEqual([first, ok]);

    const failed = [await fail(workflow, 20), await fail(workflow, 30)];
    current = await t.workflows.get(id);
    expect(current.status?.consecutiveFailures).toBe(2);
    expect(current.spec.terminated).toBe(false);

    const last = await fail(workflow, 40);
    current = await waitFor("the workflow to be terminated", async () => {
      const wf = await t.workflows.get(id);
      if (wf.spec.terminated) return wf;
      throw new Error(statusOf(wf));
    });
    expect(current.status?.consecutiveFailures).toBe(3);
    expect(current.status?.failureThresholdRun).toBe(last);
    expect(current.status?.terminatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    await waitFor("the CronJob to be suspended", async () => {
      const cronJob = await readCronJob(t.kc, t.ns.name, id);
      return cronJob?.spec?.suspend === true ? true : undefined;
    });

    const notes = await waitFor("the threshold alert", async () => {
      const list = await t.notifications();
      return kindsFor(list, id).includes("WEB_ALERT") ? list : undefined;
    });
    // build started (INFO) and completed (SUCCESS), terminated (INFO, once), the threshold (ALERT).
    expect(kindsFor(notes, id)).toEqual(["WEB_ALERT", "WEB_INFO", "WEB_INFO", "WEB_SUCCESS"]);
    for (const run of [first, ...failed, last]) expect(kindsFor(notes, run)).toEqual(["WEB_ERROR"]);
    expect(kindsFor(notes, ok)).toEqual(["WEB_SUCCESS"]);

    // Five runs counted once each; durations 4 × 2 s + 3 s.
    const totals = await getWorkflowTotals(t.svc.db, t.userId, id);
    expect(totals?.totalJobs).toBe(5);
    expect(totals?.totalJobExecutionDurationMs).toBe(11_000);

    // A further failure of the terminated workflow counts but terminates nothing again.
    const after = await fail(workflow, 50);
    current = await t.workflows.get(id);
    expect(current.status?.consecutiveFailures).toBe(4);
    expect(current.status?.failureThresholdRun).toBe(last);
    const again = await t.notifications();
    expect(kindsFor(again, id)).toEqual(["WEB_ALERT", "WEB_INFO", "WEB_INFO", "WEB_SUCCESS"]);
    expect(kindsFor(again, after)).toEqual(["WEB_ERROR"]);
  });

  it("gives a run lost to the system up to three attempts with back-off, then counts it once", async () => {
    const workflow = await t.createWorkflow({ maxConsecutiveFailures: 5, logRetention: false });
    const id = workflow.metadata.name ?? "";
    const run = await t.createRun(workflow);
    const name = run.metadata.name ?? "";
    const lost = (attempts: number, second: number) =>
      t.setStatus(name, {
        phase: "FAILED",
        reason: "Evicted",
        podName: attempts === 1 ? name : `${name}-${attempts}`,
        attempts,
        startedAt: at(second),
        finishedAt: at(second + 1),
      });
    const retried = (attempts: number) =>
      waitFor(`attempt ${attempts} to be scheduled`, async () => {
        const current = await t.readRun(name);
        if (current?.status?.phase === "PENDING" && current.status.attempts === attempts) return current;
        throw new Error(JSON.stringify(current?.status));
      });

    await lost(1, 0);
    let current = await retried(2);
    // reason: RetryScheduled, or the run tracking's own word for a PENDING run (WaitingForSchedule).
    expect(current.status?.retryAt).toBe(at(31)); // finished + 30 s
    expect(current.status?.podName).toBeUndefined();
    await lost(2, 40);
    current = await retried(3);
    expect(current.status?.retryAt).toBe(at(101)); // finished + 60 s
    expect((await t.workflows.get(id)).status?.consecutiveFailures ?? 0).toBe(0);
    expect(kindsFor(await t.notifications(), name)).toEqual([]);

    await lost(3, 110);
    current = await t.waitFinalized(name);
    expect(current.status?.phase).toBe("FAILED");
    expect((await t.workflows.get(id)).status?.consecutiveFailures).toBe(1);
    expect(kindsFor(await t.notifications(), name)).toEqual(["WEB_ERROR"]);
    expect((await getWorkflowTotals(t.svc.db, t.userId, id))?.totalJobs).toBe(1);
  });

  it("terminating a workflow cancels its unfinished runs, deletes their Pods and notifies each", async () => {
    const workflow = await t.createWorkflow({ logRetention: true });
    const id = workflow.metadata.name ?? "";
    const running = await t.createRun(workflow);
    const runningName = running.metadata.name ?? "";
    const pod = await t.podWithLog(running, [
      { stream: "stdout", text: "started" },
      { stream: "stderr", text: "working" },
    ]);
    await t.setStatus(runningName, { phase: "RUNNING", podName: pod, startedAt: at(0), attempts: 1 });
    const pending = await t.createRun(workflow);
    const pendingName = pending.metadata.name ?? "";
    const done = await succeed(workflow, 5);

    await t.workflows.patchSpec(id, { terminated: true });

    for (const name of [runningName, pendingName]) {
      const run = await t.waitFinalized(name);
      expect(run.status?.phase).toBe("CANCELED");
      expect(run.status?.finishedAt).toBeDefined();
    }
    await waitFor("the running run's Pod to be deleted", async () => {
      try {
        await t.core.readNamespacedPod({ name: pod, namespace: t.ns.name });
        return undefined;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return true;
        throw error;
      }
    });
    expect((await t.readRun(done))?.status?.phase).toBe("COMPLETED");
    // The canceled run's log was kept before its Pod was deleted.
    const kept = await readJobLogs(t.svc.db, {
      jobId: runningName,
      streams: ["stdout", "stderr"],
      direction: "asc",
      afterSeq: undefined,
      limit: 100,
    });
    expect(kept.map((l) => l.message)).toEqual(["started", "working"]);

    const notes = await t.notifications();
    expect(kindsFor(notes, runningName)).toEqual(["WEB_INFO"]);
    expect(kindsFor(notes, pendingName)).toEqual(["WEB_INFO"]);
    // Canceled runs count in analytics but not as failures.
    expect((await t.workflows.get(id)).status?.consecutiveFailures).toBe(0);
    const totals = await getWorkflowTotals(t.svc.db, t.userId, id);
    expect(totals?.totalJobs).toBe(3);
  });

  it("deleting a workflow cancels its unfinished runs that are still there", async () => {
    const workflow = await t.createWorkflow();
    const id = workflow.metadata.name ?? "";
    const run = await t.createRun(workflow);
    const name = run.metadata.name ?? "";
    // Keep the run while the workflow goes, as a slow garbage collector would.
    await t.custom.patchNamespacedCustomObject(
      {
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
        name,
        body: { metadata: { finalizers: ["chronoverse.dev/test-hold"] } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await t.workflows.delete(id);
    const canceled = await waitFor("the run to be canceled", async () => {
      const current = await t.readRun(name);
      return current?.status?.phase === "CANCELED" ? current : undefined;
    });
    expect(canceled.status?.reason).toMatch(/^Workflow(Deleted|Terminated)$/);
    await waitFor("the job-canceled notification", async () =>
      kindsFor(await t.notifications(), name).includes("WEB_INFO") ? true : undefined,
    );
    await t.custom.patchNamespacedCustomObject(
      {
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
        name,
        body: { metadata: { finalizers: null } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  });
});
