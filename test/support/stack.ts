// The product as `make up` runs it, for end-to-end tests: the real
// `chronoverse serve all` and `chronoverse operator` processes on free ports,
// one namespace and one database, and a gRPC client per service.
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { AnalyticsServiceClient } from "../../gen/analytics/analytics.ts";
import { JobsServiceClient } from "../../gen/jobs/jobs.ts";
import { NotificationsServiceClient } from "../../gen/notifications/notifications.ts";
import { UsersServiceClient } from "../../gen/users/users.ts";
import { WorkflowsServiceClient } from "../../gen/workflows/workflows.ts";
import { TEST_SERVICE_KEY, TEST_USER_KEY, unary } from "./grpc.ts";
import { freePort } from "./net.ts";
import { waitFor } from "./wait.ts";

const bin = resolve(import.meta.dirname, "../../bin/chronoverse");
export const serviceNames = ["users", "workflows", "jobs", "notifications", "analytics"] as const;
export type ServiceName = (typeof serviceNames)[number];

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

async function stop(p: Process | undefined): Promise<void> {
  if (p === undefined || p.child.exitCode !== null) return;
  const exited = new Promise((resolveExit) => p.child.once("exit", resolveExit));
  p.child.kill("SIGTERM");
  await exited;
}

export interface StackClients {
  users: UsersServiceClient;
  workflows: WorkflowsServiceClient;
  jobs: JobsServiceClient;
  notifications: NotificationsServiceClient;
  analytics: AnalyticsServiceClient;
  close(): void;
}

export interface Stack {
  ports: Record<ServiceName, number>;
  /** New clients for every service (close them with `close()`). */
  clients(): StackClients;
  /** What both processes printed, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

export interface StackOptions {
  kubeconfig: string;
  namespace: string;
  databaseUrl: string;
  /** Extra environment for both processes (operator settings such as RUN_NODE_SELECTOR). */
  env?: NodeJS.ProcessEnv;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const ports = {} as Record<ServiceName, number>;
  for (const service of serviceNames) ports[service] = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUBECONFIG: options.kubeconfig,
    DATABASE_URL: options.databaseUrl,
    CHRONOVERSE_NAMESPACE: options.namespace,
    CHRONOVERSE_HOST: "127.0.0.1",
    CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
    CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
    OPERATOR_METRICS_PORT: "0",
    OPERATOR_PROBE_PORT: "0",
    OPERATOR_HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    ...options.env,
  };
  for (const service of serviceNames) {
    env[`CHRONOVERSE_${service.toUpperCase()}_PORT`] = String(ports[service]);
    env[`CHRONOVERSE_${service.toUpperCase()}_ADDRESS`] = `127.0.0.1:${ports[service]}`;
  }
  const serve = start(["serve", "all"], env);
  const operator = start(["operator"], env);
  const address = (service: ServiceName) => `127.0.0.1:${ports[service]}`;
  const insecure = credentials.createInsecure();
  const clients = (): StackClients => {
    const made = {
      users: new UsersServiceClient(address("users"), insecure),
      workflows: new WorkflowsServiceClient(address("workflows"), insecure),
      jobs: new JobsServiceClient(address("jobs"), insecure),
      notifications: new NotificationsServiceClient(address("notifications"), insecure),
      analytics: new AnalyticsServiceClient(address("analytics"), insecure),
    };
    return {
      ...made,
      close: () => {
        for (const client of Object.values(made)) client.close();
      },
    };
  };
  const output = () => `serve all:\n${serve.output.join("")}\noperator:\n${operator.output.join("")}`;
  await waitFor("every service to answer", async () => {
    if (serve.child.exitCode !== null) throw new Error(`serve exited: ${serve.output.join("")}`);
    if (operator.child.exitCode !== null) throw new Error(`operator exited: ${operator.output.join("")}`);
    const users = new UsersServiceClient(address("users"), insecure);
    try {
      await unary(users, users.getUser, { id: "" }, undefined, { deadline: Date.now() + 1000 });
    } catch (error) {
      // InvalidArgument/Unauthenticated means the server answered.
      if ((error as { code?: number }).code === 14) throw error;
    } finally {
      users.close();
    }
    return true;
  });
  return {
    ports,
    clients,
    output,
    async stop() {
      await stop(operator);
      await stop(serve);
    },
  };
}
