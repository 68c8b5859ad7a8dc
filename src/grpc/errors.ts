// Typed domain errors and the one place they become gRPC statuses. Services
// throw these; the handler wrapper (./handlers.ts) turns them into a status.
// A database that is unreachable, dropped the connection or did not answer in
// time is an outage the client may retry: `Unavailable`, with a fixed message.
// Anything else is a bug: it becomes `Internal` with a generic message. In both
// cases the real error is logged server-side only.
import { Metadata, type StatusObject, status } from "@grpc/grpc-js";
import { DatabaseUnavailable, describeDatabaseError } from "../db/errors.ts";
import type { Logger } from "../logging.ts";

export class DomainError extends Error {
  readonly code: status;
  /** The request field at fault, when there is one. */
  readonly field: string | undefined;

  constructor(code: status, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

/** A field has a bad value. The message reads "<field>: <message>". */
export class InvalidArgument extends DomainError {
  override name = "InvalidArgument";
  constructor(field: string, message: string) {
    super(status.INVALID_ARGUMENT, `${field}: ${message}`, field);
  }
}

/** Absent, or belongs to another user (never say which). */
export class NotFound extends DomainError {
  override name = "NotFound";
  constructor(message: string) {
    super(status.NOT_FOUND, message);
  }
}

export class AlreadyExists extends DomainError {
  override name = "AlreadyExists";
  constructor(message: string, field?: string) {
    super(status.ALREADY_EXISTS, message, field);
  }
}

export class PermissionDenied extends DomainError {
  override name = "PermissionDenied";
  constructor(message: string, field?: string) {
    super(status.PERMISSION_DENIED, message, field);
  }
}

export class Unauthenticated extends DomainError {
  override name = "Unauthenticated";
  constructor(message: string) {
    super(status.UNAUTHENTICATED, message);
  }
}

/** A valid value that is not allowed in the current state, or over a limit. */
export class FailedPrecondition extends DomainError {
  override name = "FailedPrecondition";
  constructor(message: string, field?: string) {
    super(status.FAILED_PRECONDITION, message, field);
  }
}

/** A write conflict that retries did not resolve; the client may try again. */
export class Aborted extends DomainError {
  override name = "Aborted";
  constructor(message: string) {
    super(status.ABORTED, message);
  }
}

/**
 * A per-user quota or a rate limit was reached. The message names the limit
 * (and its variable); `retryAfterMs`, when the wait is known (rate limits),
 * is in the message and in the `retry-after-ms` trailer for programs.
 */
export class ResourceExhausted extends DomainError {
  override name = "ResourceExhausted";
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(status.RESOURCE_EXHAUSTED, message);
    this.retryAfterMs = retryAfterMs;
  }
}

export const INTERNAL_MESSAGE = "internal error";
export const DATABASE_UNAVAILABLE_MESSAGE = "the database is unavailable; try again shortly";

/**
 * Maps any thrown value to the status sent to the client. Domain errors keep
 * their code and message (plus an `error-field` trailer naming the field);
 * a database outage becomes `Unavailable`; everything else is logged and
 * becomes a detail-free `Internal`.
 */
export function toStatus(error: unknown, logger: Logger): Partial<StatusObject> {
  if (error instanceof DomainError) {
    const metadata = new Metadata();
    if (error.field !== undefined) metadata.set("error-field", error.field);
    if (error instanceof ResourceExhausted && error.retryAfterMs !== undefined) {
      metadata.set("retry-after-ms", String(Math.ceil(error.retryAfterMs)));
    }
    return { code: error.code, details: error.message, metadata };
  }
  if (error instanceof DatabaseUnavailable) {
    logger.warn({ db: describeDatabaseError(error.cause) }, "database unavailable");
    return { code: status.UNAVAILABLE, details: DATABASE_UNAVAILABLE_MESSAGE, metadata: new Metadata() };
  }
  logger.error({ err: error }, "unexpected error in handler");
  return { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata: new Metadata() };
}
