// Vitest global setup for integration tests: a throwaway Postgres when
// DATABASE_URL is unset (removed again afterwards), and the local control
// plane's kubeconfig. Values reach test files through `inject()`.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    kubeconfig: string;
  }
}

const root = resolve(import.meta.dirname, "../..");

export default function setup(project: TestProject): () => void {
  let startedPostgres = false;
  let databaseUrl = process.env.DATABASE_URL ?? "";
  if (databaseUrl === "") {
    databaseUrl = execFileSync(resolve(root, "hack/postgres.sh"), ["up"], { encoding: "utf8" }).trim();
    startedPostgres = true;
  }
  const kubeconfig = process.env.KUBECONFIG ?? resolve(root, ".cluster/kubeconfig");
  if (!existsSync(kubeconfig)) {
    throw new Error(`no kubeconfig at ${kubeconfig}: start the control plane with \`make cluster\``);
  }
  // The real node's pods (HEARTBEAT runs, the chart) run the project's own image,
  // built from the Dockerfile when the sources changed.
  const realNode = resolve(root, "hack/real-node.sh");
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  if (spawnSync(realNode, ["status"], { env }).status === 0) {
    execFileSync(realNode, ["load-image"], { env, stdio: "inherit" });
  }
  project.provide("databaseUrl", databaseUrl);
  project.provide("kubeconfig", kubeconfig);
  return () => {
    if (startedPostgres) execFileSync(resolve(root, "hack/postgres.sh"), ["down"], { stdio: "inherit" });
  };
}
