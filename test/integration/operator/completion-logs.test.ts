// Log retention and history when a run ends: a finished CONTAINER run's Pod
// log (read through the apiserver, served by kwok) is copied into Postgres with
// each line's stream, counted in analytics once, and stays readable after the
// Pod and the run are gone; finished runs beyond the history limit are
// deleted (their Pods follow by owner reference) while their logs and
// counters stay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getWorkflowTotals } from "../../../services/analytics/store.ts";
import { findRetention, readJobLogs } from "../../../services/jobs/logs-store.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, startCompletionTest } from "./completion-support.ts";

const historyLimit = 2;

describe("operator: logs and history when runs end", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("completion-logs");
    await t.operator({}, historyLimit);
  });

  afterAll(async () => {
    await t?.stop();
  });

  async function podGone(name: string): Promise<true> {
    return waitFor(`pod ${name} to be gone`, async () => {
      try {
        await t.core.readNamespacedPod({ name, namespace: t.ns.name });
        return undefined;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return true;
        throw error;
      }
    });
  }

  it("keeps a finished run's stdout and stderr lines in Postgres, readable after the Pod is deleted", async () => {
    const workflow = await t.createWorkflow({ logRetention: true });
    const id = workflow.metadata.name ?? "";
    const run = await t.createRun(workflow);
    const name = run.metadata.name ?? "";
    const written = [
      { stream: "stdout" as const, text: "line one" },
      { stream: "stderr" as const, text: "a warning" },
      { stream: "stdout" as const, text: "line three" },
    ];
    const pod = await t.podWithLog(run, written);
    await t.setStatus(name, {
      phase: "COMPLETED",
      podName: pod,
      exitCode: 0,
      reason: "Completed",
      startedAt: "2026-11-25T08:00:00Z",
      finishedAt: "2026-11-25T08:00:01Z",
      attempts: 1,
    });
    await t.waitFinalized(name);
    await t.core.deleteNamespacedPod({ name: pod, namespace: t.ns.name, gracePeriodSeconds: 0 });
    await podGone(pod);

    const lines = await readJobLogs(t.svc.db, {
      jobId: name,
      streams: ["stdout", "stderr"],
      direction: "asc",
      afterSeq: undefined,
      limit: 100,
    });
    expect(lines.map((l) => [l.seq, l.message])).toEqual([
      [1, "line one"],
      [2, "a warning"],
      [3, "line three"],
    ]);
    // Each line keeps the stream the cluster reported. kwok serves both streams
    // as one log (no split-stream support), so there every line reads stdout;
    // on a node that splits them "a warning" is stderr.
    for (const line of lines) expect(["stdout", "stderr"]).toContain(line.stream);
    expect((await findRetention(t.svc.db, name))?.lineCount).toBe(3);

    const totals = await getWorkflowTotals(t.svc.db, t.userId, id);
    expect(totals?.totalJobLogs).toBe(3);
    expect(totals?.totalJobs).toBe(1);
  });

  it("keeps no copy when the workflow's log retention is off, but counts the lines", async () => {
    const workflow = await t.createWorkflow({ logRetention: false });
    const id = workflow.metadata.name ?? "";
    const run = await t.createRun(workflow);
    const name = run.metadata.name ?? "";
    const pod = await t.podWithLog(run, [
      { stream: "stdout", text: "a" },
      { stream: "stdout", text: "b" },
    ]);
    await t.setStatus(name, { phase: "FAILED", podName: pod, exitCode: 1, reason: "NonZeroExitCode" });
    await t.waitFinalized(name);
    expect(await findRetention(t.svc.db, name)).toBeUndefined();
    expect((await getWorkflowTotals(t.svc.db, t.userId, id))?.totalJobLogs).toBe(2);
  });

  it("deletes the oldest finished runs beyond the history limit, keeping their logs and counters", async () => {
    const workflow = await t.createWorkflow({ logRetention: true });
    const id = workflow.metadata.name ?? "";
    const names: string[] = [];
    let oldestPod = "";
    for (let i = 0; i < 4; i++) {
      const run = await t.createRun(workflow);
      const name = run.metadata.name ?? "";
      let podName: string | undefined;
      if (i === 0) {
        podName = await t.podWithLog(run, [{ stream: "stdout", text: "from the oldest run" }]);
        oldestPod = podName;
      }
      await t.setStatus(name, {
        phase: i % 2 === 0 ? "COMPLETED" : "FAILED",
        ...(podName === undefined ? {} : { podName }),
        startedAt: `2026-11-25T08:0${i}:00Z`,
        finishedAt: `2026-11-25T08:0${i}:10Z`,
      });
      names.push(name);
    }
    await waitFor("the history to shrink to the limit", async () => {
      const present = await Promise.all(names.map((n) => t.readRun(n)));
      const kept = present.filter((r) => r !== undefined && r.metadata.deletionTimestamp === undefined);
      return kept.length === historyLimit ? kept : undefined;
    });
    // The two newest stay, the two oldest go (with the oldest run's Pod).
    expect(await t.readRun(names[3] ?? "")).toBeDefined();
    expect(await t.readRun(names[2] ?? "")).toBeDefined();
    await waitFor("the oldest runs to be gone", async () =>
      (await t.readRun(names[0] ?? "")) === undefined && (await t.readRun(names[1] ?? "")) === undefined
        ? true
        : undefined,
    );
    await podGone(oldestPod);

    const kept = await readJobLogs(t.svc.db, {
      jobId: names[0] ?? "",
      streams: ["stdout", "stderr"],
      direction: "asc",
      afterSeq: undefined,
      limit: 100,
    });
    expect(kept.map((l) => l.message)).toEqual(["from the oldest run"]);
    const totals = await getWorkflowTotals(t.svc.db, t.userId, id);
    expect(totals?.totalJobs).toBe(4);
    expect(totals?.totalJobLogs).toBe(1);
    expect(totals?.totalJobExecutionDurationMs).toBe(40_000);
  });
});
