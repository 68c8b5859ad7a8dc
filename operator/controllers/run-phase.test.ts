import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { WorkflowJobStatus } from "../api/v1alpha1/workflow-job.ts";
import {
  failedToStart,
  finishedCondition,
  observePod,
  observeWithoutPod,
  type RunObservation,
  runStatusPatch,
  scheduleSkewSeconds,
  timestamp,
} from "./run-phase.ts";

const now = new Date("2026-01-02T03:04:05.000Z");
const started = "2026-01-02T03:00:00Z";
const ended = "2026-01-02T03:01:00Z";

function pod(status: k8s.V1PodStatus): k8s.V1Pod {
  return { metadata: { name: "p1" }, status };
}
const running = { running: { startedAt: started as unknown as Date } };
const terminated = (exitCode: number, reason?: string): k8s.V1ContainerState => ({
  terminated: {
    exitCode,
    ...(reason === undefined ? {} : { reason }),
    startedAt: started as unknown as Date,
    finishedAt: ended as unknown as Date,
  },
});
const container = (state: k8s.V1ContainerState, name = "run"): k8s.V1ContainerStatus => ({
  name,
  image: "x",
  imageID: "",
  ready: false,
  restartCount: 0,
  state,
});

describe("observePod", () => {
  const cases: Array<[string, k8s.V1PodStatus, Partial<RunObservation>]> = [
    ["pending, unscheduled", { phase: "Pending" }, { phase: "QUEUED", reason: "PodPending" }],
    [
      "pending, image pull",
      { phase: "Pending", containerStatuses: [container({ waiting: { reason: "ImagePullBackOff" } })] },
      { phase: "QUEUED", reason: "ImagePullBackOff" },
    ],
    [
      "running",
      { phase: "Running", containerStatuses: [container(running)] },
      { phase: "RUNNING", reason: "PodRunning", startedAt: "2026-01-02T03:00:00.000Z" },
    ],
    [
      "succeeded",
      { phase: "Succeeded", containerStatuses: [container(terminated(0, "Completed"), "heartbeat")] },
      {
        phase: "COMPLETED",
        reason: "Completed",
        exitCode: 0,
        startedAt: "2026-01-02T03:00:00.000Z",
        finishedAt: "2026-01-02T03:01:00.000Z",
      },
    ],
    [
      "non-zero exit",
      { phase: "Failed", containerStatuses: [container(terminated(3, "Error"))] },
      { phase: "FAILED", reason: "NonZeroExitCode", exitCode: 3, finishedAt: "2026-01-02T03:01:00.000Z" },
    ],
    [
      "timeout",
      {
        phase: "Failed",
        reason: "DeadlineExceeded",
        message: "Pod was active on the node longer than the specified deadline",
        containerStatuses: [container(terminated(137, "Error"))],
      },
      { phase: "FAILED", reason: "DeadlineExceeded", exitCode: 137 },
    ],
    [
      "evicted, no container status",
      { phase: "Failed", reason: "Evicted", message: "low on memory" },
      { phase: "FAILED", reason: "Evicted", finishedAt: now.toISOString() },
    ],
    [
      "OOM killed",
      { phase: "Failed", containerStatuses: [container(terminated(137, "OOMKilled"))] },
      { phase: "FAILED", reason: "OOMKilled", exitCode: 137 },
    ],
    ["failed, nothing known", { phase: "Failed" }, { phase: "FAILED", reason: "PodFailed" }],
    ["unknown", { phase: "Unknown" }, { phase: "QUEUED" }],
  ];
  it.each(cases)("%s", (_name, status, expected) => {
    const observed = observePod(pod(status), now);
    expect(observed).toMatchObject({ podName: "p1", ...expected });
  });

  describe("a container that cannot start", () => {
    const waiting = (reason: string, createdAgoMs: number): k8s.V1Pod => ({
      metadata: { name: "p1", creationTimestamp: new Date(now.getTime() - createdAgoMs) },
      status: {
        phase: "Pending",
        containerStatuses: [container({ waiting: { reason, message: `why ${reason}` } })],
      },
    });

    it.each([
      ["ErrImagePull", 10_000, { phase: "QUEUED", reason: "ErrImagePull", recheckAfterMs: 50_000 }],
      ["ImagePullBackOff", 59_999, { phase: "QUEUED", recheckAfterMs: 1 }],
      [
        "ImagePullBackOff",
        60_000,
        { phase: "FAILED", reason: "ImagePullBackOff", finishedAt: now.toISOString() },
      ],
      ["CreateContainerError", 61_000, { phase: "FAILED", reason: "CreateContainerError" }],
      ["InvalidImageName", 0, { phase: "FAILED", reason: "InvalidImageName" }],
      ["ErrImageNeverPull", 0, { phase: "FAILED", reason: "ErrImageNeverPull" }],
    ] as Array<[string, number, Partial<RunObservation>]>)(
      "%s after %d ms with a 60 s start timeout",
      (reason, agoMs, expected) => {
        const observed = observePod(waiting(reason, agoMs), now, 60_000);
        expect(observed).toMatchObject(expected);
        expect(failedToStart(observed)).toBe(expected.phase === "FAILED");
      },
    );

    it("says what the kubelet said", () => {
      expect(observePod(waiting("ErrImagePull", 120_000), now, 60_000).message).toBe(
        "pod p1 could not start its container (ErrImagePull: why ErrImagePull)",
      );
    });

    it("waits without a deadline for other reasons (ContainerCreating)", () => {
      const observed = observePod(waiting("ContainerCreating", 3_600_000), now, 60_000);
      expect(observed).toMatchObject({ phase: "QUEUED", reason: "ContainerCreating" });
      expect(observed.recheckAfterMs).toBeUndefined();
    });
  });

  it("keeps the container's own message for a failed start (command not in the image)", () => {
    const observed = observePod(
      pod({
        phase: "Failed",
        containerStatuses: [
          container({
            terminated: {
              exitCode: 128,
              reason: "StartError",
              message: 'exec: "nope": executable file not found',
            },
          }),
        ],
      }),
      now,
    );
    expect(observed).toMatchObject({ phase: "FAILED", reason: "StartError", exitCode: 128 });
    expect(observed.message).toContain("executable file not found");
    expect(failedToStart(observed)).toBe(false);
  });

  it("reads Date timestamps (typed list calls) like strings (watch)", () => {
    const observed = observePod(
      pod({
        phase: "Running",
        containerStatuses: [container({ running: { startedAt: new Date(started) } })],
      }),
      now,
    );
    expect(observed.startedAt).toBe("2026-01-02T03:00:00.000Z");
  });
});

describe("runStatusPatch", () => {
  const queued: RunObservation = { phase: "QUEUED", reason: "PodPending", message: "waiting", podName: "p1" };

  it("writes phase, pod, reason and a False Finished condition from nothing", () => {
    const patch = runStatusPatch(undefined, queued, 1, now);
    expect(patch).toMatchObject({ phase: "QUEUED", podName: "p1", reason: "PodPending" });
    expect(patch?.conditions).toEqual([
      {
        type: finishedCondition,
        status: "False",
        observedGeneration: 1,
        lastTransitionTime: now.toISOString(),
        reason: "PodPending",
        message: "waiting",
      },
    ]);
  });

  it("writes nothing when nothing changed", () => {
    const first = runStatusPatch(undefined, queued, 1, now) as WorkflowJobStatus;
    expect(runStatusPatch(first, queued, 1, new Date(now.getTime() + 1000))).toBeUndefined();
  });

  it("never moves a terminal phase", () => {
    for (const phase of ["COMPLETED", "FAILED", "CANCELED"] as const) {
      expect(runStatusPatch({ phase }, { ...queued, phase: "RUNNING" }, 1, now)).toBeUndefined();
    }
  });

  it("keeps the transition time while the condition status stays, and other writers' conditions", () => {
    const other = {
      type: "Counted",
      status: "True" as const,
      lastTransitionTime: started,
      reason: "X",
      message: "",
    };
    const current: WorkflowJobStatus = {
      phase: "QUEUED",
      podName: "p1",
      reason: "PodPending",
      conditions: [
        other,
        {
          type: finishedCondition,
          status: "False",
          observedGeneration: 1,
          lastTransitionTime: started,
          reason: "PodPending",
          message: "waiting",
        },
      ],
    };
    const patch = runStatusPatch(
      current,
      { phase: "RUNNING", reason: "PodRunning", message: "running", podName: "p1", startedAt: started },
      1,
      now,
    );
    expect(patch?.phase).toBe("RUNNING");
    expect(patch?.podName).toBeUndefined();
    expect(patch?.startedAt).toBe(started);
    expect(patch?.conditions?.[0]).toEqual(other);
    expect(patch?.conditions?.[1]?.lastTransitionTime).toBe(started);
    const done = runStatusPatch(
      { ...current, ...patch },
      {
        phase: "FAILED",
        reason: "NonZeroExitCode",
        message: "x",
        podName: "p1",
        exitCode: 1,
        finishedAt: ended,
      },
      1,
      now,
    );
    expect(done).toMatchObject({
      phase: "FAILED",
      exitCode: 1,
      finishedAt: ended,
      reason: "NonZeroExitCode",
    });
    expect(done?.conditions?.[1]).toMatchObject({ status: "True", lastTransitionTime: now.toISOString() });
  });
});

describe("helpers", () => {
  it("timestamp normalises strings and Dates, rejects junk", () => {
    expect(timestamp("2026-01-02T03:04:05Z")).toBe("2026-01-02T03:04:05.000Z");
    expect(timestamp(new Date(0))).toBe("1970-01-01T00:00:00.000Z");
    expect(timestamp("soon")).toBeUndefined();
    expect(timestamp(undefined)).toBeUndefined();
  });

  it("schedule skew", () => {
    expect(scheduleSkewSeconds("2026-01-02T03:00:00Z", "2026-01-02T03:00:02.5Z")).toBe(2.5);
    expect(scheduleSkewSeconds("2026-01-02T03:00:00Z", "2026-01-02T02:59:59Z")).toBe(0);
    expect(scheduleSkewSeconds("2026-01-02T03:00:00Z", undefined)).toBeUndefined();
  });
});

describe("observeWithoutPod (AUTOMATIC run, its Pod is gone or not there yet)", () => {
  const job = (...conditions: Array<[string, string?]>): k8s.V1Job => ({
    metadata: { name: "j" },
    status: {
      conditions: conditions.map(([type, reason]) => ({
        type,
        status: "True",
        ...(reason ? { reason } : {}),
      })),
      completionTime: ended as unknown as Date,
    },
  });
  const cases: Array<[string, k8s.V1Job | undefined, boolean, boolean, Partial<RunObservation> | undefined]> =
    [
      ["Job running, no Pod yet", job(), false, false, { phase: "PENDING", reason: "WaitingForPod" }],
      ["Job running, Pod seen and gone: wait for the Job", job(), true, false, undefined],
      ["Job complete, Pod gone", job(["Complete"]), true, false, { phase: "COMPLETED", exitCode: 0 }],
      [
        "Job past its deadline",
        job(["Failed", "DeadlineExceeded"]),
        true,
        false,
        { phase: "FAILED", reason: "DeadlineExceeded" },
      ],
      [
        "deadline as a FailureTarget",
        job(["FailureTarget", "DeadlineExceeded"]),
        false,
        false,
        { phase: "FAILED", reason: "DeadlineExceeded" },
      ],
      [
        "Job failed after its Pod was deleted",
        job(["Failed", "BackoffLimitExceeded"]),
        true,
        false,
        { phase: "FAILED", reason: "PodDeleted" },
      ],
      [
        "Job failed, no Pod ever",
        job(["Failed", "BackoffLimitExceeded"]),
        false,
        false,
        { phase: "FAILED", reason: "BackoffLimitExceeded" },
      ],
      ["Job and Pod deleted", undefined, true, false, { phase: "FAILED", reason: "PodDeleted" }],
      ["Job deleted before a Pod", undefined, false, false, { phase: "FAILED", reason: "JobDeleted" }],
      ["stopped by termination", undefined, true, true, { phase: "CANCELED", reason: "WorkflowTerminated" }],
      ["terminated before a Pod", job(), false, true, { phase: "CANCELED", reason: "WorkflowTerminated" }],
      ["completed despite termination", job(["Complete"]), true, true, { phase: "COMPLETED" }],
    ];
  it.each(cases)("%s", (_name, batchJob, hadPod, workflowTerminated, expected) => {
    const observed = observeWithoutPod({ jobName: "j", job: batchJob, hadPod, workflowTerminated, now });
    if (expected === undefined) expect(observed).toBeUndefined();
    else expect(observed).toMatchObject(expected);
  });
});
