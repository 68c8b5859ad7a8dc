// Which notifications a Workflow's own life files (SPEC.md, Notifications:
// build started / skipped / completed / failed, workflow terminated), pure.
// The Workflow controller asks these before it writes the status they
// describe, so a crash between the two repeats the notification with the
// same idempotency key (the event's generation or terminatedAt) and the
// notifications service files it once.
import type { NotificationEvent } from "../../services/notifications/events.ts";
import type { BuildStatus, Workflow } from "../api/v1alpha1/workflow.ts";

function ref(workflow: Workflow) {
  return {
    userId: workflow.spec.userId,
    workflowId: workflow.metadata.name ?? "",
    ...(workflow.spec.displayName ? { workflowName: workflow.spec.displayName } : {}),
  };
}

/**
 * The notification of a build that begins now (STARTED is about to be
 * written): `build-started` for CONTAINER workflows. HEARTBEAT workflows run
 * this project's own image, so their build is "skipped" instead, filed when
 * it finishes (see buildFinishedNotification).
 */
export function buildStartedNotification(workflow: Workflow): NotificationEvent | undefined {
  if (workflow.spec.kind !== "CONTAINER") return undefined;
  return { ...ref(workflow), type: "build-started", generation: workflow.metadata.generation ?? 0 };
}

/**
 * The notification of a build status about to be written over `previous`:
 * COMPLETED files `build-completed` (CONTAINER) or `build-skipped`
 * (HEARTBEAT), FAILED files `build-failed` with the reason; nothing when the
 * status does not change into one of them (an interval change on a built
 * workflow, a resync, a cancel).
 */
export function buildFinishedNotification(
  workflow: Workflow,
  previous: BuildStatus | undefined,
  next: BuildStatus | undefined,
  reason?: string,
): NotificationEvent | undefined {
  if (next === previous) return undefined;
  const generation = workflow.metadata.generation ?? 0;
  if (next === "COMPLETED") {
    return workflow.spec.kind === "HEARTBEAT"
      ? { ...ref(workflow), type: "build-skipped", generation }
      : { ...ref(workflow), type: "build-completed", generation };
  }
  if (next === "FAILED") {
    return { ...ref(workflow), type: "build-failed", generation, ...(reason ? { reason } : {}) };
  }
  return undefined;
}

/**
 * `workflow-terminated` (WEB_INFO) for a terminated workflow whose
 * terminatedAt is recorded — however it was terminated (TerminateWorkflow or
 * the failure threshold, whose own filing carries the same key, so the two
 * file one). Keyed by terminatedAt: terminating again changes nothing and
 * files nothing; a re-activated workflow terminated later files again.
 */
export function terminationNotification(workflow: Workflow): NotificationEvent | undefined {
  const at = workflow.status?.terminatedAt;
  if (!workflow.spec.terminated || !at) return undefined;
  const terminatedAt = new Date(at);
  if (Number.isNaN(terminatedAt.getTime())) return undefined;
  return { ...ref(workflow), type: "workflow-terminated", terminatedAt, byFailureThreshold: false };
}
