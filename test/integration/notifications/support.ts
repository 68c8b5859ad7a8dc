// Shared fixtures of the notifications tests: users with a preference, valid
// payloads, and a notifications client authenticated as someone.
import type { Metadata } from "@grpc/grpc-js";
import type { Kysely } from "kysely";
import { v7 as uuidv7 } from "uuid";
import {
  type CreateNotificationRequest,
  type ListNotificationsResponse,
  NotificationsServiceClient,
} from "../../../gen/notifications/notifications.ts";
import type { Database } from "../../../src/db/schema.ts";
import { type TestService, unary } from "../../support/grpc.ts";

/** Inserts a user row (the users service's table) with the given preference. */
export async function insertUser(
  db: Kysely<Database>,
  preference?: "ALL" | "ALERTS" | "NONE",
): Promise<string> {
  const id = uuidv7();
  await db
    .insertInto("users")
    .values({
      id,
      email: `${id}@example.com`,
      password_hash: "not-a-real-hash",
      ...(preference ? { notification_preference: preference } : {}),
    })
    .execute();
  return id;
}

export async function setPreference(db: Kysely<Database>, userId: string, preference: string): Promise<void> {
  await db
    .updateTable("users")
    .set({ notification_preference: preference })
    .where("id", "=", userId)
    .execute();
}

export function workflowPayload(workflowId = uuidv7(), title = "Build failed"): Record<string, string> {
  return {
    title,
    message: "The workflow could not be built",
    entity_id: workflowId,
    entity_type: "WORKFLOW",
    action_url: `/workflows/${workflowId}`,
  };
}

export function jobPayload(workflowId = uuidv7(), jobId = uuidv7()): Record<string, string> {
  return {
    title: "Job failed",
    message: "exit code 1",
    entity_id: jobId,
    entity_type: "JOB",
    action_url: `/workflows/${workflowId}/jobs/${jobId}`,
  };
}

export function createRequest(
  userId: string,
  overrides: Partial<CreateNotificationRequest> = {},
): CreateNotificationRequest {
  return {
    user_id: userId,
    kind: "WEB_ALERT",
    payload: JSON.stringify(workflowPayload()),
    idempotency_key: uuidv7(),
    ...overrides,
  };
}

export interface Clients {
  client: NotificationsServiceClient;
  service: Metadata;
  create(request: CreateNotificationRequest): Promise<string>;
  list(userId: string, cursor?: string, metadata?: Metadata): Promise<ListNotificationsResponse>;
  /** Every page of the user's list, following cursors. */
  listAll(userId: string): Promise<{ pages: ListNotificationsResponse[]; ids: string[] }>;
  markRead(userId: string, ids: string[]): Promise<void>;
}

export async function clients(svc: TestService): Promise<Clients> {
  const client = svc.client(NotificationsServiceClient);
  const service = await svc.serviceMetadata("operator");
  const list = async (userId: string, cursor = "", metadata?: Metadata) =>
    (
      await unary(
        client,
        client.listNotifications,
        { user_id: userId, cursor },
        metadata ?? (await svc.userMetadata(userId)),
      )
    ).response;
  return {
    client,
    service,
    create: async (request) => (await unary(client, client.createNotification, request, service)).response.id,
    list,
    async listAll(userId) {
      const pages: ListNotificationsResponse[] = [];
      let cursor = "";
      do {
        const page = await list(userId, cursor);
        pages.push(page);
        cursor = page.cursor;
      } while (cursor !== "" && pages.length < 100);
      return { pages, ids: pages.flatMap((p) => p.notifications.map((n) => n.id)) };
    },
    async markRead(userId, ids) {
      await unary(
        client,
        client.markNotificationsRead,
        { user_id: userId, ids },
        await svc.userMetadata(userId),
      );
    },
  };
}
