// Faults survived: the five services (`chronoverse serve all`, a real process)
// while their Postgres backends are terminated again and again with
// pg_terminate_backend, in the middle of calls. The process must not exit;
// every call that touches the database answers OK or UNAVAILABLE with the
// fixed message (never Internal, never pg's text); once the terminations
// stop, every call succeeds again without a restart.
import { credentials, type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AnalyticsServiceClient } from "../../../gen/analytics/analytics.ts";
import { JobsServiceClient } from "../../../gen/jobs/jobs.ts";
import { NotificationsServiceClient } from "../../../gen/notifications/notifications.ts";
import { UsersServiceClient } from "../../../gen/users/users.ts";
import { type CreateWorkflowRequest, WorkflowsServiceClient } from "../../../gen/workflows/workflows.ts";
import { SERVICE_NAMES, type ServiceName } from "../../../src/config.ts";
import { bearerMetadata } from "../../../src/grpc/client.ts";
import { DATABASE_UNAVAILABLE_MESSAGE } from "../../../src/grpc/errors.ts";
import { installCrds } from "../../support/crds.ts";
import { TEST_SERVICE_KEY, TEST_USER_KEY, testTokens, unary } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.ts";
import { waitFor } from "../../support/wait.ts";
import {
  assertRunning,
  type ChronoverseProcess,
  healthStatus,
  SERVICE_FULL_NAMES,
  serviceEndpoints,
  startChronoverse,
  terminateBackends,
  waitListening,
} from "./support.ts";

const ROUNDS = 12;

describe("terminated Postgres backends", () => {
  const kc = testKubeConfig();
  let database: TestDatabase;
  let ns: TestNamespace;
  let serve: ChronoverseProcess;
  let ports: Record<ServiceName, number>;
  const clients: { close(): void }[] = [];
  const address = (name: ServiceName) => `127.0.0.1:${ports[name]}`;

  beforeAll(async () => {
    await installCrds(kc);
    [database, ns] = await Promise.all([
      createTestDatabase("cv_faults"),
      createTestNamespace(kc, "faults-pg"),
    ]);
    const endpoints = await serviceEndpoints();
    ports = endpoints.ports;
    serve = startChronoverse(["serve", "all"], {
      ...endpoints.env,
      DATABASE_URL: database.url,
      KUBECONFIG: inject("kubeconfig"),
      CHRONOVERSE_NAMESPACE: ns.name,
      CHRONOVERSE_HOST: "127.0.0.1",
      CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
      CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
      DATABASE_HEALTH_INTERVAL: "500ms",
      LOG_LEVEL: "info",
    });
    await waitListening(serve);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await serve?.stop();
    await Promise.all([database?.drop(), ns?.remove()]);
  });

  /** One call per service that reads or writes Postgres, started now; each settles to "OK" or its status code. */
  function callsThatUseTheDatabase(
    userId: string,
    md: Metadata,
    workflowId: string,
  ): Record<ServiceName, Promise<{ code: string; details?: string }>> {
    const users = new UsersServiceClient(address("users"), insecure());
    const workflows = new WorkflowsServiceClient(address("workflows"), insecure());
    const jobs = new JobsServiceClient(address("jobs"), insecure());
    const notifications = new NotificationsServiceClient(address("notifications"), insecure());
    const analytics = new AnalyticsServiceClient(address("analytics"), insecure());
    clients.push(users, workflows, jobs, notifications, analytics);
    return {
      users: outcome(
        unary(users, users.registerUser, { email: `${uuidv7()}@example.com`, password: "a long password" }),
      ),
      workflows: outcome(unary(workflows, workflows.createWorkflow, workflowRequest(userId), md)),
      jobs: outcome(
        unary(
          jobs,
          jobs.scheduleJob,
          {
            workflow_id: workflowId,
            user_id: userId,
            scheduled_at: new Date().toISOString(),
            trigger: "MANUAL",
            idempotency_key: uuidv7(),
            workflow_generation: 0,
          },
          md,
        ),
      ),
      notifications: outcome(
        unary(notifications, notifications.listNotifications, { user_id: userId, cursor: "" }, md),
      ),
      analytics: outcome(unary(analytics, analytics.getUserAnalytics, { user_id: userId }, md)),
    };
  }

  it("no process exits, calls answer OK or UNAVAILABLE meanwhile, and all succeed again afterwards", async () => {
    const tokens = testTokens();
    const users = new UsersServiceClient(address("users"), insecure());
    clients.push(users);
    const { response: registered } = await unary(users, users.registerUser, {
      email: `${uuidv7()}@example.com`,
      password: "a long password",
    });
    const userId = registered.user_id;
    const md = bearerMetadata(await tokens.issueUserToken(userId));
    const workflows = new WorkflowsServiceClient(address("workflows"), insecure());
    clients.push(workflows);
    const { response: created } = await unary(
      workflows,
      workflows.createWorkflow,
      workflowRequest(userId),
      md,
    );
    const workflowId = created.id;
    // ScheduleJob needs the workflow in the jobs service's cache.
    await waitFor("the workflow in the jobs service", async () => {
      const result = await callsThatUseTheDatabase(userId, md, workflowId).jobs;
      return result.code === "OK" ? true : undefined;
    });

    const seen: Record<string, number> = {};
    let terminated = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Calls in flight while their backends (idle and active) are terminated.
      const calls = callsThatUseTheDatabase(userId, md, workflowId);
      terminated += await terminateBackends(inject("databaseUrl"), new URL(database.url).pathname.slice(1));
      const outcomes = await Promise.all(
        SERVICE_NAMES.map(async (name) => [name, await calls[name]] as const),
      );
      assertRunning(serve, "chronoverse serve all");
      for (const [name, { code, details }] of outcomes) {
        expect(["OK", "UNAVAILABLE"], `${name} answered ${code}: ${details}`).toContain(code);
        // The fixed message: nothing of pg's own text reaches a client.
        if (code === "UNAVAILABLE") expect(details, name).toBe(DATABASE_UNAVAILABLE_MESSAGE);
        seen[`${name} ${code}`] = (seen[`${name} ${code}`] ?? 0) + 1;
      }
    }
    expect(terminated).toBeGreaterThan(0);
    // The terminations did hit calls in flight (not only idle connections).
    expect(
      Object.keys(seen).filter((key) => key.endsWith(" UNAVAILABLE")),
      JSON.stringify(seen),
    ).not.toEqual([]);

    // Recovery without a restart: every service answers OK and reports SERVING.
    await waitFor("every service to answer OK again", async () => {
      assertRunning(serve, "chronoverse serve all");
      const calls = callsThatUseTheDatabase(userId, md, workflowId);
      const results = await Promise.all(
        SERVICE_NAMES.map(async (name) => `${name}: ${(await calls[name]).code}`),
      );
      if (results.some((result) => !result.endsWith(": OK"))) throw new Error(results.join(", "));
      return true;
    });
    for (const name of SERVICE_NAMES) {
      await waitFor(`${name} to report SERVING`, async () =>
        (await healthStatus(address(name), SERVICE_FULL_NAMES[name])) === "SERVING" ? true : undefined,
      );
    }
    assertRunning(serve, "chronoverse serve all");
    // Nothing of pg's own text reached a client, and the losses were logged without secrets.
    expect(serve.logs.some((entry) => entry.msg === "database connection lost; it will be replaced")).toBe(
      true,
    );
    expect(JSON.stringify(serve.logs)).not.toMatch(/"password"\s*:\s*"[^[]/);
  });
});

function outcome(call: Promise<unknown>): Promise<{ code: string; details?: string }> {
  return call.then(
    () => ({ code: "OK" }),
    (error: { code?: number; details?: string }) => ({
      code: status[error.code ?? status.UNKNOWN] ?? String(error.code),
      ...(error.details === undefined ? {} : { details: error.details }),
    }),
  );
}

function insecure() {
  return credentials.createInsecure();
}

function workflowRequest(userId: string): CreateWorkflowRequest {
  return {
    user_id: userId,
    name: "faults",
    kind: "CONTAINER",
    payload: JSON.stringify({ image: "busybox:1.36", cmd: ["true"] }),
    interval: 60,
    max_consecutive_job_failures_allowed: 3,
    idempotency_key: uuidv7(),
  };
}
