// ScheduleJob keys remember that their run was created (answered_at), so a
// repeated key answers with that run and creates nothing — even after the
// history limit deleted the WorkflowJob (docs/jobs.md, idempotency keys).
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("job_idempotency_keys").addColumn("answered_at", "timestamptz").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("job_idempotency_keys").dropColumn("answered_at").execute();
}
