// Idempotency keys in Postgres (table workflow_idempotency_keys, migration
// 0005). `run` claims (user, operation, key) with one INSERT … ON CONFLICT
// before acting, so of concurrent duplicates exactly one acts; the others see
// the claim: the same request still in flight → Aborted, a different request
// → AlreadyExists, a finished one → its stored response. A failed action
// releases the claim so the client can retry. A claim left in flight by a
// crashed process is taken over after `staleAfterMs`, reusing the resource id
// chosen at the first claim (a create then finds its own object).
import { createHash, randomUUID } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import { Aborted, AlreadyExists } from "../../src/grpc/errors.ts";

export const KEY_LIFETIME_MS = 24 * 3600 * 1000;

export interface IdempotencyOptions {
  lifetimeMs?: number;
  /** An in-flight claim older than this is considered abandoned (its process died). */
  staleAfterMs?: number;
}

export interface Claim {
  userId: string;
  operation: string;
  key: string;
  /** The normalized request, hashed: a different request under the same key is refused. */
  request: string;
  /** The id to act on if this claim is new (e.g. a fresh UUID for a create). */
  resourceId: string;
}

export interface IdempotencyKeys {
  /** Runs `act(resourceId)` once per (user, operation, key); repeats get the first response. */
  run<R>(claim: Claim, act: (resourceId: string) => Promise<R>): Promise<R>;
  /** Deletes expired keys; returns how many. */
  prune(): Promise<number>;
}

type Outcome = { type: "claimed"; resourceId: string; token: string } | { type: "done"; response: unknown };

export function hashRequest(request: string): string {
  return createHash("sha256").update(request).digest("hex");
}

export function createIdempotencyKeys(
  db: Kysely<Database>,
  options: IdempotencyOptions = {},
): IdempotencyKeys {
  const lifetimeMs = options.lifetimeMs ?? KEY_LIFETIME_MS;
  const staleAfterMs = options.staleAfterMs ?? 120_000;
  const table = "workflow_idempotency_keys" as const;

  async function claim(c: Claim, hash: string): Promise<Outcome | undefined> {
    const token = randomUUID();
    const expiresAt = new Date(Date.now() + lifetimeMs);
    // Insert, or take over an expired row. Returns nothing when a live row exists.
    const won = await db
      .insertInto(table)
      .values({
        user_id: c.userId,
        operation: c.operation,
        key: c.key,
        request_hash: hash,
        resource_id: c.resourceId,
        response: null,
        claim_token: token,
        expires_at: expiresAt,
      })
      .onConflict((oc) =>
        oc
          .columns(["user_id", "operation", "key"])
          .doUpdateSet({
            request_hash: hash,
            resource_id: c.resourceId,
            response: null,
            claim_token: token,
            claimed_at: sql`now()`,
            completed_at: null,
            expires_at: expiresAt,
          })
          .where(`${table}.expires_at`, "<", sql<Date>`now()`),
      )
      .returning(["resource_id"])
      .executeTakeFirst();
    if (won) return { type: "claimed", resourceId: won.resource_id, token };

    const existing = await db
      .selectFrom(table)
      .selectAll()
      .where("user_id", "=", c.userId)
      .where("operation", "=", c.operation)
      .where("key", "=", c.key)
      .executeTakeFirst();
    if (existing === undefined) return undefined; // released meanwhile: try again
    if (existing.request_hash !== hash) {
      throw new AlreadyExists(
        "idempotency_key: already used for a different request (keys are kept for 24 h)",
        "idempotency_key",
      );
    }
    if (existing.completed_at !== null) return { type: "done", response: existing.response };
    if (Date.now() - existing.claimed_at.getTime() < staleAfterMs) {
      throw new Aborted("a request with this idempotency_key is still in progress; retry later");
    }
    // Abandoned in flight: take it over (only one taker wins the compare-and-set).
    const taken = await db
      .updateTable(table)
      .set({ claimed_at: sql`now()`, claim_token: token })
      .where("user_id", "=", c.userId)
      .where("operation", "=", c.operation)
      .where("key", "=", c.key)
      .where("claim_token", "=", existing.claim_token)
      .where("completed_at", "is", null)
      .returning(["resource_id"])
      .executeTakeFirst();
    if (!taken) throw new Aborted("a request with this idempotency_key is still in progress; retry later");
    return { type: "claimed", resourceId: taken.resource_id, token };
  }

  return {
    async run<R>(c: Claim, act: (resourceId: string) => Promise<R>): Promise<R> {
      const hash = hashRequest(c.request);
      for (let attempt = 0; ; attempt++) {
        const outcome = await claim(c, hash);
        if (outcome === undefined) {
          if (attempt < 3) continue;
          throw new Aborted("a request with this idempotency_key is still in progress; retry later");
        }
        if (outcome.type === "done") return outcome.response as R;
        const { token } = outcome;
        let response: R;
        try {
          response = await act(outcome.resourceId);
        } catch (error) {
          await db
            .deleteFrom(table)
            .where("user_id", "=", c.userId)
            .where("operation", "=", c.operation)
            .where("key", "=", c.key)
            .where("claim_token", "=", token)
            .execute();
          throw error;
        }
        await db
          .updateTable(table)
          .set({ response: JSON.stringify(response ?? {}), completed_at: sql`now()` })
          .where("user_id", "=", c.userId)
          .where("operation", "=", c.operation)
          .where("key", "=", c.key)
          .where("claim_token", "=", token)
          .execute();
        return response;
      }
    },

    async prune() {
      const result = await db.deleteFrom(table).where("expires_at", "<", sql<Date>`now()`).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
