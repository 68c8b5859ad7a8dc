import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowStatus } from "../api/v1alpha1/workflow.ts";
import type { JobPhase, WorkflowJob, WorkflowJobStatus } from "../api/v1alpha1/workflow-job.ts";
import {
  canceledStatus,
  countedRunsKept,
  failureCountPatch,
  isSystemLoss,
  needsCompletion,
  pendingRunsToCancelOnRebuild,
  retryDecision,
  retryDelayMs,
  retryStatus,
  runNotification,
  runsBeyondHistory,
  runsToCancel,
  shouldRetainLogs,
  terminatedByThisRun,
} from "./run-completion-decisions.ts";

const now = new Date("2026-11-25T10:00:00.500Z");

function workflow(status: WorkflowStatus = {}, spec: Partial<Workflow["spec"]> = {}) {
  return {
    spec: {
      userId: "u",
      displayName: "wf",
      kind: "CONTAINER" as const,
      container: { image: "busybox", timeoutSeconds: 30 },
      intervalMinutes: 5,
      maxConsecutiveFailures: 3,
      logRetention: true,
      terminated: false,
      ...spec,
    },
    status,
  };
}

function job(name: string, status: WorkflowJobStatus | undefined, finalized = false): WorkflowJob {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "WorkflowJob",
    metadata: { name, creationTimestamp: "2026-11-25T09:00:00Z" },
    spec: { workflowName: "wf", userId: "u", trigger: "AUTOMATIC", scheduledAt: "2026-11-25T09:00:00Z" },
    ...(status === undefined
      ? {}
      : {
          status: {
            ...status,
            ...(finalized
              ? {
                  conditions: [
                    {
                      type: "Finalized",
                      status: "True" as const,
                      reason: "Done",
                      message: "",
                      lastTransitionTime: "2026-11-25T09:00:00Z",
                    },
                  ],
                }
              : {}),
          },
        }),
  };
}

describe("needsCompletion", () => {
  it.each<[JobPhase | undefined, boolean, boolean]>([
    [undefined, false, false],
    ["PENDING", false, false],
    ["QUEUED", false, false],
    ["RUNNING", false, false],
    ["COMPLETED", false, true],
    ["FAILED", false, true],
    ["CANCELED", false, true],
    ["FAILED", true, false],
  ])("phase %s, finalized %s → %s", (phase, finalized, expected) => {
    expect(needsCompletion(job("a", phase === undefined ? undefined : { phase }, finalized))).toBe(expected);
  });
});

describe("failureCountPatch", () => {
  it("counts a failure and records the run", () => {
    expect(failureCountPatch(workflow({ consecutiveFailures: 1 }), "j2", "FAILED", now)).toEqual({
      consecutiveFailures: 2,
      countedRuns: ["j2"],
    });
  });

  it("resets on success and records the run", () => {
    expect(
      failureCountPatch(workflow({ consecutiveFailures: 2, countedRuns: ["j1"] }), "j2", "COMPLETED", now),
    ).toEqual({ consecutiveFailures: 0, countedRuns: ["j1", "j2"] });
  });

  it.each<JobPhase>(["FAILED", "COMPLETED"])("counts a run already counted never again (%s)", (phase) => {
    expect(
      failureCountPatch(workflow({ consecutiveFailures: 2, countedRuns: ["j1", "j2"] }), "j2", phase, now),
    ).toBeUndefined();
  });

  it("does not count a canceled run", () => {
    expect(failureCountPatch(workflow({ consecutiveFailures: 2 }), "j", "CANCELED", now)).toBeUndefined();
  });

  it("marks the termination when the count reaches the maximum", () => {
    expect(failureCountPatch(workflow({ consecutiveFailures: 2 }), "j3", "FAILED", now)).toEqual({
      consecutiveFailures: 3,
      countedRuns: ["j3"],
      failureThresholdRun: "j3",
      terminatedAt: "2026-11-25T10:00:00Z",
    });
  });

  it("does not terminate a workflow terminated already", () => {
    expect(
      failureCountPatch(workflow({ consecutiveFailures: 5 }, { terminated: true }), "j", "FAILED", now),
    ).toEqual({ consecutiveFailures: 6, countedRuns: ["j"] });
    expect(
      failureCountPatch(
        workflow({ consecutiveFailures: 5, terminatedAt: "2026-11-25T09:00:00Z" }),
        "j",
        "FAILED",
        now,
      ),
    ).toEqual({ consecutiveFailures: 6, countedRuns: ["j"] });
  });

  it("keeps a bounded list of counted runs, newest last", () => {
    const many = Array.from({ length: countedRunsKept }, (_, i) => `j${i}`);
    const patch = failureCountPatch(workflow({ countedRuns: many }), "new", "COMPLETED", now);
    expect(patch?.countedRuns).toHaveLength(countedRunsKept);
    expect(patch?.countedRuns?.[0]).toBe("j1");
    expect(patch?.countedRuns?.at(-1)).toBe("new");
  });
});

describe("terminatedByThisRun", () => {
  it.each<[WorkflowStatus, string, boolean]>([
    [{ failureThresholdRun: "j", terminatedAt: "2026-11-25T10:00:00Z" }, "j", true],
    [{ failureThresholdRun: "j", terminatedAt: "2026-11-25T10:00:00Z" }, "k", false],
    // re-activated since: the service clears terminatedAt
    [{ failureThresholdRun: "j" }, "j", false],
    [{}, "j", false],
  ])("%j, run %s → %s", (status, name, expected) => {
    expect(terminatedByThisRun({ status }, name)).toBe(expected);
  });
});

describe("runNotification and log retention", () => {
  it.each<[JobPhase, string | undefined]>([
    ["COMPLETED", "job-completed"],
    ["FAILED", "job-failed"],
    ["CANCELED", "job-canceled"],
    ["RUNNING", undefined],
  ])("%s → %s", (phase, expected) => {
    expect(runNotification(phase)).toBe(expected);
  });

  it("retains logs of CONTAINER workflows with retention on only", () => {
    expect(shouldRetainLogs(workflow())).toBe(true);
    expect(shouldRetainLogs(workflow({}, { logRetention: false }))).toBe(false);
    expect(shouldRetainLogs(workflow({}, { kind: "HEARTBEAT", logRetention: true }))).toBe(false);
    expect(shouldRetainLogs(undefined)).toBe(false);
  });
});

describe("system retries", () => {
  it.each<[number, number]>([
    [1, 30_000],
    [2, 60_000],
    [3, 120_000],
    [4, 240_000],
    [5, 240_000],
    [0, 30_000],
  ])("back-off after attempt %i is %i ms", (n, ms) => {
    expect(retryDelayMs(n)).toBe(ms);
  });

  it.each<[WorkflowJobStatus, boolean]>([
    [{ phase: "FAILED", reason: "Evicted" }, true],
    [{ phase: "FAILED", reason: "PodDeleted" }, true],
    [{ phase: "FAILED", reason: "NodeLost" }, true],
    [{ phase: "FAILED", reason: "Evicted", exitCode: 137 }, true],
    [{ phase: "FAILED", reason: "NodeLost", exitCode: 1 }, false],
    [{ phase: "FAILED", reason: "Error", exitCode: 1 }, false],
    [{ phase: "FAILED", reason: "DeadlineExceeded" }, false],
    [{ phase: "FAILED" }, false],
    [{ phase: "COMPLETED", reason: "Evicted" }, false],
    [{ phase: "CANCELED", reason: "PodDeleted" }, false],
  ])("%j lost to the system: %s", (status, expected) => {
    expect(isSystemLoss(status)).toBe(expected);
  });

  it("retries a lost run up to three attempts, backing off from when it finished", () => {
    const finishedAt = "2026-11-25T10:00:00Z";
    expect(retryDecision({ phase: "FAILED", reason: "Evicted", attempts: 1, finishedAt }, now)).toEqual({
      type: "retry",
      nextAttempt: 2,
      notBefore: new Date("2026-11-25T10:00:30Z"),
    });
    expect(retryDecision({ phase: "FAILED", reason: "Evicted", attempts: 2, finishedAt }, now)).toEqual({
      type: "retry",
      nextAttempt: 3,
      notBefore: new Date("2026-11-25T10:01:00Z"),
    });
    expect(retryDecision({ phase: "FAILED", reason: "Evicted", attempts: 3, finishedAt }, now)).toEqual({
      type: "finalize",
    });
    expect(retryDecision({ phase: "FAILED", reason: "Error", exitCode: 2, attempts: 1 }, now)).toEqual({
      type: "finalize",
    });
  });

  it("hands a lost MANUAL run back as PENDING for its next attempt", () => {
    expect(retryStatus({ nextAttempt: 2, notBefore: new Date("2026-11-25T10:00:30.900Z") })).toEqual({
      phase: "PENDING",
      reason: "RetryScheduled",
      attempts: 2,
      retryAt: "2026-11-25T10:00:30Z",
      podName: null,
      startedAt: null,
      finishedAt: null,
      exitCode: null,
    });
  });

  it("treats a missing attempts counter as the first attempt", () => {
    expect(retryDecision({ phase: "FAILED", reason: "PodDeleted" }, now)).toEqual({
      type: "retry",
      nextAttempt: 2,
      notBefore: new Date(now.getTime() + 30_000),
    });
  });
});

describe("history and cancellation", () => {
  const at = (minute: number) => `2026-11-25T09:${String(minute).padStart(2, "0")}:00Z`;

  it("chooses the oldest finalized runs beyond the limit", () => {
    const jobs = [
      job("a", { phase: "COMPLETED", finishedAt: at(1) }, true),
      job("b", { phase: "FAILED", finishedAt: at(2) }, true),
      job("c", { phase: "COMPLETED", finishedAt: at(3) }, true),
      job("d", { phase: "FAILED", finishedAt: at(0) }, false), // not finalized yet: kept
      job("e", { phase: "RUNNING" }),
      job("f", { phase: "COMPLETED", finishedAt: at(4) }, true),
    ];
    expect(runsBeyondHistory(jobs, 2).map((j) => j.metadata.name)).toEqual(["a", "b"]);
    expect(runsBeyondHistory(jobs, 10)).toEqual([]);
    expect(runsBeyondHistory(jobs, 0).map((j) => j.metadata.name)).toEqual(["a", "b", "c", "f"]);
  });

  it("cancels the runs that have not finished", () => {
    const jobs = [
      job("p", undefined),
      job("q", { phase: "QUEUED" }),
      job("r", { phase: "RUNNING" }),
      job("c", { phase: "COMPLETED" }),
      job("x", { phase: "CANCELED" }),
    ];
    expect(runsToCancel(jobs).map((j) => j.metadata.name)).toEqual(["p", "q", "r"]);
    expect(canceledStatus("WorkflowTerminated", now)).toEqual({
      phase: "CANCELED",
      reason: "WorkflowTerminated",
      finishedAt: "2026-11-25T10:00:00Z",
    });
  });
});

describe("pendingRunsToCancelOnRebuild", () => {
  const annotation = "chronoverse.dev/workflow-generation";
  function manual(
    name: string,
    status: WorkflowJobStatus | undefined,
    generation: string | undefined,
    trigger: "MANUAL" | "AUTOMATIC" = "MANUAL",
  ): WorkflowJob {
    const base = job(name, status);
    return {
      ...base,
      metadata: {
        ...base.metadata,
        ...(generation === undefined ? {} : { annotations: { [annotation]: generation } }),
      },
      spec: { ...base.spec, trigger },
    };
  }

  it.each<[string, WorkflowJob, boolean]>([
    ["waiting for its time, older generation", manual("a", { phase: "PENDING" }, "2"), true],
    ["no status yet, older generation", manual("b", undefined, "2"), true],
    ["without a recorded generation", manual("c", { phase: "PENDING" }, undefined), false],
    ["with an unreadable generation", manual("c2", { phase: "PENDING" }, "two"), false],
    [
      "waiting for a retry (no Pod), older generation",
      manual("d", { phase: "PENDING", attempts: 2 }, "1"),
      true,
    ],
    ["scheduled for the generation being built", manual("e", { phase: "PENDING" }, "3"), false],
    ["scheduled for a newer generation", manual("f", { phase: "PENDING" }, "4"), false],
    ["has its Pod already", manual("g", { phase: "PENDING", podName: "g" }, "2"), false],
    ["queued", manual("h", { phase: "QUEUED", podName: "h" }, "2"), false],
    ["running", manual("i", { phase: "RUNNING", podName: "i" }, "2"), false],
    ["finished", manual("j", { phase: "COMPLETED" }, "2"), false],
    ["AUTOMATIC (its batch Job exists)", manual("k", { phase: "PENDING" }, undefined, "AUTOMATIC"), false],
  ])("a MANUAL run %s → canceled %s", (_, run, expected) => {
    expect(pendingRunsToCancelOnRebuild([run], 3, annotation)).toHaveLength(expected ? 1 : 0);
  });

  it("gives reason WorkflowUpdated", () => {
    expect(canceledStatus("WorkflowUpdated", now).reason).toBe("WorkflowUpdated");
  });
});
