// Reading errors of @kubernetes/client-node: the HTTP status of an
// ApiException and the apiserver's own message from its Status body.

/** HTTP status of a failed API call, or undefined for other errors (network, bugs). */
export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (error: unknown): boolean => statusCode(error) === 404;
export const isConflict = (error: unknown): boolean => statusCode(error) === 409;

/** True for errors a retry cannot fix: the request itself is invalid or forbidden. */
export function isPermanent(error: unknown): boolean {
  const code = statusCode(error);
  return code === 400 || code === 403 || code === 422;
}

/** The apiserver's message from a Status body, when there is one. */
export function apiMessage(error: unknown): string | undefined {
  let body: unknown = (error as { body?: unknown } | null)?.body;
  if (typeof body === "string") {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return text.length > 0 ? text : undefined;
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : undefined;
}

/** A short, log-safe, one-line description of an error. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = statusCode(error);
  const message = apiMessage(error) ?? error.message.split("\n")[0] ?? error.message;
  return code === undefined ? message : `HTTP ${code}: ${message}`;
}
