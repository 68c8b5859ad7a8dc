// WorkflowsService over real gRPC, a real kube-apiserver with the CRDs
// installed, and real Postgres: every RPC's success path, every rule of
// SPEC.md's Workflows section with its status code, and access checks.
import { type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkflowsServiceClient } from "../../../gen/workflows/workflows.ts";
import { workflowJobResource } from "../../../operator/api/v1alpha1/index.ts";
import { workflowsServiceFactory } from "../../../services/workflows/server.ts";
import { expectStatus, forgeToken, metadataWithToken, startTestService, unary } from "../../support/grpc.ts";
import { containerRequest, labels, startWorkflows, UUID_V7, type WorkflowsHarness } from "./support.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe("WorkflowsService", () => {
  let h: WorkflowsHarness;
  let userId: string;
  let md: Metadata;

  beforeAll(async () => {
    h = await startWorkflows();
    ({ userId, md } = await h.newUser());
  });
  afterAll(async () => {
    await h?.stop();
  });

  const heartbeat = (payload: object, overrides: Record<string, unknown> = {}) =>
    containerRequest(userId, { kind: "HEARTBEAT", payload: JSON.stringify(payload), ...overrides });
  const create = (request: ReturnType<typeof containerRequest>, metadata = md) =>
    unary(h.client, h.client.createWorkflow, request, metadata);

  describe("CreateWorkflow", () => {
    it("creates a Workflow object with typed settings, labels and a UUID v7 name", async () => {
      const { id, request } = await h.create(userId, md);
      expect(id).toMatch(UUID_V7);
      const object = await h.object(id);
      expect(object.metadata.labels).toMatchObject({ [labels.userId]: userId, [labels.workflowId]: id });
      expect(object.spec).toEqual({
        userId,
        displayName: request.name,
        kind: "CONTAINER",
        container: {
          image: "busybox:1.36",
          command: ["echo", "hello"],
          env: { MODE: "test" },
          timeoutSeconds: 45,
        },
        intervalMinutes: 15,
        maxConsecutiveFailures: 5,
        logRetention: true,
        terminated: false,
      });

      // Read-your-writes: the Get right after the create sees it.
      const got = await h.get(id, userId, md);
      expect(got).toMatchObject({
        id,
        name: "nightly report",
        kind: "CONTAINER",
        build_status: "QUEUED",
        interval: 15,
        consecutive_job_failures_count: 0,
        max_consecutive_job_failures_allowed: 5,
        terminated_at: "",
        log_retention: true,
        generation: 1,
      });
      expect(JSON.parse(got.payload)).toEqual({
        image: "busybox:1.36",
        cmd: ["echo", "hello"],
        env: { MODE: "test" },
        timeout: "45s",
      });
      expect(got.created_at).toMatch(RFC3339);
      expect(got.updated_at).toMatch(RFC3339);
    });

    it("creates a heartbeat with defaults filled in and log retention off", async () => {
      const { response } = await create(
        heartbeat({ endpoint: "https://example.com/health", headers: { "X-Token": ["a", "b"] } }),
      );
      const got = await h.get(response.id, userId, md);
      expect(got.kind).toBe("HEARTBEAT");
      expect(got.log_retention).toBe(false);
      expect(JSON.parse(got.payload)).toEqual({
        endpoint: "https://example.com/health",
        expected_status_code: 200,
        headers: { "X-Token": ["a", "b"] },
        timeout: "10s",
      });
      expect((await h.object(response.id)).spec.heartbeat).toEqual({
        endpoint: "https://example.com/health",
        expectedStatusCode: 200,
        headers: { "X-Token": ["a", "b"] },
        timeoutSeconds: 10,
      });
    });

    it("CONTAINER log retention can be switched off", async () => {
      const { response } = await create(containerRequest(userId, { log_retention: false }));
      expect((await h.get(response.id, userId, md)).log_retention).toBe(false);
    });

    it.each([
      [{ name: "" }, /name: is required/],
      [{ name: "n".repeat(256) }, /name: must be at most 255/],
      [{ kind: "" }, /kind: is required/],
      [{ kind: "CRON" }, /kind: must be one of HEARTBEAT, CONTAINER/],
      [{ interval: 0 }, /interval: must be from 1 to 10080/],
      [{ interval: 10081 }, /interval: must be from 1 to 10080/],
      [
        { max_consecutive_job_failures_allowed: 2 },
        /max_consecutive_job_failures_allowed: must be from 3 to 100/,
      ],
      [{ max_consecutive_job_failures_allowed: 101 }, /max_consecutive_job_failures_allowed/],
      [{ idempotency_key: "" }, /idempotency_key: is required/],
      [{ payload: "" }, /payload: is required/],
      [{ payload: "{not json" }, /payload: must be valid JSON/],
      [{ payload: "[1]" }, /payload: must be a JSON object/],
      [{ payload: JSON.stringify({ cmd: ["x"] }) }, /payload.image: is required/],
      [
        { payload: JSON.stringify({ image: "busybox", cmd: "echo hi" }) },
        /payload.cmd: must be a list of strings/,
      ],
      [{ payload: JSON.stringify({ image: "busybox", env: { A: 1 } }) }, /payload.env.A: must be a string/],
      [{ payload: JSON.stringify({ image: "busybox", timeout: "forever" }) }, /payload.timeout/],
    ])("CONTAINER %j → InvalidArgument", async (overrides, message) => {
      await expectStatus(create(containerRequest(userId, overrides)), status.INVALID_ARGUMENT, message);
    });

    it.each([
      [{}, /payload.endpoint: is required/],
      [{ endpoint: "not a url" }, /payload.endpoint: must be an absolute http or https URL/],
      [{ endpoint: "ftp://example.com/x" }, /payload.endpoint: must be an absolute http or https URL/],
      [{ endpoint: "https://example.com", expected_status_code: 99 }, /payload.expected_status_code/],
      [{ endpoint: "https://example.com", expected_status_code: 600 }, /payload.expected_status_code/],
      [
        { endpoint: "https://example.com", headers: { A: 1 } },
        /payload.headers.A: must be a string or a list of strings/,
      ],
      [{ endpoint: "https://example.com", headers: ["A"] }, /payload.headers: must be an object/],
      [{ endpoint: "https://example.com", timeout: "10" }, /payload.timeout/],
    ])("HEARTBEAT %j → InvalidArgument", async (payload, message) => {
      await expectStatus(create(heartbeat(payload)), status.INVALID_ARGUMENT, message);
    });

    it("HEARTBEAT with log retention on → InvalidArgument", async () => {
      await expectStatus(
        create(heartbeat({ endpoint: "https://example.com" }, { log_retention: true })),
        status.INVALID_ARGUMENT,
        /log_retention: must be off for HEARTBEAT/,
      );
    });

    it("timeouts over the limits → FailedPrecondition; at the limits they are accepted", async () => {
      await expectStatus(
        create(heartbeat({ endpoint: "https://example.com", timeout: "5m1s" })),
        status.FAILED_PRECONDITION,
        /payload.timeout: a heartbeat timeout may be at most 5m0s/,
      );
      await expectStatus(
        create(
          containerRequest(userId, { payload: JSON.stringify({ image: "busybox", timeout: "1h0m1s" }) }),
        ),
        status.FAILED_PRECONDITION,
        /payload.timeout: a container timeout may be at most 1h0m0s/,
      );
      await create(heartbeat({ endpoint: "https://example.com", timeout: "5m" }));
      await create(
        containerRequest(userId, { payload: JSON.stringify({ image: "busybox", timeout: "1h" }) }),
      );
    });

    it.each([
      "http://127.0.0.1:8080/health",
      "http://localhost/",
      "http://169.254.169.254/latest/meta-data",
      "http://10.0.0.7/",
      "http://[::1]:9000/",
      "http://kubernetes.default.svc/healthz",
      "http://my-service/",
    ])(
      "a heartbeat to %s is refused (FailedPrecondition) unless the installation allows it",
      async (endpoint) => {
        await expectStatus(
          create(heartbeat({ endpoint })),
          status.FAILED_PRECONDITION,
          /payload.endpoint: loopback, link-local, private and cluster-internal addresses are not allowed/,
        );
      },
    );

    it("an installation that allows private heartbeats accepts them", async () => {
      const allowing = await startTestService(
        workflowsServiceFactory({ kubeConfig: h.kc, allowPrivateHeartbeats: true }),
        {
          env: { CHRONOVERSE_NAMESPACE: h.ns.name },
        },
      );
      try {
        const client = allowing.client(WorkflowsServiceClient);
        const { response } = await unary(
          client,
          client.createWorkflow,
          heartbeat({ endpoint: "http://127.0.0.1:8080/health" }),
          await allowing.userMetadata(userId),
        );
        expect((await h.object(response.id)).spec.heartbeat?.endpoint).toBe("http://127.0.0.1:8080/health");
      } finally {
        await allowing.stop();
      }
    });
  });

  describe("UpdateWorkflow", () => {
    it("sets the fields; a payload change restarts the build (QUEUED, generation + 1)", async () => {
      const { id } = await h.create(userId, md);
      await unary(
        h.client,
        h.client.updateWorkflowBuildStatus,
        { id, user_id: userId, build_status: "COMPLETED", generation: 1 },
        await h.service(),
      );
      await unary(
        h.client,
        h.client.incrementWorkflowConsecutiveJobFailuresCount,
        { id, user_id: userId, job_id: uuidv7() },
        await h.service(),
      );
      await h.update(
        {
          id,
          user_id: userId,
          name: "renamed",
          payload: JSON.stringify({ image: "alpine:3", cmd: ["date"] }),
          interval: 60,
          max_consecutive_job_failures_allowed: 7,
          idempotency_key: uuidv7(),
        },
        md,
      );
      const got = await h.get(id, userId, md);
      expect(got).toMatchObject({
        name: "renamed",
        interval: 60,
        max_consecutive_job_failures_allowed: 7,
        build_status: "QUEUED",
        consecutive_job_failures_count: 0,
        generation: 2,
      });
      expect(JSON.parse(got.payload)).toEqual({ image: "alpine:3", cmd: ["date"], env: {}, timeout: "30s" });
      expect((await h.object(id)).spec.container).toEqual({
        image: "alpine:3",
        command: ["date"],
        timeoutSeconds: 30,
      });
    });

    it("an interval change alone keeps the build status", async () => {
      const { id, request } = await h.create(userId, md);
      await unary(
        h.client,
        h.client.updateWorkflowBuildStatus,
        { id, user_id: userId, build_status: "COMPLETED", generation: 0 },
        await h.service(),
      );
      await h.update({ ...request, id, interval: 30, idempotency_key: uuidv7() }, md);
      expect(await h.get(id, userId, md)).toMatchObject({
        interval: 30,
        build_status: "COMPLETED",
        generation: 2,
      });
    });

    it("re-activates a terminated workflow and rebuilds it", async () => {
      const { id, request } = await h.create(userId, md);
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      expect((await h.get(id, userId, md)).terminated_at).toMatch(RFC3339);
      await h.update({ ...request, id, idempotency_key: uuidv7() }, md);
      const got = await h.get(id, userId, md);
      expect(got.terminated_at).toBe("");
      expect(got.build_status).toBe("QUEUED");
      expect((await h.object(id)).spec.terminated).toBe(false);
    });

    it("validates like create; the kind comes from the workflow", async () => {
      const { id, request } = await h.create(userId, md);
      const update = (overrides: object) =>
        h.update({ ...request, id, idempotency_key: uuidv7(), ...overrides } as never, md);
      await expectStatus(update({ name: "" }), status.INVALID_ARGUMENT, /name/);
      await expectStatus(update({ interval: 20000 }), status.INVALID_ARGUMENT, /interval/);
      await expectStatus(
        update({ max_consecutive_job_failures_allowed: 1 }),
        status.INVALID_ARGUMENT,
        /max_consecutive/,
      );
      await expectStatus(update({ idempotency_key: "" }), status.INVALID_ARGUMENT, /idempotency_key/);
      // A heartbeat payload on a CONTAINER workflow: the kind cannot change (the heartbeat's keys are ignored).
      await expectStatus(
        update({ payload: JSON.stringify({ endpoint: "https://example.com" }) }),
        status.INVALID_ARGUMENT,
        /payload.image: is required for CONTAINER workflows/,
      );
      await expectStatus(
        update({ payload: JSON.stringify({ image: "x", timeout: "2h" }) }),
        status.FAILED_PRECONDITION,
        /payload.timeout/,
      );
      await expectStatus(
        update({ id: "not-a-uuid" }),
        status.INVALID_ARGUMENT,
        /id: must be a lower-case UUID/,
      );
      await expectStatus(update({ id: uuidv7() }), status.NOT_FOUND);
    });
  });

  describe("TerminateWorkflow and DeleteWorkflow", () => {
    it("terminate sets terminated_at, cancels an unfinished build, and is idempotent", async () => {
      const { id } = await h.create(userId, md);
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      const first = await h.get(id, userId, md);
      expect(first.terminated_at).toMatch(RFC3339);
      expect(first.build_status).toBe("CANCELED");
      expect((await h.object(id)).spec.terminated).toBe(true);
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      const second = await h.get(id, userId, md);
      expect(second).toEqual(first);
    });

    it("terminating a built workflow keeps COMPLETED", async () => {
      const { id } = await h.create(userId, md);
      await unary(
        h.client,
        h.client.updateWorkflowBuildStatus,
        { id, user_id: userId, build_status: "COMPLETED", generation: 1 },
        await h.service(),
      );
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      expect((await h.get(id, userId, md)).build_status).toBe("COMPLETED");
    });

    it("delete needs a terminated workflow (FailedPrecondition), then removes it (NotFound after)", async () => {
      const { id } = await h.create(userId, md);
      await expectStatus(
        unary(h.client, h.client.deleteWorkflow, { id, user_id: userId }, md),
        status.FAILED_PRECONDITION,
        /only a terminated workflow can be deleted/,
      );
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      await unary(h.client, h.client.deleteWorkflow, { id, user_id: userId }, md);
      await expectStatus(
        unary(h.client, h.client.getWorkflow, { id, user_id: userId }, md),
        status.NOT_FOUND,
      );
      await expect(h.object(id)).rejects.toMatchObject({ code: 404 });
      await expectStatus(
        unary(h.client, h.client.deleteWorkflow, { id, user_id: userId }, md),
        status.NOT_FOUND,
      );
      expect((await h.list(userId, md)).workflows.map((w) => w.id)).not.toContain(id);
    });

    it("delete with a running job → FailedPrecondition", async () => {
      const { id } = await h.create(userId, md);
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
      const jobName = uuidv7();
      const where = {
        group: workflowJobResource.group,
        version: workflowJobResource.version,
        namespace: h.ns.name,
        plural: workflowJobResource.plural,
      };
      const job = await h.api.createNamespacedCustomObject({
        ...where,
        body: {
          apiVersion: "chronoverse.dev/v1alpha1",
          kind: "WorkflowJob",
          metadata: { name: jobName, labels: { [labels.userId]: userId, [labels.workflowId]: id } },
          spec: { workflowName: id, userId, trigger: "MANUAL", scheduledAt: new Date().toISOString() },
        },
      });
      await h.api.replaceNamespacedCustomObjectStatus({
        ...where,
        name: jobName,
        body: { ...job, status: { phase: "RUNNING" } },
      });
      await expectStatus(
        unary(h.client, h.client.deleteWorkflow, { id, user_id: userId }, md),
        status.FAILED_PRECONDITION,
        /running job/,
      );
    });
  });

  describe("internal RPCs", () => {
    it("GetWorkflowByID returns shape B with the owner", async () => {
      const { id } = await h.create(userId, md);
      const { response } = await unary(h.client, h.client.getWorkflowById, { id }, await h.service());
      const a = await h.get(id, userId, md);
      expect(response).toEqual({ ...a, user_id: userId });
      await expectStatus(
        unary(h.client, h.client.getWorkflowById, { id: uuidv7() }, await h.service()),
        status.NOT_FOUND,
      );
      await expectStatus(
        unary(h.client, h.client.getWorkflowById, { id: "x" }, await h.service()),
        status.INVALID_ARGUMENT,
        /id/,
      );
    });

    it("UpdateWorkflowBuildStatus applies the current generation and ignores a stale one", async () => {
      const { id, request } = await h.create(userId, md);
      const svcMd = await h.service();
      const set = (build_status: string, generation: number) =>
        unary(
          h.client,
          h.client.updateWorkflowBuildStatus,
          { id, user_id: userId, build_status, generation },
          svcMd,
        );
      await set("STARTED", 1);
      expect((await h.get(id, userId, md)).build_status).toBe("STARTED");
      await h.update({ ...request, id, name: "v2", idempotency_key: uuidv7() }, md); // generation 2
      await set("FAILED", 1); // stale: ignored
      expect((await h.get(id, userId, md)).build_status).toBe("STARTED");
      await set("COMPLETED", 2);
      expect(await h.get(id, userId, md)).toMatchObject({ build_status: "COMPLETED", generation: 2 });
      await expectStatus(set("DONE", 0), status.INVALID_ARGUMENT, /build_status: must be one of/);
      const other = await h.newUser();
      await expectStatus(
        unary(
          h.client,
          h.client.updateWorkflowBuildStatus,
          { id, user_id: other.userId, build_status: "QUEUED", generation: 0 },
          svcMd,
        ),
        status.NOT_FOUND,
      );
    });

    it("failure counter: increments once per job, terminates at the maximum, resets", async () => {
      const { id } = await h.create(userId, md, { max_consecutive_job_failures_allowed: 3 });
      const svcMd = await h.service();
      const increment = (job_id: string) =>
        unary(
          h.client,
          h.client.incrementWorkflowConsecutiveJobFailuresCount,
          { id, user_id: userId, job_id },
          svcMd,
        ).then((r) => r.response.threshold_reached);
      const job1 = uuidv7();
      expect(await increment(job1)).toBe(false);
      expect(await increment(job1)).toBe(false); // the same job again: not counted twice
      expect((await h.get(id, userId, md)).consecutive_job_failures_count).toBe(1);
      await unary(
        h.client,
        h.client.resetWorkflowConsecutiveJobFailuresCount,
        { id, user_id: userId },
        svcMd,
      );
      expect((await h.get(id, userId, md)).consecutive_job_failures_count).toBe(0);
      expect(await increment(uuidv7())).toBe(false);
      expect(await increment(uuidv7())).toBe(false);
      const last = uuidv7();
      expect(await increment(last)).toBe(true);
      expect(await increment(last)).toBe(true); // a retried call gets the first answer
      const got = await h.get(id, userId, md);
      expect(got.consecutive_job_failures_count).toBe(3);
      expect(got.terminated_at).toMatch(RFC3339);
      expect(await increment(uuidv7())).toBe(false); // already terminated: no second alert
      await expectStatus(increment("nope"), status.INVALID_ARGUMENT, /job_id/);
      await expectStatus(
        unary(
          h.client,
          h.client.incrementWorkflowConsecutiveJobFailuresCount,
          { id: uuidv7(), user_id: userId, job_id: uuidv7() },
          svcMd,
        ),
        status.NOT_FOUND,
      );
      await expectStatus(
        unary(
          h.client,
          h.client.resetWorkflowConsecutiveJobFailuresCount,
          { id: uuidv7(), user_id: userId },
          svcMd,
        ),
        status.NOT_FOUND,
      );
    });
  });

  describe("access", () => {
    it("no token → Unauthenticated on every public RPC", async () => {
      const { id } = await h.create(userId, md);
      const calls = [
        unary(h.client, h.client.createWorkflow, containerRequest(userId)),
        unary(h.client, h.client.updateWorkflow, { ...containerRequest(userId), id, idempotency_key: "k" }),
        unary(h.client, h.client.getWorkflow, { id, user_id: userId }),
        unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }),
        unary(h.client, h.client.deleteWorkflow, { id, user_id: userId }),
        unary(h.client, h.client.listWorkflows, { user_id: userId, cursor: "" }),
      ];
      for (const call of calls) await expectStatus(call, status.UNAUTHENTICATED);
      await expectStatus(
        unary(h.client, h.client.getWorkflow, { id, user_id: userId }, metadataWithToken("garbage")),
        status.UNAUTHENTICATED,
      );
      const expired = await forgeToken({ subject: userId, expiresAt: Math.floor(Date.now() / 1000) - 60 });
      await expectStatus(
        unary(h.client, h.client.getWorkflow, { id, user_id: userId }, metadataWithToken(expired)),
        status.UNAUTHENTICATED,
      );
    });

    it("another user's id → PermissionDenied; another user's workflow → NotFound", async () => {
      const { id, request } = await h.create(userId, md);
      const other = await h.newUser();
      await expectStatus(create(containerRequest(userId), other.md), status.PERMISSION_DENIED, /user_id/);
      await expectStatus(
        unary(h.client, h.client.getWorkflow, { id, user_id: userId }, other.md),
        status.PERMISSION_DENIED,
      );
      await expectStatus(
        unary(h.client, h.client.listWorkflows, { user_id: userId, cursor: "" }, other.md),
        status.PERMISSION_DENIED,
      );
      // Asking for it as themselves: it does not exist for them.
      const asOther = { id, user_id: other.userId };
      await expectStatus(unary(h.client, h.client.getWorkflow, asOther, other.md), status.NOT_FOUND);
      await expectStatus(unary(h.client, h.client.terminateWorkflow, asOther, other.md), status.NOT_FOUND);
      await expectStatus(unary(h.client, h.client.deleteWorkflow, asOther, other.md), status.NOT_FOUND);
      await expectStatus(
        h.update({ ...request, ...asOther, idempotency_key: uuidv7() }, other.md),
        status.NOT_FOUND,
      );
      expect((await h.list(other.userId, other.md)).workflows).toEqual([]);
      expect((await h.get(id, userId, md)).terminated_at).toBe("");
    });

    it("a user token on an internal RPC → PermissionDenied", async () => {
      const { id } = await h.create(userId, md);
      const calls = [
        unary(h.client, h.client.getWorkflowById, { id }, md),
        unary(
          h.client,
          h.client.updateWorkflowBuildStatus,
          { id, user_id: userId, build_status: "COMPLETED", generation: 0 },
          md,
        ),
        unary(
          h.client,
          h.client.incrementWorkflowConsecutiveJobFailuresCount,
          { id, user_id: userId, job_id: uuidv7() },
          md,
        ),
        unary(h.client, h.client.resetWorkflowConsecutiveJobFailuresCount, { id, user_id: userId }, md),
      ];
      for (const call of calls) await expectStatus(call, status.PERMISSION_DENIED, /internal/);
      await expectStatus(unary(h.client, h.client.getWorkflowById, { id }), status.UNAUTHENTICATED);
    });
  });
});
