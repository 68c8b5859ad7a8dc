// The `chronoverse` command as an operator runs it: `serve` (migrations, a
// listening server, graceful stop on SIGTERM), `migrate`, `token`, and a clear
// exit on bad configuration.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { credentials } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsersServiceClient } from "../../../gen/users/users.ts";
import { openDatabase } from "../../../src/db/database.ts";
import { grpcurlPath, TEST_SERVICE_KEY, TEST_USER_KEY, testTokens, unary } from "../../support/grpc.ts";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.ts";
import { waitFor } from "../../support/wait.ts";

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, "../../../bin/chronoverse");

function cliEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    CHRONOVERSE_HOST: "127.0.0.1",
    CHRONOVERSE_USERS_PORT: "0",
    CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
    CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
    LOG_LEVEL: "info",
    ...extra,
  };
}

describe("chronoverse CLI", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("serve users: migrates, listens, answers, and stops cleanly on SIGTERM", async () => {
    const child: ChildProcess = spawn(process.execPath, [bin, "serve", "users"], {
      env: cliEnv(database.url),
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
    const exited = new Promise<number | null>((resolveExit) => child.on("exit", (code) => resolveExit(code)));
    try {
      const listening = await waitFor("the server to listen", () => {
        if (child.exitCode !== null) throw new Error(`exited early (${child.exitCode}): ${stderr}`);
        return logs.find((entry) => entry.msg === "gRPC server listening");
      });
      expect(logs.find((entry) => entry.msg === "database schema up to date")?.applied).toContain(
        "0001_users",
      );
      const address = `127.0.0.1:${listening.port}`;

      const { stdout } = await run(await grpcurlPath(), ["-plaintext", address, "list"]);
      expect(stdout).toMatch(/users\.UsersService/);

      const client = new UsersServiceClient(address, credentials.createInsecure());
      const password = "a secret password";
      const { response } = await unary(client, client.registerUser, { email: "cli@example.com", password });
      client.close();
      expect(response.user_id).not.toBe("");

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(logs.some((entry) => entry.msg === "gRPC server stopped")).toBe(true);
      // the request log has the method and code, and never the password or the token
      const rpc = logs.find(
        (entry) => entry.method === "/users.UsersService/RegisterUser" && entry.code === "OK",
      );
      expect(rpc?.duration_ms).toEqual(expect.any(Number));
      const everything = JSON.stringify(logs) + stderr;
      expect(everything).not.toContain(password);
      expect(everything).not.toMatch(/Bearer ey/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("migrate applies the schema to an empty database", async () => {
    const fresh = await createTestDatabase();
    try {
      await run(process.execPath, [bin, "migrate"], { env: cliEnv(fresh.url) });
      const db = openDatabase({ url: fresh.url, maxConnections: 1 });
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
        db,
      );
      await db.destroy();
      expect(rows.map((r) => r.name)).toContain("0001_users");
    } finally {
      await fresh.drop();
    }
  });

  it("token prints a service token the services accept", async () => {
    const { stdout } = await run(process.execPath, [bin, "token", "--service", "ops-script", "--ttl", "5m"], {
      env: cliEnv(database.url),
    });
    expect(await testTokens().verify(stdout.trim())).toEqual({ kind: "service", service: "ops-script" });
  });

  it.each(["25h", "0s", "forever"])("token refuses --ttl %s (1s to 24h)", async (ttl) => {
    const failure = await run(process.execPath, [bin, "token", "--ttl", ttl], {
      env: cliEnv(database.url),
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/--ttl .*: must be a duration from 1s to 24h/);
  });

  it("exits with status 2 and names the variable when the configuration is invalid", async () => {
    const failure = await run(process.execPath, [bin, "serve", "users"], {
      env: cliEnv(database.url, { CHRONOVERSE_USERS_PORT: "http" }),
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/CHRONOVERSE_USERS_PORT="http": must be an integer/);
  });

  it("explains its usage", async () => {
    const { stdout } = await run(process.execPath, [bin, "--help"]);
    expect(stdout).toMatch(/serve\s+serve one gRPC service/);
    const failure = await run(process.execPath, [bin, "serve", "everything"]).catch((error) => error);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(
      /usage: chronoverse serve <users\|workflows\|jobs\|notifications\|analytics\|all>/,
    );
  });
});
