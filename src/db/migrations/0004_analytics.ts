// Analytics counters. Nothing here references workflows or jobs by foreign
// key: counters must outlive the Workflow and WorkflowJob objects (which live
// in Kubernetes and are deleted). `workflow_analytics` holds one row of totals
// per workflow (user totals are sums over a user's rows); `analytics_jobs` is
// the per-job ledger that makes recording a job exactly-once: its primary key
// is the job id, and a job's contribution is applied to the totals only in the
// transaction that first records it.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("workflow_analytics")
    .addColumn("workflow_id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("total_jobs", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("total_job_execution_duration_ms", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("total_joblogs", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("workflow_analytics_user").on("workflow_analytics").column("user_id").execute();
  await db.schema
    .createTable("analytics_jobs")
    .addColumn("job_id", "uuid", (c) => c.primaryKey())
    .addColumn("workflow_id", "uuid", (c) => c.notNull())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    // Null until the job's terminal state is recorded.
    .addColumn("execution_duration_ms", "bigint")
    .addColumn("log_lines", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("analytics_jobs").execute();
  await db.schema.dropTable("workflow_analytics").execute();
}
