import { describe, expect, it } from "vitest";
import type { BuildStatus, Workflow, WorkflowStatus } from "../api/v1alpha1/workflow.ts";
import { scheduleForInterval } from "./cronjob-for-workflow.ts";
import {
  type BuildOutcome,
  canonicalJson,
  shouldStartBuild,
  startedStatus,
  statusAfterBuild,
  statusPatch,
} from "./workflow-status.ts";

const now = new Date("2026-11-25T10:00:00.123Z");

function workflow(
  status: WorkflowStatus | undefined,
  { generation = 2, terminated = false, interval = 5 } = {},
): Workflow {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "Workflow",
    metadata: { name: "wf", namespace: "ns", uid: "u", generation },
    spec: {
      userId: "0192f0a4-1111-7000-8000-000000000001",
      displayName: "wf",
      kind: "HEARTBEAT",
      heartbeat: { endpoint: "https://example.com", expectedStatusCode: 200, timeoutSeconds: 10 },
      intervalMinutes: interval,
      maxConsecutiveFailures: 3,
      logRetention: false,
      terminated,
    },
    ...(status === undefined ? {} : { status }),
  };
}

const built: BuildOutcome = { type: "built", schedule: scheduleForInterval(5), cronJobName: "wf" };

describe("shouldStartBuild", () => {
  it.each<[BuildStatus | undefined, number | undefined, boolean, boolean]>([
    [undefined, undefined, false, true],
    ["QUEUED", 1, false, true],
    ["CANCELED", 1, false, true], // active again
    ["FAILED", 1, false, true], // a new spec after a failure
    ["FAILED", 2, false, false], // this spec failed already
    ["STARTED", 2, false, false], // a build in progress is continued, not restarted
    ["COMPLETED", 1, false, false], // a change that does not ask for a build only reschedules
    ["COMPLETED", 2, false, false],
    ["QUEUED", 1, true, false], // terminated: nothing to build
  ])(
    "build status %s at generation %s (terminated %s) → %s",
    (buildStatus, observed, terminated, expected) => {
      const status: WorkflowStatus = {};
      if (buildStatus !== undefined) status.buildStatus = buildStatus;
      if (observed !== undefined) status.observedGeneration = observed;
      expect(shouldStartBuild(workflow(status, { terminated }))).toBe(expected);
    },
  );
});

describe("startedStatus", () => {
  it("marks the build of this generation as started and not ready", () => {
    const status = startedStatus(workflow({ buildStatus: "QUEUED", consecutiveFailures: 2 }), now);
    expect(status).toEqual({
      buildStatus: "STARTED",
      observedGeneration: 2,
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "Building",
          message: "building the schedule for this generation",
          observedGeneration: 2,
          lastTransitionTime: "2026-11-25T10:00:00Z",
        },
      ],
    });
  });
});

describe("statusAfterBuild", () => {
  it("completes a build with the schedule and a Ready condition", () => {
    const status = statusAfterBuild(
      workflow({ buildStatus: "STARTED" }),
      { ...built, lastScheduleTime: "2026-11-25T09:55:00Z" },
      now,
    );
    expect(status).toEqual({
      buildStatus: "COMPLETED",
      observedGeneration: 2,
      schedule: "*/5 * * * *",
      lastScheduleTime: "2026-11-25T09:55:00Z",
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "ScheduleReady",
          message: 'CronJob wf runs "*/5 * * * *" (UTC)',
          observedGeneration: 2,
          lastTransitionTime: "2026-11-25T10:00:00Z",
        },
      ],
    });
  });

  it("says when the schedule counts from the previous run instead of the clock", () => {
    const status = statusAfterBuild(
      workflow({ buildStatus: "STARTED" }, { interval: 45 }),
      { type: "built", schedule: scheduleForInterval(45), cronJobName: "wf" },
      now,
    );
    expect(status.schedule).toBe("@every 45m");
    expect(status.conditions?.[0]?.message).toBe(
      'CronJob wf runs "@every 45m" (every 45 minutes, counted from the previous run)',
    );
  });

  it("keeps the transition time while the condition's status stays the same", () => {
    const before = statusAfterBuild(
      workflow({ buildStatus: "STARTED" }),
      built,
      new Date("2026-01-01T00:00:00Z"),
    );
    const again = statusAfterBuild(workflow({ ...before, buildStatus: "COMPLETED" }), built, now);
    expect(again.conditions?.[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
  });

  it("fails a build with the reason in the condition", () => {
    const status = statusAfterBuild(
      workflow({ buildStatus: "STARTED" }),
      { type: "failed", message: "no" },
      now,
    );
    expect(status.buildStatus).toBe("FAILED");
    expect(status.conditions?.[0]).toMatchObject({ status: "False", reason: "BuildFailed", message: "no" });
  });

  it.each<[BuildStatus | undefined, BuildStatus]>([
    [undefined, "CANCELED"],
    ["QUEUED", "CANCELED"],
    ["STARTED", "CANCELED"],
    ["COMPLETED", "COMPLETED"],
    ["FAILED", "FAILED"],
  ])("terminating during build status %s leaves %s and suspends", (previous, expected) => {
    const status: WorkflowStatus = previous === undefined ? {} : { buildStatus: previous };
    const next = statusAfterBuild(workflow(status, { terminated: true }), built, now);
    expect(next.buildStatus).toBe(expected);
    expect(next.terminatedAt).toBe("2026-11-25T10:00:00Z");
    expect(next.conditions?.[0]).toMatchObject({ status: "True", reason: "Suspended" });
  });

  it("cancels a workflow terminated before any CronJob existed", () => {
    const next = statusAfterBuild(
      workflow({ buildStatus: "QUEUED" }, { terminated: true }),
      { type: "canceled" },
      now,
    );
    expect(next.buildStatus).toBe("CANCELED");
    expect(next.schedule).toBeUndefined();
    expect(next.conditions?.[0]).toMatchObject({ status: "False", reason: "Canceled" });
  });

  it("keeps the first termination time and clears it when the workflow is active again", () => {
    const terminated = workflow(
      { buildStatus: "COMPLETED", terminatedAt: "2026-01-01T00:00:00Z" },
      { terminated: true },
    );
    expect(statusAfterBuild(terminated, built, now).terminatedAt).toBe("2026-01-01T00:00:00Z");
    const active = workflow({ buildStatus: "STARTED", terminatedAt: "2026-01-01T00:00:00Z" });
    expect(statusAfterBuild(active, built, now).terminatedAt).toBeUndefined();
  });
});

describe("statusPatch", () => {
  it("is empty when nothing the operator owns changed, whatever the key order", () => {
    const current = statusAfterBuild(workflow({ buildStatus: "STARTED" }), built, now);
    const fromServer = JSON.parse(canonicalJson({ ...current, consecutiveFailures: 4 })) as WorkflowStatus;
    expect(statusPatch(fromServer, statusAfterBuild(workflow(fromServer), built, now))).toBeUndefined();
  });

  it("sets changed fields, removes cleared ones with null and leaves other owners' fields alone", () => {
    const current: WorkflowStatus = {
      buildStatus: "COMPLETED",
      observedGeneration: 1,
      terminatedAt: "2026-01-01T00:00:00Z",
      consecutiveFailures: 2,
    };
    expect(statusPatch(current, { buildStatus: "COMPLETED", observedGeneration: 2 })).toEqual({
      observedGeneration: 2,
      terminatedAt: null,
    });
  });
});
