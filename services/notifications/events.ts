// The events that notify (SPEC.md, Notifications) as CreateNotification
// requests, pure: which kind each event files, its payload, and an
// idempotency key derived from the event itself, so that a replayed reconcile
// files nothing twice. The operator (and the workflows service) send these
// through ./client.ts.
import type { CreateNotificationRequest } from "../../gen/notifications/notifications.ts";
import type { NotificationKind, NotificationPayload } from "./domain.ts";

interface WorkflowRef {
  userId: string;
  workflowId: string;
  /** Display name, for the message; the id is used when empty. */
  workflowName?: string;
}

interface JobRef extends WorkflowRef {
  jobId: string;
}

export type NotificationEvent =
  /** The build of this generation started. */
  | (WorkflowRef & { type: "build-started"; generation: number })
  /** HEARTBEAT workflows run this project's own image: nothing to build. */
  | (WorkflowRef & { type: "build-skipped"; generation: number })
  | (WorkflowRef & { type: "build-completed"; generation: number })
  | (WorkflowRef & { type: "build-failed"; generation: number; reason?: string })
  | (JobRef & { type: "job-completed" })
  | (JobRef & { type: "job-failed"; reason?: string })
  /**
   * A pending or running job canceled because its workflow was terminated —
   * or, byUpdate, a pending one because an update changed what runs.
   */
  | (JobRef & { type: "job-canceled"; byUpdate?: boolean })
  /**
   * The workflow was terminated, by its user or by the operator when the
   * consecutive failures reached the maximum (byFailureThreshold, which files
   * a WEB_ALERT as well). terminatedAt tells one termination from a later one.
   */
  | (WorkflowRef & {
      type: "workflow-terminated";
      terminatedAt: Date;
      byFailureThreshold: boolean;
      maxConsecutiveFailures?: number;
    });

function label(ref: WorkflowRef): string {
  const name = ref.workflowName?.trim();
  return name ? `"${name}"` : ref.workflowId;
}

function workflowPayload(ref: WorkflowRef, title: string, message: string): NotificationPayload {
  return {
    title,
    message,
    entity_id: ref.workflowId,
    entity_type: "WORKFLOW",
    action_url: `/workflows/${ref.workflowId}`,
  };
}

function jobPayload(ref: JobRef, title: string, message: string): NotificationPayload {
  return {
    title,
    message,
    entity_id: ref.jobId,
    entity_type: "JOB",
    action_url: `/workflows/${ref.workflowId}/jobs/${ref.jobId}`,
  };
}

function request(
  ref: WorkflowRef,
  kind: NotificationKind,
  idempotencyKey: string,
  payload: NotificationPayload,
): CreateNotificationRequest {
  return { user_id: ref.userId, kind, payload: JSON.stringify(payload), idempotency_key: idempotencyKey };
}

function withReason(message: string, reason: string | undefined): string {
  const trimmed = reason?.trim();
  return trimmed ? `${message}: ${trimmed}` : `${message}.`;
}

/** The CreateNotification requests an event files (two for a threshold termination). */
export function notificationsFor(event: NotificationEvent): CreateNotificationRequest[] {
  const name = label(event);
  switch (event.type) {
    case "build-started":
      return [
        request(
          event,
          "WEB_INFO",
          `build-started:${event.workflowId}:${event.generation}`,
          workflowPayload(event, "Workflow build started", `Building workflow ${name}.`),
        ),
      ];
    case "build-skipped":
      return [
        request(
          event,
          "WEB_INFO",
          `build-skipped:${event.workflowId}:${event.generation}`,
          workflowPayload(event, "Workflow build skipped", `Heartbeat workflow ${name} needs no build.`),
        ),
      ];
    case "build-completed":
      return [
        request(
          event,
          "WEB_SUCCESS",
          `build-completed:${event.workflowId}:${event.generation}`,
          workflowPayload(event, "Workflow build completed", `Workflow ${name} is built and scheduled.`),
        ),
      ];
    case "build-failed":
      return [
        request(
          event,
          "WEB_ALERT",
          `build-failed:${event.workflowId}:${event.generation}`,
          workflowPayload(
            event,
            "Workflow build failed",
            withReason(`Workflow ${name} could not be built`, event.reason),
          ),
        ),
      ];
    case "job-completed":
      return [
        request(
          event,
          "WEB_SUCCESS",
          `job-completed:${event.jobId}`,
          jobPayload(event, "Job completed", `A job of workflow ${name} completed.`),
        ),
      ];
    case "job-failed":
      return [
        request(
          event,
          "WEB_ERROR",
          `job-failed:${event.jobId}`,
          jobPayload(event, "Job failed", withReason(`A job of workflow ${name} failed`, event.reason)),
        ),
      ];
    case "job-canceled":
      return [
        request(
          event,
          "WEB_INFO",
          `job-canceled:${event.jobId}`,
          jobPayload(
            event,
            "Job canceled",
            event.byUpdate
              ? `A pending job of workflow ${name} was canceled: the workflow was updated.`
              : `A job of workflow ${name} was canceled: the workflow was terminated.`,
          ),
        ),
      ];
    case "workflow-terminated": {
      const at = event.terminatedAt.toISOString();
      const info = request(
        event,
        "WEB_INFO",
        `workflow-terminated:${event.workflowId}:${at}`,
        workflowPayload(
          event,
          "Workflow terminated",
          `Workflow ${name} was terminated; no further jobs will run.`,
        ),
      );
      if (!event.byFailureThreshold) return [info];
      const max = event.maxConsecutiveFailures;
      const alert = request(
        event,
        "WEB_ALERT",
        `failure-threshold:${event.workflowId}:${at}`,
        workflowPayload(
          event,
          "Workflow terminated after repeated failures",
          `Workflow ${name} was terminated after ${max !== undefined ? `${max} ` : ""}consecutive job failures.`,
        ),
      );
      return [info, alert];
    }
  }
}
