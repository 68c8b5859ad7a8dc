// The Postgres connection for every service: one pg pool wrapped in Kysely,
// typed by the table definitions in ./schema.ts.
//
// A database that goes away must not take the process with it, and a query
// must not wait forever (docs/reliability.md, "Faults survived"):
// - the pool and every client have an `error` handler: a connection whose
//   backend is terminated (pg_terminate_backend, a restart), idle or in use,
//   is dropped and logged, where pg's default would be an unhandled 'error'
//   event, i.e. a crash;
// - opening a connection (or waiting for a free one) is bounded by the
//   connect timeout, every statement by the server-side statement_timeout (and
//   open transactions by idle_in_transaction_session_timeout), and the client
//   gives up on an answer that never comes a connect timeout later still;
// - a connection that failed that way is destroyed, not returned to the pool,
//   so the next query gets a fresh one, and the failure is thrown as
//   DatabaseUnavailable (./errors.ts), which RPCs answer with UNAVAILABLE;
// - idle connections are closed after the idle timeout.
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from "kysely";
import pg from "pg";
import type { Logger } from "../logging.ts";
import { DatabaseUnavailable, describeDatabaseError, isDatabaseUnavailable } from "./errors.ts";
import type { Database } from "./schema.ts";

export interface DatabaseTimeouts {
  /** Opening a connection, or waiting for a free one in the pool (DATABASE_CONNECT_TIMEOUT). */
  connectMs: number;
  /** The longest a statement may run (DATABASE_STATEMENT_TIMEOUT, Postgres's statement_timeout). */
  statementMs: number;
  /** A pooled connection unused this long is closed (DATABASE_IDLE_TIMEOUT). */
  idleMs: number;
}

export const defaultDatabaseTimeouts: DatabaseTimeouts = {
  connectMs: 5_000,
  statementMs: 30_000,
  idleMs: 30_000,
};

export interface DatabaseOptions extends Partial<DatabaseTimeouts> {
  url: string;
  maxConnections?: number;
  /** Where connection losses are reported (never with the URL); silent when absent. */
  logger?: Logger;
  /** Told whenever a connection is lost or cannot be made (the readiness monitor checks at once). */
  onConnectionError?: (error: unknown) => void;
}

/** The client gives up on a query this long after the server should have cancelled it. */
export function clientQueryTimeoutMs({ connectMs, statementMs }: DatabaseTimeouts): number {
  return statementMs + connectMs;
}

/** The pg settings behind openDatabase (exported for its unit test). */
export function poolConfig(options: DatabaseOptions): pg.PoolConfig {
  const timeouts = { ...defaultDatabaseTimeouts, ...definedOnly(options) };
  return {
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: timeouts.connectMs,
    idleTimeoutMillis: timeouts.idleMs,
    statement_timeout: timeouts.statementMs,
    idle_in_transaction_session_timeout: timeouts.statementMs,
    query_timeout: clientQueryTimeoutMs(timeouts),
    keepAlive: true,
  };
}

function definedOnly(options: DatabaseOptions): Partial<DatabaseTimeouts> {
  const out: Partial<DatabaseTimeouts> = {};
  if (options.connectMs !== undefined) out.connectMs = options.connectMs;
  if (options.statementMs !== undefined) out.statementMs = options.statementMs;
  if (options.idleMs !== undefined) out.idleMs = options.idleMs;
  return out;
}

/**
 * A pool whose checked-out clients remember a failure that leaves the
 * connection unusable (a client-side query timeout leaves the answer still on
 * its way), so that releasing them destroys them instead of pooling them.
 */
function resilientPool(pool: pg.Pool, onConnectionError: (error: unknown) => void): PostgresPool {
  return {
    get options() {
      return pool.options;
    },
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        onConnectionError(error);
        throw new DatabaseUnavailable(error);
      }
      let broken = false;
      const wrapped = {
        get processID() {
          return (client as unknown as { processID?: number }).processID;
        },
        query(...args: unknown[]): unknown {
          const result = (client.query as (...a: unknown[]) => unknown)(...args);
          if (result instanceof Promise) {
            return result.catch((error: unknown) => {
              if (!isDatabaseUnavailable(error)) throw error;
              broken = true;
              onConnectionError(error);
              throw new DatabaseUnavailable(error);
            });
          }
          return result;
        },
        release(destroy?: boolean): void {
          // A client whose connection failed between queries is not queryable
          // any more: pg-pool removes it by itself.
          client.release(destroy === true || broken);
        },
      };
      return wrapped as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}

export function openDatabase(options: DatabaseOptions): Kysely<Database> {
  const { logger } = options;
  const onConnectionError = options.onConnectionError ?? (() => undefined);
  const pool = new pg.Pool(poolConfig(options));
  // Without this listener, an idle connection whose backend ends is an
  // unhandled 'error' event and the process exits.
  pool.on("error", (error) => {
    logger?.warn({ db: describeDatabaseError(error) }, "database connection lost; it will be replaced");
    onConnectionError(error);
  });
  // pg-pool listens on idle clients only. A client that is checked out has
  // none: its backend ending between two queries, or in the very packet that
  // completed the connection (before the caller could add one), would be an
  // unhandled 'error' event too. So every client gets one for its whole life,
  // synchronously as it connects; pg marks the client unqueryable and the
  // pool drops it on release.
  pool.on("connect", (client) => {
    client.on("error", (error) => {
      logger?.debug({ db: describeDatabaseError(error) }, "database connection lost");
      onConnectionError(error);
    });
  });
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: resilientPool(pool, onConnectionError) }),
  });
}
