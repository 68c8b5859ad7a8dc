// Shared set-up of the end-of-run tests (completion-*.test.ts): a namespace of
// the real cluster, a real notifications service over gRPC on a fresh migrated
// database (which the operator also uses for analytics and retained logs), a
// user who sees every notification kind, and the operator in-process with its
// end-of-run actions on. Runs are driven by writing WorkflowJob status through
// the status subresource (as the run tracking would); Pods with real logs are
// created here, owned by their WorkflowJob, their log served by kwok.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { NotificationsServiceClient } from "../../../gen/notifications/notifications.ts";
import type { Workflow, WorkflowSpec } from "../../../operator/api/v1alpha1/workflow.ts";
import type { WorkflowJob, WorkflowJobStatus } from "../../../operator/api/v1alpha1/workflow-job.ts";
import type { OperatorConfig } from "../../../operator/config.ts";
import { isFinalized } from "../../../operator/controllers/run-completion-decisions.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { createNotifier, type Notifier } from "../../../services/notifications/client.ts";
import { notificationsServiceFactory } from "../../../services/notifications/server.ts";
import { installCrds } from "../../support/crds.ts";
import { startTestService, type TestService, unary } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { serveLogFrom } from "../../support/kwok.ts";
import { waitFor } from "../../support/wait.ts";
import { containerSpec, readCronJob, startOperator, Workflows } from "./harness.ts";

const group = "chronoverse.dev";
const version = "v1alpha1";

export interface Notification {
  kind: string;
  payload: { entity_id?: string; entity_type?: string; title?: string; message?: string };
}

export interface CompletionTest {
  kc: k8s.KubeConfig;
  ns: TestNamespace;
  svc: TestService;
  userId: string;
  workflows: Workflows;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  notifier: Notifier;
  /** Starts an operator with end-of-run actions on (stopped by `stop()`). */
  operator(overrides?: Partial<OperatorConfig>, historyLimit?: number): Promise<RunningOperator>;
  /** A CONTAINER workflow of the test user whose CronJob exists (weekly, so it never fires during a test). */
  createWorkflow(spec?: Partial<WorkflowSpec>): Promise<Workflow>;
  /** A MANUAL run due in an hour (so nothing else starts it), owned by its workflow. */
  createRun(workflow: Workflow): Promise<WorkflowJob>;
  /** Writes a run's status through the status subresource, as the run tracking does. */
  setStatus(name: string, status: WorkflowJobStatus): Promise<void>;
  /** Creates a run and moves it straight to a terminal phase. */
  finishedRun(workflow: Workflow, status: WorkflowJobStatus): Promise<WorkflowJob>;
  readRun(name: string): Promise<WorkflowJob | undefined>;
  waitFinalized(name: string): Promise<WorkflowJob>;
  /** A Running Pod owned by the run, with container "run" whose log kwok serves from `lines` (CRI format). */
  podWithLog(run: WorkflowJob, lines: Array<{ stream: "stdout" | "stderr"; text: string }>): Promise<string>;
  notifications(): Promise<Notification[]>;
  stop(): Promise<void>;
}

export async function startCompletionTest(prefix: string): Promise<CompletionTest> {
  const kc = testKubeConfig();
  await installCrds(kc);
  const ns = await createTestNamespace(kc, prefix);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const svc = await startTestService(notificationsServiceFactory());
  const userId = uuidv7();
  await svc.db
    .insertInto("users")
    .values({
      id: userId,
      email: `${userId}@example.com`,
      password_hash: "not-a-real-hash",
      notification_preference: "ALL",
    })
    .execute();
  const notifier = createNotifier({
    address: svc.address,
    credentials: credentials.createInsecure(),
    metadata: () => svc.serviceMetadata("operator"),
  });
  const client = svc.client(NotificationsServiceClient);
  const workflows = new Workflows(kc, ns.name);
  const operators: RunningOperator[] = [];
  const logDir = mkdtempSync(join(tmpdir(), "cv-completion-"));

  const readRun = async (name: string): Promise<WorkflowJob | undefined> => {
    try {
      return (await custom.getNamespacedCustomObject({
        group,
        version,
        namespace: ns.name,
        plural: "workflowjobs",
        name,
      })) as WorkflowJob;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  };

  const setStatus = async (name: string, status: WorkflowJobStatus) => {
    await custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: ns.name, plural: "workflowjobs", name, body: { status } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  };

  const createRun = async (workflow: Workflow): Promise<WorkflowJob> => {
    const name = uuidv7();
    const wfName = workflow.metadata.name ?? "";
    return (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns.name,
      plural: "workflowjobs",
      body: {
        apiVersion: `${group}/${version}`,
        kind: "WorkflowJob",
        metadata: {
          name,
          labels: {
            "chronoverse.dev/user-id": workflow.spec.userId,
            "chronoverse.dev/workflow-id": wfName,
            "chronoverse.dev/trigger": "MANUAL",
          },
          ownerReferences: [
            {
              apiVersion: `${group}/${version}`,
              kind: "Workflow",
              name: wfName,
              uid: workflow.metadata.uid ?? "",
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          workflowName: wfName,
          userId: workflow.spec.userId,
          trigger: "MANUAL",
          scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      },
    })) as WorkflowJob;
  };

  return {
    kc,
    ns,
    svc,
    userId,
    workflows,
    core,
    custom,
    notifier,
    async operator(overrides = {}, historyLimit = 10) {
      const op = await startOperator(kc, ns.name, {
        runCompletion: { db: svc.db, notifier, historyLimit },
        ...overrides,
      });
      operators.push(op);
      return op;
    },
    async createWorkflow(spec = {}) {
      const name = uuidv7();
      await workflows.create(name, containerSpec({ userId, intervalMinutes: 10080, ...spec }));
      await waitFor("the workflow's CronJob", () => readCronJob(kc, ns.name, name));
      return workflows.get(name);
    },
    createRun,
    setStatus,
    async finishedRun(workflow, status) {
      const run = await createRun(workflow);
      await setStatus(run.metadata.name ?? "", status);
      return run;
    },
    readRun,
    async waitFinalized(name) {
      return waitFor(`run ${name} to be finalized`, async () => {
        const run = await readRun(name);
        if (run !== undefined && isFinalized(run)) return run;
        throw new Error(JSON.stringify(run?.status ?? "gone"));
      });
    },
    async podWithLog(run, lines) {
      const name = `${run.metadata.name}-1`;
      const file = join(logDir, `${name}.log`);
      const start = Date.now();
      writeFileSync(
        file,
        lines
          .map((line, i) => `${new Date(start + i).toISOString()} ${line.stream} F ${line.text}\n`)
          .join(""),
      );
      await core.createNamespacedPod({
        namespace: ns.name,
        body: {
          metadata: {
            name,
            ownerReferences: [
              {
                apiVersion: `${group}/${version}`,
                kind: "WorkflowJob",
                name: run.metadata.name ?? "",
                uid: run.metadata.uid ?? "",
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: { containers: [{ name: "run", image: "busybox:1.36" }] },
        },
      });
      await serveLogFrom(kc, {
        namespace: ns.name,
        pod: name,
        logsFile: file,
        containers: ["run"],
        follow: false,
      });
      const last = lines.at(-1)?.text ?? "";
      await waitFor(`pod ${name} to serve its log`, async () => {
        const log = await core.readNamespacedPodLog({ name, namespace: ns.name, container: "run" });
        return log.includes(last) ? true : undefined;
      });
      return name;
    },
    async notifications() {
      const { response } = await unary(
        client,
        client.listNotifications,
        { user_id: userId, cursor: "" },
        await svc.userMetadata(userId),
      );
      return response.notifications.map((n) => ({
        kind: String(n.kind),
        payload: JSON.parse(n.payload) as Notification["payload"],
      }));
    },
    async stop() {
      await Promise.all(operators.map((op) => op.stop()));
      notifier.close();
      await svc.stop();
      await ns.remove();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** The notifications about one entity (workflow or job), by kind. */
export function kindsFor(list: Notification[], entityId: string): string[] {
  return list
    .filter((n) => n.payload.entity_id === entityId)
    .map((n) => n.kind)
    .sort();
}
