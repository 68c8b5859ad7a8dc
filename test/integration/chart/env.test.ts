// The chart's environment, rendered by the real helm binary: every container
// gets each variable once (a duplicate silently lets the later value win), the
// quota and limit values reach the one service that enforces them, and what
// the chart renders is accepted by the processes' own config reader.
import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../../src/config.ts";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../../..");
const chart = resolve(root, "charts/chronoverse");
const helmBin = process.env.HELM ?? resolve(homedir(), ".cache/chronoverse/bin/helm");

interface Workload {
  kind: string;
  metadata: { name: string };
  spec: { template?: { spec: k8s.V1PodSpec } } & Partial<k8s.V1PodSpec>;
}

async function render(...set: string[]): Promise<Workload[]> {
  const { stdout } = await run(
    helmBin,
    ["template", "cv", chart, "-n", "cv", ...set.flatMap((s) => ["--set", s])],
    { maxBuffer: 32 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as Workload | null)
    .filter((o): o is Workload => o !== null && ["Deployment", "StatefulSet", "Pod"].includes(o.kind));
}

function containers(workload: Workload): k8s.V1Container[] {
  const pod = workload.spec.template?.spec ?? (workload.spec as k8s.V1PodSpec);
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}

/** The literal env of the service `name`'s container (values only, not secret references). */
function serviceEnv(workloads: Workload[], name: string): Record<string, string> {
  const deployment = workloads.find(
    (w) => w.kind === "Deployment" && w.metadata.name === `cv-chronoverse-${name}`,
  );
  const container = deployment ? containers(deployment)[0] : undefined;
  if (!container) throw new Error(`no Deployment for ${name}`);
  return Object.fromEntries(
    (container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
  );
}

const LIMIT_VARIABLES: Record<string, string[]> = {
  users: [
    "CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL",
    "CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS",
    "CHRONOVERSE_AUTH_RATE_WINDOW",
  ],
  workflows: ["CHRONOVERSE_MAX_WORKFLOWS_PER_USER"],
  jobs: [
    "CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW",
    "CHRONOVERSE_MAX_LOG_STREAMS_PER_USER",
    "CHRONOVERSE_LOG_STREAM_MAX_DURATION",
    "CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT",
  ],
  notifications: [],
  analytics: [],
};

describe("charts/chronoverse: environment", () => {
  const variants: [string, string[]][] = [
    ["defaults", []],
    [
      "every optional part on",
      [
        "postgres.external.url=postgres://u:p@db:5432/cv",
        "tls.enabled=true,tls.secretName=cv-tls,tls.clientAuth=require",
        "allowPrivateHeartbeats=true",
      ],
    ],
  ];

  it.each(variants)("sets each variable once per container (%s)", async (_name, set) => {
    const workloads = await render(...set);
    expect(workloads.length).toBeGreaterThan(5);
    for (const workload of workloads) {
      for (const container of containers(workload)) {
        const names = (container.env ?? []).map((e) => e.name);
        const repeated = names.filter((n, i) => names.indexOf(n) !== i);
        expect(repeated, `${workload.kind}/${workload.metadata.name} container ${container.name}`).toEqual(
          [],
        );
      }
    }
  });

  it("allowPrivateHeartbeats reaches the workflows service and the operator with one value", async () => {
    const workloads = await render("allowPrivateHeartbeats=true");
    expect(serviceEnv(workloads, "workflows").CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS).toBe("true");
  });

  it("limits: defaults match the config's, overrides reach the one service that enforces each, and the processes accept them", async () => {
    const defaults = await render();
    const configDefaults = loadConfig({}).limits;
    for (const service of Object.keys(LIMIT_VARIABLES)) {
      const env = serviceEnv(defaults, service);
      // What the chart renders by default is what the process would use anyway.
      expect(loadConfig(env).limits, service).toEqual(configDefaults);
      for (const [other, variables] of Object.entries(LIMIT_VARIABLES)) {
        for (const variable of variables) {
          expect(env[variable] !== undefined, `${variable} on ${service}`).toBe(other === service);
        }
      }
    }

    const custom = await render(
      "limits.workflowsPerUser=7,limits.manualRunsPerWorkflow=0,limits.logStreamsPerUser=2",
      "limits.logStreamMaxDuration=2h,limits.logStreamIdleTimeout=30s",
      "limits.authAttemptsPerEmail=4,limits.authAttemptsPerAddress=0,limits.authRateWindow=5m",
    );
    expect(loadConfig(serviceEnv(custom, "workflows")).limits.workflowsPerUser).toBe(7);
    expect(loadConfig(serviceEnv(custom, "jobs")).limits).toMatchObject({
      manualRunsPerWorkflow: 0,
      logStreamsPerUser: 2,
      logStreamMaxDurationMs: 7_200_000,
      logStreamIdleTimeoutMs: 30_000,
    });
    expect(loadConfig(serviceEnv(custom, "users")).limits).toMatchObject({
      authAttemptsPerEmail: 4,
      authAttemptsPerAddress: 0,
      authRateWindowMs: 300_000,
    });
  });
});
