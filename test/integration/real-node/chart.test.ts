// The Helm chart on the real node, with the image built from the Dockerfile:
// `helm install` (every Deployment Ready, two operator replicas with one
// leader), `helm test`, then the README's grpcurl block, extracted from
// README.md and run through `kubectl port-forward` to the in-cluster Services
// (a CONTAINER workflow's run really prints, its log streams back and is kept;
// its CronJob fires too), `helm upgrade` with a changed value (rolls out, keeps
// the generated keys and the data) and `helm uninstall` (leaves only what
// docs/chart.md says stays). The database is the external-URL path: a test
// database reachable from pods through the node's bridge address.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installCrds } from "../../support/crds.ts";
import { chart, helm, root } from "../../support/helm.ts";
import {
  createTestNamespace,
  enforceRestricted,
  type TestNamespace,
  testKubeConfig,
} from "../../support/kube.ts";
import { freePort } from "../../support/net.ts";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.ts";
import { waitFor } from "../../support/wait.ts";
import { hasRealNode, onRealNode, projectImage } from "./support.ts";

const run = promisify(execFile);
const kc = testKubeConfig();
const realNode = await hasRealNode(kc);
const release = "cv";
const fullname = `${release}-chronoverse`;
const components = ["users", "workflows", "jobs", "notifications", "analytics", "operator"];

/** Helm values for a release on the real node: the image built there, and its pods placed there. */
function onRealNodeValues(): string[] {
  const [repository, tag] = projectImage.split(/:(?=[^:]+$)/);
  return [
    "--set",
    `image.repository=${repository},image.tag=${tag}`,
    "--set-json",
    `nodeSelector=${JSON.stringify(onRealNode.nodeSelector)}`,
    "--set-json",
    `tolerations=${JSON.stringify(onRealNode.tolerations)}`,
  ];
}

/** The README's grpcurl block (the first `sh` block under "Using the API with grpcurl"). */
function readmeGrpcurlBlock(): string {
  const readme = readFileSync(resolve(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Using the API with grpcurl"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error("README.md has no grpcurl block");
  return block;
}

interface Forward {
  child: ChildProcess;
  port: number;
}

/** `kubectl port-forward svc/<service> 0:<port>`, resolved once it says which local port it took. */
function portForward(namespace: string, service: string, port: number): Promise<Forward> {
  const child = spawn(
    "kubectl",
    ["--kubeconfig", inject("kubeconfig"), "-n", namespace, "port-forward", `svc/${service}`, `0:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  return new Promise((resolveForward, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const local = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output)?.[1];
      if (local !== undefined) resolveForward({ child, port: Number(local) });
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`port-forward ${service} exited (${code}): ${output}`)));
  });
}

describe.skipIf(!realNode)("the chart on the real node", () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  let ns: TestNamespace;
  let database: TestDatabase;
  let bridge: ChildProcess | undefined;
  const forwards: Forward[] = [];
  let values: string[];

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "real-chart");
    await enforceRestricted(kc, ns.name);
    database = await createTestDatabase("cv_chart");
    // The external database, as pods reach it: the node's bridge address, forwarded to the test's Postgres.
    const { stdout: gateway } = await run(resolve(root, "hack/real-node.sh"), ["gateway"]);
    const url = new URL(database.url);
    const port = await freePort();
    bridge = spawn(
      "socat",
      [`TCP-LISTEN:${port},bind=${gateway.trim()},fork,reuseaddr`, `TCP:${url.hostname}:${url.port}`],
      { stdio: "ignore" },
    );
    url.hostname = gateway.trim();
    url.port = String(port);
    values = [
      ...onRealNodeValues(),
      "--set-string",
      `postgres.external.url=${url.toString()}`,
      "--set-json",
      `operator.runNodeSelector=${JSON.stringify(onRealNode.nodeSelector)}`,
      "--set-json",
      `operator.runTolerations=${JSON.stringify(onRealNode.tolerations)}`,
    ];
  });

  afterAll(async () => {
    for (const forward of forwards) forward.child.kill();
    await helm("uninstall", release, "-n", ns?.name ?? "", "--wait").catch(() => undefined);
    bridge?.kill();
    await ns?.remove();
    await database?.drop();
  });

  it("installs and passes helm test, runs the README's grpcurl journey, upgrades keeping keys and data, uninstalls", async () => {
    const namespace = ns.name;
    await helm(
      "install",
      release,
      chart,
      "-n",
      namespace,
      "--skip-crds",
      ...values,
      "--wait",
      "--timeout",
      "5m",
    );

    // Every Deployment Ready; the operator's two replicas, one of them leading.
    const deployments = await apps.listNamespacedDeployment({ namespace });
    expect(deployments.items.map((d) => d.metadata?.name).sort()).toEqual(
      components.map((c) => `${fullname}-${c}`).sort(),
    );
    for (const d of deployments.items) {
      expect(d.status?.readyReplicas, d.metadata?.name).toBe(d.spec?.replicas);
    }
    expect(deployments.items.find((d) => d.metadata?.name === `${fullname}-operator`)?.spec?.replicas).toBe(
      2,
    );
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `app.kubernetes.io/instance=${release}`,
    });
    for (const pod of pods.items) expect(pod.spec?.nodeName).toBe("real-node-0");
    const lease = await waitFor("the operator's Lease to have a holder", async () => {
      const l = await coordination.readNamespacedLease({ name: "chronoverse-operator", namespace });
      return l.spec?.holderIdentity ? l : undefined;
    });
    expect(pods.items.map((p) => p.metadata?.name)).toContain(lease.spec?.holderIdentity);

    expect(await helm("test", release, "-n", namespace, "--timeout", "3m")).toMatch(/Phase:\s+Succeeded/);

    // The README's block, verbatim but for the forwarded ports and this namespace.
    const ports: Record<string, number> = {};
    for (const [service, port] of [
      ["users", 50051],
      ["workflows", 50052],
      ["jobs", 50053],
    ] as const) {
      const forward = await portForward(namespace, `${fullname}-${service}`, port);
      forwards.push(forward);
      ports[port] = forward.port;
    }
    const script = readmeGrpcurlBlock()
      .replace(/localhost:(5005[1-5])/g, (_m, port: string) => `localhost:${ports[port]}`)
      .replaceAll("-n chronoverse", `-n ${namespace}`);
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], {
      env: { ...process.env, KUBECONFIG: inject("kubeconfig") },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`the README block failed: ${error.stderr ?? error.message}\n${error.stdout ?? ""}`);
    });
    // StreamJobLogs, then GetJobLogs: the container's real output, twice.
    expect(stdout.match(/"message": "hi"/g)?.length).toBe(2);

    // Its CronJob (every minute) fires on the real node too.
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await waitFor(
      "an AUTOMATIC run to complete",
      async () => {
        const runs = (await custom.listNamespacedCustomObject({
          group: "chronoverse.dev",
          version: "v1alpha1",
          namespace,
          plural: "workflowjobs",
        })) as { items: Array<{ spec: { trigger: string }; status?: { phase?: string } }> };
        return runs.items.find((r) => r.spec.trigger === "AUTOMATIC" && r.status?.phase === "COMPLETED");
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );

    // Upgrade with a changed value: a new rollout; the generated keys and the data stay.
    const keys = await core.readNamespacedSecret({ name: `${fullname}-auth`, namespace });
    await helm(
      "upgrade",
      release,
      chart,
      "-n",
      namespace,
      "--skip-crds",
      ...values,
      "--set",
      "logLevel=debug",
      "--wait",
      "--timeout",
      "5m",
    );
    const after = await core.readNamespacedSecret({ name: `${fullname}-auth`, namespace });
    expect(after.data).toEqual(keys.data);
    const users = await apps.readNamespacedDeployment({ name: `${fullname}-users`, namespace });
    expect(users.spec?.template.spec?.containers[0]?.env).toContainEqual({
      name: "LOG_LEVEL",
      value: "debug",
    });
    // A port-forward holds on to one pod: the upgrade replaced them.
    for (const forward of forwards.splice(0)) forward.child.kill();
    const usersForward = await portForward(namespace, `${fullname}-users`, 50051);
    forwards.push(usersForward);
    const login = `grpcurl -plaintext -d '{"email":"ada@example.com","password":"correct horse battery"}' localhost:${usersForward.port} users.UsersService/LoginUser`;
    const { stdout: answer } = await run("bash", ["-c", login]);
    expect(answer).toMatch(/"user_?[iI]d"/);

    // Uninstall: nothing of the release's own stays (the CRDs were not the release's: --skip-crds).
    for (const forward of forwards.splice(0)) forward.child.kill();
    await helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "3m");
    const selector = `app.kubernetes.io/instance=${release}`;
    await waitFor("the release's objects to be gone", async () => {
      const left = [
        ...(await apps.listNamespacedDeployment({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedService({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedSecret({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedServiceAccount({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedPod({ namespace, labelSelector: selector })).items,
      ];
      return left.length === 0 ? true : undefined;
    });
  }, 900_000);
});

describe.skipIf(!realNode)("the chart's bundled Postgres on the real node", () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  let ns: TestNamespace;
  let volume: string;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "real-pg");
    await enforceRestricted(kc, ns.name);
    // The cluster has no volume provisioner: a hostPath volume on the node, owned by Postgres's uid.
    const dir = resolve(process.env.CLUSTER_DIR ?? resolve(root, ".cluster"), "node/volumes", ns.name);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, 999, 999);
    volume = `${ns.name}-data`;
    await core.createPersistentVolume({
      body: {
        metadata: { name: volume },
        spec: {
          capacity: { storage: "8Gi" },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          claimRef: { namespace: ns.name, name: `data-${fullname}-postgres-0` },
          hostPath: { path: dir, type: "Directory" },
        },
      },
    });
  });

  afterAll(async () => {
    await helm("uninstall", release, "-n", ns?.name ?? "", "--wait").catch(() => undefined);
    await ns?.remove();
    await core.deletePersistentVolume({ name: volume }).catch(() => undefined);
  });

  it("runs the bundled Postgres StatefulSet on a bound claim; the services use it and helm test passes", async () => {
    const namespace = ns.name;
    await helm(
      "install",
      release,
      chart,
      "-n",
      namespace,
      "--skip-crds",
      ...onRealNodeValues(),
      "--set",
      "postgres.bundled.image.tag=15-bookworm",
      "--wait",
      "--timeout",
      "5m",
    );
    const statefulSet = await apps.readNamespacedStatefulSet({ name: `${fullname}-postgres`, namespace });
    expect(statefulSet.status?.readyReplicas).toBe(1);
    const claim = await core.readNamespacedPersistentVolumeClaim({
      name: `data-${fullname}-postgres-0`,
      namespace,
    });
    expect(claim.status?.phase).toBe("Bound");
    expect(claim.spec?.volumeName).toBe(volume);
    expect(await helm("test", release, "-n", namespace, "--timeout", "3m")).toMatch(/Phase:\s+Succeeded/);
  }, 600_000);
});
