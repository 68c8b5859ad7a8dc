import { describe, expect, it } from "vitest";
import { parseNewNotification } from "./domain.ts";
import { type NotificationEvent, notificationsFor } from "./events.ts";

const ref = {
  userId: "0193a000-0000-7000-8000-00000000a11c",
  workflowId: "0193a000-0000-7000-8000-0000000000aa",
  workflowName: "nightly backup",
};
const jobId = "0193a000-0000-7000-8000-0000000000bb";
const terminatedAt = new Date("2026-03-04T05:06:07.000Z");

// SPEC.md, Notifications: "Events that notify" and the kind each files.
const table: [NotificationEvent, string[]][] = [
  [{ ...ref, type: "build-started", generation: 2 }, ["WEB_INFO"]],
  [{ ...ref, type: "build-skipped", generation: 2 }, ["WEB_INFO"]],
  [{ ...ref, type: "build-completed", generation: 2 }, ["WEB_SUCCESS"]],
  [{ ...ref, type: "build-failed", generation: 2, reason: "image not found" }, ["WEB_ALERT"]],
  [{ ...ref, jobId, type: "job-completed" }, ["WEB_SUCCESS"]],
  [{ ...ref, jobId, type: "job-failed", reason: "exit code 3" }, ["WEB_ERROR"]],
  [{ ...ref, jobId, type: "job-canceled" }, ["WEB_INFO"]],
  [{ ...ref, type: "workflow-terminated", terminatedAt, byFailureThreshold: false }, ["WEB_INFO"]],
  [
    {
      ...ref,
      type: "workflow-terminated",
      terminatedAt,
      byFailureThreshold: true,
      maxConsecutiveFailures: 3,
    },
    ["WEB_INFO", "WEB_ALERT"],
  ],
];

describe("notificationsFor", () => {
  it.each(table)("%o files %j, each a valid CreateNotification", (event, kinds) => {
    const requests = notificationsFor(event);
    expect(requests.map((r) => r.kind)).toEqual(kinds);
    for (const r of requests) {
      const parsed = parseNewNotification(r); // throws on anything the service would refuse
      expect(parsed.userId).toBe(ref.userId);
      const isJob = "jobId" in event;
      expect(parsed.payload.entity_type).toBe(isJob ? "JOB" : "WORKFLOW");
      expect(parsed.payload.action_url).toBe(
        isJob ? `/workflows/${ref.workflowId}/jobs/${jobId}` : `/workflows/${ref.workflowId}`,
      );
      expect(parsed.payload.message).toContain('"nightly backup"');
    }
  });

  it("derives the same key from the same event and different keys from different events", () => {
    const keys = table.flatMap(([event]) => notificationsFor(event).map((r) => r.idempotency_key));
    expect(new Set(keys).size).toBe(keys.length - 1); // the threshold termination repeats the plain one's INFO
    expect(notificationsFor(table[0]?.[0] as NotificationEvent)).toEqual(
      notificationsFor(table[0]?.[0] as NotificationEvent),
    );
    const next = notificationsFor({ ...ref, type: "build-started", generation: 3 })[0]?.idempotency_key;
    expect(next).not.toBe(
      notificationsFor({ ...ref, type: "build-started", generation: 2 })[0]?.idempotency_key,
    );
    const later = notificationsFor({
      ...ref,
      type: "workflow-terminated",
      terminatedAt: new Date(0),
      byFailureThreshold: false,
    });
    expect(later[0]?.idempotency_key).not.toBe(
      notificationsFor(table[7]?.[0] as NotificationEvent)[0]?.idempotency_key,
    );
  });

  it("names the workflow by id without a name, and includes reasons", () => {
    const [r] = notificationsFor({
      ...ref,
      workflowName: "",
      type: "build-failed",
      generation: 1,
      reason: "bad image",
    });
    const payload = JSON.parse(r?.payload ?? "{}");
    expect(payload.message).toBe(`Workflow ${ref.workflowId} could not be built: bad image`);
  });
});
