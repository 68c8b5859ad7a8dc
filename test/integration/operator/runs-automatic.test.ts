// Automatic runs end to end: a one-minute CONTAINER Workflow's CronJob starts
// batch Jobs; the operator mirrors each into one AUTOMATIC WorkflowJob (named
// from the workflow id and the scheduled time) whose phase follows the Job's
// Pod on the kwok node to COMPLETED — or to FAILED with the exit code when
// the container fails.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkflowJob } from "../../../operator/api/v1alpha1/workflow-job.ts";
import { automaticRunName } from "../../../operator/controllers/run-mirror.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { containerSpec, eventsFor, newId, startOperator, Workflows } from "./harness.ts";
import { describeRuns, Runs } from "./runs-harness.ts";

describe("automatic runs", () => {
  const kc = testKubeConfig();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let ns: TestNamespace;
  let operator: RunningOperator;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "runs-auto");
    operator = await startOperator(kc, ns.name);
  });

  afterAll(async () => {
    await operator?.stop();
    await ns?.remove();
  });

  it("mirrors each scheduled Job once and follows its Pod to COMPLETED or FAILED", async () => {
    const workflows = new Workflows(kc, ns.name);
    const runs = new Runs(kc, ns.name);
    const ok = newId();
    const failing = newId();
    const slow = newId();
    await workflows.create(
      ok,
      containerSpec({
        intervalMinutes: 1,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "6s" }, timeoutSeconds: 60 },
      }),
    );
    await workflows.create(
      failing,
      containerSpec({
        intervalMinutes: 1,
        container: {
          image: "busybox:1.36",
          env: { CHRONOVERSE_SIM_EXIT_CODE: "1", CHRONOVERSE_SIM_DURATION: "1s" },
          timeoutSeconds: 60,
        },
      }),
    );

    // Runs a minute but may take 3 s: the batch Job's deadline stops it.
    await workflows.create(
      slow,
      containerSpec({
        intervalMinutes: 1,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "60s" }, timeoutSeconds: 3 },
      }),
    );

    // The successful run is seen RUNNING on its way (it runs 6 s).
    const phasesSeen = new Set<string>();
    const terminal = (phase: string) => async (name: string) => {
      const list = await runs.list(name);
      for (const run of list) if (name === ok && run.status?.phase) phasesSeen.add(run.status.phase);
      const done = list.find((run) => run.spec.trigger === "AUTOMATIC" && run.status?.phase === phase);
      if (done === undefined) throw new Error(describeRuns(list));
      return done;
    };
    const [completed, failed, timedOut] = await waitFor(
      "a COMPLETED run of one workflow and a FAILED run of the others",
      async () =>
        Promise.all([terminal("COMPLETED")(ok), terminal("FAILED")(failing), terminal("FAILED")(slow)]),
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(phasesSeen).toContain("RUNNING");

    for (const [run, workflowId] of [
      [completed, ok],
      [failed, failing],
    ] as Array<[WorkflowJob, string]>) {
      const jobName = run.metadata.labels?.["chronoverse.dev/batch-job"] ?? "";
      const job = await batch.readNamespacedJob({ name: jobName, namespace: ns.name });
      // Named from the workflow id and the scheduled time the CronJob controller recorded.
      const scheduled = job.metadata?.annotations?.["batch.kubernetes.io/cronjob-scheduled-timestamp"] ?? "";
      expect(run.metadata.name).toBe(automaticRunName(workflowId, scheduled));
      expect(Date.parse(run.spec.scheduledAt)).toBe(Date.parse(scheduled));
      expect(run.metadata.labels).toMatchObject({
        "chronoverse.dev/workflow-id": workflowId,
        "chronoverse.dev/user-id": run.spec.userId,
        "chronoverse.dev/trigger": "AUTOMATIC",
      });
      expect(run.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Workflow", name: workflowId });
      // The run's Pod is the Job's Pod.
      const pods = await runs.pods(`job-name=${jobName}`);
      expect(pods.map((p) => p.metadata?.name)).toEqual([run.status?.podName]);
      expect(run.status?.startedAt).toBeDefined();
      expect(Date.parse(run.status?.finishedAt ?? "")).toBeGreaterThanOrEqual(
        Date.parse(run.status?.startedAt ?? ""),
      );
      expect(run.status?.attempts).toBe(1);
      expect(run.status?.conditions?.find((c) => c.type === "Finished")).toMatchObject({
        status: "True",
        observedGeneration: run.metadata.generation,
      });
    }
    expect(completed.status).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(failed.status).toMatchObject({ exitCode: 1, reason: "NonZeroExitCode" });
    // The timeout: the Job controller stopped the run at its deadline.
    expect(timedOut.status).toMatchObject({ reason: "DeadlineExceeded" });
    expect(timedOut.status?.podName).toBeDefined();

    // One WorkflowJob per batch Job, whatever the watch replayed.
    for (const workflowId of [ok, failing]) {
      const list = await runs.list(workflowId);
      const jobs = list.map((r) => r.metadata.labels?.["chronoverse.dev/batch-job"]);
      expect(new Set(jobs).size).toBe(jobs.length);
    }

    const reasons = (await eventsFor(kc, ns.name, completed.metadata.name ?? "")).map((e) => e.reason);
    expect(reasons).toContain("Completed");
    const failedReasons = (await eventsFor(kc, ns.name, failed.metadata.name ?? "")).map((e) => e.reason);
    expect(failedReasons).toContain("Failed");

    const skew = await operator.metrics.registry.getSingleMetricAsString(
      "chronoverse_operator_schedule_skew_seconds",
    );
    expect(skew).toMatch(/chronoverse_operator_schedule_skew_seconds_count\{trigger="AUTOMATIC"\} [1-9]/);

    // A mirrored Job is marked, so a WorkflowJob removed later (the history
    // limit) does not come back when a new operator re-lists the Jobs.
    const completedJob = completed.metadata.labels?.["chronoverse.dev/batch-job"] ?? "";
    const marked = await batch.readNamespacedJob({ name: completedJob, namespace: ns.name });
    expect(marked.metadata?.annotations?.["chronoverse.dev/workflow-job"]).toBe(completed.metadata.name);
    await kc.makeApiClient(k8s.CustomObjectsApi).deleteNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      plural: "workflowjobs",
      namespace: ns.name,
      name: completed.metadata.name ?? "",
    });
    await operator.stop();
    operator = await startOperator(kc, ns.name, { identity: "operator-next" });
    const jobCount = (await batch.listNamespacedJob({ namespace: ns.name })).items.length;
    await waitFor("the new operator's mirror pass over every Job", async () => {
      const text = await operator.metrics.registry.getSingleMetricAsString(
        "chronoverse_operator_reconcile_total",
      );
      const done = [...text.matchAll(/controller="run-mirror",result="success"\} (\d+)/g)];
      return Number(done[0]?.[1] ?? 0) >= jobCount ? true : undefined;
    });
    const remaining = await runs.list(ok);
    expect(remaining.map((r) => r.metadata.name)).not.toContain(completed.metadata.name);
  }, 180_000);
});
