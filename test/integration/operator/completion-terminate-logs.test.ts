// Terminating a workflow while an AUTOMATIC run is running: the run is
// stopped and CANCELED, and its log is kept like any other run's (SPEC.md,
// log retention) — the batch Job is removed without taking the Pod before the
// end-of-run actions have read its log; they then delete the Pod.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkflowJob } from "../../../operator/api/v1alpha1/workflow-job.ts";
import { readJobLogs } from "../../../services/jobs/logs-store.ts";
import { criLine, serveLogFrom } from "../../support/kwok.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, startCompletionTest } from "./completion-support.ts";
import { readCronJob } from "./harness.ts";

describe("operator: terminating during an AUTOMATIC run", () => {
  let t: CompletionTest;
  let logDir: string;

  /** Holds the end-of-run actions of the canceled run back until the test lets them go on. */
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = false;

  beforeAll(async () => {
    t = await startCompletionTest("terminate-logs");
    await t.operator({
      runCompletion: {
        db: t.svc.db,
        notifier: t.notifier,
        hooks: {
          beforeLogsRead: async (job) => {
            if (job.status?.phase !== "CANCELED") return;
            held = true;
            await released;
          },
        },
      },
    });
    logDir = mkdtempSync(join(tmpdir(), "cv-terminate-logs-"));
  });

  afterAll(async () => {
    await t?.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("cancels the running run and keeps its log", async () => {
    const workflow = await t.createWorkflow({ logRetention: true });
    const id = workflow.metadata.name ?? "";
    const cronJob = await readCronJob(t.kc, t.ns.name, id);
    const template = cronJob?.spec?.jobTemplate;
    // A run of the schedule in progress: a Job of the CronJob (as the CronJob
    // controller makes one), running for 10 minutes on the kwok node.
    const jobName = `${id.slice(0, 20)}-run`;
    await t.kc.makeApiClient(k8s.BatchV1Api).createNamespacedJob({
      namespace: t.ns.name,
      body: {
        metadata: {
          name: jobName,
          labels: template?.metadata?.labels,
          annotations: { "batch.kubernetes.io/cronjob-scheduled-timestamp": new Date().toISOString() },
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "CronJob",
              name: id,
              uid: cronJob?.metadata?.uid ?? "",
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          ...template?.spec,
          template: {
            ...template?.spec?.template,
            spec: {
              ...(template?.spec?.template.spec as k8s.V1PodSpec),
              containers: [
                {
                  ...(template?.spec?.template.spec?.containers[0] as k8s.V1Container),
                  env: [{ name: "CHRONOVERSE_SIM_DURATION", value: "10m" }],
                },
              ],
            },
          },
        },
      },
    });
    const pod = await waitFor("the run's pod to be running", async () => {
      const pods = await t.core.listNamespacedPod({
        namespace: t.ns.name,
        labelSelector: `job-name=${jobName}`,
      });
      return pods.items.find((p) => p.status?.phase === "Running")?.metadata?.name;
    });
    const file = join(logDir, `${pod}.log`);
    writeFileSync(file, criLine("stdout", "started") + criLine("stderr", "still going"));
    await serveLogFrom(t.kc, {
      namespace: t.ns.name,
      pod,
      logsFile: file,
      containers: ["run"],
      follow: false,
    });
    await waitFor("the pod to serve its log", async () => {
      const log = await t.core.readNamespacedPodLog({ name: pod, namespace: t.ns.name, container: "run" });
      return log.includes("still going") ? true : undefined;
    });
    const run = await waitFor("the AUTOMATIC run to be RUNNING", async () => {
      const list = (await t.custom.listNamespacedCustomObject({
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
        labelSelector: `chronoverse.dev/batch-job=${jobName}`,
      })) as { items: WorkflowJob[] };
      const found = list.items[0];
      if (found?.status?.phase === "RUNNING") return found;
      throw new Error(JSON.stringify(found?.status ?? "no run yet"));
    });
    const name = run.metadata.name ?? "";

    await t.workflows.patchSpec(id, { terminated: true });
    // Stopping the run removes its batch Job; only once that is done (the
    // garbage collector had every chance to take the Pod with it) may the
    // end-of-run actions read the log.
    await waitFor("the end-of-run actions to reach the canceled run", () => (held ? true : undefined));
    await waitFor(`batch Job ${jobName} to be gone`, async () => {
      try {
        await t.kc.makeApiClient(k8s.BatchV1Api).readNamespacedJob({ name: jobName, namespace: t.ns.name });
        return undefined;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return true;
        throw error;
      }
    });
    await waitFor("the garbage collector to have acted on the Job's dependents", async () => {
      const pods = await t.core.listNamespacedPod({
        namespace: t.ns.name,
        labelSelector: `job-name=${jobName}`,
      });
      const owned = pods.items.filter((p) => p.metadata?.ownerReferences?.some((ref) => ref.kind === "Job"));
      return owned.length === 0 ? true : undefined;
    });
    release();
    const finalized = await t.waitFinalized(name);
    expect(finalized.status).toMatchObject({ phase: "CANCELED", reason: "WorkflowTerminated" });

    const lines = await readJobLogs(t.svc.db, {
      jobId: name,
      streams: ["stdout", "stderr"],
      direction: "asc",
      afterSeq: undefined,
      limit: 100,
    });
    expect(lines.map((l) => l.message)).toEqual(["started", "still going"]);
    // The run is stopped: its Pod is deleted once the log is kept.
    await waitFor(`pod ${pod} to be gone`, async () => {
      try {
        await t.core.readNamespacedPod({ name: pod, namespace: t.ns.name });
        return undefined;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return true;
        throw error;
      }
    });
  });
});
