// The Postgres connection for every service: one pg pool wrapped in Kysely,
// typed by the table definitions in ./schema.ts.
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";

export interface DatabaseOptions {
  url: string;
  maxConnections?: number;
}

export function openDatabase({ url, maxConnections = 10 }: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
