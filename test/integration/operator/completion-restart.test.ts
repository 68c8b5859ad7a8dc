// The end-of-run actions are exactly-once across a crash: the operator is
// stopped right after it wrote the Workflow's failure count and before the
// run's Finalized guard; the next operator repeats the remaining steps and the
// count, the notification and the analytics each move once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFinalized } from "../../../operator/controllers/run-completion-decisions.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { getWorkflowTotals } from "../../../services/analytics/store.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, kindsFor, startCompletionTest } from "./completion-support.ts";

describe("operator: a run's end survives a crash", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("completion-restart");
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("counts a failure once when the operator stops between the count and the guard", async () => {
    let interrupted: Promise<void> | undefined;
    const first: RunningOperator = await t.operator({
      identity: "first",
      runCompletion: {
        db: t.svc.db,
        notifier: t.notifier,
        hooks: {
          afterFailureCounted: () => {
            interrupted ??= first.stop({ releaseLease: true });
            throw new Error("stopped by the test after counting the failure");
          },
        },
      },
    });
    const workflow = await t.createWorkflow({ maxConsecutiveFailures: 3, logRetention: false });
    const id = workflow.metadata.name ?? "";
    const run = await t.finishedRun(workflow, {
      phase: "FAILED",
      reason: "NonZeroExitCode",
      exitCode: 2,
      startedAt: "2026-11-25T08:00:00Z",
      finishedAt: "2026-11-25T08:00:05Z",
    });
    const name = run.metadata.name ?? "";
    await waitFor("the first operator to be interrupted", () =>
      interrupted === undefined ? undefined : true,
    );
    await interrupted;

    const halfway = await t.workflows.get(id);
    expect(halfway.status?.consecutiveFailures).toBe(1);
    expect(halfway.status?.countedRuns).toEqual([name]);
    const notFinal = await t.readRun(name);
    expect(notFinal !== undefined && isFinalized(notFinal)).toBe(false);
    expect(kindsFor(await t.notifications(), name)).toEqual([]);

    await t.operator({ identity: "second" });
    await t.waitFinalized(name);
    const after = await t.workflows.get(id);
    expect(after.status?.consecutiveFailures).toBe(1);
    expect(after.status?.countedRuns).toEqual([name]);
    expect(kindsFor(await t.notifications(), name)).toEqual(["WEB_ERROR"]);
    const totals = await getWorkflowTotals(t.svc.db, t.userId, id);
    expect(totals?.totalJobs).toBe(1);
    expect(totals?.totalJobExecutionDurationMs).toBe(5_000);
  });
});
