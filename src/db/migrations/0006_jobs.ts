// Jobs service tables. Nothing references Kubernetes objects by foreign key:
// retained logs outlive their WorkflowJob (history limits delete finished runs).
//
// - job_logs: the retained output of a run, one row per line, numbered 1..n
//   per job (seq). Paging is by (job_id, seq) — the primary key — and by
//   (job_id, stream, seq) when one stream is asked for. Case-insensitive search
//   (ILIKE) uses a pg_trgm GIN index when the extension can be created.
// - job_log_retentions: one row per job whose log was retained, written in the
//   same transaction as its lines; it makes retention idempotent and tells
//   "retained, possibly empty" apart from "not retained (yet)".
// - job_idempotency_keys: ScheduleJob's keys. The job id is chosen when the
//   key is first claimed (primary key + ON CONFLICT), so concurrent or repeated
//   requests name the same WorkflowJob. Keys live 24 h (SPEC.md).
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("job_logs")
    .addColumn("job_id", "uuid", (c) => c.notNull())
    .addColumn("seq", "integer", (c) => c.notNull().check(sql`seq > 0`))
    .addColumn("workflow_id", "uuid", (c) => c.notNull())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("stream", "varchar(6)", (c) => c.notNull().check(sql`stream in ('stdout', 'stderr')`))
    .addColumn("timestamp", "timestamptz", (c) => c.notNull())
    .addColumn("message", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("job_logs_pkey", ["job_id", "seq"])
    .execute();
  await db.schema
    .createIndex("job_logs_job_stream_seq")
    .on("job_logs")
    .columns(["job_id", "stream", "seq"])
    .execute();

  // pg_trgm ships with PostgreSQL's contrib (Debian's postgresql package) and
  // is a trusted extension; where it cannot be created, search still works
  // (ILIKE without an index scan within one job's lines).
  await sql`
    DO $$
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'pg_trgm is not available: job log search runs without a trigram index';
    END
    $$`.execute(db);
  await sql`
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX job_logs_message_trgm ON job_logs USING gin (message gin_trgm_ops)';
      END IF;
    END
    $$`.execute(db);

  await db.schema
    .createTable("job_log_retentions")
    .addColumn("job_id", "uuid", (c) => c.primaryKey())
    .addColumn("workflow_id", "uuid", (c) => c.notNull())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("line_count", "integer", (c) => c.notNull())
    .addColumn("retained_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("job_log_retentions_workflow")
    .on("job_log_retentions")
    .column("workflow_id")
    .execute();

  await db.schema
    .createTable("job_idempotency_keys")
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("workflow_id", "uuid", (c) => c.notNull())
    .addColumn("key", "varchar(255)", (c) => c.notNull())
    .addColumn("job_id", "uuid", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addPrimaryKeyConstraint("job_idempotency_keys_pkey", ["user_id", "workflow_id", "key"])
    .execute();
  await db.schema
    .createIndex("job_idempotency_keys_expires_at")
    .on("job_idempotency_keys")
    .column("expires_at")
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("job_idempotency_keys").execute();
  await db.schema.dropTable("job_log_retentions").execute();
  await db.schema.dropTable("job_logs").execute();
}
