// Telling "the database is gone or too slow" apart from every other database
// error, and describing a database error for the logs without what must not be
// logged. The pool (./database.ts) classifies what pg throws and rethrows an
// outage as DatabaseUnavailable; the gRPC error map (src/grpc/errors.ts) turns
// that into UNAVAILABLE. Decisions: docs/reliability.md, "Faults survived".

/**
 * SQLSTATEs that say the server cannot serve now, not that the request is bad:
 * class 08 (connection exception), the shutdown family (57P01 an administrator
 * ended the backend, 57P02 crash, 57P03 starting up or shutting down, 57P05 idle
 * session timeout), 53300 too many connections, 57014 a statement cancelled
 * (by statement_timeout; a cancel for a client that left is not seen by
 * anyone), 25P03 a transaction left idle past idle_in_transaction_session_timeout.
 */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "57P05", "53300", "57014", "25P03"]);

/** Socket and DNS failures of Node's net module. */
const UNAVAILABLE_SYSCALL_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Messages pg and pg-pool use for a connection that ended, could not be made
 * in time, or a query the server never answered (they carry no code).
 */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, // "… unexpectedly", "… due to connection timeout"
  /^timeout exceeded when trying to connect$/, // pg-pool: no connection within connectionTimeoutMillis
  /^Query read timeout$/, // pg: query_timeout passed
  /is not queryable$/, // "Client has encountered a connection error and is not queryable"
  /^Cannot use a pool after calling end on the pool$/,
];

/** How far down AggregateError nesting to look. */
const MAX_DEPTH = 2;

function fields(error: unknown): Record<string, unknown> {
  return typeof error === "object" && error !== null ? (error as Record<string, unknown>) : {};
}

/**
 * True when `error` means the database could not be reached, dropped the
 * connection, is shutting down or starting, or did not answer within the
 * configured timeouts: a transient outage, not a bug. For errors thrown by pg:
 * socket codes alone do not say which peer failed.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH || typeof error !== "object" || error === null) return false;
  const { code, message, errors } = fields(error);
  if (typeof code === "string") {
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SYSCALL_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof message === "string" && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message)))
    return true;
  return Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1));
}

/**
 * Hides the password of any URL in `text` (`scheme://user:password@host` →
 * `scheme://user:***@host`). One pass over the text, no regular expression:
 * messages can be long, and the regex audit allows only linear patterns.
 */
export function redactUrls(text: string): string {
  let out = "";
  let copied = 0;
  let i = text.indexOf("://");
  while (i !== -1) {
    const start = i + 3;
    // The authority ends at the first "/", "?", "#" or whitespace.
    let end = start;
    while (end < text.length && !isAuthorityEnd(text.charCodeAt(end))) end++;
    const at = text.lastIndexOf("@", end - 1);
    const colon = at >= start ? text.indexOf(":", start) : -1;
    if (colon !== -1 && colon < at) {
      out += `${text.slice(copied, colon + 1)}***`;
      copied = at;
    }
    i = text.indexOf("://", Math.max(end, start));
  }
  return out + text.slice(copied);
}

function isAuthorityEnd(code: number): boolean {
  // "/" "?" "#", space, tab, line breaks
  return code === 47 || code === 63 || code === 35 || code === 32 || (code >= 9 && code <= 13);
}

/**
 * What the logs may say about a database error: its SQLSTATE or errno code,
 * severity and message (passwords in URLs redacted). pg attaches the client
 * (with its connection parameters) to pool errors, so the error object itself
 * is never logged whole.
 */
export function describeDatabaseError(error: unknown): { code?: string; severity?: string; message: string } {
  const { code, message, severity } = fields(error);
  return {
    ...(typeof code === "string" ? { code } : {}),
    ...(typeof severity === "string" ? { severity } : {}),
    message: redactUrls(typeof message === "string" ? message : String(error)),
  };
}

/**
 * The database could not serve a query (unreachable, connection lost, shutting
 * down, too slow): transient, safe to report as "try again". `cause` is pg's
 * error, for the logs only.
 */
export class DatabaseUnavailable extends Error {
  override name = "DatabaseUnavailable";
  constructor(cause: unknown) {
    super(`database unavailable: ${describeDatabaseError(cause).message}`, { cause });
  }
}
