// What the end-to-end tests on the real node share: whether the local cluster
// has one (hack/real-node.sh), the operator settings that send runs there, and
// a user with a token on a running stack.
import * as k8s from "@kubernetes/client-node";
import type { GetJobResponse } from "../../../gen/jobs/jobs.ts";
import { unary } from "../../support/grpc.ts";
import type { Stack, StackUser } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

export const realNodeName = "real-node-0";
export const realNodeTaint = { key: "chronoverse.dev/real-node", value: "true", effect: "NoSchedule" };
/** The project's image as hack/real-node.sh load-image imports it. */
export const projectImage = "docker.io/library/chronoverse:dev";

/** Scheduling that puts a pod on the real node (and only there). */
export const onRealNode = {
  nodeSelector: { [realNodeTaint.key]: realNodeTaint.value },
  tolerations: [{ ...realNodeTaint, operator: "Equal" }],
};

/** The operator's settings for runs on the real node. */
export const realNodeOperatorEnv: NodeJS.ProcessEnv = {
  RUN_NODE_SELECTOR: JSON.stringify(onRealNode.nodeSelector),
  RUN_TOLERATIONS: JSON.stringify(onRealNode.tolerations),
  RUN_START_TIMEOUT: "20s",
  CHRONOVERSE_IMAGE: projectImage,
};

/** True when the cluster has a Ready real node (else the suite is skipped, visibly). */
export async function hasRealNode(kc: k8s.KubeConfig): Promise<boolean> {
  try {
    const node = await kc.makeApiClient(k8s.CoreV1Api).readNode({ name: realNodeName });
    return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  } catch {
    return false;
  }
}

export type TestUser = StackUser;

/** The service clients of a running stack. */
export type Clients = Pick<Stack, "users" | "workflows" | "jobs" | "notifications">;

export async function createWorkflow(
  clients: Clients,
  user: TestUser,
  fields: {
    name: string;
    kind: "CONTAINER" | "HEARTBEAT";
    payload: unknown;
    interval?: number;
    maxFailures?: number;
  },
): Promise<string> {
  const { workflows } = clients;
  const { response } = await unary(
    workflows,
    workflows.createWorkflow,
    {
      user_id: user.userId,
      name: fields.name,
      payload: JSON.stringify(fields.payload),
      kind: fields.kind,
      interval: fields.interval ?? 10080,
      max_consecutive_job_failures_allowed: fields.maxFailures ?? 3,
      idempotency_key: `create-${fields.name}`,
    },
    user.auth,
  );
  return response.id;
}

/** Schedules a MANUAL run now and returns its id. */
export async function runNow(
  clients: Clients,
  user: TestUser,
  workflowId: string,
  key: string,
): Promise<string> {
  const { jobs } = clients;
  const { response } = await unary(
    jobs,
    jobs.scheduleJob,
    {
      workflow_id: workflowId,
      user_id: user.userId,
      scheduled_at: new Date().toISOString(),
      trigger: "MANUAL",
      idempotency_key: key,
      workflow_generation: 0,
    },
    user.auth,
  );
  return response.id;
}

const terminal = new Set(["COMPLETED", "FAILED", "CANCELED"]);

/** Waits for a run to end and returns what GetJob says of it. */
export async function finished(
  clients: Clients,
  user: TestUser,
  workflowId: string,
  jobId: string,
): Promise<GetJobResponse> {
  const { jobs } = clients;
  return waitFor(
    `run ${jobId} to end`,
    async () => {
      const { response } = await unary(
        jobs,
        jobs.getJob,
        { id: jobId, workflow_id: workflowId, user_id: user.userId },
        user.auth,
      );
      if (terminal.has(response.status)) return response;
      throw new Error(`status ${response.status}`);
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
}

interface RunStatus {
  phase?: string;
  reason?: string;
  exitCode?: number;
  podName?: string;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

/** The WorkflowJob's status, as `kubectl get cwj -o yaml` shows it. */
export async function runStatus(kc: k8s.KubeConfig, namespace: string, name: string): Promise<RunStatus> {
  const run = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: "chronoverse.dev",
    version: "v1alpha1",
    namespace,
    plural: "workflowjobs",
    name,
  })) as { status?: RunStatus };
  return run.status ?? {};
}

/** Events recorded on one object (reason: message). */
export async function eventsOf(kc: k8s.KubeConfig, namespace: string, name: string): Promise<string[]> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.map((e) => `${e.reason}: ${e.message}`);
}

/** A busybox `httpd` Deployment and Service `httpd` (port 80 → 8080; port 81 has nothing behind it) on the real node. */
export async function startHttpd(kc: k8s.KubeConfig, namespace: string): Promise<string> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labels = { app: "httpd" };
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "httpd", labels },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            ...onRealNode,
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "httpd",
                image: "busybox:1.36",
                command: [
                  "sh",
                  "-c",
                  "mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
                ],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              },
            ],
          },
        },
      },
    },
  });
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: "httpd" },
      spec: {
        selector: labels,
        ports: [
          { name: "http", port: 80, targetPort: 8080 },
          { name: "nothing", port: 81, targetPort: 8081 },
        ],
      },
    },
  });
  await waitFor("the httpd Deployment to be available", async () => {
    const deployment = await apps.readNamespacedDeployment({ name: "httpd", namespace });
    return (deployment.status?.availableReplicas ?? 0) >= 1 || undefined;
  });
  return `httpd.${namespace}.svc.cluster.local`;
}
