// Reading settings from the environment, shared by every process's config:
// values are trimmed (empty = unset), and every problem is collected so a
// misconfigured process names them all at once instead of one per restart.
import { readFileSync } from "node:fs";

export type Env = Record<string, string | undefined>;

/** Nanoseconds per unit of Go's time.ParseDuration (µ is U+00B5, μ is U+03BC; Go accepts both). */
const GO_DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n],
  ["\u03bcs", 1_000n],
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

/**
 * The longest duration text read. A duration within Go's range needs at most
 * 25 characters ("-2562047h47m16.854775808s"); longer text (leading zeros,
 * many small parts) is refused before any parsing, so a request cannot make
 * this parser walk megabytes.
 */
export const DURATION_MAX_LENGTH = 64;

/** Go's time.Duration range: int64 nanoseconds. */
const MAX_NANOS = (1n << 63n) - 1n;

const isDigit = (c: string): boolean => c >= "0" && c <= "9";

/**
 * Parses every form Go's time.ParseDuration accepts — `[-+]?([0-9]*(\.[0-9]*)?unit)+`
 * or a bare `0` (with a sign too), units ns, us, µs, μs, ms, s, m, h: "1500ms",
 * "1.5s", "1m30s", ".5h", "2h45m", "-3s", "+0" — into exact nanoseconds.
 * Undefined when malformed, out of Go's range (int64 nanoseconds) or longer
 * than DURATION_MAX_LENGTH. One pass over the text, no regular expression:
 * linear by construction.
 */
export function parseGoDuration(text: string): bigint | undefined {
  if (text.length === 0 || text.length > DURATION_MAX_LENGTH) return undefined;
  let i = 0;
  let negative = false;
  if (text[0] === "-" || text[0] === "+") {
    negative = text[0] === "-";
    i = 1;
  }
  if (text.slice(i) === "0") return 0n;
  if (i === text.length) return undefined;
  let total = 0n;
  while (i < text.length) {
    const start = i;
    while (i < text.length && isDigit(text[i] as string)) i++;
    const whole = text.slice(start, i);
    let fraction = "";
    if (text[i] === ".") {
      const fractionStart = ++i;
      while (i < text.length && isDigit(text[i] as string)) i++;
      fraction = text.slice(fractionStart, i);
    }
    if (whole === "" && fraction === "") return undefined; // "s", ".s": no number
    const unitStart = i;
    while (i < text.length && text[i] !== "." && !isDigit(text[i] as string)) i++;
    const unit = GO_DURATION_UNITS.get(text.slice(unitStart, i));
    if (unit === undefined) return undefined; // missing or unknown unit
    total += BigInt(whole === "" ? "0" : whole) * unit;
    if (fraction !== "") total += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    if (total > MAX_NANOS + (negative ? 1n : 0n)) return undefined;
  }
  return negative ? -total : total;
}

/**
 * A duration setting in milliseconds: a Go duration (see parseGoDuration,
 * rounded to the millisecond) or a bare number of seconds ("15", "1.5").
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed.length > DURATION_MAX_LENGTH) return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const nanos = parseGoDuration(trimmed);
  return nanos === undefined ? undefined : Math.round(Number(nanos) / 1e6);
}

/** The namespace a Pod runs in, from its service-account mount; undefined outside a cluster. */
export function readNamespaceFile(): string | undefined {
  try {
    return (
      readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim() || undefined
    );
  } catch {
    return undefined;
  }
}

export class EnvReader {
  readonly #env: Env;
  /** One line per invalid variable, naming it and what it must be. */
  readonly problems: string[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  get(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  /** A duration in milliseconds (see parseDuration); must be above zero. */
  duration(name: string, fallbackMs: number): number {
    const raw = this.get(name);
    if (raw === undefined) return fallbackMs;
    const value = parseDuration(raw);
    if (value === undefined || value <= 0) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: must be a duration such as 30s, 15m or 24h`);
      return fallbackMs;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.get(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (["1", "true", "yes", "on"].includes(raw)) return true;
    if (["0", "false", "no", "off"].includes(raw)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)}: must be true or false`);
    return fallback;
  }
}
