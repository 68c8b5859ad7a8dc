// `chronoverse heartbeat`: the program a HEARTBEAT workflow's pod runs. One
// HTTP GET with the given headers and timeout; success iff the response status
// equals the expected one (SPEC.md). Exits 0 on success, 1 when the check
// fails, 2 on bad arguments, always with one line saying why. The URL is
// printed without credentials or query, and header values are never printed
// (they often carry tokens).
//
// Unless --allow-private is given (the installation allows it), the check
// never reaches a loopback, link-local, private or cluster-internal address:
// not by name, not through DNS (each connection goes to an address that was
// checked when it was resolved), and not through a redirect.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { Agent, fetch, Headers } from "undici";
import { parseDuration } from "../../src/env.ts";
import {
  credentialsMayGoTo,
  isCredentialHeader,
  isHeaderName,
  isHeaderValue,
} from "../../src/net/http-fields.ts";
import { isPrivateAddress, isPrivateHost } from "../../src/net/private-address.ts";

export const usage =
  "usage: chronoverse heartbeat --url <http(s) URL> [--expected-status <100-599>] [--timeout <duration, default 10s, max 5m>] [--header 'Name: value']... [--allow-private]";

export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;

export interface HeartbeatCheck {
  url: URL;
  expectedStatus: number;
  timeoutMs: number;
  headers: Array<[string, string]>;
  /** May reach loopback, link-local, private and cluster-internal addresses. */
  allowPrivate: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

const maxTimeoutMs = 5 * 60_000;

/** Reads the command line (after the word `heartbeat`). */
export function parseArgs(argv: readonly string[]): HeartbeatCheck {
  let url: string | undefined;
  let expected = "200";
  let timeout = "10s";
  const headers: Array<[string, string]> = [];
  let allowPrivate = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      i++;
      return next;
    };
    switch (flag) {
      case "--url":
        url = value();
        break;
      case "--expected-status":
        expected = value();
        break;
      case "--timeout":
        timeout = value();
        break;
      case "--header": {
        const header = value();
        const colon = header.indexOf(":");
        const name = colon > 0 ? header.slice(0, colon).trim() : "";
        if (!isHeaderName(name)) {
          throw new UsageError(`--header must look like 'Name: value', got a header without a valid name`);
        }
        const headerValue = header.slice(colon + 1).trim();
        if (!isHeaderValue(headerValue)) {
          throw new UsageError(
            `--header ${name}: the value must not contain CR, LF or other control characters`,
          );
        }
        headers.push([name, headerValue]);
        break;
      }
      case "--allow-private":
        allowPrivate = true;
        break;
      case "--help":
      case "-h":
        throw new UsageError("help");
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (url === undefined) throw new UsageError("--url is required");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError("--url must be an absolute http or https URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError("--url must be an absolute http or https URL");
  }
  if (!/^\d{3}$/.test(expected) || Number(expected) < 100 || Number(expected) > 599) {
    throw new UsageError(
      `--expected-status must be an HTTP status from 100 to 599, got ${JSON.stringify(expected)}`,
    );
  }
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined || timeoutMs <= 0 || timeoutMs > maxTimeoutMs) {
    throw new UsageError(
      `--timeout must be a duration above 0 and at most 5m, got ${JSON.stringify(timeout)}`,
    );
  }
  return { url: parsed, expectedStatus: Number(expected), timeoutMs, headers, allowPrivate };
}

/** The URL as it may be printed: no user info, no query, no fragment. */
export function printableUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === "string") return `${String(cause.message ?? "request failed")} (${cause.code})`;
  if (typeof cause?.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

export type Resolve = (
  hostname: string,
  options: { all: true; family?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A DNS lookup for the connection that refuses a name resolving to any private
 * address; the socket then connects to an address this very lookup checked.
 */
export function guardedLookup(resolve: Resolve = dnsLookup as unknown as Resolve) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number | "IPv4" | "IPv6" },
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    const family: number | undefined =
      options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
    resolve(hostname, { all: true, ...(family ? { family } : {}) }, (error, addresses) => {
      if (error) {
        callback(error, "", 0);
        return;
      }
      const refused = addresses.find((a) => isPrivateAddress(a.address));
      const first = addresses[0];
      if (refused !== undefined || first === undefined) {
        const reason = Object.assign(
          new Error(`refused: ${hostname} resolves to a private or cluster-internal address`),
          { code: "EPRIVATEADDRESS" },
        );
        callback(reason, "", 0);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

const maxRedirects = 10;

export interface HeartbeatResult {
  ok: boolean;
  /** The one-line report. */
  line: string;
  status?: number;
}

/** The headers for one hop: without the credential headers unless it goes to the original origin. */
export function headersForHop(headers: Headers, original: URL, hop: URL): Headers {
  if (credentialsMayGoTo(original, hop)) return headers;
  const stripped = new Headers();
  for (const [name, value] of headers) if (!isCredentialHeader(name)) stripped.append(name, value);
  return stripped;
}

/**
 * Performs the check. Redirects are followed unless a 3xx status is what is
 * expected. User info in the URL becomes Basic authentication (as curl and
 * Go's client do), since fetch refuses URLs with credentials. Credentials —
 * that header, an Authorization or Cookie header given — go only to the
 * origin of the URL given: a redirect to another host or port, or from https
 * to http, is followed without them; user info in a redirect's Location is
 * dropped.
 */
export async function check(
  request: HeartbeatCheck,
  options: { resolve?: Resolve } = {},
): Promise<HeartbeatResult> {
  const target = `GET ${printableUrl(request.url)}`;
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.append(name, value);
  if (!headers.has("user-agent")) headers.set("user-agent", "chronoverse-heartbeat");
  const url = new URL(request.url);
  if (url.username !== "" || url.password !== "") {
    if (!headers.has("authorization")) {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      headers.set("authorization", `Basic ${Buffer.from(credentials).toString("base64")}`);
    }
    url.username = "";
    url.password = "";
  }
  if (!request.allowPrivate && isPrivateHost(url.hostname)) {
    return { ok: false, line: `failed: ${target}: refused: a private or cluster-internal address` };
  }
  const dispatcher = request.allowPrivate
    ? undefined
    : new Agent({ connect: { lookup: guardedLookup(options.resolve) } });
  const followRedirects = request.expectedStatus < 300 || request.expectedStatus >= 400;
  const signal = AbortSignal.timeout(request.timeoutMs);
  const started = performance.now();
  try {
    let current = url;
    let response = await fetch(current, { method: "GET", headers, redirect: "manual", signal, dispatcher });
    // Redirects are followed here, not by fetch, so every hop's host is checked too.
    for (let hop = 0; followRedirects && hop < maxRedirects; hop++) {
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || location === null) break;
      await response.body?.cancel().catch(() => undefined);
      current = new URL(location, current);
      if (current.protocol !== "http:" && current.protocol !== "https:") break;
      current.username = "";
      current.password = "";
      if (!request.allowPrivate && isPrivateHost(current.hostname)) {
        return {
          ok: false,
          line: `failed: ${target}: refused: redirected to a private or cluster-internal address`,
        };
      }
      response = await fetch(current, {
        method: "GET",
        headers: headersForHop(headers, url, current),
        redirect: "manual",
        signal,
        dispatcher,
      });
    }
    await response.body?.cancel().catch(() => undefined);
    const elapsed = Math.round(performance.now() - started);
    if (response.status === request.expectedStatus) {
      return {
        ok: true,
        status: response.status,
        line: `ok: ${target} returned ${response.status} in ${elapsed}ms`,
      };
    }
    return {
      ok: false,
      status: response.status,
      line: `failed: ${target} returned ${response.status}, expected ${request.expectedStatus}`,
    };
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (name === "TimeoutError") {
      return { ok: false, line: `failed: ${target} timed out after ${formatDuration(request.timeoutMs)}` };
    }
    // The reason may quote the URL; print it only in its printable form.
    const reason = networkReason(error).replaceAll(url.href, printableUrl(url));
    return { ok: false, line: `failed: ${target}: ${reason}` };
  } finally {
    await dispatcher?.close();
  }
}

export interface HeartbeatIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Runs `chronoverse heartbeat <argv>` and returns the process exit code. */
export async function runHeartbeat(argv: readonly string[], io: HeartbeatIo = process): Promise<number> {
  let request: HeartbeatCheck;
  try {
    request = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(error.message === "help" ? `${usage}\n` : `heartbeat: ${error.message}\n${usage}\n`);
    return exitCodes.usage;
  }
  const result = await check(request);
  (result.ok ? io.stdout : io.stderr).write(`${result.line}\n`);
  return result.ok ? exitCodes.ok : exitCodes.failed;
}
