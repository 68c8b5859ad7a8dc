// End to end with the whole operator (CronJob → batch Job → Pod on the kwok
// node → AUTOMATIC WorkflowJob FAILED → run completion): a one-minute
// CONTAINER workflow whose container exits 1 counts its failures up to the
// maximum, is terminated, its CronJob suspended, and its owner finds the
// WEB_ALERT in ListNotifications. Takes about three scheduled minutes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFinalized } from "../../../operator/controllers/run-completion-decisions.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, kindsFor, startCompletionTest } from "./completion-support.ts";
import { readCronJob, statusOf } from "./harness.ts";

describe("operator end to end: a failing workflow is terminated at its maximum", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("completion-e2e");
    await t.operator();
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("counts the scheduled runs' failures, terminates, suspends the CronJob and alerts", async () => {
    const workflow = await t.createWorkflow({
      intervalMinutes: 1,
      maxConsecutiveFailures: 3,
      logRetention: false,
      container: {
        image: "busybox:1.36",
        env: { CHRONOVERSE_SIM_EXIT_CODE: "1", CHRONOVERSE_SIM_DURATION: "1s" },
        timeoutSeconds: 60,
      },
    });
    const id = workflow.metadata.name ?? "";

    const terminated = await waitFor(
      "three failed runs to terminate the workflow",
      async () => {
        const wf = await t.workflows.get(id);
        if (wf.spec.terminated) return wf;
        throw new Error(statusOf(wf));
      },
      { timeoutMs: 330_000, intervalMs: 1_000 },
    );
    expect(terminated.status?.consecutiveFailures).toBe(3);
    expect(terminated.status?.countedRuns).toHaveLength(3);
    expect(terminated.status?.terminatedAt).toBeDefined();
    const lastRun = terminated.status?.failureThresholdRun ?? "";
    expect(terminated.status?.countedRuns?.at(-1)).toBe(lastRun);

    await waitFor("the CronJob to be suspended", async () =>
      (await readCronJob(t.kc, t.ns.name, id))?.spec?.suspend === true ? true : undefined,
    );
    const notes = await waitFor("the alert", async () => {
      const list = await t.notifications();
      return kindsFor(list, id).includes("WEB_ALERT") ? list : undefined;
    });
    for (const run of terminated.status?.countedRuns ?? []) {
      expect(kindsFor(notes, run)).toEqual(["WEB_ERROR"]);
      const finished = await t.readRun(run);
      expect(finished?.spec.trigger).toBe("AUTOMATIC");
      expect(finished?.status).toMatchObject({ phase: "FAILED", exitCode: 1 });
      expect(finished !== undefined && isFinalized(finished)).toBe(true);
    }
  }, 400_000);
});
