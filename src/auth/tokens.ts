// Access tokens: signed JWTs (HS256, via jose). Two kinds, two keys:
// - user tokens (sub = user id), issued by the users service at register/login;
// - service tokens (sub = service name), for internal RPCs; users never get one.
// The audience claim names the kind as well, so a token is only ever checked
// against the key of its own kind. See docs/auth.md.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Config, KeySource } from "../config.ts";
import { Unauthenticated } from "../grpc/errors.ts";
import type { Logger } from "../logging.ts";

export const ISSUER = "chronoverse";
export const USER_AUDIENCE = "chronoverse:user";
export const SERVICE_AUDIENCE = "chronoverse:service";
const ALGORITHM = "HS256";
/** HS256 keys shorter than the hash output weaken it; refuse them. */
export const MIN_KEY_BYTES = 32;

/** Who is calling, as established by the token. */
export type Caller =
  | { kind: "anonymous" }
  | { kind: "user"; userId: string }
  | { kind: "service"; service: string };

export interface TokenKeys {
  user: Uint8Array;
  service: Uint8Array;
}

export interface Tokens {
  issueUserToken(userId: string): Promise<string>;
  issueServiceToken(service: string, ttlSeconds?: number): Promise<string>;
  /** Verifies a token of either kind; throws Unauthenticated when it is missing, invalid or expired. */
  verify(token: string): Promise<Caller>;
}

export interface TokenOptions {
  keys: TokenKeys;
  userTokenTtlSeconds: number;
  serviceTokenTtlSeconds: number;
}

export function createTokens({ keys, userTokenTtlSeconds, serviceTokenTtlSeconds }: TokenOptions): Tokens {
  const sign = (subject: string, audience: string, key: Uint8Array, ttlSeconds: number): Promise<string> =>
    new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(key);

  return {
    issueUserToken: (userId) => sign(userId, USER_AUDIENCE, keys.user, userTokenTtlSeconds),
    issueServiceToken: (service, ttlSeconds = serviceTokenTtlSeconds) =>
      sign(service, SERVICE_AUDIENCE, keys.service, ttlSeconds),
    async verify(token) {
      let audience: unknown;
      try {
        audience = decodeJwt(token).aud;
      } catch {
        throw new Unauthenticated("invalid access token");
      }
      const isService = audience === SERVICE_AUDIENCE;
      if (!isService && audience !== USER_AUDIENCE) throw new Unauthenticated("invalid access token");
      try {
        const { payload } = await jwtVerify(token, isService ? keys.service : keys.user, {
          algorithms: [ALGORITHM],
          issuer: ISSUER,
          audience: isService ? SERVICE_AUDIENCE : USER_AUDIENCE,
          requiredClaims: ["sub", "exp"],
        });
        const subject = payload.sub ?? "";
        if (subject === "") throw new Unauthenticated("invalid access token");
        return isService ? { kind: "service", service: subject } : { kind: "user", userId: subject };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) throw new Unauthenticated("access token expired");
        throw new Unauthenticated("invalid access token");
      }
    },
  };
}

function keyBytes(text: string, origin: string): Uint8Array {
  const bytes = new TextEncoder().encode(text.trim());
  if (bytes.length < MIN_KEY_BYTES) {
    throw new Error(
      `${origin}: a token key needs at least ${MIN_KEY_BYTES} bytes (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  return bytes;
}

function readKey(source: KeySource): Uint8Array {
  if (source.kind === "env") return keyBytes(source.value, source.variable);
  return keyBytes(readFileSync(source.path, "utf8"), source.path);
}

/**
 * A development key, kept in `dir` so that separately started processes on the
 * same machine (`serve users`, `serve workflows`, `token`) agree on it. Falls
 * back to a key held only in memory when the folder cannot be written.
 */
function devKey(dir: string, name: string, logger: Logger): Uint8Array {
  const path = join(dir, `${name}.key`);
  try {
    return keyBytes(readFileSync(path, "utf8"), path);
  } catch {
    // none yet, or unusable: make one
  }
  const text = randomBytes(32).toString("hex");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: "w" });
    chmodSync(path, 0o600);
    logger.warn(
      { path },
      `no ${name} key configured: generated a development key (never use this in production)`,
    );
  } catch {
    logger.warn(
      `no ${name} key configured: generated an in-memory development key (never use this in production)`,
    );
  }
  return new TextEncoder().encode(text);
}

/** Loads both keys from the configuration, generating development keys where none is given. */
export function loadTokenKeys(config: Config["tokens"], logger: Logger): TokenKeys {
  const user = config.userKey ? readKey(config.userKey) : devKey(config.devKeyDir, "user-token", logger);
  const service = config.serviceKey
    ? readKey(config.serviceKey)
    : devKey(config.devKeyDir, "service-token", logger);
  if (Buffer.from(user).equals(Buffer.from(service))) {
    throw new Error("the user token key and the service token key must differ");
  }
  return { user, service };
}

export function tokensFromConfig(config: Config, logger: Logger): Tokens {
  return createTokens({
    keys: loadTokenKeys(config.tokens, logger),
    userTokenTtlSeconds: config.tokens.userTokenTtlSeconds,
    serviceTokenTtlSeconds: config.tokens.serviceTokenTtlSeconds,
  });
}

/** Extracts the token from `authorization: Bearer <token>` metadata values. */
export function bearerToken(values: readonly (string | Buffer)[]): string | undefined {
  const value = values[0];
  if (typeof value !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value.trim());
  return match?.[1];
}
