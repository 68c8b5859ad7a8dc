// The internal client other processes use (services/workflows/client.ts)
// against a running WorkflowsService: service token attached, responses and
// errors passed through.
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkflowsClient, type WorkflowsInternalClient } from "../../../services/workflows/client.ts";
import { serviceAuth } from "../../../src/grpc/client.ts";
import { startWorkflows, type WorkflowsHarness } from "./support.ts";

describe("workflows internal client", () => {
  let h: WorkflowsHarness;
  let client: WorkflowsInternalClient;

  beforeAll(async () => {
    h = await startWorkflows();
    const auth = serviceAuth(h.svc.tokens, "operator");
    client = createWorkflowsClient({
      address: h.svc.address,
      credentials: credentials.createInsecure(),
      metadata: () => auth.metadata(),
    });
  });
  afterAll(async () => {
    client?.close();
    await h?.stop();
  });

  it("reads, sets the build status, and counts failures up to the threshold", async () => {
    const { userId, md } = await h.newUser();
    const { id } = await h.create(userId, md, { max_consecutive_job_failures_allowed: 3 });
    expect(await client.getWorkflowById(id)).toMatchObject({ id, user_id: userId, build_status: "QUEUED" });
    await client.updateBuildStatus(id, userId, "COMPLETED", 1);
    expect((await client.getWorkflowById(id)).build_status).toBe("COMPLETED");
    expect(await client.incrementFailures(id, userId, uuidv7())).toBe(false);
    await client.resetFailures(id, userId);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await client.incrementFailures(id, userId, uuidv7()));
    expect(results).toEqual([false, false, true]);
    expect((await client.getWorkflowById(id)).terminated_at).not.toBe("");
  });

  it("passes errors through", async () => {
    const error = (await client.getWorkflowById(uuidv7()).catch((e: unknown) => e)) as ServiceError;
    expect(status[error.code]).toBe("NOT_FOUND");
  });
});
