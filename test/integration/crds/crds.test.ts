// The committed CRDs (crds/*.yaml) on the real apiserver: kubectl shows the
// short names, printer columns and field descriptions, absent status reads as
// QUEUED, and the structural schema and CEL rules reject invalid objects that
// are applied with kubectl directly.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

const run = promisify(execFile);

const userId = "0192f0a4-1111-7000-8000-000000000001";
const workflowId = "0192f0a4-2222-7000-8000-000000000001";

function heartbeatWorkflow(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "Workflow",
    metadata: { name, labels: { "chronoverse.dev/user-id": userId, "chronoverse.dev/workflow-id": name } },
    spec: {
      userId,
      displayName: "ping example",
      kind: "HEARTBEAT",
      heartbeat: { endpoint: "https://example.com/health" },
      intervalMinutes: 5,
      maxConsecutiveFailures: 3,
      ...spec,
    },
  };
}

describe("chronoverse CRDs", () => {
  const kc = testKubeConfig();
  let ns: TestNamespace;

  async function kubectl(args: string[], stdin?: unknown): Promise<{ stdout: string; stderr: string }> {
    const child = run("kubectl", ["--kubeconfig", inject("kubeconfig"), "-n", ns.name, ...args]);
    if (stdin !== undefined) {
      child.child.stdin?.end(JSON.stringify(stdin));
    }
    return child;
  }

  /** kubectl apply of one object; resolves to kubectl's error output, or "" when it was accepted. */
  async function applyError(object: unknown): Promise<string> {
    try {
      await kubectl(["apply", "-f", "-"], object);
      return "";
    } catch (error) {
      return (error as { stderr: string }).stderr;
    }
  }

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "crds");
  });

  afterAll(async () => {
    await ns.remove();
  });

  it("serves Workflows under the short name with the printer columns, absent status reading QUEUED", async () => {
    const name = "0192f0a4-3333-7000-8000-000000000001";
    expect(await applyError(heartbeatWorkflow(name))).toBe("");
    const { stdout } = await kubectl(["get", "cwf"]);
    const [header, row] = stdout.trim().split("\n");
    expect(header?.split(/\s{2,}/)).toEqual([
      "NAME",
      "DISPLAY NAME",
      "KIND",
      "INTERVAL",
      "BUILD STATUS",
      "FAILURES",
      "TERMINATED",
      "AGE",
    ]);
    expect(row).toMatch(new RegExp(`^${name}\\s+ping example\\s+HEARTBEAT\\s+5\\s+QUEUED\\s+0\\s+false\\s+`));

    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const stored = (await custom.getNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: ns.name,
      plural: "workflows",
      name,
    })) as { spec: Record<string, unknown> };
    // Schema defaults fill what the request left out.
    expect(stored.spec).toMatchObject({
      heartbeat: { endpoint: "https://example.com/health", expectedStatusCode: 200, timeoutSeconds: 10 },
      logRetention: false,
      terminated: false,
    });
  });

  it("lists both kinds under the chronoverse category", async () => {
    const { stdout } = await kubectl(["get", "chronoverse", "-o", "name"]);
    expect(stdout).toContain("workflow.chronoverse.dev/0192f0a4-3333-7000-8000-000000000001");
  });

  it("documents every field for kubectl explain", async () => {
    const { stdout } = await waitFor("kubectl explain to know Workflow", async () => {
      try {
        return await kubectl(["explain", "workflow.spec.heartbeat"]);
      } catch {
        return undefined;
      }
    });
    expect(stdout).toContain("HTTP check settings");
    expect(stdout).toMatch(/expectedStatusCode\s+<integer>/);
    const job = await kubectl(["explain", "cwj.status.phase"]);
    expect(job.stdout).toContain("PENDING, QUEUED, RUNNING, COMPLETED, FAILED or CANCELED");
  });

  it("rejects an interval of 0 and out-of-range settings", async () => {
    expect(
      await applyError(heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000002", { intervalMinutes: 0 })),
    ).toMatch(
      /spec.intervalMinutes: Invalid value: 0: spec.intervalMinutes in body should be greater than or equal to 1/,
    );
    const tooMany = await applyError(
      heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000002", {
        maxConsecutiveFailures: 101,
        heartbeat: { endpoint: "https://example.com", timeoutSeconds: 301, expectedStatusCode: 99 },
      }),
    );
    expect(tooMany).toContain("spec.maxConsecutiveFailures");
    expect(tooMany).toContain("spec.heartbeat.timeoutSeconds");
    expect(tooMany).toContain("spec.heartbeat.expectedStatusCode");
  });

  it("rejects a HEARTBEAT workflow without heartbeat settings, or with container settings", async () => {
    const missing = heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000003");
    delete (missing.spec as Record<string, unknown>).heartbeat;
    expect(await applyError(missing)).toContain(
      'spec.heartbeat: Invalid value: "object": heartbeat settings are required when kind is HEARTBEAT',
    );
    expect(
      await applyError(
        heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000003", { container: { image: "busybox:1.36" } }),
      ),
    ).toContain("container settings are required when kind is CONTAINER and not allowed otherwise");
  });

  it("rejects log retention on a HEARTBEAT workflow and a non-http endpoint", async () => {
    expect(
      await applyError(heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000004", { logRetention: true })),
    ).toContain("logRetention must be false for HEARTBEAT workflows");
    expect(
      await applyError(
        heartbeatWorkflow("0192f0a4-3333-7000-8000-000000000004", {
          heartbeat: { endpoint: "ftp://example.com" },
        }),
      ),
    ).toContain("endpoint must be an absolute http or https URL");
  });

  it("rejects changing the kind of an existing workflow", async () => {
    const name = "0192f0a4-3333-7000-8000-000000000005";
    expect(await applyError(heartbeatWorkflow(name))).toBe("");
    const changed = heartbeatWorkflow(name, { kind: "CONTAINER", container: { image: "busybox:1.36" } });
    delete (changed.spec as Record<string, unknown>).heartbeat;
    expect(await applyError(changed)).toContain('spec.kind: Invalid value: "string": kind is immutable');
    // A change of an allowed field still goes through.
    expect(await applyError(heartbeatWorkflow(name, { intervalMinutes: 60 }))).toBe("");
  });

  it("serves WorkflowJobs with their printer columns and keeps the trigger immutable", async () => {
    const name = "0192f0a4-4444-7000-8000-000000000001";
    const job = {
      apiVersion: "chronoverse.dev/v1alpha1",
      kind: "WorkflowJob",
      metadata: {
        name,
        labels: { "chronoverse.dev/user-id": userId, "chronoverse.dev/workflow-id": workflowId },
      },
      spec: { workflowName: workflowId, userId, trigger: "MANUAL", scheduledAt: "2026-01-02T03:04:05Z" },
    };
    expect(await applyError(job)).toBe("");
    const { stdout } = await kubectl(["get", "cwj"]);
    const [header, row] = stdout.trim().split("\n");
    expect(header?.split(/\s{2,}/)).toEqual(["NAME", "WORKFLOW", "TRIGGER", "PHASE", "SCHEDULED", "AGE"]);
    expect(row).toMatch(new RegExp(`^${name}\\s+${workflowId}\\s+MANUAL\\s+PENDING\\s+\\d+d\\s+`));
    expect(await applyError({ ...job, spec: { ...job.spec, trigger: "AUTOMATIC" } })).toContain(
      'spec.trigger: Invalid value: "string": trigger is immutable',
    );
    expect(
      await applyError({
        ...job,
        metadata: { name: "0192f0a4-4444-7000-8000-000000000002" },
        spec: { ...job.spec, trigger: "LATER" },
      }),
    ).toContain('spec.trigger: Unsupported value: "LATER"');
  });
});
