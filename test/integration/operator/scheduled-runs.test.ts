// End to end through the real controllers: a Workflow with a one-minute
// interval becomes a CronJob, the CronJob controller starts a Job from the
// operator's template, and its Pod is admitted in a namespace that enforces
// the restricted Pod Security profile and finishes on the kwok node — for
// both kinds of workflow.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import {
  createTestNamespace,
  enforceRestricted,
  type TestNamespace,
  testKubeConfig,
} from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { containerSpec, heartbeatSpec, newId, startOperator, Workflows } from "./harness.ts";

describe("scheduled runs", () => {
  const kc = testKubeConfig();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: TestNamespace;
  let operator: RunningOperator;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "runs");
    await enforceRestricted(kc, ns.name);
    operator = await startOperator(kc, ns.name);
  });

  afterAll(async () => {
    await operator?.stop();
    await ns?.remove();
  });

  it("runs both kinds on schedule under the restricted profile", async () => {
    const workflows = new Workflows(kc, ns.name);
    const heartbeat = newId();
    const container = newId();
    await workflows.create(heartbeat, heartbeatSpec({ intervalMinutes: 1 }));
    await workflows.create(
      container,
      containerSpec({
        intervalMinutes: 1,
        container: { image: "busybox:1.36", env: { CHRONOVERSE_SIM_DURATION: "1s" }, timeoutSeconds: 60 },
      }),
    );
    const finished = await waitFor(
      "a completed scheduled run of each workflow",
      async () => {
        const jobs = await batch.listNamespacedJob({ namespace: ns.name });
        const complete = (name: string) =>
          jobs.items.find(
            (job) =>
              job.metadata?.labels?.["chronoverse.dev/workflow-id"] === name &&
              job.metadata.ownerReferences?.some((ref) => ref.kind === "CronJob" && ref.name === name) &&
              job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"),
          );
        const runs = [complete(heartbeat), complete(container)];
        if (runs.every((job) => job !== undefined)) return runs as k8s.V1Job[];
        throw new Error(
          jobs.items
            .map((j) => `${j.metadata?.name}: ${JSON.stringify(j.status?.conditions ?? [])}`)
            .join("; ") || "no jobs yet",
        );
      },
      { timeoutMs: 110_000, intervalMs: 1_000 },
    );
    for (const job of finished) {
      expect(job.metadata?.annotations?.["chronoverse.dev/workflow-generation"]).toBe("1");
      const pods = await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: `job-name=${job.metadata?.name}`,
      });
      expect(pods.items).toHaveLength(1);
      expect(pods.items[0]?.status?.phase).toBe("Succeeded");
      expect(pods.items[0]?.spec?.automountServiceAccountToken).toBe(false);
    }
    const cronJob = await batch.readNamespacedCronJob({ name: container, namespace: ns.name });
    expect(cronJob.status?.lastScheduleTime).toBeDefined();
    // The schedule time reaches the Workflow's status.
    await waitFor(
      "lastScheduleTime on the workflow",
      async () => (await workflows.get(container)).status?.lastScheduleTime,
    );
  }, 120_000);
});
