// The ground is real: batch Jobs and CronJobs run through the real Job and
// CronJob controllers; their Pods are scheduled onto the simulated kwok node
// and finish through its stages (see hack/kwok/stages.yaml).
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

function jobSpec(env: k8s.V1EnvVar[] = []): k8s.V1JobSpec {
  return {
    backoffLimit: 0,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "main", image: "busybox:1.36", command: ["true"], env }],
      },
    },
  };
}

describe("Jobs and CronJobs on the kwok node", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace(kc);
  });
  afterAll(async () => {
    await ns.remove();
  });

  async function podOf(jobName: string): Promise<k8s.V1Pod | undefined> {
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `job-name=${jobName}` });
    return pods.items[0];
  }

  it("schedules a Job's Pod onto the kwok node and completes it", async () => {
    await batch.createNamespacedJob({
      namespace: ns.name,
      body: { metadata: { name: "ok" }, spec: jobSpec() },
    });
    const pod = await waitFor("the Job's pod to succeed", async () => {
      const p = await podOf("ok");
      return p?.status?.phase === "Succeeded" ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe("kwok-node-0");
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    const job = await waitFor("the Job to record success", async () => {
      const j = await batch.readNamespacedJob({ name: "ok", namespace: ns.name });
      return j.status?.succeeded === 1 ? j : undefined;
    });
    expect(job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True")).toBe(true);
  });

  it("fails a Job whose container exits non-zero", async () => {
    const env = [{ name: "CHRONOVERSE_SIM_EXIT_CODE", value: "3" }];
    await batch.createNamespacedJob({
      namespace: ns.name,
      body: { metadata: { name: "bad" }, spec: jobSpec(env) },
    });
    const pod = await waitFor("the Job's pod to fail", async () => {
      const p = await podOf("bad");
      return p?.status?.phase === "Failed" ? p : undefined;
    });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
    const job = await waitFor("the Job to record failure", async () => {
      const j = await batch.readNamespacedJob({ name: "bad", namespace: ns.name });
      return j.status?.failed === 1 ? j : undefined;
    });
    expect(job.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True")).toBe(true);
  });

  it("runs a one-minute CronJob whose Pod reaches Succeeded", async () => {
    await batch.createNamespacedCronJob({
      namespace: ns.name,
      body: {
        metadata: { name: "every-minute" },
        spec: { schedule: "*/1 * * * *", jobTemplate: { spec: jobSpec() } },
      },
    });
    // The CronJob controller acts on whole minutes: allow for one full period.
    const job = await waitFor(
      "the CronJob to create a Job",
      async () =>
        (await batch.listNamespacedJob({ namespace: ns.name })).items.find((j) =>
          j.metadata?.ownerReferences?.some((o) => o.kind === "CronJob" && o.name === "every-minute"),
        ),
      { timeoutMs: 150_000 },
    );
    const jobName = job.metadata?.name ?? "";
    const pod = await waitFor("the CronJob's pod to succeed", async () => {
      const p = await podOf(jobName);
      return p?.status?.phase === "Succeeded" ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe("kwok-node-0");
    const cron = await waitFor("the CronJob to record its last success", async () => {
      const c = await batch.readNamespacedCronJob({ name: "every-minute", namespace: ns.name });
      return c.status?.lastSuccessfulTime ? c : undefined;
    });
    expect(cron.status?.lastScheduleTime).toBeDefined();
  });
});
