// SPEC.md, Workflows, Update: "When what runs changes (payload …) the build
// starts again (QUEUED, generation + 1, pending runs canceled); an interval
// change alone only reschedules." A MANUAL run waiting for its time is
// canceled by a payload change; a run scheduled for the new payload survives
// an interval change.
import type { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UpdateWorkflowRequest } from "../../../gen/workflows/workflows.ts";
import { unary } from "../../support/grpc.ts";
import { type Stack, type StackUser, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

describe("UpdateWorkflow cancels pending runs when the payload changes", () => {
  let stack: Stack;
  let user: StackUser;

  beforeAll(async () => {
    stack = await startStack("spec-update");
    user = await stack.newUser();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function scheduleLater(workflowId: string, key: string): Promise<string> {
    const { jobs } = stack;
    const { response } = await unary(
      jobs,
      jobs.scheduleJob,
      {
        workflow_id: workflowId,
        user_id: user.userId,
        scheduled_at: new Date(Date.now() + 3_600_000).toISOString(),
        trigger: "MANUAL",
        idempotency_key: key,
        workflow_generation: 0,
      },
      user.auth,
    );
    return response.id;
  }

  async function jobStatus(workflowId: string, id: string, auth: Metadata = user.auth): Promise<string> {
    const { jobs } = stack;
    const { response } = await unary(
      jobs,
      jobs.getJob,
      { id, workflow_id: workflowId, user_id: user.userId },
      auth,
    );
    return response.status;
  }

  function update(id: string, overrides: Partial<UpdateWorkflowRequest>): Promise<unknown> {
    const { workflows } = stack;
    return unary(
      workflows,
      workflows.updateWorkflow,
      {
        id,
        user_id: user.userId,
        name: "spec",
        payload: JSON.stringify({ image: "busybox:1.36", cmd: ["echo", "hi"] }),
        interval: 10080,
        max_consecutive_job_failures_allowed: 3,
        idempotency_key: `update-${Date.now()}-${Math.random()}`,
        ...overrides,
      },
      user.auth,
    );
  }

  it("cancels the run waiting for the old payload, keeps one scheduled for the new", async () => {
    const id = await stack.createWorkflow(user);
    const old = await scheduleLater(id, "before-update");
    await waitFor("the run to wait for its time", async () =>
      (await jobStatus(id, old)) === "PENDING" ? true : undefined,
    );

    await update(id, { payload: JSON.stringify({ image: "busybox:1.37", cmd: ["echo", "new"] }) });
    await waitFor("the pending run to be canceled", async () => {
      const status = await jobStatus(id, old);
      if (status === "CANCELED") return true;
      throw new Error(status);
    });
    const canceled = await waitFor("the job-canceled notification", async () =>
      (await stack.listNotifications(user)).find((n) => n.kind === "WEB_INFO" && n.payload.includes(old)),
    );
    expect(JSON.parse(canceled.payload).message).toContain("updated");

    // Scheduled for the new payload: an interval change alone does not cancel it.
    await waitFor("the rebuild to finish", async () => {
      const { workflows } = stack;
      const { response } = await unary(
        workflows,
        workflows.getWorkflow,
        { id, user_id: user.userId },
        user.auth,
      );
      return response.build_status === "COMPLETED" ? true : undefined;
    });
    const fresh = await scheduleLater(id, "after-update");
    await update(id, {
      payload: JSON.stringify({ image: "busybox:1.37", cmd: ["echo", "new"] }),
      interval: 60,
    });
    await waitFor("the CronJob to be rescheduled", async () => {
      const cronJob = await stack.batch.readNamespacedCronJob({ name: id, namespace: stack.ns.name });
      return cronJob.spec?.schedule === "0 * * * *" ? true : undefined;
    });
    expect(await jobStatus(id, fresh)).toBe("PENDING");
  });
});
