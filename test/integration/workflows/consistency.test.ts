// Idempotency keys, read-your-writes and optimistic concurrency of the
// WorkflowsService, over real gRPC, a real apiserver and real Postgres.
import { type Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkflowsServiceClient } from "../../../gen/workflows/workflows.ts";
import { canonicalJson, specForCreate } from "../../../services/workflows/domain.ts";
import { createIdempotencyKeys, hashRequest } from "../../../services/workflows/idempotency.ts";
import { workflowsServiceFactory } from "../../../services/workflows/server.ts";
import { expectStatus, startTestService, unary } from "../../support/grpc.ts";
import { containerRequest, labels, startWorkflows, type WorkflowsHarness } from "./support.ts";

describe("WorkflowsService consistency", () => {
  let h: WorkflowsHarness;

  beforeAll(async () => {
    h = await startWorkflows();
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function objectsOf(userId: string): Promise<string[]> {
    const list = (await h.api.listNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: h.ns.name,
      plural: "workflows",
      labelSelector: `${labels.userId}=${userId}`,
    })) as { items: { metadata: { name: string } }[] };
    return list.items.map((item) => item.metadata.name);
  }

  describe("idempotency keys", () => {
    it("a retried create returns the same id and creates one Workflow", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId);
      const first = await unary(h.client, h.client.createWorkflow, request, md);
      const again = await unary(h.client, h.client.createWorkflow, request, md);
      expect(again.response.id).toBe(first.response.id);
      expect(await objectsOf(userId)).toEqual([first.response.id]);
    });

    it("the same key with a different request → AlreadyExists; keys are per user and per operation", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId);
      const { response } = await unary(h.client, h.client.createWorkflow, request, md);
      await expectStatus(
        unary(h.client, h.client.createWorkflow, { ...request, name: "something else" }, md),
        status.ALREADY_EXISTS,
        /idempotency_key/,
      );
      // Another user may use the same key.
      const other = await h.newUser();
      const theirs = await unary(
        h.client,
        h.client.createWorkflow,
        containerRequest(other.userId, { idempotency_key: request.idempotency_key }),
        other.md,
      );
      expect(theirs.response.id).not.toBe(response.id);
      // The same key on UpdateWorkflow is a different operation.
      await h.update({ ...request, id: response.id, name: "updated" }, md);
      expect((await h.get(response.id, userId, md)).name).toBe("updated");
    });

    it("a repeated update does not act twice; a different update under its key → AlreadyExists", async () => {
      const { userId, md } = await h.newUser();
      const { id, request } = await h.create(userId, md);
      const first = { ...request, id, name: "first", idempotency_key: uuidv7() };
      await h.update(first, md);
      await h.update({ ...request, id, name: "second", idempotency_key: uuidv7() }, md);
      await h.update(first, md); // the retry of the first returns its result without applying it again
      const got = await h.get(id, userId, md);
      expect(got.name).toBe("second");
      expect(got.generation).toBe(3);
      await expectStatus(h.update({ ...first, name: "third" }, md), status.ALREADY_EXISTS, /idempotency_key/);
    });

    it("concurrent duplicates create exactly one Workflow; the others see it in flight (Aborted) or get its id", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => unary(h.client, h.client.createWorkflow, request, md)),
      );
      const ids = new Set<string>();
      for (const result of results) {
        if (result.status === "fulfilled") ids.add(result.value.response.id);
        else expect(status[(result.reason as ServiceError).code]).toBe("ABORTED");
      }
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      expect(await objectsOf(userId)).toEqual([id]);
      expect((await unary(h.client, h.client.createWorkflow, request, md)).response.id).toBe(id);
    });

    it("while the first request is in flight → Aborted; an abandoned claim is taken over with its id", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId);
      const hash = hashRequest(canonicalJson(specForCreate(request, { allowPrivateHeartbeats: false })));
      const reserved = uuidv7();
      await h.svc.db
        .insertInto("workflow_idempotency_keys")
        .values({
          user_id: userId,
          operation: "CreateWorkflow",
          key: request.idempotency_key,
          request_hash: hash,
          resource_id: reserved,
          response: null,
          claim_token: uuidv7(),
          expires_at: new Date(Date.now() + 3_600_000),
        })
        .execute();
      await expectStatus(
        unary(h.client, h.client.createWorkflow, request, md),
        status.ABORTED,
        /in progress/,
      );
      // The claim's process died long ago: the next retry takes it over and creates the reserved id.
      await h.svc.db
        .updateTable("workflow_idempotency_keys")
        .set({ claimed_at: new Date(Date.now() - 3_600_000) })
        .where("user_id", "=", userId)
        .execute();
      const { response } = await unary(h.client, h.client.createWorkflow, request, md);
      expect(response.id).toBe(reserved);
      expect(await objectsOf(userId)).toEqual([reserved]);
    });

    it("an expired key (24 h) may be used again for another request", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId);
      const first = await unary(h.client, h.client.createWorkflow, request, md);
      await h.svc.db
        .updateTable("workflow_idempotency_keys")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where("user_id", "=", userId)
        .execute();
      const second = await unary(h.client, h.client.createWorkflow, { ...request, name: "new one" }, md);
      expect(second.response.id).not.toBe(first.response.id);
    });

    it("a request refused by validation does not use up its key", async () => {
      const { userId, md } = await h.newUser();
      const request = containerRequest(userId, { name: "x".repeat(256) });
      await expectStatus(unary(h.client, h.client.createWorkflow, request, md), status.INVALID_ARGUMENT);
      const fixed = await unary(h.client, h.client.createWorkflow, { ...request, name: "fixed" }, md);
      expect(fixed.response.id).not.toBe("");
    });

    it("an action that fails releases its claim, so the retry acts", async () => {
      const keys = createIdempotencyKeys(h.svc.db);
      const claim = { userId: uuidv7(), operation: "Test", key: "k", request: "r", resourceId: uuidv7() };
      await expect(
        keys.run(claim, async () => {
          throw new Error("apiserver down");
        }),
      ).rejects.toThrow("apiserver down");
      let acted = 0;
      const act = async (id: string) => {
        acted++;
        return { id };
      };
      expect(await keys.run(claim, act)).toEqual({ id: claim.resourceId });
      expect(await keys.run(claim, act)).toEqual({ id: claim.resourceId });
      expect(acted).toBe(1);
    });
  });

  describe("read-your-writes", () => {
    it("Get and List right after each write return the new data", async () => {
      const { userId, md } = await h.newUser();
      for (let i = 0; i < 5; i++) {
        const { id, request } = await h.create(userId, md, { name: `ryw ${i}` });
        expect((await h.get(id, userId, md)).name).toBe(`ryw ${i}`);
        expect((await h.list(userId, md)).workflows[0]?.id).toBe(id);
        await h.update({ ...request, id, name: `ryw ${i} v2`, idempotency_key: uuidv7() }, md);
        expect((await h.get(id, userId, md)).name).toBe(`ryw ${i} v2`);
        expect((await h.list(userId, md)).workflows[0]?.name).toBe(`ryw ${i} v2`);
      }
    });

    it("with no time to wait for the cache, reads fall back to the apiserver and still see the write", async () => {
      const impatient = await startTestService(
        workflowsServiceFactory({ kubeConfig: h.kc, readYourWritesTimeoutMs: 0 }),
        { env: { CHRONOVERSE_NAMESPACE: h.ns.name } },
      );
      try {
        const client = impatient.client(WorkflowsServiceClient);
        const userId = uuidv7();
        const md: Metadata = await impatient.userMetadata(userId);
        for (let i = 0; i < 5; i++) {
          const request = containerRequest(userId, { name: `fast ${i}` });
          const { response } = await unary(client, client.createWorkflow, request, md);
          const got = await unary(client, client.getWorkflow, { id: response.id, user_id: userId }, md);
          expect(got.response.name).toBe(`fast ${i}`);
          await unary(client, client.terminateWorkflow, { id: response.id, user_id: userId }, md);
          const listed = await unary(client, client.listWorkflows, { user_id: userId, cursor: "" }, md);
          expect(listed.response.workflows[0]?.terminated_at).not.toBe("");
          await unary(client, client.deleteWorkflow, { id: response.id, user_id: userId }, md);
          await expectStatus(
            unary(client, client.getWorkflow, { id: response.id, user_id: userId }, md),
            status.NOT_FOUND,
          );
        }
      } finally {
        await impatient.stop();
      }
    });
  });

  describe("optimistic concurrency", () => {
    it("concurrent failure increments are all counted", async () => {
      const { userId, md } = await h.newUser();
      const { id } = await h.create(userId, md, { max_consecutive_job_failures_allowed: 50 });
      const svcMd = await h.service();
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          unary(
            h.client,
            h.client.incrementWorkflowConsecutiveJobFailuresCount,
            { id, user_id: userId, job_id: uuidv7() },
            svcMd,
          ),
        ),
      );
      expect(results.every((r) => r.response.threshold_reached === false)).toBe(true);
      expect((await h.get(id, userId, md)).consecutive_job_failures_count).toBe(10);
    });

    it("concurrent updates each land on the latest version (generation counts every one)", async () => {
      const { userId, md } = await h.newUser();
      const { id, request } = await h.create(userId, md);
      const names = Array.from({ length: 6 }, (_, i) => `concurrent ${i}`);
      const results = await Promise.allSettled(
        names.map((name) => h.update({ ...request, id, name, idempotency_key: uuidv7() }, md)),
      );
      const succeeded = results.filter((r) => r.status === "fulfilled").length;
      for (const result of results) {
        if (result.status === "rejected")
          expect(status[(result.reason as ServiceError).code]).toBe("ABORTED");
      }
      expect(succeeded).toBeGreaterThan(0);
      const got = await h.get(id, userId, md);
      expect(got.generation).toBe(1 + succeeded);
      expect(names).toContain(got.name);
    });

    it("increments racing a build-status write and an update lose nothing", async () => {
      const { userId, md } = await h.newUser();
      const { id, request } = await h.create(userId, md, { max_consecutive_job_failures_allowed: 50 });
      const svcMd = await h.service();
      await Promise.all([
        ...Array.from({ length: 4 }, () =>
          unary(
            h.client,
            h.client.incrementWorkflowConsecutiveJobFailuresCount,
            { id, user_id: userId, job_id: uuidv7() },
            svcMd,
          ),
        ),
        unary(
          h.client,
          h.client.updateWorkflowBuildStatus,
          { id, user_id: userId, build_status: "STARTED", generation: 1 },
          svcMd,
        ),
      ]);
      const got = await h.get(id, userId, md);
      expect(got.consecutive_job_failures_count).toBe(4);
      expect(got.build_status).toBe("STARTED");
      await h.update({ ...request, id, interval: 99, idempotency_key: uuidv7() }, md);
      expect(await h.get(id, userId, md)).toMatchObject({
        interval: 99,
        consecutive_job_failures_count: 0,
        build_status: "STARTED",
      });
    });
  });
});
