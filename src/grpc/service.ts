// What a service module gets from the process and gives back: the contract
// between `chronoverse serve` (src/cli/services.ts) and services/<name>/server.ts.
import type { Kysely } from "kysely";
import type { Tokens } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/schema.ts";
import type { Logger } from "../logging.ts";
import type { Handlers } from "./handlers.ts";
import type { ServiceRegistration } from "./server.ts";

export interface ServiceDeps {
  config: Config;
  logger: Logger;
  tokens: Tokens;
  /** The handler wrapper (`handlers.unary("user", async (req, ctx) => …)`), bound to `tokens`. */
  handlers: Handlers;
  /** The process's shared Postgres pool, opened on first use (needs DATABASE_URL). */
  database(): Kysely<Database>;
}

/** One gRPC service, ready to be served; `close` releases what the factory opened (informers, timers). */
export interface ServiceInstance extends ServiceRegistration {
  close?(): Promise<void>;
}

export type ServiceFactory = (deps: ServiceDeps) => Promise<ServiceInstance>;
