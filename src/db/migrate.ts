// Runs the schema migrations with Kysely's migrator. Migrations are listed
// here explicitly (not discovered from the file system) so that their order is
// reviewed and bundling cannot drop one.
import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import { type Migration, type MigrationResultSet, Migrator } from "kysely/migration";
import type { Logger } from "../logging.ts";
import { DatabaseUnavailable, describeDatabaseError } from "./errors.ts";
import * as users from "./migrations/0001_users.ts";
import * as notifications from "./migrations/0003_notifications.ts";
import * as analytics from "./migrations/0004_analytics.ts";
import * as workflowIdempotency from "./migrations/0005_workflow_idempotency.ts";
import * as jobs from "./migrations/0006_jobs.ts";
import * as jobKeyAnswered from "./migrations/0007_job_key_answered.ts";

export const migrations: Record<string, Migration> = {
  "0001_users": users,
  "0003_notifications": notifications,
  "0004_analytics": analytics,
  "0005_workflow_idempotency": workflowIdempotency,
  "0006_jobs": jobs,
  "0007_job_key_answered": jobKeyAnswered,
};

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return result;
}

/** Waits between tries while the database is unreachable at start: 1 s, doubling, at most 30 s. */
export function startRetryDelayMs(attempt: number): number {
  return Math.min(1_000 * 2 ** (attempt - 1), 30_000);
}

/**
 * migrateToLatest, but a database that is unreachable at start (a Postgres
 * restart, a database still starting beside the services) is waited for
 * rather than ending the process; any other failure is thrown at once.
 */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateWhenReachable(db: Kysely<any>, logger: Logger): Promise<MigrationResultSet> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateToLatest(db);
    } catch (error) {
      const cause = error instanceof DatabaseUnavailable ? error : (error as Error).cause;
      if (!(cause instanceof DatabaseUnavailable)) throw error;
      const delayMs = startRetryDelayMs(attempt);
      logger.warn(
        { db: describeDatabaseError(cause.cause), attempt, retryInMs: delayMs },
        "database unreachable at start: waiting for it before migrating",
      );
      await sleep(delayMs);
    }
  }
}
