// The whole product as `make up` runs it, for tests of SPEC.md rules that
// cross services: `chronoverse serve all` and `chronoverse operator` as real
// processes on one fresh database and one namespace of the real cluster,
// driven over gRPC. The operator can be stopped and started again (restart
// and downtime tests). Each test file makes its own stack and removes it.
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { credentials, type Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import type { Kysely } from "kysely";
import { inject } from "vitest";
import { AnalyticsServiceClient } from "../../gen/analytics/analytics.ts";
import { JobsServiceClient } from "../../gen/jobs/jobs.ts";
import {
  type NotificationResponse as Notification,
  NotificationsServiceClient,
} from "../../gen/notifications/notifications.ts";
import { UsersServiceClient } from "../../gen/users/users.ts";
import { type CreateWorkflowRequest, WorkflowsServiceClient } from "../../gen/workflows/workflows.ts";
import { openDatabase } from "../../src/db/database.ts";
import type { Database } from "../../src/db/schema.ts";
import { bearerMetadata } from "../../src/grpc/client.ts";
import { installCrds } from "./crds.ts";
import { TEST_SERVICE_KEY, TEST_USER_KEY, unary } from "./grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "./kube.ts";
import { freePort } from "./net.ts";
import { createTestDatabase, type TestDatabase } from "./postgres.ts";
import { waitFor } from "./wait.ts";

const bin = resolve(import.meta.dirname, "../../bin/chronoverse");
const services = ["users", "workflows", "jobs", "notifications", "analytics"] as const;

interface Process {
  child: ChildProcess;
  output: string[];
}

function start(args: string[], env: NodeJS.ProcessEnv): Process {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  return { child, output };
}

async function stopProcess(p: Process | undefined): Promise<void> {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => p.child.once("exit", resolveExit));
  p.child.kill("SIGTERM");
  await exited;
}

export interface StackUser {
  userId: string;
  auth: Metadata;
}

export interface Stack {
  kc: k8s.KubeConfig;
  ns: TestNamespace;
  database: TestDatabase;
  /** The stack's database, for checks of what it holds. */
  db: Kysely<Database>;
  custom: k8s.CustomObjectsApi;
  core: k8s.CoreV1Api;
  batch: k8s.BatchV1Api;
  users: UsersServiceClient;
  workflows: WorkflowsServiceClient;
  jobs: JobsServiceClient;
  notifications: NotificationsServiceClient;
  analytics: AnalyticsServiceClient;
  /** Registers a user who sees every notification kind (preference ALL) unless told otherwise. */
  newUser(preference?: "ALL" | "ALERTS" | "NONE"): Promise<StackUser>;
  /** Creates a workflow through the API and waits for its build to finish; returns its id. */
  createWorkflow(user: StackUser, overrides?: Partial<CreateWorkflowRequest>): Promise<string>;
  /** The user's unread notifications as listed (preference applied). */
  listNotifications(user: StackUser): Promise<Notification[]>;
  startOperator(extraEnv?: NodeJS.ProcessEnv): void;
  stopOperator(): Promise<void>;
  /** The processes' output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `operatorEnv` goes to the operator only, `sharedEnv` to both processes
 * (settings both read, such as CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS).
 */
export async function startStack(
  prefix: string,
  operatorEnv: NodeJS.ProcessEnv = {},
  sharedEnv: NodeJS.ProcessEnv = {},
): Promise<Stack> {
  const kc = testKubeConfig();
  await installCrds(kc);
  const ns = await createTestNamespace(kc, prefix);
  const database = await createTestDatabase();
  const ports = {} as Record<(typeof services)[number], number>;
  for (const service of services) ports[service] = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUBECONFIG: inject("kubeconfig"),
    DATABASE_URL: database.url,
    CHRONOVERSE_NAMESPACE: ns.name,
    CHRONOVERSE_HOST: "127.0.0.1",
    CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
    CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
    OPERATOR_METRICS_PORT: "0",
    OPERATOR_PROBE_PORT: "0",
    OPERATOR_HOST: "127.0.0.1",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    ...sharedEnv,
  };
  for (const service of services) {
    env[`CHRONOVERSE_${service.toUpperCase()}_PORT`] = String(ports[service]);
    env[`CHRONOVERSE_${service.toUpperCase()}_ADDRESS`] = `127.0.0.1:${ports[service]}`;
  }
  const serve = start(["serve", "all"], env);
  let operator: Process | undefined;
  const startOperator = (extraEnv: NodeJS.ProcessEnv = {}) => {
    operator = start(["operator"], { ...env, ...operatorEnv, ...extraEnv });
  };
  startOperator();
  const address = (port: number) => `127.0.0.1:${port}`;
  const insecure = credentials.createInsecure();
  const users = new UsersServiceClient(address(ports.users), insecure);
  const workflows = new WorkflowsServiceClient(address(ports.workflows), insecure);
  const jobs = new JobsServiceClient(address(ports.jobs), insecure);
  const notifications = new NotificationsServiceClient(address(ports.notifications), insecure);
  const analytics = new AnalyticsServiceClient(address(ports.analytics), insecure);
  const output = () => [...serve.output, ...(operator?.output ?? [])].join("").slice(-4000);
  await waitFor("every service to answer", async () => {
    if (serve.child.exitCode !== null) throw new Error(`serve exited: ${output()}`);
    try {
      await unary(users, users.getUser, { id: "" }, undefined, { deadline: Date.now() + 1000 });
    } catch (error) {
      // InvalidArgument/Unauthenticated means the server answered.
      if ((error as { code?: number }).code === 14) throw error;
    }
    return true;
  });

  const db = openDatabase({ url: database.url, maxConnections: 2 });
  let userCount = 0;
  return {
    kc,
    ns,
    database,
    db,
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    users,
    workflows,
    jobs,
    notifications,
    analytics,
    async newUser(preference = "ALL") {
      userCount += 1;
      const registered = await unary(users, users.registerUser, {
        email: `user${userCount}-${ns.name}@example.com`,
        password: "a long enough password",
      });
      const userId = registered.response.user_id;
      const token = String(registered.headers.get("authorization")[0] ?? "").replace(/^Bearer /, "");
      const auth = bearerMetadata(token);
      await unary(users, users.updateUser, { id: userId, notification_preference: preference }, auth);
      return { userId, auth };
    },
    async createWorkflow(user, overrides = {}) {
      const { response } = await unary(
        workflows,
        workflows.createWorkflow,
        {
          user_id: user.userId,
          name: "spec",
          payload: JSON.stringify({ image: "busybox:1.36", cmd: ["echo", "hi"] }),
          kind: "CONTAINER",
          interval: 10080,
          max_consecutive_job_failures_allowed: 3,
          idempotency_key: `create-${Date.now()}-${Math.random()}`,
          ...overrides,
        },
        user.auth,
      );
      await waitFor(`workflow ${response.id}'s build to finish`, async () => {
        const { response: wf } = await unary(
          workflows,
          workflows.getWorkflow,
          { id: response.id, user_id: user.userId },
          user.auth,
        );
        if (wf.build_status === "COMPLETED" || wf.build_status === "FAILED") return wf;
        throw new Error(`build_status ${wf.build_status}`);
      });
      return response.id;
    },
    async listNotifications(user) {
      const { response } = await unary(
        notifications,
        notifications.listNotifications,
        { user_id: user.userId, cursor: "" },
        user.auth,
      );
      return response.notifications;
    },
    startOperator,
    async stopOperator() {
      await stopProcess(operator);
      operator = undefined;
    },
    output,
    async stop() {
      for (const c of [users, workflows, jobs, notifications, analytics]) c.close();
      await stopProcess(operator);
      await stopProcess(serve);
      await db.destroy();
      await ns.remove();
      await database.drop();
    },
  };
}

/** The payloads of notifications about one entity, as `kind: title` strings, sorted. */
export function describeNotifications(list: Notification[], entityId: string): string[] {
  return list
    .filter((n) => (JSON.parse(n.payload) as { entity_id?: string }).entity_id === entityId)
    .map((n) => `${n.kind}: ${(JSON.parse(n.payload) as { title?: string }).title}`)
    .sort();
}
