// Shared set-up of the jobs integration tests: the jobs service over real
// gRPC and a fresh database, watching its own namespace of the real cluster,
// with helpers that write Workflows, WorkflowJob statuses and Pods directly
// (the operator is not part of these tests) and kwok log files.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { JobsServiceClient } from "../../../gen/jobs/jobs.ts";
import type { Workflow, WorkflowSpec } from "../../../operator/api/v1alpha1/workflow.ts";
import type { WorkflowJob, WorkflowJobStatus } from "../../../operator/api/v1alpha1/workflow-job.ts";
import { type JobsServiceOptions, jobsServiceFactory } from "../../../services/jobs/server.ts";
import { installCrds } from "../../support/crds.ts";
import { startTestService, type TestService, unary } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { serveLogFrom } from "../../support/kwok.ts";
import { waitFor } from "../../support/wait.ts";

const group = "chronoverse.dev";
const version = "v1alpha1";

export interface JobsTest {
  kc: k8s.KubeConfig;
  ns: TestNamespace;
  svc: TestService;
  client: JobsServiceClient;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** Creates a Workflow owned by `userId` and waits until the service's cache has it. */
  createWorkflow(userId: string, spec?: Partial<WorkflowSpec>): Promise<Workflow>;
  patchWorkflowSpec(name: string, spec: Partial<WorkflowSpec>): Promise<Workflow>;
  /** Schedules a MANUAL run now through the RPC; returns its id. */
  schedule(userId: string, workflowId: string, key?: string, scheduledAt?: string): Promise<string>;
  readJob(name: string): Promise<WorkflowJob>;
  /** Writes a WorkflowJob's status directly (as the operator would). */
  setJobStatus(name: string, status: WorkflowJobStatus): Promise<void>;
  user(userId: string): Promise<Metadata>;
  service(): Promise<Metadata>;
  stop(): Promise<void>;
}

export async function startJobsTest(options: JobsServiceOptions = {}): Promise<JobsTest> {
  const kc = testKubeConfig();
  await installCrds(kc);
  const ns = await createTestNamespace(kc, "jobs");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let svc: TestService;
  try {
    svc = await startTestService(jobsServiceFactory({ kubeConfig: kc, streamRecheckMs: 200, ...options }), {
      // ListJobs pages through more unfinished MANUAL runs of one workflow than
      // the default quota allows; the quota has its own tests (test/integration/quotas).
      env: { CHRONOVERSE_NAMESPACE: ns.name, CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW: "0" },
    });
  } catch (error) {
    await ns.remove();
    throw error;
  }
  const client = svc.client(JobsServiceClient);

  const createWorkflow = async (userId: string, spec: Partial<WorkflowSpec> = {}): Promise<Workflow> => {
    const name = uuidv7();
    const created = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns.name,
      plural: "workflows",
      body: {
        apiVersion: `${group}/${version}`,
        kind: "Workflow",
        metadata: {
          name,
          labels: { "chronoverse.dev/user-id": userId, "chronoverse.dev/workflow-id": name },
        },
        spec: {
          userId,
          displayName: "a container workflow",
          kind: "CONTAINER",
          container: { image: "busybox:1.36", timeoutSeconds: 30 },
          intervalMinutes: 60,
          maxConsecutiveFailures: 3,
          logRetention: true,
          terminated: false,
          ...spec,
        },
      },
    })) as Workflow;
    return created;
  };

  const patchWorkflowSpec = async (name: string, spec: Partial<WorkflowSpec>): Promise<Workflow> =>
    (await custom.patchNamespacedCustomObject(
      { group, version, namespace: ns.name, plural: "workflows", name, body: { spec } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )) as Workflow;

  const user = (userId: string) => svc.userMetadata(userId);
  const service = () => svc.serviceMetadata("operator");

  const schedule = async (userId: string, workflowId: string, key = uuidv7(), scheduledAt?: string) =>
    (
      await unary(
        client,
        client.scheduleJob,
        {
          workflow_id: workflowId,
          user_id: userId,
          scheduled_at: scheduledAt ?? new Date().toISOString(),
          trigger: "MANUAL",
          idempotency_key: key,
          workflow_generation: 0,
        },
        await user(userId),
      )
    ).response.id;

  const readJob = async (name: string) =>
    (await custom.getNamespacedCustomObject({
      group,
      version,
      namespace: ns.name,
      plural: "workflowjobs",
      name,
    })) as WorkflowJob;

  const setJobStatus = async (name: string, status: WorkflowJobStatus) => {
    await custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: ns.name, plural: "workflowjobs", name, body: { status } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  };

  return {
    kc,
    ns,
    svc,
    client,
    core,
    custom,
    createWorkflow,
    patchWorkflowSpec,
    schedule,
    readJob,
    setJobStatus,
    user,
    service,
    async stop() {
      await svc.stop();
      await ns.remove();
    },
  };
}

/** A kwok-served log file: lines written here are what the Pod "prints". */
export class PodLogFile {
  readonly dir: string;
  readonly path: string;
  #time = Date.UTC(2026, 0, 1);

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "cv-jobs-logs-"));
    this.path = join(this.dir, "main.log");
    writeFileSync(this.path, "");
  }

  /** Appends lines in CRI format, each one millisecond after the last. */
  write(stream: "stdout" | "stderr", ...messages: string[]): void {
    let text = "";
    for (const message of messages) {
      this.#time += 1;
      const stamp = new Date(this.#time).toISOString().replace("Z", "000000Z");
      text += `${stamp} ${stream} F ${message}\n`;
    }
    appendFileSync(this.path, text);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Creates a Pod that runs on the kwok node and stays Running (no owner, so no
 * kwok stage ends it), with its log served from `log`.
 */
export async function createLoggingPod(t: JobsTest, name: string, log: PodLogFile): Promise<void> {
  await t.core.createNamespacedPod({
    namespace: t.ns.name,
    body: { metadata: { name }, spec: { containers: [{ name: "main", image: "busybox:1.36" }] } },
  });
  await serveLogFrom(t.kc, { namespace: t.ns.name, pod: name, logsFile: log.path, containers: ["main"] });
  await waitFor(`pod ${name} to run`, async () => {
    const pod = await t.core.readNamespacedPod({ name, namespace: t.ns.name });
    return pod.status?.phase === "Running" ? pod : undefined;
  });
}
