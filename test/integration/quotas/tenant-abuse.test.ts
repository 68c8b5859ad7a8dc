// Tenant abuse: one user (A) floods CreateWorkflow, ScheduleJob, LoginUser,
// RegisterUser and StreamJobLogs over real gRPC (real Postgres, real
// kube-apiserver). The quotas answer RESOURCE_EXHAUSTED with a message that
// names the limit, and meanwhile another user (B) is served correctly. Limits
// are lowered through the environment, as an installation would; the auth
// window is long so that no token refills during the test (no clock in any
// assertion). Quotas and their defaults: docs/api.md, "Quotas and limits".
import { type ClientReadableStream, type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobsServiceClient, type Log } from "../../../gen/jobs/jobs.ts";
import { UsersServiceClient } from "../../../gen/users/users.ts";
import { WorkflowsServiceClient } from "../../../gen/workflows/workflows.ts";
import { jobsServiceFactory } from "../../../services/jobs/server.ts";
import { createUsersService } from "../../../services/users/server.ts";
import { workflowsServiceFactory } from "../../../services/workflows/server.ts";
import { installCrds } from "../../support/crds.ts";
import {
  collectStream,
  expectStatus,
  metadataWithToken,
  startTestService,
  type TestService,
  unary,
} from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

const LIMITS = {
  CHRONOVERSE_MAX_WORKFLOWS_PER_USER: "3",
  CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW: "2",
  CHRONOVERSE_MAX_LOG_STREAMS_PER_USER: "2",
  CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL: "3",
  CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS: "60",
  CHRONOVERSE_AUTH_RATE_WINDOW: "1h",
};
const FLOOD = 10;
const PASSWORD = "correct horse battery";

type Settled<T> = PromiseSettledResult<T>;
const codeOf = (result: Settled<unknown>): string =>
  result.status === "fulfilled" ? "OK" : (status[(result.reason as { code: number }).code] ?? "?");
const detailsOf = (result: Settled<unknown>): string =>
  result.status === "rejected" ? String((result.reason as { details?: string }).details) : "";
const count = (results: Settled<unknown>[], code: string) => results.filter((r) => codeOf(r) === code).length;

interface Stack {
  svc: TestService;
  ns: TestNamespace;
  users: UsersServiceClient;
  workflows: WorkflowsServiceClient;
  jobs: JobsServiceClient;
  stop(): Promise<void>;
}

async function startStack(env: Record<string, string>): Promise<Stack> {
  const kc = testKubeConfig();
  await installCrds(kc);
  const ns = await createTestNamespace(kc, "quotas");
  let svc: TestService;
  try {
    svc = await startTestService(
      [
        createUsersService,
        workflowsServiceFactory({ kubeConfig: kc }),
        jobsServiceFactory({ kubeConfig: kc, streamRecheckMs: 200 }),
      ],
      { env: { CHRONOVERSE_NAMESPACE: ns.name, ...env } },
    );
  } catch (error) {
    await ns.remove();
    throw error;
  }
  return {
    svc,
    ns,
    users: svc.client(UsersServiceClient),
    workflows: svc.client(WorkflowsServiceClient),
    jobs: svc.client(JobsServiceClient),
    async stop() {
      await svc.stop();
      await ns.remove();
    },
  };
}

describe("tenant abuse: quotas stop one user, the other is still served", () => {
  let s: Stack;
  const a = { email: `a-${uuidv7()}@example.com`, id: "", md: undefined as unknown as Metadata };
  const b = { email: `b-${uuidv7()}@example.com`, id: "", md: undefined as unknown as Metadata };
  let aWorkflow = "";
  let bWorkflow = "";
  /** Set by the ScheduleJob test: an unfinished and a finished run of A's, a run of B's. */
  let aPending = "";
  let aFinished = "";
  let bJob = "";

  const register = async (who: typeof a) => {
    const { response, headers } = await unary(s.users, s.users.registerUser, {
      email: who.email,
      password: PASSWORD,
    });
    who.id = response.user_id;
    who.md = metadataWithToken(String(headers.get("authorization")[0]).replace(/^Bearer /, ""));
  };
  const createWorkflow = (who: typeof a, name = "report") =>
    unary(
      s.workflows,
      s.workflows.createWorkflow,
      {
        user_id: who.id,
        name,
        kind: "CONTAINER",
        payload: JSON.stringify({ image: "busybox:1.36", cmd: ["echo", "hi"] }),
        interval: 60,
        max_consecutive_job_failures_allowed: 3,
        idempotency_key: uuidv7(),
      },
      who.md,
    );
  const schedule = (who: typeof a, workflowId: string, key = uuidv7()) =>
    unary(
      s.jobs,
      s.jobs.scheduleJob,
      {
        workflow_id: workflowId,
        user_id: who.id,
        // In the future: no operator runs here, and the runs stay unfinished.
        scheduled_at: "2099-01-01T00:00:00Z",
        trigger: "MANUAL",
        idempotency_key: key,
        workflow_generation: 0,
      },
      who.md,
    );
  const finish = async (jobId: string) =>
    unary(
      s.jobs,
      s.jobs.updateJobStatus,
      { id: jobId, container_id: "", status: "COMPLETED" },
      await s.svc.serviceMetadata("operator"),
    );

  beforeAll(async () => {
    s = await startStack(LIMITS);
    await register(b);
    await register(a);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("CreateWorkflow: A's flood gets RESOURCE_EXHAUSTED past the quota; B creates and reads its own meanwhile", async () => {
    const [flood, bCreated] = await Promise.all([
      Promise.allSettled(Array.from({ length: FLOOD }, (_, i) => createWorkflow(a, `flood ${i}`))),
      createWorkflow(b, "b's workflow"),
    ]);
    expect(count(flood, "OK")).toBe(3);
    expect(count(flood, "RESOURCE_EXHAUSTED")).toBe(FLOOD - 3);
    const refused = flood.find((r) => codeOf(r) === "RESOURCE_EXHAUSTED");
    expect(detailsOf(refused as Settled<unknown>)).toMatch(
      /workflows: this user has 3, the most allowed per user is 3 \(CHRONOVERSE_MAX_WORKFLOWS_PER_USER\)/,
    );
    bWorkflow = bCreated.response.id;
    const got = await unary(s.workflows, s.workflows.getWorkflow, { id: bWorkflow, user_id: b.id }, b.md);
    expect(got.response).toMatchObject({ id: bWorkflow, name: "b's workflow", kind: "CONTAINER" });
    const listed = await unary(s.workflows, s.workflows.listWorkflows, { user_id: a.id, cursor: "" }, a.md);
    expect(listed.response.workflows).toHaveLength(3);
    aWorkflow = listed.response.workflows[0]?.id ?? "";

    // Deleting one (terminate first) makes room for exactly one more.
    await unary(s.workflows, s.workflows.terminateWorkflow, { id: aWorkflow, user_id: a.id }, a.md);
    await unary(s.workflows, s.workflows.deleteWorkflow, { id: aWorkflow, user_id: a.id }, a.md);
    aWorkflow = (await waitFor("room for one more workflow", () => createWorkflow(a, "after delete")))
      .response.id;
    await expectStatus(createWorkflow(a), status.RESOURCE_EXHAUSTED, /CHRONOVERSE_MAX_WORKFLOWS_PER_USER/);
  });

  it("ScheduleJob: A's flood of MANUAL runs stops at the quota; repeats of a key still answer; B schedules meanwhile", async () => {
    const [flood, bScheduled] = await Promise.all([
      Promise.allSettled(Array.from({ length: FLOOD }, () => schedule(a, aWorkflow))),
      schedule(b, bWorkflow),
    ]);
    expect(count(flood, "OK")).toBe(2);
    expect(count(flood, "RESOURCE_EXHAUSTED")).toBe(FLOOD - 2);
    expect(detailsOf(flood.find((r) => codeOf(r) === "RESOURCE_EXHAUSTED") as Settled<unknown>)).toMatch(
      /workflow_id: this workflow has 2 unfinished MANUAL runs, the most allowed is 2 \(CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW\)/,
    );
    bJob = bScheduled.response.id;
    const got = await unary(s.jobs, s.jobs.getJob, { id: bJob, workflow_id: bWorkflow, user_id: b.id }, b.md);
    expect(got.response).toMatchObject({ id: bJob, workflow_id: bWorkflow, trigger: "MANUAL" });

    // A repeated idempotency key is not a new run: it answers with the first.
    const key = uuidv7();
    const other = await Promise.allSettled([schedule(a, aWorkflow, key)]);
    expect(codeOf(other[0] as Settled<unknown>)).toBe("RESOURCE_EXHAUSTED");
    const [first, second] = (
      flood.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<
        Awaited<ReturnType<typeof schedule>>
      >[]
    ).map((r) => r.value.response.id);
    aFinished = first ?? "";
    aPending = second ?? "";
    // A finished run makes room for one more.
    await finish(aFinished);
    // Room for exactly one: concurrent duplicates of the refused key all get that one run.
    const ids = await waitFor("room for one more MANUAL run", async () =>
      (await Promise.all(Array.from({ length: 4 }, () => schedule(a, aWorkflow, key)))).map(
        (r) => r.response.id,
      ),
    );
    expect(new Set(ids).size).toBe(1);
    expect((await schedule(a, aWorkflow, key)).response.id).toBe(ids[0]);
    await expectStatus(schedule(a, aWorkflow), status.RESOURCE_EXHAUSTED, /MANUAL runs/);
  });

  it("LoginUser and RegisterUser: A's floods are rate-limited per email with retry information; B logs in meanwhile", async () => {
    const login = (email: string, password = PASSWORD) =>
      unary(s.users, s.users.loginUser, { email, password });
    const [flood, bLogin] = await Promise.all([
      Promise.allSettled(Array.from({ length: FLOOD }, () => login(a.email, "wrong password"))),
      login(b.email),
    ]);
    expect(count(flood, "UNAUTHENTICATED")).toBe(3);
    expect(count(flood, "RESOURCE_EXHAUSTED")).toBe(FLOOD - 3);
    const refused = flood.find((r) => codeOf(r) === "RESOURCE_EXHAUSTED") as PromiseRejectedResult;
    expect(detailsOf(refused)).toMatch(
      /too many login attempts for this email: at most 3 per 1h \(CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL\); retry in \d+m/,
    );
    expect(Number(refused.reason.metadata.get("retry-after-ms")[0])).toBeGreaterThan(0);
    expect(bLogin.response.user_id).toBe(b.id);
    // Even the right password waits: the limit is on attempts, not failures.
    await expectStatus(login(a.email), status.RESOURCE_EXHAUSTED, /login attempts/);

    const newEmail = `c-${uuidv7()}@example.com`;
    const registrations = await Promise.allSettled(
      Array.from({ length: 6 }, () =>
        unary(s.users, s.users.registerUser, { email: newEmail, password: PASSWORD }),
      ),
    );
    expect(count(registrations, "OK")).toBe(1);
    expect(count(registrations, "ALREADY_EXISTS")).toBe(2);
    expect(count(registrations, "RESOURCE_EXHAUSTED")).toBe(3);
    expect((await login(b.email)).response.user_id).toBe(b.id);
  });

  it("StreamJobLogs: A may hold 2 streams at once; B streams meanwhile; a closed stream makes room", async () => {
    await finish(bJob);
    const open: ClientReadableStream<Log>[] = [];
    const ended: Promise<string>[] = [];
    for (let i = 0; i < 2; i++) {
      const call = s.jobs.streamJobLogs({ id: aPending, workflow_id: aWorkflow, user_id: a.id }, a.md);
      open.push(call);
      ended.push(
        new Promise((resolve) => {
          call.on("data", () => undefined);
          call.on("error", (error: { code: number }) => resolve(status[error.code] ?? "?"));
          call.on("end", () => resolve("OK"));
        }),
      );
    }
    const finished = (who: typeof a, workflowId: string, id: string) =>
      collectStream(s.jobs, s.jobs.streamJobLogs, { id, workflow_id: workflowId, user_id: who.id }, who.md);
    // A third stream (on a finished run, which would end at once) is refused while two are open.
    await waitFor("A's two streams to be counted", async () => {
      const error = await finished(a, aWorkflow, aFinished).then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      );
      if (error === undefined) return undefined;
      expect(status[error.code]).toBe("RESOURCE_EXHAUSTED");
      expect(error.details).toMatch(
        /user_id: this user has 2 log streams open, the most allowed at once is 2 \(CHRONOVERSE_MAX_LOG_STREAMS_PER_USER\)/,
      );
      return error;
    });
    // B is not affected.
    expect(await finished(b, bWorkflow, bJob)).toEqual([]);
    // Closing one of A's makes room again.
    open[0]?.cancel();
    expect(await ended[0]).toBe("CANCELLED");
    await waitFor("room for another stream of A's", () => finished(a, aWorkflow, aFinished));
    open[1]?.cancel();
    expect(await ended[1]).toBe("CANCELLED");
  });
});

describe("stream duration and idle limits, per-address rate limit", () => {
  it.each([
    [
      "idle",
      { CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT: "300ms" },
      /stream: nothing sent for 300ms, the longest a stream may stay idle \(CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT\); call StreamJobLogs again/,
    ],
    [
      "max duration",
      { CHRONOVERSE_LOG_STREAM_MAX_DURATION: "300ms" },
      /stream: open for 300ms, the longest a stream may last \(CHRONOVERSE_LOG_STREAM_MAX_DURATION\); call StreamJobLogs again/,
    ],
  ])(
    "a stream past the %s limit ends with RESOURCE_EXHAUSTED naming it, and frees its slot",
    async (_name, env, message) => {
      const s = await startStack({ CHRONOVERSE_MAX_LOG_STREAMS_PER_USER: "1", ...env });
      try {
        const { response, headers } = await unary(s.users, s.users.registerUser, {
          email: `s-${uuidv7()}@example.com`,
          password: PASSWORD,
        });
        const userId = response.user_id;
        const md = metadataWithToken(String(headers.get("authorization")[0]).replace(/^Bearer /, ""));
        const workflowId = (
          await unary(
            s.workflows,
            s.workflows.createWorkflow,
            {
              user_id: userId,
              name: "quiet",
              kind: "CONTAINER",
              payload: JSON.stringify({ image: "busybox:1.36" }),
              interval: 60,
              max_consecutive_job_failures_allowed: 3,
              idempotency_key: uuidv7(),
            },
            md,
          )
        ).response.id;
        const request = {
          workflow_id: workflowId,
          user_id: userId,
          scheduled_at: "2099-01-01T00:00:00Z",
          trigger: "MANUAL",
          workflow_generation: 0,
        };
        const job = (await unary(s.jobs, s.jobs.scheduleJob, { ...request, idempotency_key: uuidv7() }, md))
          .response.id;
        // A run that never starts: its stream sends nothing and stays open until a limit ends it.
        const stream = { id: job, workflow_id: workflowId, user_id: userId };
        await expectStatus(
          collectStream(s.jobs, s.jobs.streamJobLogs, stream, md),
          status.RESOURCE_EXHAUSTED,
          message,
        );
        await expectStatus(
          collectStream(s.jobs, s.jobs.streamJobLogs, stream, md),
          status.RESOURCE_EXHAUSTED,
          message,
        );
      } finally {
        await s.stop();
      }
    },
  );

  it("LoginUser from one address is limited across emails", async () => {
    const svc = await startTestService(createUsersService, {
      env: {
        CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS: "4",
        CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL: "100",
        CHRONOVERSE_AUTH_RATE_WINDOW: "1h",
      },
    });
    try {
      const users = svc.client(UsersServiceClient);
      const results: Settled<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        results.push(
          ...(await Promise.allSettled([
            unary(users, users.loginUser, { email: `nobody-${i}@example.com`, password: PASSWORD }),
          ])),
        );
      }
      expect(results.map(codeOf)).toEqual([
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "RESOURCE_EXHAUSTED",
        "RESOURCE_EXHAUSTED",
      ]);
      expect(detailsOf(results[4] as Settled<unknown>)).toMatch(
        /too many login attempts from this address: at most 4 per 1h \(CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS\); retry in/,
      );
      // Registration has buckets of its own.
      await unary(users, users.registerUser, { email: `r-${uuidv7()}@example.com`, password: PASSWORD });
    } finally {
      await svc.stop();
    }
  });
});
