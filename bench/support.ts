// Shared pieces of the benchmark scripts (bench/*.ts, run by Node directly —
// not vitest, so nothing here may import vitest): a service started in-process
// on a free 127.0.0.1 port over a fresh, migrated database (as
// test/support/grpc.ts does for tests), a throwaway namespace, percentiles,
// bounded loops, a compact table, and the machine/version line for
// docs/benchmarks.md.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type Client, credentials, type Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import type { Kysely } from "kysely";
import pg from "pg";
import pino from "pino";
import { createTokens, type Tokens } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/db/database.ts";
import { migrateToLatest } from "../src/db/migrate.ts";
import type { Database } from "../src/db/schema.ts";
import { bearerMetadata } from "../src/grpc/client.ts";
import { createHandlers } from "../src/grpc/handlers.ts";
import { type RunningGrpcServer, startGrpcServer } from "../src/grpc/server.ts";
import type { ServiceFactory } from "../src/grpc/service.ts";
import type { Logger } from "../src/logging.ts";
import { waitFor } from "../test/support/wait.ts";

export const root = resolve(import.meta.dirname, "..");

export const now = (): number => performance.now();

/** BENCH_LOG_LEVEL=debug shows the in-process services' logs; silent by default. */
export function benchLogger(): Logger {
  return pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" }) as unknown as Logger;
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? resolve(root, ".cluster/kubeconfig"));
  return kc;
}

/** A whole-number setting from the environment (e.g. N=200), with a default. */
export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}=${raw}: must be a whole number >= ${min}`);
  return value;
}

export const quick = (): boolean => ["1", "true", "yes"].includes((process.env.QUICK ?? "").toLowerCase());

// ------------------------------------------------------------------ statistics

/** Nearest-rank percentile of `values` (ms); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), mean };
}

export const fmt = (value: number, digits = 2): string =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a";

export const ratio = (value: number, baseline: number): string =>
  Number.isFinite(value) && Number.isFinite(baseline) && baseline > 0
    ? `${(value / baseline).toFixed(2)}×`
    : "n/a";

/** A compact text table for the terminal. */
export function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

/** The same table as Markdown, for docs/benchmarks.md. */
export function markdownTable(header: string[], rows: string[][]): string {
  const out = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) out.push(`| ${row.join(" | ")} |`);
  return out.join("\n");
}

/**
 * Runs `task` from `workers` concurrent loops until `count` calls were started
 * or `maxMs` passed, whichever comes first (both bounds always apply); returns
 * each call's latency (ms) and the elapsed time.
 */
export async function closedLoop(
  workers: number,
  count: number,
  maxMs: number,
  task: (worker: number) => Promise<unknown>,
): Promise<{ latencies: number[]; elapsedMs: number; errors: number }> {
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  const begin = now();
  const loop = async (worker: number) => {
    while (started < count && now() - begin < maxMs) {
      started++;
      const t0 = now();
      try {
        await task(worker);
        latencies.push(now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, i) => loop(i)));
  return { latencies, elapsedMs: now() - begin, errors };
}

// ------------------------------------------------------------------ environment

function versionOf(cmd: string, args: string[], pick: (out: string) => string): string {
  try {
    return pick(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return "unknown";
  }
}

/** One line naming the machine and the versions the figures were measured with. */
export function environmentLine(): string {
  const cpu = cpus();
  const kube = versionOf(
    "kubectl",
    ["version", "-o", "json", "--kubeconfig", process.env.KUBECONFIG ?? resolve(root, ".cluster/kubeconfig")],
    (out) => {
      const parsed = JSON.parse(out) as { serverVersion?: { gitVersion?: string } };
      return parsed.serverVersion?.gitVersion ?? "unknown";
    },
  );
  const postgres = versionOf(
    "psql",
    [process.env.DATABASE_URL ?? "", "-Atc", "show server_version"],
    (out) => out.trim().split(" ")[0] ?? "unknown",
  );
  const pkg = (name: string) => {
    try {
      return (
        JSON.parse(readFileSync(resolve(root, "node_modules", name, "package.json"), "utf8")) as {
          version: string;
        }
      ).version;
    } catch {
      return "unknown";
    }
  };
  return [
    `${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown CPU"}), ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `Node ${process.versions.node}`,
    `kube-apiserver ${kube} (local control plane, kwok node)`,
    `PostgreSQL ${postgres}`,
    `@grpc/grpc-js ${pkg("@grpc/grpc-js")}`,
    `@kubernetes/client-node ${pkg("@kubernetes/client-node")}`,
  ].join("; ");
}

/**
 * Replaces the section between `<!-- bench:NAME:begin -->` and
 * `<!-- bench:NAME:end -->` in docs/benchmarks.md (appended when missing).
 */
export function updateDocs(name: string, markdown: string): void {
  const path = resolve(root, "docs/benchmarks.md");
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    text = "# Benchmarks\n";
  }
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  text =
    from >= 0 && to > from
      ? `${text.slice(0, from)}${block}${text.slice(to + end.length)}`
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, text);
  process.stdout.write(`\nfigures written to docs/benchmarks.md (section ${name})\n`);
}

// ------------------------------------------------------------------ services

export const BENCH_USER_KEY = "33".repeat(32);
export const BENCH_SERVICE_KEY = "44".repeat(32);

export interface BenchService {
  address: string;
  tokens: Tokens;
  db: Kysely<Database>;
  server: RunningGrpcServer;
  /** A new client with its own connection (a local subchannel pool, so clients do not share one socket). */
  client<C extends Client>(
    ClientClass: new (
      address: string,
      creds: ReturnType<typeof credentials.createInsecure>,
      options?: object,
    ) => C,
  ): C;
  userMetadata(userId: string): Promise<Metadata>;
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Starts `factory`'s service on 127.0.0.1 (free port) over a new database in DATABASE_URL's server. */
export async function startBenchService(
  factory: ServiceFactory,
  env: Record<string, string>,
): Promise<BenchService> {
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl === undefined || adminUrl === "")
    throw new Error("DATABASE_URL is required (make bench-* sets it)");
  const name = `cv_bench_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const logger = benchLogger();
  const config = loadConfig({
    DATABASE_URL: url,
    CHRONOVERSE_USER_TOKEN_KEY: BENCH_USER_KEY,
    CHRONOVERSE_SERVICE_TOKEN_KEY: BENCH_SERVICE_KEY,
    CHRONOVERSE_HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    // One user drives every benchmark: per-user quotas off (0 = no limit).
    CHRONOVERSE_MAX_WORKFLOWS_PER_USER: "0",
    CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW: "0",
    CHRONOVERSE_MAX_LOG_STREAMS_PER_USER: "0",
    ...env,
  });
  const db = openDatabase({ url, maxConnections: 10 });
  const tokens = createTokens({
    keys: {
      user: new TextEncoder().encode(BENCH_USER_KEY),
      service: new TextEncoder().encode(BENCH_SERVICE_KEY),
    },
    userTokenTtlSeconds: 3600,
    serviceTokenTtlSeconds: 3600,
  });
  const clients: Client[] = [];
  let server: RunningGrpcServer | undefined;
  let close: (() => Promise<void>) | undefined;
  const stop = async () => {
    for (const c of clients) c.close();
    await server?.shutdown();
    await close?.();
    await db.destroy();
    const a = new pg.Client({ connectionString: adminUrl });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.end();
  };
  try {
    await migrateToLatest(db);
    const service = await factory({
      config,
      logger,
      tokens,
      handlers: createHandlers({ tokens, logger }),
      database: () => db,
    });
    close = service.close?.bind(service);
    server = await startGrpcServer({
      services: [service],
      host: "127.0.0.1",
      port: 0,
      logger,
      shutdownTimeoutMs: 5_000,
    });
    const address = `127.0.0.1:${server.port}`;
    return {
      address,
      tokens,
      db,
      server,
      client(ClientClass) {
        const client = new ClientClass(address, credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
        });
        clients.push(client);
        return client;
      },
      userMetadata: async (userId) => bearerMetadata(await tokens.issueUserToken(userId)),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface BenchNamespace {
  name: string;
  remove(): Promise<void>;
}

/** A fresh namespace (labelled chronoverse.dev/bench); remove() deletes it and what it holds. */
export async function createBenchNamespace(kc: k8s.KubeConfig, prefix: string): Promise<BenchNamespace> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "chronoverse.dev/bench": "true" } } } });
  // Pods are refused until the namespace's `default` ServiceAccount exists.
  await waitFor(`ServiceAccount ${name}/default`, () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }),
  );
  return {
    name,
    async remove() {
      await core.deleteNamespace({ name, propagationPolicy: "Background" }).catch(() => undefined);
    },
  };
}
