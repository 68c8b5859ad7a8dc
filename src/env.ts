// Reading settings from the environment, shared by every process's config:
// values are trimmed (empty = unset), and every problem is collected so a
// misconfigured process names them all at once instead of one per restart.
import { readFileSync } from "node:fs";

export type Env = Record<string, string | undefined>;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "30s", "1.5s", "5m", "24h", "1h30m" or a bare number of seconds into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (DURATION_UNITS[unit as string] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
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
