// Real gRPC for integration tests: a service started on a free port over a
// fresh, migrated test database, clients with and without tokens, and small
// promise wrappers around grpc-js calls.
//
//   const svc = await startTestService(createUsersService);
//   const client = svc.client(UsersServiceClient);
//   const { response, headers } = await unary(client, client.getUser, { id }, svc.userMetadata(id));
//   await expectStatus(unary(client, client.getUser, { id }), status.UNAUTHENTICATED, /token/);
//   await svc.stop();

import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { SignJWT } from "jose";
import type { Kysely } from "kysely";
import { expect } from "vitest";
import {
  createTokens,
  ISSUER,
  SERVICE_AUDIENCE,
  type TokenKeys,
  type Tokens,
  USER_AUDIENCE,
} from "../../src/auth/tokens.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/database.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import type { Database } from "../../src/db/schema.ts";
import { bearerMetadata, callUnary, type UnaryResult } from "../../src/grpc/client.ts";
import { createHandlers } from "../../src/grpc/handlers.ts";
import { type RunningGrpcServer, startGrpcServer } from "../../src/grpc/server.ts";
import type { ServiceDeps, ServiceFactory } from "../../src/grpc/service.ts";
import { createLogger, type Logger, type LogLevel } from "../../src/logging.ts";
import { createTestDatabase, type TestDatabase } from "./postgres.ts";

/** Fixed test keys (64 hex characters each), so tests can also forge tokens. */
export const TEST_USER_KEY = "11".repeat(32);
export const TEST_SERVICE_KEY = "22".repeat(32);
export const TEST_KEYS: TokenKeys = {
  user: new TextEncoder().encode(TEST_USER_KEY),
  service: new TextEncoder().encode(TEST_SERVICE_KEY),
};

export function testTokens(): Tokens {
  return createTokens({ keys: TEST_KEYS, userTokenTtlSeconds: 3600, serviceTokenTtlSeconds: 3600 });
}

/** TEST_LOG_LEVEL=debug shows the servers' logs; silent by default. */
export function testLogger(): Logger {
  return createLogger({ level: (process.env.TEST_LOG_LEVEL as LogLevel | undefined) ?? "silent" });
}

export interface TestService {
  /** "127.0.0.1:<port>" */
  address: string;
  port: number;
  config: Config;
  tokens: Tokens;
  /** The migrated test database the service uses. */
  db: Kysely<Database>;
  databaseUrl: string;
  logger: Logger;
  server: RunningGrpcServer;
  /** A client of the generated client class, connected without credentials. */
  client<C extends Client>(ClientClass: ClientClass<C>): C;
  /** `authorization: Bearer <user token for userId>` */
  userMetadata(userId: string): Promise<Metadata>;
  /** `authorization: Bearer <service token>` */
  serviceMetadata(service?: string): Promise<Metadata>;
  stop(): Promise<void>;
}

export type ClientClass<C> = new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => C;

export interface TestServiceOptions {
  /** Extra environment for loadConfig (DATABASE_URL and the token keys are set already). */
  env?: Record<string, string>;
  /** Defaults to testLogger(). */
  logger?: Logger;
}

/**
 * Starts `factory`'s service (or several services on one server, sharing the
 * database and the configuration) on 127.0.0.1 with a free port, over a new
 * test database with every migration applied. `stop()` shuts the server down
 * and drops the database.
 */
export async function startTestService(
  factory: ServiceFactory | readonly ServiceFactory[],
  options: TestServiceOptions = {},
): Promise<TestService> {
  const factories = Array.isArray(factory) ? factory : [factory as ServiceFactory];
  const database: TestDatabase = await createTestDatabase();
  const logger = options.logger ?? testLogger();
  const config = loadConfig({
    DATABASE_URL: database.url,
    CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
    CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
    CHRONOVERSE_HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    ...options.env,
  });
  const db = openDatabase({ url: database.url, maxConnections: 5 });
  const opened: Client[] = [];
  let server: RunningGrpcServer | undefined;
  const closeServices: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const client of opened) client.close();
    await server?.shutdown();
    for (const close of closeServices) await close();
    await db.destroy();
    await database.drop();
  };
  try {
    await migrateToLatest(db);
    const tokens = testTokens();
    const deps: ServiceDeps = {
      config,
      logger,
      tokens,
      handlers: createHandlers({ tokens, logger }),
      database: () => db,
    };
    const services = [];
    for (const make of factories) {
      const service = await make(deps);
      if (service.close) closeServices.push(service.close.bind(service));
      services.push(service);
    }
    server = await startGrpcServer({
      services,
      host: "127.0.0.1",
      port: 0,
      logger,
      shutdownTimeoutMs: 5_000,
    });
    const address = `127.0.0.1:${server.port}`;
    return {
      address,
      port: server.port,
      config,
      tokens,
      db,
      databaseUrl: database.url,
      logger,
      server,
      client<C extends Client>(ClientClass: ClientClass<C>): C {
        const client = new ClientClass(address, credentials.createInsecure());
        opened.push(client);
        return client;
      },
      userMetadata: async (userId) => bearerMetadata(await tokens.issueUserToken(userId)),
      serviceMetadata: async (service = "test") => bearerMetadata(await tokens.issueServiceToken(service)),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Calls a unary method of a generated client and resolves with the response and its headers. */
export const unary = callUnary;
export type { UnaryResult };

type StreamMethod<Req, Res> = (
  request: Req,
  metadata?: Metadata,
  options?: Partial<CallOptions>,
) => ClientReadableStream<Res>;

/** Calls a server-streaming method and collects every message until the stream ends. */
export function collectStream<Req, Res>(
  client: Client,
  method: StreamMethod<Req, Res>,
  request: Req,
  metadata: Metadata = new Metadata(),
  options: Partial<CallOptions> = {},
): Promise<Res[]> {
  return new Promise((resolve, reject) => {
    const messages: Res[] = [];
    const stream = method.call(client, request, metadata, options);
    stream.on("data", (message: Res) => messages.push(message));
    stream.on("error", reject);
    stream.on("end", () => resolve(messages));
  });
}

/** Asserts that `call` fails with `code` (and a message matching `message`, when given). */
export async function expectStatus(
  call: Promise<unknown>,
  code: status,
  message?: RegExp | string,
): Promise<ServiceError> {
  const error = await call.then(
    (value) => {
      throw new Error(`expected ${status[code]}, but the call succeeded with ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as ServiceError,
  );
  expect(status[error.code], `status of: ${error.details}`).toBe(status[code]);
  if (message !== undefined) expect(error.details).toMatch(message);
  return error;
}

/** `authorization: Bearer <token>` for an arbitrary token string. */
export function metadataWithToken(token: string): Metadata {
  return bearerMetadata(token);
}

/** Signs a token with chosen key/audience/expiry, for bad-signature and expired-token tests. */
export async function forgeToken(options: {
  subject: string;
  kind?: "user" | "service";
  key?: Uint8Array;
  /** Seconds since the epoch. */
  expiresAt?: number;
  /** Defaults to the kind's audience and the one issuer. */
  audience?: string;
  issuer?: string;
}): Promise<string> {
  const kind = options.kind ?? "user";
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? (kind === "user" ? USER_AUDIENCE : SERVICE_AUDIENCE))
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(options.key ?? (kind === "user" ? TEST_KEYS.user : TEST_KEYS.service));
}

/** An unsigned token (`alg: none`) with the claims of a valid user token. */
export function unsignedToken(subject: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none", typ: "JWT" })}.${part({ iss: ISSUER, aud: USER_AUDIENCE, sub: subject, iat: now, exp: now + 3600 })}.`;
}

/** The cached grpcurl binary, built with hack/build-tools.sh when it is missing. */
export async function grpcurlPath(): Promise<string> {
  const cache = process.env.CHRONOVERSE_CACHE ?? join(homedir(), ".cache/chronoverse");
  const path = join(cache, "bin/grpcurl");
  try {
    await access(path);
  } catch {
    await promisify(execFile)(resolve(import.meta.dirname, "../../hack/build-tools.sh"), ["grpcurl"], {
      timeout: 600_000,
    });
  }
  return path;
}
