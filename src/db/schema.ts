// Kysely table types: the one TypeScript definition of each Postgres table.
// Keep in step with the migrations in ./migrations/.
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  notification_preference: Generated<string>;
  // Timestamp already makes these optional on insert (defaults in the migration).
  created_at: Timestamp;
  updated_at: Timestamp;
}

// Notifications service (migration 0003).
export interface NotificationsTable {
  id: string;
  user_id: string;
  kind: string;
  payload: ColumnType<Record<string, unknown>, string, string>;
  idempotency_key: string;
  read_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// Postgres bigint arrives as a string from pg; counters are written as numbers.
type Counter = ColumnType<string, number | bigint | undefined, number | bigint | string>;

// Analytics service (migration 0004): totals per workflow, and the per-job
// ledger that makes recording a job exactly-once.
export interface WorkflowAnalyticsTable {
  workflow_id: string;
  user_id: string;
  total_jobs: Counter;
  total_job_execution_duration_ms: Counter;
  total_joblogs: Counter;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AnalyticsJobsTable {
  job_id: string;
  workflow_id: string;
  user_id: string;
  execution_duration_ms: ColumnType<string | null, number | null | undefined, number | null>;
  log_lines: Counter;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// Workflows service (migration 0005): idempotency keys, claimed before acting.
export interface WorkflowIdempotencyKeysTable {
  user_id: string;
  operation: string;
  key: string;
  request_hash: string;
  resource_id: string;
  response: ColumnType<unknown, string | null, string | null>;
  claim_token: string;
  claimed_at: Timestamp;
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  expires_at: ColumnType<Date, Date | string, Date | string>;
}

// Jobs service (migration 0006): retained log lines, which jobs were
// retained, and ScheduleJob's idempotency keys.
export interface JobLogsTable {
  job_id: string;
  seq: number;
  workflow_id: string;
  user_id: string;
  stream: "stdout" | "stderr";
  timestamp: ColumnType<Date, Date | string, Date | string>;
  message: string;
}

export interface JobLogRetentionsTable {
  job_id: string;
  workflow_id: string;
  user_id: string;
  line_count: number;
  retained_at: Timestamp;
}

export interface JobIdempotencyKeysTable {
  user_id: string;
  workflow_id: string;
  key: string;
  job_id: string;
  created_at: Timestamp;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  /** When the key's run was created (or found created): from then on the key only ever answers with it. */
  answered_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface Database {
  users: UsersTable;
  notifications: NotificationsTable;
  workflow_analytics: WorkflowAnalyticsTable;
  analytics_jobs: AnalyticsJobsTable;
  workflow_idempotency_keys: WorkflowIdempotencyKeysTable;
  job_logs: JobLogsTable;
  job_log_retentions: JobLogRetentionsTable;
  job_idempotency_keys: JobIdempotencyKeysTable;
}
