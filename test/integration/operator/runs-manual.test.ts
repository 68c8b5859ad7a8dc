// Manual runs: a MANUAL WorkflowJob (as ScheduleJob creates it) gets its Pod —
// the workflow's run pod, owned by the WorkflowJob — when its scheduled time
// has come and not before, and its phase follows that Pod. A manual run of a
// terminated workflow is CANCELED without a Pod.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workflow } from "../../../operator/api/v1alpha1/workflow.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { containerSpec, eventsFor, newId, startOperator, Workflows } from "./harness.ts";
import { describeRuns, Runs } from "./runs-harness.ts";

describe("manual runs", () => {
  const kc = testKubeConfig();
  let ns: TestNamespace;
  let operator: RunningOperator;
  let workflows: Workflows;
  let runs: Runs;
  let workflow: Workflow;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "runs-manual");
    operator = await startOperator(kc, ns.name);
    workflows = new Workflows(kc, ns.name);
    runs = new Runs(kc, ns.name);
    // Weekly (Sundays 00:00 UTC): no automatic run gets in the way.
    workflow = await workflows.create(
      newId(),
      containerSpec({
        intervalMinutes: 10080,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "1s" }, timeoutSeconds: 30 },
      }),
    );
  });

  afterAll(async () => {
    await operator?.stop();
    await ns?.remove();
  });

  it("runs a run scheduled now to COMPLETED in its own Pod", async () => {
    const run = await runs.scheduleManual(workflow, new Date());
    const name = run.metadata.name ?? "";
    const done = await waitFor("the manual run COMPLETED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "COMPLETED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(done.status).toMatchObject({ podName: name, exitCode: 0, reason: "Completed", attempts: 1 });
    const pods = await runs.pods(`chronoverse.dev/workflow-job=${name}`);
    expect(pods).toHaveLength(1);
    const pod = pods[0];
    expect(pod?.metadata?.name).toBe(name);
    expect(pod?.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: "WorkflowJob", name, uid: run.metadata.uid, controller: true }),
    ]);
    expect(pod?.spec?.restartPolicy).toBe("Never");
    expect(pod?.spec?.activeDeadlineSeconds).toBe(30);
    expect(pod?.metadata?.labels?.["chronoverse.dev/workflow-id"]).toBe(workflow.metadata.name);
    const reasons = (await eventsFor(kc, ns.name, name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(["PodCreated", "Completed"]));
  });

  it("creates the Pod of a future run only once its time has come", async () => {
    const scheduledAt = new Date(Date.now() + 20_000);
    const run = await runs.scheduleManual(workflow, scheduledAt);
    const name = run.metadata.name ?? "";
    // Before its time: PENDING, waiting for the schedule, no Pod.
    const pending = await waitFor("the run PENDING", async () => {
      const current = await runs.get(name);
      return current.status?.reason === "WaitingForSchedule" ? current : undefined;
    });
    expect(pending.status?.phase).toBe("PENDING");
    expect(pending.status?.podName).toBeUndefined();
    const pod = await waitFor(
      "the run's Pod",
      async () => (await runs.pods(`chronoverse.dev/workflow-job=${name}`))[0],
      { timeoutMs: 90_000 },
    );
    // Creation timestamps have whole seconds; the operator waits for the next whole second.
    expect(Date.parse(String(pod.metadata?.creationTimestamp?.toISOString()))).toBeGreaterThanOrEqual(
      scheduledAt.getTime(),
    );
    await waitFor("the future run COMPLETED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "COMPLETED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(await runs.pods(`chronoverse.dev/workflow-job=${name}`)).toHaveLength(1);
  });

  it("fails a run whose container fails, with the exit code", async () => {
    const failing = await workflows.create(
      newId(),
      containerSpec({
        intervalMinutes: 10080,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_EXIT_CODE: "3" }, timeoutSeconds: 30 },
      }),
    );
    const run = await runs.scheduleManual(failing, new Date());
    const done = await waitFor("the manual run FAILED", async () => {
      const current = await runs.get(run.metadata.name ?? "");
      if (current.status?.phase !== "FAILED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(done.status).toMatchObject({ exitCode: 3, reason: "NonZeroExitCode" });
  });

  it("cancels a manual run of a terminated workflow without a Pod", async () => {
    const terminated = await workflows.create(
      newId(),
      containerSpec({ intervalMinutes: 10080, terminated: true }),
    );
    const run = await runs.scheduleManual(terminated, new Date());
    const name = run.metadata.name ?? "";
    const done = await waitFor("the run CANCELED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "CANCELED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(done.status).toMatchObject({ reason: "WorkflowTerminated" });
    expect(done.status?.podName).toBeUndefined();
    expect(await runs.pods(`chronoverse.dev/workflow-job=${name}`)).toHaveLength(0);
  });
  it("cancels a waiting run when its workflow is terminated", async () => {
    const target = await workflows.create(newId(), containerSpec({ intervalMinutes: 10080 }));
    const run = await runs.scheduleManual(target, new Date(Date.now() + 300_000));
    const name = run.metadata.name ?? "";
    await waitFor("the run waiting for its time", async () =>
      (await runs.get(name)).status?.reason === "WaitingForSchedule" ? true : undefined,
    );
    await workflows.patchSpec(target.metadata.name ?? "", { terminated: true });
    const done = await waitFor("the run CANCELED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "CANCELED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(done.status?.reason).toBe("WorkflowTerminated");
    expect(await runs.pods(`chronoverse.dev/workflow-job=${name}`)).toHaveLength(0);
  });

  it("fails a run whose Pod is deleted while it runs", async () => {
    const long = await workflows.create(
      newId(),
      containerSpec({
        intervalMinutes: 10080,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "120s" }, timeoutSeconds: 300 },
      }),
    );
    const run = await runs.scheduleManual(long, new Date());
    const name = run.metadata.name ?? "";
    await waitFor("the run RUNNING", async () =>
      (await runs.get(name)).status?.phase === "RUNNING" ? true : undefined,
    );
    await kc.makeApiClient(k8s.CoreV1Api).deleteNamespacedPod({ name, namespace: ns.name });
    const done = await waitFor("the run FAILED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "FAILED") throw new Error(describeRuns([current]));
      return current;
    });
    expect(done.status).toMatchObject({ reason: "PodDeleted", podName: name });
    expect(done.status?.finishedAt).toBeDefined();
  });
});
