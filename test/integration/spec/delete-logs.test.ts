// SPEC.md, Workflows: "Delete … removes the workflow and its jobs; retained
// logs are removed too; notifications and analytics stay." The operator
// removes a deleted workflow's retained logs — on the delete event, and by its
// sweep when it was down while the workflow was deleted (crash-safe). Logs of
// workflows that still exist stay. Delete also removes the workflow's jobs.
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retainJobLogs } from "../../../services/jobs/logs-store.ts";
import { unary } from "../../support/grpc.ts";
import { type Stack, type StackUser, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

describe("DeleteWorkflow removes retained logs", () => {
  let stack: Stack;
  let user: StackUser;

  beforeAll(async () => {
    stack = await startStack("spec-delete-logs");
    user = await stack.newUser();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** A workflow with one run's log retained (as the operator keeps it when a run ends). */
  async function workflowWithLogs(): Promise<string> {
    const id = await stack.createWorkflow(user);
    await retainJobLogs(stack.db, {
      jobId: uuidv7(),
      workflowId: id,
      userId: user.userId,
      lines: [
        { timestamp: new Date().toISOString(), stream: "stdout", message: "hello" },
        { timestamp: new Date().toISOString(), stream: "stderr", message: "oops" },
      ],
    });
    return id;
  }

  async function logRows(workflowId: string): Promise<{ lines: number; runs: number }> {
    const lines = await stack.db
      .selectFrom("job_logs")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("workflow_id", "=", workflowId)
      .executeTakeFirstOrThrow();
    const runs = await stack.db
      .selectFrom("job_log_retentions")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("workflow_id", "=", workflowId)
      .executeTakeFirstOrThrow();
    return { lines: Number(lines.n), runs: Number(runs.n) };
  }

  async function terminateAndDelete(id: string): Promise<void> {
    const { workflows } = stack;
    await unary(workflows, workflows.terminateWorkflow, { id, user_id: user.userId }, user.auth);
    await unary(workflows, workflows.deleteWorkflow, { id, user_id: user.userId }, user.auth);
  }

  const gone = (id: string) => async () => {
    const rows = await logRows(id);
    if (rows.lines === 0 && rows.runs === 0) return true;
    throw new Error(JSON.stringify(rows));
  };

  it("on the delete, and after operator downtime across it; other workflows keep theirs", async () => {
    const kept = await workflowWithLogs();
    const deleted = await workflowWithLogs();
    const deletedWhileDown = await workflowWithLogs();
    expect(await logRows(deleted)).toEqual({ lines: 2, runs: 1 });

    await terminateAndDelete(deleted);
    await waitFor("the deleted workflow's logs to be removed", gone(deleted));

    await stack.stopOperator();
    await terminateAndDelete(deletedWhileDown);
    expect(await logRows(deletedWhileDown)).toEqual({ lines: 2, runs: 1 });
    stack.startOperator();
    await waitFor("the sweep to remove the logs of the workflow deleted meanwhile", gone(deletedWhileDown));

    expect(await logRows(kept)).toEqual({ lines: 2, runs: 1 });
  });

  it("removes the workflow's jobs (WorkflowJobs), and ListJobs no longer answers for it", async () => {
    const id = await stack.createWorkflow(user);
    const { jobs, workflows } = stack;
    const scheduled = [];
    for (const key of ["one", "two"]) {
      const { response } = await unary(
        jobs,
        jobs.scheduleJob,
        {
          workflow_id: id,
          user_id: user.userId,
          scheduled_at: new Date(Date.now() + 3_600_000).toISOString(),
          trigger: "MANUAL",
          idempotency_key: key,
          workflow_generation: 0,
        },
        user.auth,
      );
      scheduled.push(response.id);
    }
    const runsOf = async () =>
      (
        (await stack.custom.listNamespacedCustomObject({
          group: "chronoverse.dev",
          version: "v1alpha1",
          namespace: stack.ns.name,
          plural: "workflowjobs",
          labelSelector: `chronoverse.dev/workflow-id=${id}`,
        })) as { items: Array<{ metadata: { name: string } }> }
      ).items.map((run) => run.metadata.name);
    expect((await runsOf()).sort()).toEqual([...scheduled].sort());

    await terminateAndDelete(id);
    await waitFor("the workflow's jobs to be removed", async () => {
      const left = await runsOf();
      if (left.length === 0) return true;
      throw new Error(JSON.stringify(left));
    });
    await waitFor("ListJobs to be NotFound", () =>
      unary(jobs, jobs.listJobs, { workflow_id: id, user_id: user.userId, cursor: "" }, user.auth).then(
        () => undefined,
        (error: { code?: number }) => (error.code === 5 ? true : undefined),
      ),
    );
    await expect(
      unary(workflows, workflows.getWorkflow, { id, user_id: user.userId }, user.auth),
    ).rejects.toMatchObject({ code: 5 });
  });
});
