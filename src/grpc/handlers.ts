// The handler wrapper every service uses: a service writes
// `async (request, context) => response` and declares who may call it. The
// wrapper checks the token, hands the handler the caller, sends response
// headers, and maps whatever is thrown through the one error mapping.
//
//   public   — anyone (RegisterUser, LoginUser); a token, if sent, is ignored
//   user     — a valid user token (or a service token acting for any user)
//   internal — a valid service token only; a user token is PermissionDenied
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { bearerToken, type Caller, type Tokens } from "../auth/tokens.ts";
import type { Logger } from "../logging.ts";
import { InvalidArgument, PermissionDenied, toStatus, Unauthenticated } from "./errors.ts";

export type Access = "public" | "user" | "internal";

export interface CallContext {
  /** The verified caller; `anonymous` only on public calls. */
  readonly caller: Caller;
  /** Full method path, e.g. "/users.UsersService/GetUser". */
  readonly method: string;
  /** Incoming request metadata. */
  readonly metadata: Metadata;
  /** The client's address as grpc-js reports it ("127.0.0.1:53122"; see peerAddress in ./limits.ts). */
  readonly peer: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Adds a response header (initial metadata), sent with the response. */
  setHeader(name: string, value: string): void;
}

export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  context: CallContext,
  send: (message: Res) => Promise<void>,
) => Promise<void>;

export interface Handlers {
  unary<Req, Res>(access: Access, handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res>;
  serverStream<Req, Res>(
    access: Access,
    handler: ServerStreamHandler<Req, Res>,
  ): handleServerStreamingCall<Req, Res>;
}

/**
 * Checks that the caller may act for `userId` (the request's user_id / id
 * field): a user only for themselves, a service for anyone.
 */
export function requireSameUser(context: CallContext, userId: string, field = "user_id"): void {
  if (userId === "") throw new InvalidArgument(field, "is required");
  const { caller } = context;
  if (caller.kind === "service") return;
  if (caller.kind !== "user") throw new Unauthenticated("missing access token");
  if (caller.userId !== userId) throw new PermissionDenied(`${field} does not match the access token`, field);
}

/** The calling user's id; throws for anonymous callers. Services have none. */
export function callerUserId(context: CallContext): string | undefined {
  if (context.caller.kind === "user") return context.caller.userId;
  if (context.caller.kind === "anonymous") throw new Unauthenticated("missing access token");
  return undefined;
}

async function authenticate(access: Access, metadata: Metadata, tokens: Tokens): Promise<Caller> {
  if (access === "public") return { kind: "anonymous" };
  const values = metadata.get("authorization");
  if (values.length === 0) throw new Unauthenticated("missing access token (authorization: Bearer <token>)");
  const token = bearerToken(values);
  if (token === undefined) throw new Unauthenticated("authorization metadata must be `Bearer <token>`");
  const caller = await tokens.verify(token);
  if (access === "internal" && caller.kind !== "service") {
    throw new PermissionDenied("this call is internal: it needs a service token");
  }
  return caller;
}

function serviceError(status: ReturnType<typeof toStatus>): ServiceError {
  return Object.assign(new Error(status.details), {
    code: status.code,
    details: status.details ?? "",
    metadata: status.metadata ?? new Metadata(),
  }) as ServiceError;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

function makeContext(call: AnyCall, caller: Caller, logger: Logger, headers: Metadata): CallContext {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  call.once("cancelled", () => controller.abort());
  const method = call.getPath();
  return {
    caller,
    method,
    metadata: call.metadata,
    peer: call.getPeer(),
    signal: controller.signal,
    logger: logger.child({
      method,
      ...(caller.kind === "user" ? { user_id: caller.userId } : {}),
      ...(caller.kind === "service" ? { service: caller.service } : {}),
    }),
    setHeader: (name, value) => headers.set(name, value),
  };
}

export function createHandlers({ tokens, logger }: { tokens: Tokens; logger: Logger }): Handlers {
  return {
    unary<Req, Res>(access: Access, handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res> {
      return (call, callback) => {
        const headers = new Metadata();
        const run = async (): Promise<Res> => {
          const caller = await authenticate(access, call.metadata, tokens);
          return handler(call.request, makeContext(call as AnyCall, caller, logger, headers));
        };
        run().then(
          (response) => {
            if (Object.keys(headers.getMap()).length > 0) call.sendMetadata(headers);
            callback(null, response);
          },
          (error: unknown) =>
            callback(serviceError(toStatus(error, logger.child({ method: call.getPath() })))),
        );
      };
    },

    serverStream<Req, Res>(
      access: Access,
      handler: ServerStreamHandler<Req, Res>,
    ): handleServerStreamingCall<Req, Res> {
      return (call) => {
        const headers = new Metadata();
        let headersSent = false;
        const send = (message: Res): Promise<void> => {
          if (call.cancelled) return Promise.reject(new StreamCancelled());
          if (!headersSent) {
            headersSent = true;
            if (Object.keys(headers.getMap()).length > 0) call.sendMetadata(headers);
          }
          // Resolve as soon as the message is buffered; wait only when the
          // stream pushes back (write() returned false) until it drains, so a
          // fast producer is paced by the client without a round trip per message.
          return new Promise<void>((resolve, reject) => {
            let settled = false;
            const settle = (error?: Error | null): void => {
              if (settled) return;
              settled = true;
              call.off("drain", onDrain);
              call.off("cancelled", onCancelled);
              if (error) reject(error);
              else resolve();
            };
            const onDrain = (): void => settle();
            const onCancelled = (): void => settle(new StreamCancelled());
            const buffered = call.write(message, (error?: Error | null) => {
              if (error) settle(error);
            });
            if (buffered) {
              settle();
            } else {
              call.on("drain", onDrain);
              call.on("cancelled", onCancelled);
            }
          });
        };
        const run = async (): Promise<void> => {
          const caller = await authenticate(access, call.metadata, tokens);
          await handler(call.request, makeContext(call as AnyCall, caller, logger, headers), send);
        };
        run().then(
          () => {
            if (!call.cancelled) call.end();
          },
          (error: unknown) => {
            if (call.cancelled) return;
            call.emit("error", serviceError(toStatus(error, logger.child({ method: call.getPath() }))));
          },
        );
      };
    },
  };
}

/** Rejected by `send` once the client has gone; handlers may let it propagate. */
export class StreamCancelled extends Error {
  override name = "StreamCancelled";
  constructor() {
    super("the client cancelled the stream");
  }
}
