import { describe, expect, it } from "vitest";
import { notificationsFor } from "../../services/notifications/events.ts";
import type { BuildStatus, Workflow, WorkflowKind, WorkflowStatus } from "../api/v1alpha1/workflow.ts";
import {
  buildFinishedNotification,
  buildStartedNotification,
  terminationNotification,
} from "./workflow-notifications.ts";

const userId = "0192f0a4-1111-7000-8000-000000000001";
const workflowId = "0192f0a4-2222-7000-8000-000000000002";

function workflow(
  kind: WorkflowKind,
  {
    status,
    terminated = false,
    generation = 3,
  }: { status?: WorkflowStatus; terminated?: boolean; generation?: number } = {},
): Workflow {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "Workflow",
    metadata: { name: workflowId, namespace: "ns", uid: "u", generation },
    spec: {
      userId,
      displayName: "nightly",
      kind,
      intervalMinutes: 5,
      maxConsecutiveFailures: 3,
      logRetention: false,
      terminated,
    },
    ...(status === undefined ? {} : { status }),
  };
}

/** kind and idempotency key of each request an event files. */
function filed(event: ReturnType<typeof terminationNotification>): string[] {
  return event === undefined ? [] : notificationsFor(event).map((r) => `${r.kind} ${r.idempotency_key}`);
}

describe("buildStartedNotification", () => {
  it("files build-started for a CONTAINER workflow, keyed by its generation", () => {
    expect(filed(buildStartedNotification(workflow("CONTAINER")))).toEqual([
      `WEB_INFO build-started:${workflowId}:3`,
    ]);
  });
  it("files nothing for a HEARTBEAT workflow (its build is skipped, filed when it finishes)", () => {
    expect(buildStartedNotification(workflow("HEARTBEAT"))).toBeUndefined();
  });
});

describe("buildFinishedNotification", () => {
  it.each<[WorkflowKind, BuildStatus | undefined, BuildStatus | undefined, string[]]>([
    ["CONTAINER", "STARTED", "COMPLETED", [`WEB_SUCCESS build-completed:${workflowId}:3`]],
    ["HEARTBEAT", "STARTED", "COMPLETED", [`WEB_INFO build-skipped:${workflowId}:3`]],
    ["CONTAINER", "STARTED", "FAILED", [`WEB_ALERT build-failed:${workflowId}:3`]],
    ["HEARTBEAT", "STARTED", "FAILED", [`WEB_ALERT build-failed:${workflowId}:3`]],
    ["CONTAINER", "COMPLETED", "COMPLETED", []], // an interval change or a resync: nothing was built
    ["CONTAINER", "FAILED", "FAILED", []],
    ["CONTAINER", "STARTED", "CANCELED", []], // terminated before the build finished
    ["CONTAINER", "COMPLETED", "STARTED", []],
  ])("%s %s → %s files %j", (kind, previous, next, expected) => {
    expect(filed(buildFinishedNotification(workflow(kind), previous, next, "bad env"))).toEqual(expected);
  });

  it("puts the reason of a failed build in the message", () => {
    const event = buildFinishedNotification(workflow("CONTAINER"), "STARTED", "FAILED", "bad env name");
    const [request] = event === undefined ? [] : notificationsFor(event);
    expect(JSON.parse(request?.payload ?? "{}").message).toContain("bad env name");
  });
});

describe("terminationNotification", () => {
  const terminatedAt = "2026-12-01T10:00:00Z";

  it("files one WEB_INFO keyed by terminatedAt, the same key the failure threshold's filing uses", () => {
    const event = terminationNotification(
      workflow("CONTAINER", { terminated: true, status: { terminatedAt } }),
    );
    const threshold = notificationsFor({
      userId,
      workflowId,
      type: "workflow-terminated",
      terminatedAt: new Date(terminatedAt),
      byFailureThreshold: true,
      maxConsecutiveFailures: 3,
    });
    expect(filed(event)).toEqual([`WEB_INFO workflow-terminated:${workflowId}:2026-12-01T10:00:00.000Z`]);
    expect(threshold.map((r) => r.idempotency_key)).toContain(
      `workflow-terminated:${workflowId}:2026-12-01T10:00:00.000Z`,
    );
  });

  it.each<[string, boolean, WorkflowStatus | undefined]>([
    ["active", false, undefined],
    ["re-activated (terminatedAt cleared)", false, {}],
    ["terminated, terminatedAt not written yet", true, {}],
    ["terminated, terminatedAt unreadable", true, { terminatedAt: "soon" }],
  ])("files nothing when %s", (_, terminated, status) => {
    expect(
      terminationNotification(workflow("CONTAINER", { terminated, ...(status ? { status } : {}) })),
    ).toBeUndefined();
  });
});
