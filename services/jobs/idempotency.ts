// ScheduleJob's idempotency keys in Postgres (job_idempotency_keys, migration
// 0006). The job id is fixed when a key is first claimed, before the
// WorkflowJob is created: a retry — or a concurrent duplicate, or a retry
// after a crash between claim and create — gets the same id and therefore
// names the same object (creating it is then AlreadyExists, which is success).
// Once the run exists the claim is marked answered, and an answered key only
// ever returns its id: it never creates again, even when the history limit
// has deleted the WorkflowJob meanwhile.
import { type Kysely, sql } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import { IDEMPOTENCY_KEY_LIFETIME_MS } from "./domain.ts";

export interface ClaimInput {
  userId: string;
  workflowId: string;
  key: string;
  /** The id to use when the key is new (or its earlier claim has expired). */
  newJobId: string;
}

/** The job id for this key: `newJobId` when the key is new or expired, else the one claimed before. */
export async function claimJobId(db: Kysely<Database>, input: ClaimInput): Promise<string> {
  const expiresAt = sql<Date>`now() + ${`${IDEMPOTENCY_KEY_LIFETIME_MS} milliseconds`}::interval`;
  const claimed = await db
    .insertInto("job_idempotency_keys")
    .values({
      user_id: input.userId,
      workflow_id: input.workflowId,
      key: input.key,
      job_id: input.newJobId,
      expires_at: expiresAt,
    })
    .onConflict((oc) =>
      oc
        .columns(["user_id", "workflow_id", "key"])
        .doUpdateSet({
          job_id: input.newJobId,
          created_at: sql`now()`,
          expires_at: expiresAt,
          answered_at: null,
        })
        // Only an expired claim is taken over; a live one stays as it is.
        .where("job_idempotency_keys.expires_at", "<=", sql<Date>`now()`),
    )
    .returning("job_id")
    .executeTakeFirst();
  if (claimed !== undefined) return claimed.job_id;
  const existing = await db
    .selectFrom("job_idempotency_keys")
    .select("job_id")
    .where("user_id", "=", input.userId)
    .where("workflow_id", "=", input.workflowId)
    .where("key", "=", input.key)
    .executeTakeFirstOrThrow();
  return existing.job_id;
}

/** Deletes expired keys; returns how many. */
export async function purgeExpiredKeys(db: Kysely<Database>): Promise<number> {
  const result = await db
    .deleteFrom("job_idempotency_keys")
    .where("expires_at", "<=", sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface Claim {
  jobId: string;
  /** The run was created under this key: answer with it, never create again. */
  answered: boolean;
}

/** The live (unexpired) claim of this key, if any. */
export async function findClaim(
  db: Kysely<Database>,
  claim: { userId: string; workflowId: string; key: string },
): Promise<Claim | undefined> {
  const row = await db
    .selectFrom("job_idempotency_keys")
    .select(["job_id", "answered_at"])
    .where("user_id", "=", claim.userId)
    .where("workflow_id", "=", claim.workflowId)
    .where("key", "=", claim.key)
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return row === undefined ? undefined : { jobId: row.job_id, answered: row.answered_at !== null };
}

/** Records that the key's run exists (idempotent). */
export async function markAnswered(
  db: Kysely<Database>,
  claim: { userId: string; workflowId: string; key: string; jobId: string },
): Promise<void> {
  await db
    .updateTable("job_idempotency_keys")
    .set({ answered_at: sql`now()` })
    .where("user_id", "=", claim.userId)
    .where("workflow_id", "=", claim.workflowId)
    .where("key", "=", claim.key)
    .where("job_id", "=", claim.jobId)
    .where("answered_at", "is", null)
    .execute();
}
