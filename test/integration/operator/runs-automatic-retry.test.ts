// A scheduled (AUTOMATIC) run whose Pod is lost to the system — here evicted
// while it runs, marked Failed/Evicted the way a kubelet under pressure does —
// is retried (SPEC "Failures"): its batch Job's failure is final (backoffLimit
// 0), so the operator gives the WorkflowJob a Pod of its own for attempt 2
// after the back-off, and the run completes.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkflowJob } from "../../../operator/api/v1alpha1/workflow-job.ts";
import { manualPodName } from "../../../operator/controllers/manual-run.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, startCompletionTest } from "./completion-support.ts";
import { describeRuns, Runs } from "./runs-harness.ts";

describe("system retries of automatic runs", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("retry-auto");
    await t.operator();
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("gives a run whose Pod was evicted a second attempt in a Pod of its own", async () => {
    const workflow = await t.createWorkflow({
      intervalMinutes: 1,
      logRetention: false,
      container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "15s" }, timeoutSeconds: 120 },
    });
    const runs = new Runs(t.kc, t.ns.name);
    const id = workflow.metadata.name ?? "";

    const running = await waitFor(
      "a scheduled run to be RUNNING",
      async () => {
        const list = await runs.list(id);
        const run = list.find((r) => r.status?.phase === "RUNNING" && r.status.podName);
        if (run !== undefined) return run;
        throw new Error(describeRuns(list));
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    const name = running.metadata.name ?? "";
    const firstPod = running.status?.podName ?? "";
    await t.core.patchNamespacedPodStatus(
      {
        name: firstPod,
        namespace: t.ns.name,
        body: {
          status: { phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." },
        },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );

    const retried: WorkflowJob = await waitFor(
      "the run's second attempt to complete",
      async () => {
        const run = await runs.get(name);
        if (run.status?.phase === "COMPLETED") return run;
        throw new Error(describeRuns([run]));
      },
      { timeoutMs: 180_000, intervalMs: 1_000 },
    );
    expect(retried.spec.trigger).toBe("AUTOMATIC");
    expect(retried.status?.attempts).toBe(2);
    expect(retried.status?.podName).toBe(manualPodName(name, 2));
    const pod = await t.core.readNamespacedPod({ name: manualPodName(name, 2), namespace: t.ns.name });
    const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
    expect(owner).toMatchObject({ kind: "WorkflowJob", name });
    expect(pod.metadata?.labels?.["chronoverse.dev/trigger"]).toBe("AUTOMATIC");
    // The retry waited for its back-off (30 s after the lost attempt ended).
    const created = new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
    expect(created).toBeGreaterThanOrEqual(Date.parse(retried.status?.retryAt ?? "") - 1000);
  }, 360_000);
});
