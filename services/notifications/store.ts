// Notifications in Postgres: create (idempotent per user and key), list a
// user's unread ones newest first (keyset on the time-ordered id), mark read.
import type { Kysely } from "kysely";
import { sql } from "kysely";
import { v7 as uuidv7 } from "uuid";
import type { Database } from "../../src/db/schema.ts";
import {
  decodeCursor,
  encodeCursor,
  type NewNotification,
  NOTIFICATION_KINDS,
  NOTIFICATIONS_PAGE_SIZE,
  visibleKinds,
} from "./domain.ts";

export interface Notification {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  readAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NotificationPage {
  notifications: Notification[];
  /** Empty when this is the last page. */
  cursor: string;
}

export interface CreatedNotification {
  id: string;
  /** False when (user, idempotency key) already existed and its id is returned. */
  created: boolean;
}

/**
 * Files a notification. A repeated (user_id, idempotency_key) returns the id
 * of the first one and changes nothing; the unique index settles concurrent
 * duplicates (the loser's ON CONFLICT waits for the winner's commit).
 */
export async function createNotification(
  db: Kysely<Database>,
  notification: NewNotification,
): Promise<CreatedNotification> {
  const inserted = await db
    .insertInto("notifications")
    .values({
      id: uuidv7(),
      user_id: notification.userId,
      kind: notification.kind,
      payload: JSON.stringify(notification.payload),
      idempotency_key: notification.idempotencyKey,
    })
    .onConflict((oc) => oc.columns(["user_id", "idempotency_key"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, created: true };
  const existing = await db
    .selectFrom("notifications")
    .select("id")
    .where("user_id", "=", notification.userId)
    .where("idempotency_key", "=", notification.idempotencyKey)
    .executeTakeFirstOrThrow();
  return { id: existing.id, created: false };
}

/** The user's notification_preference from the users table (undefined if there is no such user). */
export async function notificationPreference(
  db: Kysely<Database>,
  userId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom("users")
    .select("notification_preference")
    .where("id", "=", userId)
    .executeTakeFirst();
  return row?.notification_preference;
}

export interface ListOptions {
  /** Opaque cursor from the previous page; empty for the first. */
  cursor?: string;
  /** Page size; SPEC.md's 1000 unless a test asks for fewer. */
  pageSize?: number;
}

/**
 * One page of the user's unread notifications, newest first, holding only the
 * kinds the user's preference shows. Throws InvalidArgument for a bad cursor.
 */
export async function listUnreadNotifications(
  db: Kysely<Database>,
  userId: string,
  { cursor = "", pageSize = NOTIFICATIONS_PAGE_SIZE }: ListOptions = {},
): Promise<NotificationPage> {
  const after = decodeCursor(cursor);
  const kinds = visibleKinds(await notificationPreference(db, userId));
  if (kinds.length === 0) return { notifications: [], cursor: "" };
  let query = db
    .selectFrom("notifications")
    .select(["id", "kind", "payload", "read_at", "created_at", "updated_at"])
    .where("user_id", "=", userId)
    .where("read_at", "is", null)
    .orderBy("id", "desc")
    .limit(pageSize + 1);
  // Every kind visible: no kind filter, so the (user_id, id) index serves it;
  // otherwise the (user_id, kind, id) index does.
  if (kinds.length < NOTIFICATION_KINDS.length) query = query.where("kind", "in", kinds);
  if (after !== undefined) query = query.where("id", "<", after);
  const rows = await query.execute();
  const page = rows.slice(0, pageSize);
  const last = page.at(-1);
  return {
    notifications: page.map((row) => ({
      id: row.id,
      kind: row.kind,
      payload: row.payload,
      readAt: row.read_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    })),
    cursor: rows.length > pageSize && last ? encodeCursor(last.id) : "",
  };
}

/**
 * Marks the given notifications of this user read. Ids of other users' or
 * unknown notifications are ignored; ones already read keep their read_at.
 * Returns how many changed.
 */
export async function markNotificationsRead(
  db: Kysely<Database>,
  userId: string,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
    .updateTable("notifications")
    .set({ read_at: sql`now()`, updated_at: sql`now()` })
    .where("user_id", "=", userId)
    .where("id", "in", ids)
    .where("read_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
