// The one typed configuration of a Chronoverse process, read from the
// environment once at start and validated with messages that name the
// variable. Every variable and its default is listed in docs/api.md.
import { type DatabaseTimeouts, defaultDatabaseTimeouts } from "./db/database.ts";
import { type Env, EnvReader, readNamespaceFile } from "./env.ts";
import { LOG_LEVELS, type LogLevel } from "./logging.ts";

export const SERVICE_NAMES = ["users", "workflows", "jobs", "notifications", "analytics"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const DEFAULT_PORTS: Record<ServiceName, number> = {
  users: 50051,
  workflows: 50052,
  jobs: 50053,
  notifications: 50054,
  analytics: 50055,
};

/** Where a signing key comes from; `undefined` in Config means "generate a dev key". */
export type KeySource = { kind: "env"; variable: string; value: string } | { kind: "file"; path: string };

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle: verifies client certificates (server side) and servers (client side). */
  caFile: string | undefined;
  /** Mutual TLS: the server rejects clients without a certificate signed by caFile. */
  requireClientCert: boolean;
}

export interface Config {
  /** Postgres URL; required by the services that own tables and by `migrate`. */
  databaseUrl: string | undefined;
  databaseMaxConnections: number;
  /** Bounds on connecting, statements and idle connections (docs/reliability.md, "Faults survived"). */
  databaseTimeouts: DatabaseTimeouts;
  /** Time between readiness probes of the database. */
  databaseHealthIntervalMs: number;
  /** Run database migrations before `serve` starts listening. */
  migrateOnStart: boolean;
  /** Interface the gRPC servers bind to. */
  host: string;
  ports: Record<ServiceName, number>;
  /** host:port other processes use to reach each service (internal clients). */
  addresses: Record<ServiceName, string>;
  tls: TlsConfig | undefined;
  maxMessageBytes: number;
  /** How long graceful shutdown waits for in-flight calls before cancelling them. */
  shutdownTimeoutMs: number;
  tokens: {
    userKey: KeySource | undefined;
    serviceKey: KeySource | undefined;
    userTokenTtlSeconds: number;
    serviceTokenTtlSeconds: number;
    /** Where generated development keys are kept so that separate processes agree. */
    devKeyDir: string;
  };
  logLevel: LogLevel;
  /** Kubernetes namespace holding this installation's objects. */
  namespace: string;
  /** Heartbeats may target loopback, link-local, private and cluster-internal addresses. */
  allowPrivateHeartbeats: boolean;
  limits: LimitsConfig;
}

/** Per-user quotas and rate limits (docs/api.md, "Quotas and limits"); counts of 0 mean no limit. */
export interface LimitsConfig {
  /** Workflows one user may have (terminated ones count until deleted). */
  workflowsPerUser: number;
  /** MANUAL runs of one workflow that may be unfinished (not COMPLETED, FAILED or CANCELED) at once. */
  manualRunsPerWorkflow: number;
  /** StreamJobLogs calls one user may have open at once, per process. */
  logStreamsPerUser: number;
  logStreamMaxDurationMs: number;
  logStreamIdleTimeoutMs: number;
  /** LoginUser / RegisterUser attempts per email, and per client address, per window (token bucket, per process). */
  authAttemptsPerEmail: number;
  authAttemptsPerAddress: number;
  authRateWindowMs: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const reader = new EnvReader(env);
  const { problems } = reader;
  const get = (name: string): string | undefined => reader.get(name);
  const integer = (name: string, fallback: number, min: number, max: number): number =>
    reader.integer(name, fallback, min, max);
  const duration = (name: string, fallbackMs: number): number => reader.duration(name, fallbackMs);
  const boolean = (name: string, fallback: boolean): boolean => reader.boolean(name, fallback);
  const key = (name: string): KeySource | undefined => {
    const value = get(name);
    const file = get(`${name}_FILE`);
    if (value !== undefined && file !== undefined) {
      problems.push(`${name} and ${name}_FILE are both set: choose one`);
    }
    if (file !== undefined) return { kind: "file", path: file };
    if (value !== undefined) return { kind: "env", variable: name, value };
    return undefined;
  };

  const databaseUrl = get("DATABASE_URL");
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL: must be a postgres:// URL");
  }

  const host = get("CHRONOVERSE_HOST") ?? "0.0.0.0";
  const ports = {} as Record<ServiceName, number>;
  const addresses = {} as Record<ServiceName, string>;
  for (const service of SERVICE_NAMES) {
    const upper = service.toUpperCase();
    ports[service] = integer(`CHRONOVERSE_${upper}_PORT`, DEFAULT_PORTS[service], 0, 65535);
    addresses[service] = get(`CHRONOVERSE_${upper}_ADDRESS`) ?? `localhost:${ports[service]}`;
  }

  const certFile = get("CHRONOVERSE_TLS_CERT_FILE");
  const keyFile = get("CHRONOVERSE_TLS_KEY_FILE");
  const caFile = get("CHRONOVERSE_TLS_CA_FILE");
  const clientAuth = get("CHRONOVERSE_TLS_CLIENT_AUTH") ?? "none";
  let tls: TlsConfig | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push("CHRONOVERSE_TLS_CERT_FILE and CHRONOVERSE_TLS_KEY_FILE: set both or neither");
  } else if (certFile !== undefined && keyFile !== undefined) {
    if (clientAuth !== "none" && clientAuth !== "require") {
      problems.push(`CHRONOVERSE_TLS_CLIENT_AUTH=${JSON.stringify(clientAuth)}: must be none or require`);
    }
    if (clientAuth === "require" && caFile === undefined) {
      problems.push("CHRONOVERSE_TLS_CLIENT_AUTH=require needs CHRONOVERSE_TLS_CA_FILE");
    }
    tls = { certFile, keyFile, caFile, requireClientCert: clientAuth === "require" };
  } else if (clientAuth === "require") {
    problems.push("CHRONOVERSE_TLS_CLIENT_AUTH=require needs CHRONOVERSE_TLS_CERT_FILE and _KEY_FILE");
  }

  const logLevel = (get("LOG_LEVEL") ?? "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: must be one of ${LOG_LEVELS.join(", ")}`);
  }

  const userKey = key("CHRONOVERSE_USER_TOKEN_KEY");
  const serviceKey = key("CHRONOVERSE_SERVICE_TOKEN_KEY");
  if (userKey?.kind === "env" && serviceKey?.kind === "env" && userKey.value === serviceKey.value) {
    problems.push("CHRONOVERSE_USER_TOKEN_KEY and CHRONOVERSE_SERVICE_TOKEN_KEY must differ");
  }

  const config: Config = {
    databaseUrl,
    databaseMaxConnections: integer("DATABASE_MAX_CONNECTIONS", 10, 1, 1000),
    databaseTimeouts: {
      connectMs: duration("DATABASE_CONNECT_TIMEOUT", defaultDatabaseTimeouts.connectMs),
      statementMs: duration("DATABASE_STATEMENT_TIMEOUT", defaultDatabaseTimeouts.statementMs),
      idleMs: duration("DATABASE_IDLE_TIMEOUT", defaultDatabaseTimeouts.idleMs),
    },
    databaseHealthIntervalMs: duration("DATABASE_HEALTH_INTERVAL", 2_000),
    migrateOnStart: boolean("CHRONOVERSE_MIGRATE", true),
    host,
    ports,
    addresses,
    tls,
    maxMessageBytes: integer("CHRONOVERSE_GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    shutdownTimeoutMs: duration("CHRONOVERSE_SHUTDOWN_TIMEOUT", 20_000),
    tokens: {
      userKey,
      serviceKey,
      userTokenTtlSeconds: Math.round(duration("CHRONOVERSE_USER_TOKEN_TTL", 24 * 3_600_000) / 1000),
      serviceTokenTtlSeconds: Math.round(duration("CHRONOVERSE_SERVICE_TOKEN_TTL", 3_600_000) / 1000),
      devKeyDir:
        get("CHRONOVERSE_DEV_KEY_DIR") ??
        `${env.XDG_CACHE_HOME ?? `${env.HOME ?? "/tmp"}/.cache`}/chronoverse/dev-keys`,
    },
    logLevel: logLevel as LogLevel,
    namespace: get("CHRONOVERSE_NAMESPACE") ?? get("POD_NAMESPACE") ?? readNamespaceFile() ?? "default",
    allowPrivateHeartbeats: boolean("CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS", false),
    limits: {
      workflowsPerUser: integer("CHRONOVERSE_MAX_WORKFLOWS_PER_USER", 100, 0, 1_000_000),
      manualRunsPerWorkflow: integer("CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW", 10, 0, 1_000_000),
      logStreamsPerUser: integer("CHRONOVERSE_MAX_LOG_STREAMS_PER_USER", 5, 0, 1_000_000),
      logStreamMaxDurationMs: duration("CHRONOVERSE_LOG_STREAM_MAX_DURATION", 3_600_000),
      logStreamIdleTimeoutMs: duration("CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT", 15 * 60_000),
      authAttemptsPerEmail: integer("CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL", 10, 0, 1_000_000),
      authAttemptsPerAddress: integer("CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS", 100, 0, 1_000_000),
      authRateWindowMs: duration("CHRONOVERSE_AUTH_RATE_WINDOW", 60_000),
    },
  };
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
  return config;
}
