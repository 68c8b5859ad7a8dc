// Users in Postgres (table `users`). Emails arrive already normalized
// (lower-cased); queries go through lower(email) so they use the unique index
// users_email_key, which is also what makes concurrent registration safe.
import type { Kysely, Selectable } from "kysely";
import type { Database, UsersTable } from "../../src/db/schema.ts";
import { AlreadyExists } from "../../src/grpc/errors.ts";
import type { NotificationPreference } from "./domain.ts";

export type UserRow = Selectable<UsersTable>;

const UNIQUE_VIOLATION = "23505";

function isEmailTaken(error: unknown): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === UNIQUE_VIOLATION && pgError.constraint === "users_email_key";
}

export interface UserStore {
  /** Inserts a user; AlreadyExists when the email is taken (also when two registrations race). */
  insert(user: { id: string; email: string; passwordHash: string }): Promise<void>;
  findByEmail(email: string): Promise<UserRow | undefined>;
  findById(id: string): Promise<UserRow | undefined>;
  /** Returns false when there is no such user. */
  updateNotificationPreference(id: string, preference: NotificationPreference): Promise<boolean>;
}

export function createUserStore(db: Kysely<Database>): UserStore {
  return {
    async insert({ id, email, passwordHash }) {
      try {
        await db.insertInto("users").values({ id, email, password_hash: passwordHash }).execute();
      } catch (error) {
        if (isEmailTaken(error)) throw new AlreadyExists("email: is already registered", "email");
        throw error;
      }
    },
    findByEmail: (email) =>
      db
        .selectFrom("users")
        .selectAll()
        .where((eb) => eb(eb.fn("lower", ["email"]), "=", email.toLowerCase()))
        .executeTakeFirst(),
    findById: (id) => db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst(),
    async updateNotificationPreference(id, preference) {
      const result = await db
        .updateTable("users")
        .set((eb) => ({ notification_preference: preference, updated_at: eb.fn("now") }))
        .where("id", "=", id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}
