// The notifier other processes use, against the real service: events become
// notifications of the kinds SPEC.md lists, a replayed event files nothing new,
// and a wrong token is refused.
import { credentials, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotifier, type Notifier, notifierFromConfig } from "../../../services/notifications/client.ts";
import { createNotificationsService } from "../../../services/notifications/server.ts";
import { bearerMetadata } from "../../../src/grpc/client.ts";
import { expectStatus, startTestService, type TestService } from "../../support/grpc.ts";
import { insertUser } from "./support.ts";

describe("Notifier", () => {
  let svc: TestService;
  let notifier: Notifier;

  beforeAll(async () => {
    svc = await startTestService(createNotificationsService);
    notifier = notifierFromConfig(
      { ...svc.config, addresses: { ...svc.config.addresses, notifications: svc.address } },
      svc.tokens,
      "operator",
    );
  });
  afterAll(async () => {
    notifier?.close();
    await svc?.stop();
  });

  it("files an event's notifications once, however often it is replayed", async () => {
    const userId = await insertUser(svc.db, "ALL");
    const workflowId = uuidv7();
    const event = {
      type: "workflow-terminated" as const,
      userId,
      workflowId,
      workflowName: "nightly",
      terminatedAt: new Date(),
      byFailureThreshold: true,
      maxConsecutiveFailures: 3,
    };
    const ids = await notifier.notify(event);
    expect(ids).toHaveLength(2);
    expect(await notifier.notify(event)).toEqual(ids);
    const jobIds = await notifier.notify({
      type: "job-failed",
      userId,
      workflowId,
      jobId: uuidv7(),
      reason: "exit 1",
    });
    const rows = await svc.db
      .selectFrom("notifications")
      .select(["id", "kind"])
      .where("user_id", "=", userId)
      .orderBy("id")
      .execute();
    expect(rows).toEqual([
      { id: ids[0], kind: "WEB_INFO" },
      { id: ids[1], kind: "WEB_ALERT" },
      { id: jobIds[0], kind: "WEB_ERROR" },
    ]);
  });

  it("is refused with a user's token (PermissionDenied)", async () => {
    const userId = await insertUser(svc.db);
    const asUser = createNotifier({
      address: svc.address,
      credentials: credentials.createInsecure(),
      metadata: async () => bearerMetadata(await svc.tokens.issueUserToken(userId)),
    });
    try {
      await expectStatus(
        asUser.notify({ type: "build-started", userId, workflowId: uuidv7(), generation: 1 }),
        status.PERMISSION_DENIED,
      );
    } finally {
      asUser.close();
    }
  });
});
