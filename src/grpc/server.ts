// The one gRPC server bootstrap: every service process calls startGrpcServer
// with its service registrations. It adds grpc.health.v1 (per-service status,
// and the server as a whole under ""; readiness: NOT_SERVING while a
// dependency such as the database is down, see setServing; the name
// "liveness" stays SERVING until shutdown, for liveness probes),
// server reflection (v1 and v1alpha), request logging (method, status code,
// duration — never messages or metadata), optional TLS / mutual TLS, a message
// size limit, and graceful shutdown (stop accepting, drain, then force).
import { readFileSync } from "node:fs";
import {
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatusMap } from "grpc-health-check";
import type { TlsConfig } from "../config.ts";
import type { Logger } from "../logging.ts";
import { apiPackageDefinition, HEALTH_SERVICE_NAME } from "./descriptors.ts";

export interface ServiceRegistration {
  /** Fully-qualified service name, e.g. "users.UsersService" (health and reflection use it). */
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js service definitions are keyed by method name
  definition: ServiceDefinition<any>;
  implementation: UntypedServiceImplementation;
}

export interface GrpcServerOptions {
  services: ServiceRegistration[];
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  tls?: TlsConfig | undefined;
  maxMessageBytes?: number;
  shutdownTimeoutMs?: number;
  logger: Logger;
}

export interface RunningGrpcServer {
  port: number;
  server: Server;
  health: HealthImplementation;
  /**
   * Readiness: every service name and "" become SERVING or NOT_SERVING (e.g.
   * while the database is unreachable). "liveness" is left alone. Ignored once
   * shutting down.
   */
  setServing(serving: boolean): void;
  /** Marks every service NOT_SERVING, drains in-flight calls, forces after the timeout. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * The health name a liveness probe asks for: SERVING for as long as the process
 * serves at all, whatever its dependencies do (restarting a process because its
 * database is down would not bring the database back).
 */
export const LIVENESS_SERVICE_NAME = "liveness";

/** Health checks and reflection are frequent and uninteresting: logged at debug level only. */
const QUIET_PREFIXES = ["/grpc.health.v1.", "/grpc.reflection."];
const SERVER_FAULTS = new Set<number>([
  status.INTERNAL,
  status.UNKNOWN,
  status.DATA_LOSS,
  status.UNIMPLEMENTED,
]);

function requestLogging(logger: Logger): ServerInterceptor {
  return (descriptor, call) => {
    const started = performance.now();
    const method = descriptor.path;
    let logged = false;
    const log = (code: number, details: string | undefined): void => {
      if (logged) return;
      logged = true;
      const entry = {
        method,
        code: status[code] ?? String(code),
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        peer: call.getPeer(),
        ...(code === status.OK || details === undefined ? {} : { details }),
      };
      if (QUIET_PREFIXES.some((prefix) => method.startsWith(prefix))) logger.debug(entry, "rpc");
      else if (SERVER_FAULTS.has(code)) logger.warn(entry, "rpc");
      else logger.info(entry, "rpc");
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => log(status.CANCELLED, "cancelled by the client") }),
      sendStatus: (statusObject, next) => {
        log(statusObject.code ?? status.UNKNOWN, statusObject.details);
        next(statusObject);
      },
    });
  };
}

function credentials(tls: TlsConfig | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.caFile === undefined ? null : readFileSync(tls.caFile),
    [{ private_key: readFileSync(tls.keyFile), cert_chain: readFileSync(tls.certFile) }],
    tls.requireClientCert,
  );
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { services, logger, host = "0.0.0.0", shutdownTimeoutMs = 20_000 } = options;
  const maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
  const server = new Server({
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    interceptors: [requestLogging(logger)],
  });

  const initial: ServingStatusMap = { "": "SERVING" };
  for (const service of services) {
    server.addService(service.definition, service.implementation);
    initial[service.name] = "SERVING";
  }
  const health = new HealthImplementation({ ...initial, [LIVENESS_SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  new ReflectionService(apiPackageDefinition(), {
    services: [...services.map((s) => s.name), HEALTH_SERVICE_NAME],
  }).addToServer(server);

  const address = `${host.includes(":") ? `[${host}]` : host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials(options.tls), (error, boundPort) =>
      error
        ? reject(new Error(`cannot listen on ${address}: ${error.message}`, { cause: error }))
        : resolve(boundPort),
    );
  });
  logger.info(
    { services: services.map((s) => s.name), host, port, tls: options.tls !== undefined },
    "gRPC server listening",
  );

  let stopping: Promise<void> | undefined;
  const setServing = (serving: boolean): void => {
    if (stopping !== undefined) return;
    for (const name of Object.keys(initial)) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
  };
  const shutdown = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      for (const name of [...Object.keys(initial), LIVENESS_SERVICE_NAME])
        health.setStatus(name, "NOT_SERVING");
      const timer = setTimeout(() => {
        logger.warn(
          { port, timeout_ms: shutdownTimeoutMs },
          "in-flight calls did not finish: cancelling them",
        );
        server.forceShutdown();
        resolve();
      }, shutdownTimeoutMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        logger.info({ port }, "gRPC server stopped");
        resolve();
      });
    });
    return stopping;
  };

  return { port, server, health, setServing, shutdown };
}
