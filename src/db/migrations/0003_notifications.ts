// Notifications: one row per notification filed for a user. Idempotency is
// enforced by Postgres (a unique (user_id, idempotency_key) index that
// CreateNotification inserts against with ON CONFLICT), so concurrent
// duplicates cannot both land. The list query (a user's unread ones, newest
// first, keyset on the time-ordered id) is served by partial indexes.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("notifications")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("kind", "varchar(16)", (c) =>
      c.notNull().check(sql`kind in ('WEB_ALERT', 'WEB_ERROR', 'WEB_WARN', 'WEB_SUCCESS', 'WEB_INFO')`),
    )
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("idempotency_key", "varchar(255)", (c) => c.notNull())
    .addColumn("read_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("notifications_user_idempotency_key")
    .unique()
    .on("notifications")
    .columns(["user_id", "idempotency_key"])
    .execute();
  await db.schema
    .createIndex("notifications_user_unread")
    .on("notifications")
    .columns(["user_id", "id desc"])
    .where(sql.ref("read_at"), "is", null)
    .execute();
  // For preferences that show only some kinds (ALERTS): without it, a user
  // with many unread WEB_SUCCESS rows would scan them all to find the alerts.
  await db.schema
    .createIndex("notifications_user_kind_unread")
    .on("notifications")
    .columns(["user_id", "kind", "id desc"])
    .where(sql.ref("read_at"), "is", null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("notifications").execute();
}
