// The `chronoverse` command: one program, one image, every process. Only
// wiring lives here; each subcommand is an entry in `commands`. Others add
// theirs with one line, e.g.
//   operator: { summary: "…", run: async (args) => (await import("../../operator/main.ts")).main(args) },
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig, SERVICE_NAMES, type ServiceName } from "../config.ts";
import { createLogger } from "../logging.ts";

/** The longest `chronoverse token --ttl`. */
const maxServiceTokenTtlMs = 24 * 3_600_000;

export interface Command {
  summary: string;
  usage: string;
  /** Resolves with the exit code; long-running commands resolve when they stop. */
  run(args: string[]): Promise<number>;
}

/** Loads the configuration or explains what is wrong (exit code 2). */
export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`chronoverse: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

export const commands: Record<string, Command> = {
  serve: {
    summary: "serve one gRPC service, or all five in one process",
    usage: `chronoverse serve <${[...SERVICE_NAMES, "all"].join("|")}>`,
    async run(args) {
      const [target, ...rest] = args;
      const valid = [...SERVICE_NAMES, "all"] as string[];
      if (target === undefined || !valid.includes(target) || rest.length > 0) {
        process.stderr.write(`usage: ${commands.serve?.usage}\n`);
        return 2;
      }
      const names = target === "all" ? [...SERVICE_NAMES] : [target as ServiceName];
      const config = configOrExit();
      // imported lazily: short-lived commands (heartbeat, token) skip the gRPC server stack
      const { runServe } = await import("./serve.ts");
      return runServe(config, names);
    },
  },
  migrate: {
    summary: "apply the Postgres schema migrations (DATABASE_URL)",
    usage: "chronoverse migrate",
    async run() {
      const config = configOrExit();
      const logger = createLogger({ level: config.logLevel });
      if (config.databaseUrl === undefined) {
        process.stderr.write("chronoverse: DATABASE_URL is required for migrate\n");
        return 2;
      }
      const { openDatabase } = await import("../db/database.ts");
      const { migrateToLatest } = await import("../db/migrate.ts");
      const db = openDatabase({ url: config.databaseUrl, maxConnections: 1 });
      try {
        const result = await migrateToLatest(db);
        const applied = result.results?.map((r) => r.migrationName) ?? [];
        logger.info({ applied }, applied.length > 0 ? "migrations applied" : "schema already up to date");
        return 0;
      } finally {
        await db.destroy();
      }
    },
  },
  token: {
    summary: "print a service token for operators' own tooling (internal RPCs)",
    usage: "chronoverse token [--service NAME] [--ttl DURATION]   (defaults: cli, 1h; at most 24h)",
    async run(args) {
      const { values } = parseArgs({
        args,
        options: { service: { type: "string", default: "cli" }, ttl: { type: "string", default: "1h" } },
      });
      const { parseDuration } = await import("../env.ts");
      const ttlMs = parseDuration(values.ttl);
      // A service token acts for the services: a long-lived one is a standing credential.
      if (ttlMs === undefined || ttlMs < 1000 || ttlMs > maxServiceTokenTtlMs) {
        process.stderr.write(
          `chronoverse: --ttl ${JSON.stringify(values.ttl)}: must be a duration from 1s to 24h, such as 15m or 1h\n`,
        );
        return 2;
      }
      const config = configOrExit();
      // warnings (e.g. a generated dev key) go to stderr so stdout is only the token
      const logger = createLogger({ level: config.logLevel === "silent" ? "silent" : "warn" });
      const { tokensFromConfig } = await import("../auth/tokens.ts");
      const tokens = tokensFromConfig(config, logger);
      process.stdout.write(`${await tokens.issueServiceToken(values.service, Math.round(ttlMs / 1000))}\n`);
      return 0;
    },
  },
  operator: {
    summary: "run the operator (Workflow → CronJob; leader election, metrics :8080, probes :8081)",
    usage: "chronoverse operator   (configuration: environment, see docs/operator.md)",
    run: async () => (await import("../../operator/main.ts")).runOperatorCommand(),
  },
  heartbeat: {
    summary: "one HTTP check, as a HEARTBEAT workflow's pod runs it (exit 0 ok, 1 failed)",
    usage:
      "chronoverse heartbeat --url URL [--expected-status 200] [--timeout 10s] [--header 'Name: value']...",
    run: async (args) => (await import("../../operator/heartbeat/heartbeat.ts")).runHeartbeat(args),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return `usage: chronoverse <command> [arguments]\n\ncommands:\n${lines.join("\n")}\n\nconfiguration: environment variables, see docs/api.md\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`chronoverse: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  if (args[0] === "--help" || args[0] === "-h") {
    process.stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  return command.run(args);
}
