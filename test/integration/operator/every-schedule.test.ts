// A contract test of the platform: intervals without an exact cron form are
// scheduled as `@every Nm` (docs/operator.md). That syntax is accepted by the
// CronJob API and run by the CronJob controller (robfig/cron), though the
// Kubernetes documentation does not list it — so check it on the real
// controller-manager: a CronJob with `@every 1m` creates a Job about a minute
// after it was created. If a Kubernetes upgrade drops it, this test says so.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

describe("@every schedules on the CronJob controller", () => {
  const kc = testKubeConfig();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "every");
  });

  afterAll(async () => {
    await ns?.remove();
  });

  it("runs a CronJob whose schedule is @every 1m", async () => {
    await batch.createNamespacedCronJob({
      namespace: ns.name,
      body: {
        metadata: { name: "every-minute" },
        spec: {
          schedule: "@every 1m",
          timeZone: "Etc/UTC",
          concurrencyPolicy: "Forbid",
          startingDeadlineSeconds: 60,
          jobTemplate: {
            spec: {
              backoffLimit: 0,
              template: {
                spec: { restartPolicy: "Never", containers: [{ name: "run", image: "busybox:1.36" }] },
              },
            },
          },
        },
      },
    });
    const jobs = await waitFor(
      "the CronJob controller to start a run",
      async () => {
        const list = await batch.listNamespacedJob({ namespace: ns.name });
        return list.items.length > 0 ? list.items : undefined;
      },
      { timeoutMs: 110_000, intervalMs: 1_000 },
    );
    expect(jobs[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "CronJob", name: "every-minute" });
    const cronJob = await batch.readNamespacedCronJob({ name: "every-minute", namespace: ns.name });
    expect(cronJob.status?.lastScheduleTime).toBeDefined();
  }, 120_000);
});
