// Shared pieces of the fault tests: the real `chronoverse` program as a child
// process (so a crash is a process exit, as in production), a Postgres server
// of the test's own that it can stop and start (hack/postgres.sh with its own
// port and data folder), terminating a database's backends, the gRPC health
// protocol, and a TCP proxy that can be frozen (an apiserver that hangs).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { type Client, credentials, makeClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import pg from "pg";
import { SERVICE_NAMES, type ServiceName } from "../../../src/config.ts";
import { freePort } from "../../support/net.ts";
import { waitFor } from "../../support/wait.ts";

const root = resolve(import.meta.dirname, "../../..");
const bin = resolve(root, "bin/chronoverse");
const run = promisify(execFile);

export const SERVICE_FULL_NAMES: Record<ServiceName, string> = {
  users: "users.UsersService",
  workflows: "workflows.WorkflowsService",
  jobs: "jobs.JobsService",
  notifications: "notifications.NotificationsService",
  analytics: "analytics.AnalyticsService",
};

export interface ChronoverseProcess {
  child: ChildProcess;
  /** Parsed JSON log lines (stdout), in order. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Exit code, or undefined while it runs. */
  exitCode(): number | null | undefined;
  /** SIGTERM, then waits for the exit (SIGKILL when the deadline passes). */
  stop(): Promise<number | null>;
}

/** Starts `chronoverse <args>` with exactly `env` (plus PATH and HOME). */
export function startChronoverse(args: string[], env: Record<string, string>): ChronoverseProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exit: number | null | undefined;
  const exited = new Promise<number | null>((resolveExit) =>
    child.on("exit", (code, signal) => {
      exit = code ?? (signal === null ? null : -1);
      resolveExit(exit);
    }),
  );
  return {
    child,
    logs,
    stderr: () => stderr,
    exitCode: () => exit,
    async stop() {
      if (exit !== undefined) return exit;
      child.kill("SIGTERM");
      try {
        await waitFor("the process to exit after SIGTERM", () => (exit !== undefined ? true : undefined), {
          timeoutMs: 30_000,
        });
      } finally {
        if (exit === undefined) child.kill("SIGKILL");
      }
      return exited;
    },
  };
}

/** Throws (with its stderr) when the process has exited: a probe for waitFor and a check after faults. */
export function assertRunning(proc: ChronoverseProcess, what: string): void {
  const code = proc.exitCode();
  if (code !== undefined) {
    throw new Error(`${what} exited (${code}); stderr:\n${proc.stderr().slice(-4000)}`);
  }
}

/** One free port per service, and the environment that puts them (and their addresses) there. */
export async function serviceEndpoints(): Promise<{
  ports: Record<ServiceName, number>;
  env: Record<string, string>;
}> {
  const ports = {} as Record<ServiceName, number>;
  const env: Record<string, string> = {};
  for (const name of SERVICE_NAMES) {
    ports[name] = await freePort();
    env[`CHRONOVERSE_${name.toUpperCase()}_PORT`] = String(ports[name]);
    env[`CHRONOVERSE_${name.toUpperCase()}_ADDRESS`] = `127.0.0.1:${ports[name]}`;
  }
  return { ports, env };
}

/** Waits until `serve all` listens on all five ports. */
export async function waitListening(proc: ChronoverseProcess): Promise<void> {
  await waitFor("the five gRPC servers to listen", () => {
    assertRunning(proc, "chronoverse serve all");
    const listening = proc.logs.filter((entry) => entry.msg === "gRPC server listening");
    return listening.length === SERVICE_NAMES.length ? true : undefined;
  });
}

type HealthClient = Client & {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (error: ServiceError | null, response: { status: string }) => void,
  ): void;
};
const HealthClientClass = makeClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => HealthClient;

/** grpc.health.v1.Health/Check of `service` at `address`: its status, or "error: …". */
export function healthStatus(address: string, service: string): Promise<string> {
  const client = new HealthClientClass(address, credentials.createInsecure());
  return new Promise((resolveStatus) => {
    client.check({ service }, { deadline: Date.now() + 5_000 }, (error, response) => {
      client.close();
      resolveStatus(error ? `error: ${error.message}` : String(response.status));
    });
  });
}

/** Terminates every backend connected to `database` (except the caller's own). Returns how many. */
export async function terminateBackends(adminUrl: string, database: string): Promise<number> {
  const admin = new pg.Client({ connectionString: adminUrl });
  // The admin session is not the one under test: a fault here must fail the test, not crash it.
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      `select count(*) filter (where pg_terminate_backend(pid))::int as n
         from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [database],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await admin.end();
  }
}

export interface OwnPostgres {
  url: string;
  /** Stops the server, keeping its data (hack/postgres.sh stop). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

/**
 * A Postgres server of the test's own (hack/postgres.sh on a free port with a
 * data folder of its own), so stopping it disturbs no other test.
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const parent = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), "cv-faults-pg-"));
  // Run as root, the server runs as `postgres`, which must reach the data folder.
  await chmod(parent, 0o755);
  const env = { ...process.env, PG_PORT: String(port), PG_DIR: join(parent, "data") };
  const script = resolve(root, "hack/postgres.sh");
  const sh = async (command: string): Promise<string> =>
    (await run(script, [command], { env, timeout: 120_000 })).stdout.trim();
  const url = await sh("up");
  return {
    url,
    stop: async () => {
      await sh("stop");
    },
    start: async () => {
      await sh("up");
    },
    remove: async () => {
      await sh("down");
      await rm(parent, { recursive: true, force: true });
    },
  };
}

export interface FreezableProxy {
  /** The proxy listens on 127.0.0.1:port. */
  port: number;
  /**
   * From now on nothing passes: open connections stop forwarding (requests on
   * them hang unanswered) and new connections are accepted but never answered —
   * an apiserver that hangs, or a network that drops packets.
   */
  freeze(): void;
  close(): Promise<void>;
}

/** A TCP proxy to `target` (host:port) that the test can freeze. */
export async function startFreezableProxy(targetHost: string, targetPort: number): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    sockets.add(downstream);
    downstream.on("close", () => sockets.delete(downstream));
    downstream.on("error", () => undefined);
    if (frozen) return; // accepted, never answered
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => downstream.destroy());
    downstream.on("close", () => upstream.destroy());
    upstream.on("close", () => downstream.destroy());
    downstream.on("data", (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!frozen) downstream.write(chunk);
    });
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const bound = server.address();
      resolvePort(typeof bound === "object" && bound !== null ? bound.port : 0);
    });
  });
  return {
    port,
    freeze() {
      frozen = true;
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolveClose());
      }),
  };
}
