// Clients for calls between Chronoverse processes (operator → services,
// workflows → notifications/analytics): TLS from the same configuration as the
// servers, and a service token attached to every call, renewed before expiry.
import { readFileSync } from "node:fs";
import {
  type CallCredentials,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Tokens } from "../auth/tokens.ts";
import type { TlsConfig } from "../config.ts";

/** Channel credentials matching the servers' TLS settings (insecure when TLS is off). */
export function channelCredentials(tls: TlsConfig | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  return credentials.createSsl(
    tls.caFile === undefined ? null : readFileSync(tls.caFile),
    tls.requireClientCert ? readFileSync(tls.keyFile) : null,
    tls.requireClientCert ? readFileSync(tls.certFile) : null,
  );
}

/** `authorization: Bearer <token>` metadata, for one call. */
export function bearerMetadata(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/**
 * Service-token metadata for internal calls, cached and renewed a minute before
 * it expires. Use as `client.getWorkflowByID(req, await serviceAuth.metadata(), cb)`.
 */
export function serviceAuth(tokens: Tokens, service: string, ttlSeconds = 3600) {
  let token: string | undefined;
  let renewAt = 0;
  return {
    async token(): Promise<string> {
      if (token === undefined || Date.now() >= renewAt) {
        token = await tokens.issueServiceToken(service, ttlSeconds);
        renewAt = Date.now() + Math.max(ttlSeconds - 60, ttlSeconds / 2) * 1000;
      }
      return token;
    },
    async metadata(): Promise<Metadata> {
      return bearerMetadata(await this.token());
    },
  };
}

/**
 * Combines channel credentials with a service token on every call (only valid
 * over TLS: grpc-js refuses call credentials on insecure channels, so use
 * serviceAuth().metadata() per call there).
 */
export function withServiceToken(
  channel: ChannelCredentials,
  auth: ReturnType<typeof serviceAuth>,
): ChannelCredentials {
  const call: CallCredentials = credentials.createFromMetadataGenerator((_params, callback) => {
    auth.metadata().then(
      (metadata) => callback(null, metadata),
      (error: Error) => callback(error),
    );
  });
  return credentials.combineChannelCredentials(channel, call);
}

/** A generated client class (e.g. NotificationsServiceClient). */
export type ClientClass<C> = new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => C;

/** Connects a generated client to `address` ("host:port") with the configured TLS. */
export function connectClient<C extends Client>(
  ClientClass: ClientClass<C>,
  address: string,
  tls: TlsConfig | undefined,
): C {
  return new ClientClass(address, channelCredentials(tls));
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface UnaryResult<Res> {
  response: Res;
  /** Response headers (initial metadata). */
  headers: Metadata;
}

/**
 * Calls a unary method of a generated client as a promise:
 * `await callUnary(client, client.createNotification, request, await auth.metadata())`.
 * Rejects with the grpc-js ServiceError (`code`, `details`, `metadata`).
 */
export function callUnary<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: Metadata = new Metadata(),
  options: Partial<CallOptions> = {},
): Promise<UnaryResult<Res>> {
  return new Promise((resolve, reject) => {
    let headers = new Metadata();
    const call = method.call(client, request, metadata, options, (error, response) => {
      if (error) reject(error);
      else resolve({ response, headers });
    });
    call.on("metadata", (received: Metadata) => {
      headers = received;
    });
  });
}
