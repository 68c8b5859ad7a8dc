// Idempotency keys of the workflows service (CreateWorkflow, UpdateWorkflow,
// and the per-job failure counter). A row is claimed (INSERT … ON CONFLICT on
// the primary key) before the service acts and completed with the response
// afterwards, so concurrent duplicates cannot both act. See docs/workflows.md.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("workflow_idempotency_keys")
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("operation", "varchar(64)", (c) => c.notNull())
    .addColumn("key", "varchar(512)", (c) => c.notNull())
    // sha256 of the normalized request: same key + different request is refused.
    .addColumn("request_hash", "char(64)", (c) => c.notNull())
    // Chosen when the key is claimed (the new workflow's id), so a retry after
    // a crash creates the same object rather than a second one.
    .addColumn("resource_id", "uuid", (c) => c.notNull())
    // Null while the first request is in flight.
    .addColumn("response", "jsonb")
    // Who holds the claim: completing or releasing it is a compare-and-set on this.
    .addColumn("claim_token", "uuid", (c) => c.notNull())
    .addColumn("claimed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("completed_at", "timestamptz")
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addPrimaryKeyConstraint("workflow_idempotency_keys_pkey", ["user_id", "operation", "key"])
    .execute();
  await db.schema
    .createIndex("workflow_idempotency_keys_expires_at")
    .on("workflow_idempotency_keys")
    .column("expires_at")
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("workflow_idempotency_keys").execute();
}
