// JobsService runs over real gRPC, a real kube-apiserver with the CRDs and
// real Postgres: ScheduleJob (now, in the future, idempotent retries and
// concurrent duplicates), GetJob, GetJobByID, UpdateJobStatus and ListJobs —
// every rule of SPEC.md's Jobs section with its status code, and access.
import { type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScheduleJobRequest } from "../../../gen/jobs/jobs.ts";
import type { Workflow } from "../../../operator/api/v1alpha1/workflow.ts";
import { expectStatus, forgeToken, metadataWithToken, unary } from "../../support/grpc.ts";
import { waitFor } from "../../support/wait.ts";
import { type JobsTest, startJobsTest } from "./support.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe("JobsService: runs", () => {
  let t: JobsTest;
  let userId: string;
  let md: Metadata;
  let workflow: Workflow;
  let workflowId: string;

  beforeAll(async () => {
    t = await startJobsTest();
    userId = uuidv7();
    md = await t.user(userId);
    workflow = await t.createWorkflow(userId);
    workflowId = workflow.metadata.name ?? "";
  });
  afterAll(async () => {
    await t?.stop();
  });

  const request = (overrides: Partial<ScheduleJobRequest> = {}): ScheduleJobRequest => ({
    workflow_id: workflowId,
    user_id: userId,
    scheduled_at: new Date().toISOString(),
    trigger: "MANUAL",
    idempotency_key: uuidv7(),
    workflow_generation: 0,
    ...overrides,
  });
  const schedule = (req: ScheduleJobRequest, metadata: Metadata = md) =>
    unary(t.client, t.client.scheduleJob, req, metadata);
  const getJob = async (id: string, metadata: Metadata = md) =>
    (await unary(t.client, t.client.getJob, { id, workflow_id: workflowId, user_id: userId }, metadata))
      .response;

  describe("ScheduleJob", () => {
    it("creates a PENDING MANUAL WorkflowJob named by a UUID v7, labelled and owned by its Workflow", async () => {
      const scheduledAt = "2026-03-04T05:06:07Z";
      const { response } = await schedule(request({ scheduled_at: scheduledAt }));
      expect(response.id).toMatch(UUID_V7);
      const job = await t.readJob(response.id);
      expect(job.metadata.labels).toMatchObject({
        "chronoverse.dev/user-id": userId,
        "chronoverse.dev/workflow-id": workflowId,
        "chronoverse.dev/trigger": "MANUAL",
      });
      expect(job.spec).toEqual({
        workflowName: workflowId,
        userId,
        trigger: "MANUAL",
        scheduledAt: "2026-03-04T05:06:07.000Z",
      });
      // The CRD's default status: nothing has acted on the run yet.
      expect(job.status?.phase).toBe("PENDING");
      const owners = (job.metadata as { ownerReferences?: { kind: string; name: string; uid: string }[] })
        .ownerReferences;
      expect(owners).toEqual([
        expect.objectContaining({ kind: "Workflow", name: workflowId, uid: workflow.metadata.uid }),
      ]);

      // Read-your-writes: GetJob right after the write sees it.
      const got = await getJob(response.id);
      expect(got).toMatchObject({
        id: response.id,
        workflow_id: workflowId,
        status: "PENDING",
        trigger: "MANUAL",
        scheduled_at: "2026-03-04T05:06:07.000Z",
        started_at: "",
        completed_at: "",
      });
      expect(got.created_at).toMatch(RFC3339);
      expect(got.updated_at).toMatch(RFC3339);
    });

    it("schedules a run in the future", async () => {
      const future = new Date(Date.now() + 7 * 24 * 3_600_000).toISOString();
      const { response } = await schedule(request({ scheduled_at: future }));
      expect((await getJob(response.id)).scheduled_at).toBe(future);
    });

    it("returns the same job for a repeated idempotency key, and creates one object for concurrent duplicates", async () => {
      const key = `retry-${uuidv7()}`;
      const first = (await schedule(request({ idempotency_key: key }))).response.id;
      const again = (await schedule(request({ idempotency_key: key }))).response.id;
      expect(again).toBe(first);

      const raceKey = `race-${uuidv7()}`;
      const ids = await Promise.all(
        Array.from({ length: 8 }, () =>
          schedule(request({ idempotency_key: raceKey })).then((r) => r.response.id),
        ),
      );
      expect(new Set(ids).size).toBe(1);
      const list = (await t.custom.listNamespacedCustomObject({
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
      })) as { items: { metadata: { name: string } }[] };
      expect(list.items.filter((item) => item.metadata.name === ids[0])).toHaveLength(1);
      expect(list.items.filter((item) => item.metadata.name === first)).toHaveLength(1);
      // Different keys make different runs.
      expect(ids[0]).not.toBe(first);
    });

    it("keeps a key for 24 hours: an expired key schedules a new run", async () => {
      const key = `expiring-${uuidv7()}`;
      const first = (await schedule(request({ idempotency_key: key }))).response.id;
      await t.svc.db
        .updateTable("job_idempotency_keys")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where("key", "=", key)
        .execute();
      const second = (await schedule(request({ idempotency_key: key }))).response.id;
      expect(second).not.toBe(first);
      expect(second).toMatch(UUID_V7);
      expect((await schedule(request({ idempotency_key: key }))).response.id).toBe(second);
    });

    it("never runs a repeated key again, even after the history limit deleted its WorkflowJob", async () => {
      const key = `pruned-${uuidv7()}`;
      const first = (await schedule(request({ idempotency_key: key }))).response.id;
      // The operator's history limit deletes finished runs the same way.
      await t.custom.deleteNamespacedCustomObject({
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflowjobs",
        name: first,
      });
      await waitFor("the service to see the run gone", async () =>
        getJob(first).then(
          () => undefined,
          (error: { code?: number }) => (error.code === status.NOT_FOUND ? true : undefined),
        ),
      );
      expect((await schedule(request({ idempotency_key: key }))).response.id).toBe(first);
      // Nothing was created again: the id names no object (GetJob stays NotFound).
      await expect(t.readJob(first)).rejects.toMatchObject({ code: 404 });
      await expectStatus(getJob(first), status.NOT_FOUND, /job/);
    });

    it("answers a retried key with its job even after the workflow was terminated", async () => {
      const wf = await t.createWorkflow(userId);
      const id = wf.metadata.name ?? "";
      const key = `before-termination-${uuidv7()}`;
      const first = (await schedule(request({ workflow_id: id, idempotency_key: key }))).response.id;
      await t.patchWorkflowSpec(id, { terminated: true });
      await waitFor("a new key to be refused", async () =>
        schedule(request({ workflow_id: id })).then(
          () => undefined,
          (error: { code: number }) => (error.code === status.FAILED_PRECONDITION ? true : undefined),
        ),
      );
      expect((await schedule(request({ workflow_id: id, idempotency_key: key }))).response.id).toBe(first);
    });

    it("checks workflow_generation when it is not zero", async () => {
      const generation = workflow.metadata.generation ?? 1;
      const { response } = await schedule(request({ workflow_generation: generation }));
      expect(response.id).toMatch(UUID_V7);
      await expectStatus(
        schedule(request({ workflow_generation: generation + 1 })),
        status.FAILED_PRECONDITION,
        /workflow_generation/,
      );
    });

    it.each([
      ["workflow_id", { workflow_id: "" }, /workflow_id: is required/],
      ["workflow_id", { workflow_id: "not-a-uuid" }, /workflow_id: must be a UUID/],
      ["scheduled_at", { scheduled_at: "" }, /scheduled_at: is required/],
      ["scheduled_at", { scheduled_at: "next tuesday" }, /scheduled_at: must be an RFC 3339/],
      ["trigger", { trigger: "" }, /trigger: is required/],
      ["trigger", { trigger: "SOMETIMES" }, /trigger: must be one of/],
      ["trigger", { trigger: "AUTOMATIC" }, /trigger: users may only schedule MANUAL/],
      ["idempotency_key", { idempotency_key: "" }, /idempotency_key: is required/],
      ["workflow_generation", { workflow_generation: -1 }, /workflow_generation/],
    ])("refuses a bad %s with InvalidArgument", async (_field, overrides, message) => {
      await expectStatus(schedule(request(overrides)), status.INVALID_ARGUMENT, message);
    });

    it("lets a service record an AUTOMATIC run", async () => {
      const { response } = await schedule(
        request({ trigger: "AUTOMATIC", idempotency_key: "" }),
        await t.service(),
      );
      const job = await t.readJob(response.id);
      expect(job.spec.trigger).toBe("AUTOMATIC");
    });

    it("is NotFound for an unknown workflow or another user's", async () => {
      await expectStatus(schedule(request({ workflow_id: uuidv7() })), status.NOT_FOUND, /workflow/);
      const other = uuidv7();
      const theirs = await t.createWorkflow(other);
      await expectStatus(
        schedule(request({ workflow_id: theirs.metadata.name ?? "" })),
        status.NOT_FOUND,
        /workflow/,
      );
    });

    it("is FailedPrecondition for a terminated workflow", async () => {
      const doomed = await t.createWorkflow(userId);
      const id = doomed.metadata.name ?? "";
      await t.patchWorkflowSpec(id, { terminated: true });
      await expectStatus(schedule(request({ workflow_id: id })), status.FAILED_PRECONDITION, /terminated/);
    });

    it("needs a token matching user_id", async () => {
      await expectStatus(unary(t.client, t.client.scheduleJob, request()), status.UNAUTHENTICATED, /token/);
      await expectStatus(schedule(request(), await t.user(uuidv7())), status.PERMISSION_DENIED, /user_id/);
      const forged = await forgeToken({ subject: userId, key: new TextEncoder().encode("x".repeat(64)) });
      await expectStatus(schedule(request(), metadataWithToken(forged)), status.UNAUTHENTICATED);
    });
  });

  describe("GetJob and GetJobByID", () => {
    it("GetJobByID (internal) returns owner and container id; users may not call it", async () => {
      const id = await t.schedule(userId, workflowId);
      const { response } = await unary(t.client, t.client.getJobById, { id }, await t.service());
      expect(response).toMatchObject({
        id,
        workflow_id: workflowId,
        user_id: userId,
        container_id: "",
        status: "PENDING",
      });
      await expectStatus(
        unary(t.client, t.client.getJobById, { id }, md),
        status.PERMISSION_DENIED,
        /internal/,
      );
      await expectStatus(unary(t.client, t.client.getJobById, { id }), status.UNAUTHENTICATED);
      await expectStatus(
        unary(t.client, t.client.getJobById, { id: uuidv7() }, await t.service()),
        status.NOT_FOUND,
      );
      await expectStatus(
        unary(t.client, t.client.getJobById, { id: "nope" }, await t.service()),
        status.INVALID_ARGUMENT,
        /id: must be a UUID/,
      );
    });

    it("is NotFound for an unknown job, another workflow's id, or another user's job", async () => {
      const id = await t.schedule(userId, workflowId);
      await expectStatus(getJob(uuidv7()), status.NOT_FOUND, /job not found/);
      await expectStatus(
        unary(t.client, t.client.getJob, { id, workflow_id: uuidv7(), user_id: userId }, md),
        status.NOT_FOUND,
      );
      const other = uuidv7();
      const theirs = await t.createWorkflow(other);
      const theirJob = await t.schedule(other, theirs.metadata.name ?? "");
      await expectStatus(
        unary(
          t.client,
          t.client.getJob,
          { id: theirJob, workflow_id: theirs.metadata.name ?? "", user_id: userId },
          md,
        ),
        status.NOT_FOUND,
      );
      await expectStatus(
        unary(
          t.client,
          t.client.getJob,
          { id: theirJob, workflow_id: theirs.metadata.name ?? "", user_id: other },
          md,
        ),
        status.PERMISSION_DENIED,
      );
      await expectStatus(
        unary(t.client, t.client.getJob, { id: "", workflow_id: workflowId, user_id: userId }, md),
        status.INVALID_ARGUMENT,
        /id: is required/,
      );
      await expectStatus(
        unary(t.client, t.client.getJob, { id, workflow_id: "", user_id: userId }, md),
        status.INVALID_ARGUMENT,
        /workflow_id/,
      );
    });
  });

  describe("UpdateJobStatus", () => {
    const update = async (id: string, jobStatus: string, containerId = "", metadata?: Metadata) =>
      unary(
        t.client,
        t.client.updateJobStatus,
        { id, container_id: containerId, status: jobStatus },
        metadata ?? (await t.service()),
      );

    it("moves a job forward through the status subresource, with pod name and times", async () => {
      const id = await t.schedule(userId, workflowId);
      await update(id, "QUEUED", `${id}-pod`);
      await update(id, "RUNNING");
      let job = await t.readJob(id);
      expect(job.status).toMatchObject({ phase: "RUNNING", podName: `${id}-pod` });
      expect(job.status?.startedAt).toMatch(RFC3339);
      await update(id, "COMPLETED");
      // Repeating a write is harmless.
      await update(id, "COMPLETED");
      job = await t.readJob(id);
      expect(job.status?.phase).toBe("COMPLETED");
      expect(job.status?.finishedAt).toMatch(RFC3339);

      const got = await waitFor("GetJob to show the finished run", async () => {
        const r = await getJob(id);
        return r.status === "COMPLETED" ? r : undefined;
      });
      expect(got.started_at).toMatch(RFC3339);
      expect(got.completed_at).toMatch(RFC3339);
      const byId = await unary(t.client, t.client.getJobById, { id }, await t.service());
      expect(byId.response.container_id).toBe(`${id}-pod`);
    });

    it("refuses invalid transitions, unknown jobs, bad fields and user tokens", async () => {
      const id = await t.schedule(userId, workflowId);
      await update(id, "CANCELED");
      await expectStatus(
        update(id, "RUNNING"),
        status.FAILED_PRECONDITION,
        /status: a CANCELED job cannot become RUNNING/,
      );
      await expectStatus(update(uuidv7(), "RUNNING"), status.NOT_FOUND);
      await expectStatus(update(id, "DONE"), status.INVALID_ARGUMENT, /status: must be one of/);
      await expectStatus(update(id, ""), status.INVALID_ARGUMENT, /status: is required/);
      await expectStatus(update("x", "RUNNING"), status.INVALID_ARGUMENT, /id/);
      await expectStatus(update(id, "CANCELED", "Not_A_Pod"), status.INVALID_ARGUMENT, /container_id/);
      await expectStatus(update(id, "RUNNING", "", md), status.PERMISSION_DENIED, /internal/);
    });

    it("serializes concurrent writers with optimistic concurrency", async () => {
      const id = await t.schedule(userId, workflowId);
      const results = await Promise.allSettled([
        update(id, "QUEUED", "pod-a"),
        update(id, "RUNNING", "pod-a"),
        update(id, "FAILED", "pod-a"),
      ]);
      // FAILED is reachable from every phase before it, so whatever the order it
      // lands; the writes it overtook are refused, never lost or reordered.
      const job = await t.readJob(id);
      expect(job.status?.phase).toBe("FAILED");
      expect(results[2]?.status).toBe("fulfilled");
      for (const r of results) {
        if (r.status === "rejected")
          expect((r.reason as { code: number }).code).toBe(status.FAILED_PRECONDITION);
      }
    });
  });

  describe("ListJobs", () => {
    let listWorkflowId: string;
    const ids: string[] = [];

    beforeAll(async () => {
      const wf = await t.createWorkflow(userId);
      listWorkflowId = wf.metadata.name ?? "";
      for (let i = 0; i < 13; i++) {
        const at = new Date(Date.UTC(2026, 5, 1, 0, i)).toISOString();
        ids.push(await t.schedule(userId, listWorkflowId, `list-${i}`, at));
      }
      const service = await t.service();
      await unary(
        t.client,
        t.client.updateJobStatus,
        { id: ids[3] ?? "", container_id: "p3", status: "RUNNING" },
        service,
      );
      await unary(
        t.client,
        t.client.updateJobStatus,
        { id: ids[5] ?? "", container_id: "p5", status: "FAILED" },
        service,
      );
      await unary(
        t.client,
        t.client.scheduleJob,
        {
          workflow_id: listWorkflowId,
          user_id: userId,
          scheduled_at: new Date(Date.UTC(2026, 5, 1, 1)).toISOString(),
          trigger: "AUTOMATIC",
          idempotency_key: "",
          workflow_generation: 0,
        },
        service,
      );
    });

    const list = async (
      cursor = "",
      filters?: { status: string; trigger: string },
      metadata: Metadata = md,
    ) =>
      (
        await unary(
          t.client,
          t.client.listJobs,
          { workflow_id: listWorkflowId, user_id: userId, cursor, ...(filters ? { filters } : {}) },
          metadata,
        )
      ).response;

    it("pages newest first, 10 at a time, with an opaque cursor", async () => {
      const first = await waitFor("all 14 runs in the cache", async () => {
        const page = await list();
        return page.jobs.length === 10 && page.jobs[0]?.trigger === "AUTOMATIC" ? page : undefined;
      });
      expect(first.cursor).not.toBe("");
      const second = await list(first.cursor);
      expect(second.jobs).toHaveLength(4);
      expect(second.cursor).toBe("");
      const manual = [...first.jobs, ...second.jobs].filter((j) => j.trigger === "MANUAL").map((j) => j.id);
      expect(manual).toEqual([...ids].reverse());
      const running = first.jobs.find((j) => j.id === ids[3]) ?? second.jobs.find((j) => j.id === ids[3]);
      expect(running).toMatchObject({ status: "RUNNING", container_id: "p3", attempts: 0 });
    });

    it("filters by status and trigger", async () => {
      const failed = await list("", { status: "FAILED", trigger: "" });
      expect(failed.jobs.map((j) => j.id)).toEqual([ids[5]]);
      const automatic = await list("", { status: "", trigger: "AUTOMATIC" });
      expect(automatic.jobs).toHaveLength(1);
      const manualPending = await list("", { status: "PENDING", trigger: "MANUAL" });
      expect(manualPending.jobs).toHaveLength(10);
      const rest = await list(manualPending.cursor, { status: "PENDING", trigger: "MANUAL" });
      expect(rest.jobs).toHaveLength(1);
      expect(rest.cursor).toBe("");
    });

    it("refuses bad filters and cursors, other users and unknown workflows", async () => {
      await expectStatus(
        list("", { status: "DONE", trigger: "" }),
        status.INVALID_ARGUMENT,
        /filters.status/,
      );
      await expectStatus(
        list("", { status: "", trigger: "CRON" }),
        status.INVALID_ARGUMENT,
        /filters.trigger/,
      );
      await expectStatus(list("garbage!"), status.INVALID_ARGUMENT, /cursor/);
      await expectStatus(list("", undefined, await t.user(uuidv7())), status.PERMISSION_DENIED);
      await expectStatus(
        unary(t.client, t.client.listJobs, { workflow_id: listWorkflowId, user_id: userId, cursor: "" }),
        status.UNAUTHENTICATED,
      );
      await expectStatus(
        unary(t.client, t.client.listJobs, { workflow_id: uuidv7(), user_id: userId, cursor: "" }, md),
        status.NOT_FOUND,
      );
      const other = uuidv7();
      await expectStatus(
        unary(
          t.client,
          t.client.listJobs,
          { workflow_id: listWorkflowId, user_id: other, cursor: "" },
          await t.user(other),
        ),
        status.NOT_FOUND,
      );
    });
  });
});
