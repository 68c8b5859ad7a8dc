// SPEC.md, Notifications: "workflow terminated (WEB_INFO)" — for any
// termination, once. TerminateWorkflow through the API (serve all + operator
// as processes) files one WEB_INFO for the workflow; terminating it again,
// and the operator's next pass over it, file nothing more.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unary } from "../../support/grpc.ts";
import { describeNotifications, type Stack, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

describe("TerminateWorkflow notifies the owner once", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack("spec-terminate");
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("files one WEB_INFO 'Workflow terminated', however often it is called", async () => {
    const user = await stack.newUser("ALL");
    const id = await stack.createWorkflow(user);
    const { workflows } = stack;
    await unary(workflows, workflows.terminateWorkflow, { id, user_id: user.userId }, user.auth);
    await waitFor("the terminated notification", async () => {
      const found = describeNotifications(await stack.listNotifications(user), id);
      if (found.includes("WEB_INFO: Workflow terminated")) return found;
      throw new Error(`${JSON.stringify(found)} ${stack.output()}`);
    });

    // Again: the call succeeds and changes nothing.
    await unary(workflows, workflows.terminateWorkflow, { id, user_id: user.userId }, user.auth);
    // The operator has acted on the termination once the CronJob is suspended.
    await waitFor(
      "the CronJob to be suspended",
      async () =>
        (await stack.batch.readNamespacedCronJob({ name: id, namespace: stack.ns.name })).spec?.suspend ||
        undefined,
    );
    // A restarted operator reconciles the terminated workflow again from scratch.
    await stack.stopOperator();
    stack.startOperator();
    const { response: canary } = await unary(
      workflows,
      workflows.createWorkflow,
      {
        user_id: user.userId,
        name: "canary",
        payload: JSON.stringify({ image: "busybox:1.36" }),
        kind: "CONTAINER",
        interval: 10080,
        max_consecutive_job_failures_allowed: 3,
        idempotency_key: "canary",
      },
      user.auth,
    );
    // The new operator has synced and worked through its queue once it built a workflow created after it started.
    await waitFor("the new operator to build a workflow", async () => {
      const { response } = await unary(
        workflows,
        workflows.getWorkflow,
        { id: canary.id, user_id: user.userId },
        user.auth,
      );
      return response.build_status === "COMPLETED" ? true : undefined;
    });
    const terminated = describeNotifications(await stack.listNotifications(user), id).filter((n) =>
      n.endsWith("Workflow terminated"),
    );
    expect(terminated).toEqual(["WEB_INFO: Workflow terminated"]);
  });
});
