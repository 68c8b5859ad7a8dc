// The Workflow controller against the real apiserver and controller-manager:
// a Workflow created directly becomes a CronJob with the right schedule and
// pod template and a COMPLETED build; updates change the CronJob, terminating
// suspends it and stops active runs, deleting removes it through garbage
// collection, and a CronJob the apiserver refuses is a FAILED build.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workflow } from "../../../operator/api/v1alpha1/workflow.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import {
  containerSpec,
  eventsFor,
  heartbeatSpec,
  newId,
  readCronJob,
  startOperator,
  statusOf,
  userId,
  Workflows,
} from "./harness.ts";

describe("Workflow controller", () => {
  const kc = testKubeConfig();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let ns: TestNamespace;
  let operator: RunningOperator;
  let workflows: Workflows;

  async function waitForBuild(name: string, buildStatus: string, generation?: number): Promise<Workflow> {
    let last: Workflow | undefined;
    return waitFor(`workflow ${name} to reach ${buildStatus}`, async () => {
      last = await workflows.get(name);
      const observed = last.status?.observedGeneration;
      const wanted = generation ?? last.metadata.generation;
      if (last.status?.buildStatus === buildStatus && observed === wanted) return last;
      throw new Error(`status ${statusOf(last)} at generation ${last.metadata.generation}`);
    });
  }

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "operator");
    workflows = new Workflows(kc, ns.name);
    operator = await startOperator(kc, ns.name);
  });

  afterAll(async () => {
    await operator?.stop();
    await ns?.remove();
  });

  it("builds a HEARTBEAT workflow into a CronJob and reports COMPLETED", async () => {
    const name = newId();
    const created = await workflows.create(
      name,
      heartbeatSpec({
        heartbeat: {
          endpoint: "https://example.com/health",
          expectedStatusCode: 204,
          timeoutSeconds: 7,
          headers: { Accept: ["application/json"] },
        },
      }),
    );
    const workflow = await waitForBuild(name, "COMPLETED");
    expect(workflow.status).toMatchObject({
      schedule: "*/5 * * * *",
      observedGeneration: 1,
      consecutiveFailures: 0,
    });
    expect(workflow.status?.conditions).toEqual([
      expect.objectContaining({
        type: "Ready",
        status: "True",
        reason: "ScheduleReady",
        observedGeneration: 1,
        message: `CronJob ${name} runs "*/5 * * * *" (UTC)`,
      }),
    ]);

    const cronJob = await readCronJob(kc, ns.name, name);
    expect(cronJob?.metadata?.labels).toMatchObject({
      "chronoverse.dev/user-id": userId,
      "chronoverse.dev/workflow-id": name,
    });
    expect(cronJob?.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "chronoverse.dev/v1alpha1",
        kind: "Workflow",
        name,
        uid: created.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(cronJob?.spec).toMatchObject({
      schedule: "*/5 * * * *",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 300,
      suspend: false,
    });
    const job = cronJob?.spec?.jobTemplate.spec;
    expect(job?.backoffLimit).toBe(0);
    expect(job?.activeDeadlineSeconds).toBe(37);
    const pod = job?.template.spec;
    expect(pod).toMatchObject({
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    });
    expect(pod?.containers[0]).toMatchObject({
      image: "chronoverse:test",
      command: ["chronoverse"],
      args: [
        "heartbeat",
        "--url",
        "https://example.com/health",
        "--expected-status",
        "204",
        "--timeout",
        "7s",
        "--header",
        "Accept: application/json",
      ],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
    });

    const reasons = (await eventsFor(kc, ns.name, name)).map((e) => e.reason);
    expect(reasons).toContain("CronJobCreated");
  });

  it("updates the CronJob when the workflow changes", async () => {
    const name = newId();
    await workflows.create(name, containerSpec());
    await waitForBuild(name, "COMPLETED");
    const first = await readCronJob(kc, ns.name, name);
    expect(first?.spec?.schedule).toBe("0 */2 * * *");
    expect(first?.spec?.jobTemplate.spec?.template.spec?.containers[0]).toMatchObject({
      image: "busybox:1.36",
      args: ["echo", "hi"],
      env: [{ name: "GREETING", value: "hello" }],
    });

    await workflows.patchSpec(name, {
      intervalMinutes: 45,
      container: { image: "busybox:1.37", command: ["true"], env: null, timeoutSeconds: 90 },
    });
    const updated = await waitForBuild(name, "COMPLETED", 2);
    expect(updated.status?.schedule).toBe("@every 45m");
    expect(updated.status?.conditions?.[0]?.message).toContain("counted from the previous run");
    const cronJob = await readCronJob(kc, ns.name, name);
    expect(cronJob?.spec?.schedule).toBe("@every 45m");
    expect(cronJob?.spec?.startingDeadlineSeconds).toBe(2700);
    expect(cronJob?.spec?.jobTemplate.spec?.activeDeadlineSeconds).toBe(90);
    const container = cronJob?.spec?.jobTemplate.spec?.template.spec?.containers[0];
    expect(container).toMatchObject({ image: "busybox:1.37", args: ["true"] });
    expect(container?.env).toBeUndefined();

    const reasons = await waitFor("the update event", async () => {
      const all = (await eventsFor(kc, ns.name, name)).map((e) => e.reason);
      if (all.includes("CronJobUpdated")) return all;
      throw new Error(all.join(","));
    });
    expect(reasons.filter((r) => r === "CronJobCreated")).toHaveLength(1);
  });

  it("suspends the CronJob of a terminated workflow, stops its active run, and resumes it", async () => {
    const name = newId();
    const created = await workflows.create(name, containerSpec({ intervalMinutes: 60 }));
    await waitForBuild(name, "COMPLETED");
    const cronJob = await readCronJob(kc, ns.name, name);
    // A run in progress: a Job of the CronJob, like `kubectl create job --from=cronjob/…`.
    const runName = `${name.slice(0, 20)}-manual`;
    await batch.createNamespacedJob({
      namespace: ns.name,
      body: {
        metadata: {
          name: runName,
          labels: cronJob?.spec?.jobTemplate.metadata?.labels,
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "CronJob",
              name,
              uid: cronJob?.metadata?.uid ?? "",
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          ...cronJob?.spec?.jobTemplate.spec,
          template: {
            ...cronJob?.spec?.jobTemplate.spec?.template,
            spec: {
              ...(cronJob?.spec?.jobTemplate.spec?.template.spec as k8s.V1PodSpec),
              containers: [
                {
                  ...(cronJob?.spec?.jobTemplate.spec?.template.spec?.containers[0] as k8s.V1Container),
                  env: [{ name: "CHRONOVERSE_SIM_DURATION", value: "10m" }],
                },
              ],
            },
          },
        },
      },
    });
    await waitFor("the run's pod to be running", async () => {
      const pods = await kc
        .makeApiClient(k8s.CoreV1Api)
        .listNamespacedPod({ namespace: ns.name, labelSelector: `job-name=${runName}` });
      return pods.items.some((p) => p.status?.phase === "Running") ? true : undefined;
    });

    await workflows.patchSpec(name, { terminated: true });
    const terminated = await waitFor("the workflow to be terminated", async () => {
      const wf = await workflows.get(name);
      return wf.status?.observedGeneration === 2 && wf.status.terminatedAt !== undefined ? wf : undefined;
    });
    expect(terminated.status?.buildStatus).toBe("COMPLETED");
    expect(terminated.status?.conditions?.[0]).toMatchObject({ status: "True", reason: "Suspended" });
    expect((await readCronJob(kc, ns.name, name))?.spec?.suspend).toBe(true);
    await waitFor("the active run to be stopped", async () => {
      try {
        const job = await batch.readNamespacedJob({ name: runName, namespace: ns.name });
        return job.metadata?.deletionTimestamp !== undefined ? true : undefined;
      } catch (error) {
        return (error as { code?: number }).code === 404 ? true : undefined;
      }
    });
    const reasons = (await eventsFor(kc, ns.name, name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(["CronJobSuspended", "RunStopped"]));

    await workflows.patchSpec(name, { terminated: false });
    const resumed = await waitForBuild(name, "COMPLETED", 3);
    expect(resumed.status?.terminatedAt).toBeUndefined();
    expect((await readCronJob(kc, ns.name, name))?.spec?.suspend).toBe(false);
    expect(created.metadata.uid).toBe(resumed.metadata.uid);
  });

  it("cancels the build of a workflow terminated before it was built", async () => {
    const name = newId();
    await workflows.create(name, heartbeatSpec({ terminated: true }));
    const workflow = await waitForBuild(name, "CANCELED");
    expect(workflow.status?.terminatedAt).toBeDefined();
    expect(workflow.status?.conditions?.[0]).toMatchObject({ status: "False", reason: "Canceled" });
    expect(await readCronJob(kc, ns.name, name)).toBeUndefined();
  });

  it("reports FAILED with the apiserver's reason when the CronJob cannot be built, and recovers on a fix", async () => {
    const name = newId();
    await workflows.create(
      name,
      containerSpec({ container: { image: "busybox:1.36", env: { "BAD=NAME": "x" }, timeoutSeconds: 30 } }),
    );
    const failed = await waitForBuild(name, "FAILED");
    expect(failed.status?.conditions?.[0]).toMatchObject({ status: "False", reason: "BuildFailed" });
    expect(failed.status?.conditions?.[0]?.message).toMatch(/refused CronJob .*env\[0\]\.name/);
    expect(await readCronJob(kc, ns.name, name)).toBeUndefined();
    await waitFor("a BuildFailed event", async () =>
      (await eventsFor(kc, ns.name, name)).some((e) => e.reason === "BuildFailed" && e.type === "Warning")
        ? true
        : undefined,
    );

    await workflows.patchSpec(name, { container: { env: { "BAD=NAME": null, GOOD_NAME: "x" } } });
    await waitForBuild(name, "COMPLETED", 2);
    expect(await readCronJob(kc, ns.name, name)).toBeDefined();
  });

  it("recreates a CronJob that someone deleted", async () => {
    const name = newId();
    await workflows.create(name, heartbeatSpec());
    await waitForBuild(name, "COMPLETED");
    const before = await readCronJob(kc, ns.name, name);
    await batch.deleteNamespacedCronJob({ name, namespace: ns.name });
    await waitFor("a new CronJob", async () => {
      const after = await readCronJob(kc, ns.name, name);
      return after !== undefined && after.metadata?.uid !== before?.metadata?.uid ? after : undefined;
    });
  });

  it("removes the CronJob through garbage collection when the workflow is deleted", async () => {
    const name = newId();
    await workflows.create(name, heartbeatSpec());
    await waitForBuild(name, "COMPLETED");
    expect(await readCronJob(kc, ns.name, name)).toBeDefined();
    await workflows.delete(name);
    await waitFor("the CronJob to be collected", async () =>
      (await readCronJob(kc, ns.name, name)) === undefined ? true : undefined,
    );
  });

  it("serves metrics and probes", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /chronoverse_operator_reconcile_total\{controller="workflow",result="success"\} [1-9]/,
    );
    expect(metrics).toContain(
      'chronoverse_operator_reconcile_duration_seconds_bucket{le="0.1",controller="workflow"}',
    );
    expect(metrics).toContain('chronoverse_operator_workqueue_depth{controller="workflow"}');
    expect(metrics).toContain("chronoverse_operator_reconcile_errors_total");
    expect(metrics).toContain("chronoverse_operator_leader 1");
    expect((await fetch(`http://127.0.0.1:${operator.probePort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${operator.probePort}/readyz`)).status).toBe(200);
  });
});
