// Analytics over a real gRPC connection and a real Postgres: counters written
// through the recorder the operator imports, read through GetUserAnalytics and
// GetWorkflowAnalytics. Each job counts exactly once, also under concurrent
// repeats; log lines are recorded idempotently; access rules and every status
// code SPEC.md names for these RPCs.
import { type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnalyticsServiceClient } from "../../../gen/analytics/analytics.ts";
import { type AnalyticsRecorder, createAnalyticsRecorder } from "../../../services/analytics/recorder.ts";
import { createAnalyticsService } from "../../../services/analytics/server.ts";
import { InvalidArgument } from "../../../src/grpc/errors.ts";
import {
  expectStatus,
  forgeToken,
  metadataWithToken,
  startTestService,
  type TestService,
  unary,
} from "../../support/grpc.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

describe("Analytics", () => {
  let svc: TestService;
  let client: AnalyticsServiceClient;
  let recorder: AnalyticsRecorder;

  beforeAll(async () => {
    svc = await startTestService(createAnalyticsService);
    client = svc.client(AnalyticsServiceClient);
    recorder = createAnalyticsRecorder(svc.db);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const userAnalytics = async (userId: string, metadata?: Metadata) =>
    (
      await unary(
        client,
        client.getUserAnalytics,
        { user_id: userId },
        metadata ?? (await svc.userMetadata(userId)),
      )
    ).response;
  const workflowAnalytics = async (userId: string, workflowId: string, metadata?: Metadata) =>
    (
      await unary(
        client,
        client.getWorkflowAnalytics,
        { user_id: userId, workflow_id: workflowId },
        metadata ?? (await svc.userMetadata(userId)),
      )
    ).response;

  describe("GetUserAnalytics", () => {
    it("is all zeros for a user with nothing recorded", async () => {
      expect(await userAnalytics(uuidv7())).toEqual({
        total_workflows: 0,
        total_jobs: 0,
        total_joblogs: 0,
        total_job_execution_duration: 0,
      });
    });

    it("sums the user's workflows, terminal jobs, log lines and whole seconds of execution", async () => {
      const user = uuidv7();
      const [wf1, wf2] = [uuidv7(), uuidv7()];
      expect(await recorder.recordWorkflowCreated(user, wf1)).toBe(true);
      expect(await recorder.recordWorkflowCreated(user, wf2)).toBe(true);
      expect(await recorder.recordWorkflowCreated(user, wf1)).toBe(false); // repeat: counted once
      const job = (workflowId: string, ms: number) => ({
        userId: user,
        workflowId,
        jobId: uuidv7(),
        startedAt: T0,
        completedAt: at(ms),
      });
      const jobs = [job(wf1, 1_500), job(wf1, 2_700), job(wf2, 10_000)];
      for (const j of jobs) expect(await recorder.recordJobFinished(j)).toBe(true);
      await recorder.recordJobLogLines({
        userId: user,
        workflowId: wf1,
        jobId: jobs[0]?.jobId as string,
        lines: 40,
      });
      await recorder.recordJobLogLines({
        userId: user,
        workflowId: wf2,
        jobId: jobs[2]?.jobId as string,
        lines: 2,
      });
      // another user's counters stay apart
      const other = uuidv7();
      await recorder.recordJobFinished({ ...job(uuidv7(), 5_000), userId: other });

      expect(await userAnalytics(user)).toEqual({
        total_workflows: 2,
        total_jobs: 3,
        total_joblogs: 42,
        total_job_execution_duration: 14, // 14.2 s summed, then rounded down
      });
      expect(await userAnalytics(other)).toMatchObject({ total_workflows: 1, total_jobs: 1 });
    });

    it("carries uint64 totals beyond 32 bits", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      const big = 6_000_000_000;
      await recorder.recordJobLogLines({ userId: user, workflowId: wf, jobId: uuidv7(), lines: big });
      await recorder.recordJobFinished({
        userId: user,
        workflowId: wf,
        jobId: uuidv7(),
        startedAt: T0,
        completedAt: at(big * 1000),
      });
      expect(await userAnalytics(user)).toEqual({
        total_workflows: 1,
        total_jobs: 1,
        total_joblogs: big,
        total_job_execution_duration: big,
      });
      expect(await workflowAnalytics(user, wf)).toMatchObject({
        total_joblogs: big,
        total_job_execution_duration: big,
      });
    });

    it("needs a token (Unauthenticated) for the same user (PermissionDenied), and a valid user_id", async () => {
      const alice = uuidv7();
      await expectStatus(unary(client, client.getUserAnalytics, { user_id: alice }), status.UNAUTHENTICATED);
      const forged = await forgeToken({ subject: alice, key: new Uint8Array(32).fill(9) });
      await expectStatus(
        unary(client, client.getUserAnalytics, { user_id: alice }, metadataWithToken(forged)),
        status.UNAUTHENTICATED,
      );
      await expectStatus(
        userAnalytics(alice, await svc.userMetadata(uuidv7())),
        status.PERMISSION_DENIED,
        /user_id/,
      );
      await expectStatus(
        userAnalytics("", await svc.userMetadata(alice)),
        status.INVALID_ARGUMENT,
        /^user_id: /,
      );
      await expectStatus(
        userAnalytics("alice", await svc.serviceMetadata()),
        status.INVALID_ARGUMENT,
        /^user_id: /,
      );
    });

    it("answers a service token for any user", async () => {
      const user = uuidv7();
      await recorder.recordWorkflowCreated(user, uuidv7());
      expect((await userAnalytics(user, await svc.serviceMetadata())).total_workflows).toBe(1);
    });
  });

  describe("GetWorkflowAnalytics", () => {
    it("returns the workflow's totals", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      await recorder.recordWorkflowCreated(user, wf);
      expect(await workflowAnalytics(user, wf)).toEqual({
        workflow_id: wf,
        total_job_execution_duration: 0,
        total_jobs: 0,
        total_joblogs: 0,
      });
      const jobId = uuidv7();
      await recorder.recordJobFinished({
        userId: user,
        workflowId: wf,
        jobId,
        startedAt: T0,
        completedAt: at(61_999),
      });
      await recorder.recordJobLogLines({ userId: user, workflowId: wf, jobId, lines: 7 });
      expect(await workflowAnalytics(user, wf)).toEqual({
        workflow_id: wf,
        total_job_execution_duration: 61,
        total_jobs: 1,
        total_joblogs: 7,
      });
    });

    it("is NotFound for an unknown workflow and for another user's", async () => {
      const alice = uuidv7();
      const bob = uuidv7();
      const bobs = uuidv7();
      await recorder.recordWorkflowCreated(bob, bobs);
      await expectStatus(workflowAnalytics(alice, uuidv7()), status.NOT_FOUND, /workflow_id/);
      const notFound = await expectStatus(workflowAnalytics(alice, bobs), status.NOT_FOUND, /workflow_id/);
      expect(notFound.details).not.toContain(bob);
    });

    it("rejects a missing or malformed workflow_id: InvalidArgument", async () => {
      const user = uuidv7();
      await expectStatus(workflowAnalytics(user, ""), status.INVALID_ARGUMENT, /^workflow_id: /);
      await expectStatus(workflowAnalytics(user, "wf-1"), status.INVALID_ARGUMENT, /^workflow_id: /);
      await expectStatus(
        workflowAnalytics("", uuidv7(), await svc.serviceMetadata()),
        status.INVALID_ARGUMENT,
        /^user_id: /,
      );
    });

    it("needs a token (Unauthenticated) for the same user (PermissionDenied)", async () => {
      const alice = uuidv7();
      const wf = uuidv7();
      await recorder.recordWorkflowCreated(alice, wf);
      await expectStatus(
        unary(client, client.getWorkflowAnalytics, { user_id: alice, workflow_id: wf }),
        status.UNAUTHENTICATED,
      );
      const expired = await forgeToken({ subject: alice, expiresAt: 1_000_000 });
      await expectStatus(
        workflowAnalytics(alice, wf, metadataWithToken(expired)),
        status.UNAUTHENTICATED,
        /expired/,
      );
      await expectStatus(
        workflowAnalytics(alice, wf, await svc.userMetadata(uuidv7())),
        status.PERMISSION_DENIED,
      );
    });
  });

  describe("recorder: exactly once per job", () => {
    it("counts a job once however often its finish is recorded", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      const job = { userId: user, workflowId: wf, jobId: uuidv7(), startedAt: T0, completedAt: at(3_000) };
      expect(await recorder.recordJobFinished(job)).toBe(true);
      expect(await recorder.recordJobFinished(job)).toBe(false);
      // a replay with other times (e.g. re-read status) changes nothing either
      expect(await recorder.recordJobFinished({ ...job, completedAt: at(99_000) })).toBe(false);
      expect(await workflowAnalytics(user, wf)).toMatchObject({
        total_jobs: 1,
        total_job_execution_duration: 3,
      });
    });

    it("counts a job once under concurrent repeats", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      const jobs = Array.from({ length: 4 }, () => ({
        userId: user,
        workflowId: wf,
        jobId: uuidv7(),
        startedAt: T0,
        completedAt: at(2_000),
      }));
      // each job recorded 8 times at once, all jobs at the same time
      const results = await Promise.all(
        jobs.flatMap((job) => Array.from({ length: 8 }, () => recorder.recordJobFinished(job))),
      );
      expect(results.filter(Boolean)).toHaveLength(4);
      expect(await workflowAnalytics(user, wf)).toMatchObject({
        total_jobs: 4,
        total_job_execution_duration: 8,
      });
      expect(await userAnalytics(user)).toMatchObject({ total_workflows: 1, total_jobs: 4 });
    });

    it("counts a job canceled before it started, with no duration", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      await recorder.recordJobFinished({
        userId: user,
        workflowId: wf,
        jobId: uuidv7(),
        startedAt: null,
        completedAt: T0,
      });
      expect(await workflowAnalytics(user, wf)).toMatchObject({
        total_jobs: 1,
        total_job_execution_duration: 0,
      });
    });

    it("records log lines as a running total per job: repeats and smaller counts add nothing", async () => {
      const user = uuidv7();
      const wf = uuidv7();
      const jobId = uuidv7();
      const lines = (n: number) =>
        recorder.recordJobLogLines({ userId: user, workflowId: wf, jobId, lines: n });
      expect(await lines(10)).toBe(10);
      expect(await lines(10)).toBe(0);
      expect(await lines(25)).toBe(15);
      expect(await lines(5)).toBe(0);
      const concurrent = await Promise.all([lines(30), lines(30), lines(30)]);
      expect(concurrent.sort()).toEqual([0, 0, 5]);
      // the job finishing after its logs were counted is still counted once
      expect(
        await recorder.recordJobFinished({
          userId: user,
          workflowId: wf,
          jobId,
          startedAt: T0,
          completedAt: at(1_000),
        }),
      ).toBe(true);
      expect(await lines(30)).toBe(0);
      expect(await workflowAnalytics(user, wf)).toEqual({
        workflow_id: wf,
        total_job_execution_duration: 1,
        total_jobs: 1,
        total_joblogs: 30,
      });
    });

    it("keeps counting for a workflow never recorded as created, and the counters outlive it", async () => {
      // Nothing in analytics refers to the Workflow object: deleting it (or
      // never having seen its creation) leaves the counters as they are.
      const user = uuidv7();
      const wf = uuidv7();
      await recorder.recordJobFinished({
        userId: user,
        workflowId: wf,
        jobId: uuidv7(),
        startedAt: T0,
        completedAt: at(4_000),
      });
      expect(await userAnalytics(user)).toMatchObject({
        total_workflows: 1,
        total_jobs: 1,
        total_job_execution_duration: 4,
      });
    });

    it("rejects malformed arguments with InvalidArgument", async () => {
      const user = uuidv7();
      await expect(recorder.recordWorkflowCreated("nope", uuidv7())).rejects.toThrow(InvalidArgument);
      await expect(recorder.recordWorkflowCreated(user, "")).rejects.toThrow(/workflowId/);
      await expect(
        recorder.recordJobFinished({
          userId: user,
          workflowId: uuidv7(),
          jobId: "job-1",
          startedAt: T0,
          completedAt: T0,
        }),
      ).rejects.toThrow(/jobId/);
      await expect(
        recorder.recordJobFinished({
          userId: user,
          workflowId: uuidv7(),
          jobId: uuidv7(),
          startedAt: new Date("not a date"),
          completedAt: T0,
        }),
      ).rejects.toThrow(/startedAt/);
      for (const lines of [-1, 1.5, Number.NaN]) {
        await expect(
          recorder.recordJobLogLines({ userId: user, workflowId: uuidv7(), jobId: uuidv7(), lines }),
        ).rejects.toThrow(/lines/);
      }
      expect((await userAnalytics(user)).total_workflows).toBe(0);
    });
  });
});
