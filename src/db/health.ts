// Whether the database answers, for readiness: the gRPC health service of
// every service that uses Postgres and the operator's /readyz follow it
// (docs/reliability.md, "Faults survived").
//
// It probes over a connection of its own rather than through the pool, so a
// pool that is merely busy does not read as an outage. A probe is "connect if
// needed, then select 1", bounded by the connect timeout. A failed probe is
// tried once more on a fresh connection before the database counts as down, so
// that a single terminated backend (the probe's own) is not an outage.
import pg from "pg";
import type { Logger } from "../logging.ts";
import { describeDatabaseError } from "./errors.ts";

export interface DatabaseHealthOptions {
  url: string;
  /** Bounds each probe: connecting plus the query. */
  connectTimeoutMs: number;
  /** Time between probes (DATABASE_HEALTH_INTERVAL). */
  intervalMs: number;
  logger?: Logger;
  /** Called on every change, and with the first result. */
  onChange: (up: boolean) => void;
}

export class DatabaseHealth {
  readonly #options: DatabaseHealthOptions;
  #client: pg.Client | undefined;
  #up: boolean | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<boolean> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DatabaseHealthOptions) {
    this.#options = options;
  }

  /** The last result: undefined before the first probe finished. */
  get up(): boolean | undefined {
    return this.#up;
  }

  /** Probes now, then every interval. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    void this.check();
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /**
   * Probes now (a probe already running is reused, and followed by one more so
   * that a failure reported during it is looked at). Resolves with the result.
   */
  check(): Promise<boolean> {
    if (this.#checking !== undefined) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      let up: boolean;
      do {
        this.#again = false;
        up = (await this.#probe()) || (await this.#probe());
      } while (this.#again && !this.#stopped);
      this.#checking = undefined;
      if (!this.#stopped) this.#report(up);
      return up;
    })();
    return this.#checking;
  }

  /**
   * A connection just failed: probe now, so readiness turns at once rather
   * than at the next interval — unless the database is already known to be
   * down (every failing call would otherwise keep a probe running).
   */
  suspect(): void {
    if (this.#up !== false && !this.#stopped) void this.check();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#checking;
    this.#drop();
  }

  #report(up: boolean): void {
    if (this.#up === up) return;
    this.#up = up;
    const { logger } = this.#options;
    if (up) logger?.info("database reachable: serving");
    else logger?.warn("database unreachable: not serving until it answers again");
    this.#options.onChange(up);
  }

  async #probe(): Promise<boolean> {
    const { url, connectTimeoutMs, logger } = this.#options;
    try {
      if (this.#client === undefined) {
        const client = new pg.Client({
          connectionString: url,
          connectionTimeoutMillis: connectTimeoutMs,
          query_timeout: connectTimeoutMs,
          application_name: "chronoverse-health",
        });
        // A backend that ends between probes must not be an unhandled 'error'.
        client.on("error", () => {
          if (this.#client === client) this.#client = undefined;
          client.end().catch(() => undefined);
        });
        this.#client = client;
        await client.connect();
      }
      await this.#client.query("select 1");
      return true;
    } catch (error) {
      logger?.debug({ db: describeDatabaseError(error) }, "database probe failed");
      this.#drop();
      return false;
    }
  }

  /** Closes the probe connection without waiting: over a dead network, a polite close may never finish. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
  }
}
