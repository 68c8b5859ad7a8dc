// Restart safety of run tracking: the operator is stopped while runs are in
// flight (an automatic run and a manual run RUNNING, a manual run still
// waiting for its time) and a new one takes over. Every batch Job ends up with
// exactly one WorkflowJob, every manual run with exactly one Pod, and all of
// them reach COMPLETED.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { containerSpec, newId, startOperator, Workflows } from "./harness.ts";
import { describeRuns, Runs } from "./runs-harness.ts";

describe("run tracking across an operator restart", () => {
  const kc = testKubeConfig();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let ns: TestNamespace;
  const running: RunningOperator[] = [];

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "runs-restart");
  });

  afterAll(async () => {
    await Promise.all(running.map((operator) => operator.stop()));
    await ns?.remove();
  });

  it("creates each WorkflowJob and each manual Pod once", async () => {
    const first = await startOperator(kc, ns.name, { identity: "operator-a" });
    running.push(first);
    const workflows = new Workflows(kc, ns.name);
    const runs = new Runs(kc, ns.name);
    const workflowId = newId();
    const workflow = await workflows.create(
      workflowId,
      containerSpec({
        intervalMinutes: 1,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "40s" }, timeoutSeconds: 120 },
      }),
    );
    const later = await runs.scheduleManual(workflow, new Date(Date.now() + 600_000));

    // Mid-run: an automatic run RUNNING (each runs 40 s), then a manual one started beside it.
    await waitFor(
      "an automatic run RUNNING",
      async () => {
        const list = await runs.list(workflowId);
        if (!list.some((r) => r.spec.trigger === "AUTOMATIC" && r.status?.phase === "RUNNING")) {
          throw new Error(describeRuns(list));
        }
        return true;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    const now = await runs.scheduleManual(workflow, new Date());
    await waitFor("the manual run RUNNING", async () => {
      const current = await runs.get(now.metadata.name ?? "");
      if (current.status?.phase !== "RUNNING") throw new Error(describeRuns([current]));
      return true;
    });
    expect((await runs.get(later.metadata.name ?? "")).status?.phase).toBe("PENDING");
    await first.stop();

    const second = await startOperator(kc, ns.name, { identity: "operator-b" });
    running.push(second);
    const done = await waitFor(
      "the runs in flight COMPLETED under the new operator",
      async () => {
        const list = await runs.list(workflowId);
        const inFlight = list.filter((r) => r.metadata.name !== later.metadata.name);
        const finished = inFlight.filter((r) => r.status?.phase === "COMPLETED");
        if (finished.length < 2 || !finished.some((r) => r.spec.trigger === "MANUAL")) {
          throw new Error(describeRuns(list));
        }
        return finished;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(done.length).toBeGreaterThanOrEqual(2);

    // One Pod for the manual run; one WorkflowJob for each batch Job.
    expect(await runs.pods(`chronoverse.dev/workflow-job=${now.metadata.name}`)).toHaveLength(1);
    await waitFor("every batch Job mirrored exactly once", async () => {
      const jobs = await batch.listNamespacedJob({
        namespace: ns.name,
        labelSelector: `chronoverse.dev/workflow-id=${workflowId}`,
      });
      const list = await runs.list(workflowId);
      for (const job of jobs.items) {
        const mirrors = list.filter(
          (r) => r.metadata.labels?.["chronoverse.dev/batch-job"] === job.metadata?.name,
        );
        if (mirrors.length !== 1) throw new Error(`${job.metadata?.name}: ${mirrors.length} WorkflowJobs`);
      }
      const automatic = list.filter((r) => r.spec.trigger === "AUTOMATIC");
      expect(automatic.length).toBe(new Set(automatic.map((r) => r.metadata.name)).size);
      return jobs.items.length > 0 ? true : undefined;
    });
  }, 240_000);

  it("creates a manual run's Pod when it is due even if the operator restarted while it waited", async () => {
    const workflows = new Workflows(kc, ns.name);
    const runs = new Runs(kc, ns.name);
    const operator = await startOperator(kc, ns.name, { identity: "operator-c" });
    running.push(operator);
    const workflow = await workflows.create(
      newId(),
      containerSpec({
        intervalMinutes: 10080,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "1s" }, timeoutSeconds: 30 },
      }),
    );
    const scheduledAt = new Date(Date.now() + 15_000);
    const run = await runs.scheduleManual(workflow, scheduledAt);
    const name = run.metadata.name ?? "";
    await waitFor("the run waiting for its time", async () =>
      (await runs.get(name)).status?.reason === "WaitingForSchedule" ? true : undefined,
    );
    await operator.stop();
    const next = await startOperator(kc, ns.name, { identity: "operator-d" });
    running.push(next);
    await waitFor("the run COMPLETED", async () => {
      const current = await runs.get(name);
      if (current.status?.phase !== "COMPLETED") throw new Error(describeRuns([current]));
      return current;
    });
    const pods = await runs.pods(`chronoverse.dev/workflow-job=${name}`);
    expect(pods).toHaveLength(1);
    expect(pods[0]?.metadata?.creationTimestamp?.getTime()).toBeGreaterThanOrEqual(scheduledAt.getTime());
  });
});
