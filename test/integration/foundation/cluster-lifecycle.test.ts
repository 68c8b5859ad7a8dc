// `make cluster` / `make cluster-down` as a user runs them: a second control
// plane (own state folder, own ports) starts, answers /readyz with a Ready
// kwok node, and after `down` no process it started is left.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../support/net.ts";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../../..");

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe("hack/cluster.sh up and down", () => {
  const dir = mkdtempSync(join(tmpdir(), "cv-cluster-"));
  let env: NodeJS.ProcessEnv = {};

  afterAll(async () => {
    await run(resolve(root, "hack/cluster.sh"), ["down"], { env }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a working control plane and leaves no process behind when stopped", async () => {
    env = {
      ...process.env,
      CLUSTER_DIR: dir,
      CLUSTER_APISERVER_PORT: String(await freePort()),
      CLUSTER_ETCD_PORT: String(await freePort()),
      CLUSTER_ETCD_PEER_PORT: String(await freePort()),
      CLUSTER_KWOK_PORT: String(await freePort()),
    };
    const up = await run(resolve(root, "hack/cluster.sh"), ["up"], { env });
    expect(up.stdout).toContain(`export KUBECONFIG=${dir}/kubeconfig`);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, "kubeconfig"));
    const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode();
    const ready = nodes.items[0]?.status?.conditions?.find((c) => c.type === "Ready");
    expect(nodes.items.map((n) => n.metadata?.name)).toEqual(["kwok-node-0"]);
    expect(ready?.status).toBe("True");
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(5);

    await run(resolve(root, "hack/cluster.sh"), ["down"], { env });
    expect(processesMentioning(dir)).toEqual([]);
    await expect(run(resolve(root, "hack/cluster.sh"), ["status"], { env })).rejects.toThrow();
  });
});
