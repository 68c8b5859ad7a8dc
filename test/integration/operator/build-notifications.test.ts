// SPEC.md, Notifications: build started (WEB_INFO), build skipped for
// heartbeats (WEB_INFO), build completed (WEB_SUCCESS), build failed
// (WEB_ALERT) — filed by the operator exactly once per build generation, also
// when it is stopped in the middle of a build, and listed according to the
// owner's preference at list time.
import { credentials } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { createNotifier } from "../../../services/notifications/client.ts";
import { waitFor } from "../../support/wait.ts";
import { type CompletionTest, startCompletionTest } from "./completion-support.ts";
import { containerSpec, heartbeatSpec, readCronJob, statusOf } from "./harness.ts";

/** "KIND: title" of the notifications about one workflow, sorted. */
function titles(list: Awaited<ReturnType<CompletionTest["notifications"]>>, id: string): string[] {
  return list
    .filter((n) => n.payload.entity_id === id)
    .map((n) => `${n.kind}: ${n.payload.title}`)
    .sort();
}

describe("operator: build notifications", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("build-notes");
  });

  afterAll(async () => {
    await t?.stop();
  });

  async function waitForBuild(id: string, status: string, generation: number) {
    return waitFor(`workflow ${id} build ${status} at generation ${generation}`, async () => {
      const wf = await t.workflows.get(id);
      if (wf.status?.buildStatus === status && wf.status.observedGeneration === generation) return wf;
      throw new Error(statusOf(wf));
    });
  }

  it("files started and completed once per build, across an operator stopped mid-build", async () => {
    let interrupted: Promise<void> | undefined;
    const first: RunningOperator = await t.operator({
      identity: "first",
      hooks: {
        afterCronJobApplied: () => {
          // Stopped between the CronJob and the COMPLETED status, as a crash would.
          interrupted ??= first.stop();
          throw new Error("stopped by the test after applying the CronJob");
        },
      },
    });
    const container = uuidv7();
    await t.workflows.create(container, containerSpec({ userId: t.userId, intervalMinutes: 10080 }));
    await waitFor("the first operator to be interrupted", () =>
      interrupted === undefined ? undefined : true,
    );
    await interrupted;
    expect((await t.workflows.get(container)).status?.buildStatus).toBe("STARTED");

    await t.operator({ identity: "second" });
    await waitForBuild(container, "COMPLETED", 1);
    const heartbeat = uuidv7();
    await t.workflows.create(heartbeat, heartbeatSpec({ userId: t.userId, intervalMinutes: 10080 }));
    const failing = uuidv7();
    await t.workflows.create(
      failing,
      containerSpec({
        userId: t.userId,
        intervalMinutes: 10080,
        container: { image: "busybox:1.36", env: { "BAD=NAME": "x" }, timeoutSeconds: 30 },
      }),
    );
    await waitForBuild(heartbeat, "COMPLETED", 1);
    await waitForBuild(failing, "FAILED", 1);

    // A new payload is a new build; an interval change is not.
    // (as UpdateWorkflow writes it: the spec, then QUEUED)
    await t.workflows.patchSpec(container, { container: { image: "busybox:1.37" } });
    await t.custom.patchNamespacedCustomObjectStatus(
      {
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: t.ns.name,
        plural: "workflows",
        name: container,
        body: { status: { buildStatus: "QUEUED" } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor("the rebuild", async () => {
      const wf = await t.workflows.get(container);
      return wf.status?.observedGeneration === 2 && wf.status.buildStatus === "COMPLETED" ? true : undefined;
    });

    const expected = {
      [container]: [
        "WEB_INFO: Workflow build started",
        "WEB_INFO: Workflow build started",
        "WEB_SUCCESS: Workflow build completed",
        "WEB_SUCCESS: Workflow build completed",
      ],
      [heartbeat]: ["WEB_INFO: Workflow build skipped"],
      [failing]: ["WEB_ALERT: Workflow build failed", "WEB_INFO: Workflow build started"],
    };
    const list = await waitFor("the build notifications", async () => {
      const all = await t.notifications();
      for (const [id, want] of Object.entries(expected)) {
        if (titles(all, id).length < want.length)
          throw new Error(`${id}: ${JSON.stringify(titles(all, id))}`);
      }
      return all;
    });
    for (const [id, want] of Object.entries(expected)) expect(titles(list, id)).toEqual(want);
    expect(list.find((n) => n.payload.entity_id === failing)?.payload.message).toMatch(/env/);
  });

  it("lists them by the owner's preference at list time", async () => {
    // The test user sees everything (ALL); with ALERTS only the failed build shows.
    await t.svc.db
      .updateTable("users")
      .set({ notification_preference: "ALERTS" })
      .where("id", "=", t.userId)
      .execute();
    const alerts = await t.notifications();
    expect(alerts.map((n) => `${n.kind}: ${n.payload.title}`)).toEqual(["WEB_ALERT: Workflow build failed"]);
    await t.svc.db
      .updateTable("users")
      .set({ notification_preference: "ALL" })
      .where("id", "=", t.userId)
      .execute();
    expect((await t.notifications()).length).toBeGreaterThan(alerts.length);
  });
});

describe("operator: build notifications while the notifications service is unreachable", () => {
  let t: CompletionTest;

  beforeAll(async () => {
    t = await startCompletionTest("build-notes-down");
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("still schedules the workflow, holds its build status until the notification is filed", async () => {
    const unreachable = createNotifier({
      address: "127.0.0.1:1",
      credentials: credentials.createInsecure(),
      metadata: () => t.svc.serviceMetadata("operator"),
      deadlineMs: 500,
    });
    const down = await t.operator({
      identity: "notifications-down",
      runCompletion: { db: t.svc.db, notifier: unreachable },
    });
    const id = uuidv7();
    await t.workflows.create(id, containerSpec({ userId: t.userId, intervalMinutes: 10080 }));
    await waitFor("the CronJob, built without the notifications service", () =>
      readCronJob(t.kc, t.ns.name, id),
    );
    // Nothing was announced, so nothing is written as started or completed.
    expect((await t.workflows.get(id)).status?.buildStatus ?? "QUEUED").toBe("QUEUED");
    await down.stop();
    unreachable.close();

    await t.operator({ identity: "notifications-up" });
    await waitFor("the build to complete", async () => {
      const wf = await t.workflows.get(id);
      if (wf.status?.buildStatus === "COMPLETED") return true;
      throw new Error(statusOf(wf));
    });
    const list = await waitFor("the build notifications", async () => {
      const all = await t.notifications();
      return titles(all, id).length >= 2 ? all : undefined;
    });
    expect(titles(list, id)).toEqual([
      "WEB_INFO: Workflow build started",
      "WEB_SUCCESS: Workflow build completed",
    ]);
  });
});
