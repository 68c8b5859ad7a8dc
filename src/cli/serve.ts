// `chronoverse serve <name|all>`: migrations (when a served service owns
// tables), one gRPC server per service on its own port, readiness that follows
// the database (NOT_SERVING while it is unreachable), and a graceful stop on
// SIGTERM/SIGINT (a second signal exits at once).
import type { Kysely } from "kysely";
import { tokensFromConfig } from "../auth/tokens.ts";
import type { Config, ServiceName } from "../config.ts";
import { openDatabase } from "../db/database.ts";
import { DatabaseHealth } from "../db/health.ts";
import { migrateWhenReachable } from "../db/migrate.ts";
import type { Database } from "../db/schema.ts";
import { createHandlers } from "../grpc/handlers.ts";
import { type RunningGrpcServer, startGrpcServer } from "../grpc/server.ts";
import type { ServiceDeps, ServiceInstance } from "../grpc/service.ts";
import { createLogger } from "../logging.ts";
import { type ServiceEntry, services } from "./services.ts";

export async function runServe(config: Config, names: ServiceName[]): Promise<number> {
  const logger = createLogger({ level: config.logLevel });
  const selected: [ServiceName, ServiceEntry][] = [];
  for (const name of names) {
    const entry = services[name];
    if (entry === undefined) logger.warn({ service: name }, "service not implemented yet: skipping");
    else selected.push([name, entry]);
  }
  if (selected.length === 0) {
    logger.error({ requested: names }, "nothing to serve");
    return 1;
  }

  const servers: RunningGrpcServer[] = [];
  /** The servers whose readiness follows the database. */
  const databaseServers: RunningGrpcServer[] = [];
  let databaseHealth: DatabaseHealth | undefined;
  if (config.databaseUrl !== undefined) {
    databaseHealth = new DatabaseHealth({
      url: config.databaseUrl,
      connectTimeoutMs: config.databaseTimeouts.connectMs,
      intervalMs: config.databaseHealthIntervalMs,
      logger,
      onChange: (up) => {
        for (const server of databaseServers) server.setServing(up);
      },
    });
  }
  let db: Kysely<Database> | undefined;
  const database = (): Kysely<Database> => {
    if (config.databaseUrl === undefined) throw new Error("DATABASE_URL is required");
    db ??= openDatabase({
      url: config.databaseUrl,
      maxConnections: config.databaseMaxConnections,
      ...config.databaseTimeouts,
      logger,
      // A lost connection is looked into at once rather than at the next probe.
      onConnectionError: () => databaseHealth?.suspect(),
    });
    return db;
  };
  if (selected.some(([, entry]) => entry.usesDatabase)) {
    if (config.databaseUrl === undefined) {
      logger.error(
        { services: selected.map(([name]) => name) },
        "DATABASE_URL is required by these services",
      );
      return 2;
    }
    if (config.migrateOnStart) {
      const result = await migrateWhenReachable(database(), logger);
      logger.info(
        { applied: result.results?.map((r) => r.migrationName) ?? [] },
        "database schema up to date",
      );
    }
  }

  const tokens = tokensFromConfig(config, logger);
  const deps: ServiceDeps = {
    config,
    logger,
    tokens,
    handlers: createHandlers({ tokens, logger }),
    database,
  };
  const instances: ServiceInstance[] = [];
  const stopAll = async (): Promise<void> => {
    await databaseHealth?.stop();
    await Promise.allSettled(servers.map((server) => server.shutdown()));
    await Promise.allSettled(instances.map((instance) => instance.close?.()));
    await db?.destroy();
  };

  try {
    for (const [name, entry] of selected) {
      const serviceLogger = logger.child({ service: name });
      const factory = await entry.load();
      const instance = await factory({
        ...deps,
        logger: serviceLogger,
        handlers: createHandlers({ tokens, logger: serviceLogger }),
      });
      instances.push(instance);
      const server = await startGrpcServer({
        services: [instance],
        host: config.host,
        port: config.ports[name],
        tls: config.tls,
        maxMessageBytes: config.maxMessageBytes,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        logger: serviceLogger,
      });
      servers.push(server);
      if (entry.usesDatabase) {
        databaseServers.push(server);
        if (databaseHealth?.up === false) server.setServing(false);
      }
    }
    if (databaseServers.length > 0) databaseHealth?.start();
  } catch (error) {
    logger.error({ err: error }, "failed to start");
    await stopAll();
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info(
        { signal, timeout_ms: config.shutdownTimeoutMs },
        "shutting down: draining in-flight calls",
      );
      stopAll().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
