// The ground is real: migrations run against a real Postgres and the schema they
// create enforces what it promises.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/db/database.ts";
import { migrateToLatest, migrations } from "../../../src/db/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.ts";

describe("Postgres migrations", () => {
  let database: TestDatabase;
  let db: ReturnType<typeof openDatabase>;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = openDatabase({ url: database.url });
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it("applies every migration once and records it", async () => {
    const first = await migrateToLatest(db);
    expect(first.results?.map((r) => [r.migrationName, r.status])).toEqual(
      Object.keys(migrations).map((name) => [name, "Success"]),
    );
    const again = await migrateToLatest(db);
    expect(again.results).toEqual([]);
  });

  it("stores and queries a user, with emails unique regardless of case", async () => {
    await db
      .insertInto("users")
      .values({ id: "0193a000-0000-7000-8000-000000000001", email: "ada@example.com", password_hash: "x" })
      .execute();
    const row = await db
      .selectFrom("users")
      .selectAll()
      .where("email", "=", "ada@example.com")
      .executeTakeFirst();
    expect(row?.notification_preference).toBe("ALERTS");
    await expect(
      db
        .insertInto("users")
        .values({ id: "0193a000-0000-7000-8000-000000000002", email: "ADA@example.com", password_hash: "y" })
        .execute(),
    ).rejects.toThrow(/users_email_key/);
    const { rows } = await sql<{ n: string }>`select count(*) as n from users`.execute(db);
    expect(rows[0]?.n).toBe("1");
  });
});
