// Faults survived by the operator: its end-of-run actions' Postgres (a server
// of the test's own) is stopped while a run ends. The operator stays up, is
// not ready meanwhile, retries the run's end, and once the database is back
// the run is finalized with nothing lost and nothing doubled: its log kept,
// its analytics counted once, its notification filed once. The operator is
// wired with the same runCompletionFromEnv that `chronoverse operator` uses.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCompletionFromEnv } from "../../../operator/controllers/run-completion.ts";
import type { RunningOperator } from "../../../operator/main.ts";
import { getWorkflowTotals } from "../../../services/analytics/store.ts";
import { findRetention } from "../../../services/jobs/logs-store.ts";
import { openDatabase } from "../../../src/db/database.ts";
import { migrateToLatest } from "../../../src/db/migrate.ts";
import { TEST_SERVICE_KEY, TEST_USER_KEY } from "../../support/grpc.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, kindsFor, startCompletionTest } from "../operator/completion-support.ts";
import { type OwnPostgres, startOwnPostgres } from "./support.ts";

describe("operator: its database restarts while a run ends", () => {
  let t: CompletionTest;
  let postgres: OwnPostgres;
  let completion: ReturnType<typeof runCompletionFromEnv>;
  let operator: RunningOperator;

  beforeAll(async () => {
    [t, postgres] = await Promise.all([startCompletionTest("faults-operator"), startOwnPostgres()]);
    const db = openDatabase({ url: postgres.url, maxConnections: 1 });
    await migrateToLatest(db);
    await db.destroy();
    completion = runCompletionFromEnv(
      {
        DATABASE_URL: postgres.url,
        DATABASE_HEALTH_INTERVAL: "500ms",
        DATABASE_CONNECT_TIMEOUT: "2s",
        CHRONOVERSE_NOTIFICATIONS_ADDRESS: t.svc.address,
        CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
        CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
        LOG_LEVEL: "silent",
      },
      pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
      10,
    );
    if (completion === undefined) throw new Error("runCompletionFromEnv built nothing");
    operator = await t.operator({ runCompletion: completion.settings });
  });

  afterAll(async () => {
    await t?.stop();
    await completion?.close();
    await postgres?.remove();
  });

  it("retries the run's end while the database is down, then finishes it once", async () => {
    const workflow = await t.createWorkflow({ maxConsecutiveFailures: 3, logRetention: true });
    const id = workflow.metadata.name ?? "";
    await waitFor("the operator ready", () => (operator.isReady() ? true : undefined));

    await postgres.stop();
    await waitFor("the operator not ready while its database is down", () =>
      operator.isReady() ? undefined : true,
    );

    const run = await t.createRun(workflow);
    const name = run.metadata.name ?? "";
    const pod = await t.podWithLog(run, [
      { stream: "stdout", text: "first line" },
      { stream: "stderr", text: "second line" },
    ]);
    await t.setStatus(name, {
      phase: "COMPLETED",
      podName: pod,
      exitCode: 0,
      startedAt: "2026-11-25T08:00:00Z",
      finishedAt: "2026-11-25T08:00:03Z",
    });
    // The end-of-run actions were tried and failed (the database is down): nothing is finalized yet.
    const errors = async () =>
      (await operator.metrics.reconcileErrors.get()).values.find(
        (v) => v.labels.controller === "run-completion",
      )?.value ?? 0;
    await waitFor("a failed try at the run's end", async () => ((await errors()) > 0 ? true : undefined));
    const pending = await t.readRun(name);
    expect(pending?.status?.conditions?.some((c) => c.type === "Finalized" && c.status === "True")).not.toBe(
      true,
    );

    await postgres.start();
    await waitFor("the operator ready again", () => (operator.isReady() ? true : undefined));
    await t.waitFinalized(name);

    const db = openDatabase({ url: postgres.url, maxConnections: 1 });
    try {
      expect((await findRetention(db, name))?.lineCount).toBe(2);
      const totals = await getWorkflowTotals(db, workflow.spec.userId, id);
      expect(totals?.totalJobs).toBe(1);
      expect(totals?.totalJobExecutionDurationMs).toBe(3_000);
    } finally {
      await db.destroy();
    }
    expect(kindsFor(await t.notifications(), name)).toEqual(["WEB_SUCCESS"]);
  });
});
