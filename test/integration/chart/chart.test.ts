// The Helm chart (charts/chronoverse) with the real helm binary against the
// real apiserver: lint, the CRD packaging, server-side dry-run of every
// rendered object under the restricted Pod Security profile, then a real
// install (pods scheduled on the kwok node), RBAC checked with
// SubjectAccessReviews, an upgrade that keeps the generated keys, and
// uninstall. The CRDs are cluster-scoped and shared with other test files:
// they come from test/support/crds.ts and helm runs with --skip-crds.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGrpcServer } from "../../../src/grpc/server.ts";
import { createLogger } from "../../../src/logging.ts";
import { installCrds } from "../../support/crds.ts";
import { chart, documents, helm, helmFails, root } from "../../support/helm.ts";
import {
  createTestNamespace,
  enforceRestricted,
  type TestNamespace,
  testKubeConfig,
} from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

const run = promisify(execFile);
const release = "cv";
const fullname = `${release}-chronoverse`;
const components = ["users", "workflows", "jobs", "notifications", "analytics"];

function restricted(pod: k8s.V1PodSpec, what: string): void {
  const podSc = pod.securityContext ?? {};
  expect(podSc.runAsNonRoot, `${what}: runAsNonRoot`).toBe(true);
  expect(podSc.seccompProfile?.type, `${what}: seccomp`).toBe("RuntimeDefault");
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    expect(sc.allowPrivilegeEscalation, `${what}/${c.name}: allowPrivilegeEscalation`).toBe(false);
    expect(sc.capabilities?.drop, `${what}/${c.name}: drop`).toEqual(["ALL"]);
    expect(sc.readOnlyRootFilesystem, `${what}/${c.name}: readOnlyRootFilesystem`).toBe(true);
    expect(sc.privileged ?? false, `${what}/${c.name}: privileged`).toBe(false);
  }
}

describe("charts/chronoverse", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  let ns: TestNamespace;
  let other: TestNamespace;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "chart");
    other = await createTestNamespace(kc, "chart-other");
    // The apiserver enforces the restricted profile on every pod of the release.
    await enforceRestricted(kc, ns.name);
  });
  afterAll(async () => {
    await helm("uninstall", release, "-n", ns.name, "--wait").catch(() => undefined);
    await core.deletePersistentVolume({ name: `${ns?.name}-data` }).catch(() => undefined);
    await ns?.remove();
    await other?.remove();
  });

  it("passes helm lint, with the defaults and with every optional part on", async () => {
    await helm("lint", chart);
    await helm(
      "lint",
      chart,
      "--set",
      "postgres.external.url=postgres://u:p@db:5432/cv",
      "--set",
      "tls.enabled=true,tls.secretName=cv-tls,tls.clientAuth=require",
      "--set",
      "auth.existingSecret=keys,networkPolicy.clients[0].podSelector.matchLabels.role=client",
    );
  });

  it("packages the very CRD files of crds/ (helm template --include-crds)", async () => {
    const rendered = documents(await helm("template", release, chart, "-n", ns.name, "--include-crds"));
    const crds = rendered.filter((o) => o.kind === "CustomResourceDefinition");
    const expected = ["workflowjobs.chronoverse.dev.yaml", "workflows.chronoverse.dev.yaml"].map(
      (file) => documents(readFileSync(resolve(root, "crds", file), "utf8"))[0],
    );
    expect(crds.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""))).toEqual(
      expected,
    );
    // Without --include-crds no CRD is rendered as a template (helm installs them from crds/).
    const plain = documents(await helm("template", release, chart, "-n", ns.name));
    expect(plain.some((o) => o.kind === "CustomResourceDefinition")).toBe(false);
  });

  it("renders objects the apiserver accepts (server-side dry-run, restricted namespace)", async () => {
    const variants = [
      [],
      ["--set", "postgres.external.url=postgres://u:p@db:5432/cv", "--set", "operator.replicas=3"],
      [
        "--set",
        "tls.enabled=true,tls.secretName=cv-tls",
        "--set",
        "postgres.bundled.persistence.enabled=false",
      ],
    ];
    for (const extra of variants) {
      const rendered = documents(await helm("template", release, chart, "-n", ns.name, ...extra));
      for (const obj of rendered) {
        expect(obj.metadata?.namespace).toBe(ns.name);
        await objects.create(obj, undefined, "All").catch((error: unknown) => {
          throw new Error(`${obj.kind}/${obj.metadata?.name} (${extra.join(" ")}) refused: ${String(error)}`);
        });
      }
      const kinds = rendered.map((o) => o.kind);
      expect(kinds.filter((k) => k === "Deployment")).toHaveLength(6);
      const users = rendered.find(
        (o) => o.kind === "Deployment" && o.metadata?.name === `${fullname}-users`,
      ) as k8s.V1Deployment | undefined;
      const container = users?.spec?.template.spec?.containers[0];
      const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e]));
      if (extra.includes("tls.enabled=true,tls.secretName=cv-tls")) {
        // The kubelet's gRPC probe cannot speak TLS: the port is probed instead.
        expect(container?.readinessProbe?.tcpSocket?.port).toBe("grpc");
        expect(env.CHRONOVERSE_TLS_CERT_FILE?.value).toBe("/etc/chronoverse/tls/tls.crt");
        expect(env.CHRONOVERSE_TLS_CA_FILE?.value).toBe("/etc/chronoverse/tls/ca.crt");
        expect(users?.spec?.template.spec?.volumes).toContainEqual(
          expect.objectContaining({ name: "tls", secret: expect.objectContaining({ secretName: "cv-tls" }) }),
        );
      } else {
        expect(container?.readinessProbe?.grpc?.port).toBe(50051);
        expect(env.CHRONOVERSE_TLS_CERT_FILE).toBeUndefined();
      }
      if (extra.includes("postgres.external.url=postgres://u:p@db:5432/cv")) {
        expect(kinds).not.toContain("StatefulSet");
        expect(env.DATABASE_URL?.valueFrom?.secretKeyRef).toEqual({
          name: `${fullname}-database`,
          key: "url",
        });
        const operator = rendered.find(
          (o) => o.metadata?.name === `${fullname}-operator` && o.kind === "Deployment",
        );
        expect((operator as k8s.V1Deployment).spec?.replicas).toBe(3);
      }
    }
  });

  it("refuses values it cannot honour with a clear message", async () => {
    expect(await helmFails("template", release, chart, "--set", "postgres.bundled.enabled=false")).toMatch(
      /no database: set postgres.external.url/,
    );
    expect(await helmFails("template", release, chart, "--set", "tls.enabled=true")).toMatch(
      /tls.enabled needs tls.secretName/,
    );
  });

  it("installs: every object, pods Running on the kwok node, restricted security, least-privilege RBAC; upgrade keeps the keys; uninstall removes it", async () => {
    await helm("install", release, chart, "-n", ns.name, "--skip-crds", "--set", "image.tag=test");
    const selector = `app.kubernetes.io/instance=${release}`;
    const namespace = ns.name;

    // Objects
    const deployments = await apps.listNamespacedDeployment({ namespace, labelSelector: selector });
    expect(deployments.items.map((d) => d.metadata?.name).sort()).toEqual(
      [...components, "operator"].map((c) => `${fullname}-${c}`).sort(),
    );
    const operator = deployments.items.find((d) => d.metadata?.name === `${fullname}-operator`);
    expect(operator?.spec?.replicas).toBe(2);
    const services = await core.listNamespacedService({ namespace, labelSelector: selector });
    const ports = Object.fromEntries(
      services.items.map((s) => [s.metadata?.name, s.spec?.ports?.map((p) => p.port)[0]]),
    );
    expect(ports).toEqual({
      [`${fullname}-users`]: 50051,
      [`${fullname}-workflows`]: 50052,
      [`${fullname}-jobs`]: 50053,
      [`${fullname}-notifications`]: 50054,
      [`${fullname}-analytics`]: 50055,
      [`${fullname}-operator-metrics`]: 8080,
      [`${fullname}-postgres`]: 5432,
    });
    expect(services.items.every((s) => s.spec?.type === "ClusterIP")).toBe(true);
    const secrets = await core.listNamespacedSecret({ namespace, labelSelector: selector });
    const secretNames = secrets.items.map((s) => s.metadata?.name).sort();
    expect(secretNames).toEqual([`${fullname}-auth`, `${fullname}-postgres`]);
    const policies = await net.listNamespacedNetworkPolicy({ namespace, labelSelector: selector });
    expect(policies.items.map((p) => p.metadata?.name).sort()).toEqual(
      ["default-deny", ...components, "operator", "postgres"].map((c) => `${fullname}-${c}`).sort(),
    );
    const deny = policies.items.find((p) => p.metadata?.name === `${fullname}-default-deny`);
    expect(deny?.spec?.policyTypes).toEqual(["Ingress"]);
    expect(deny?.spec?.ingress ?? []).toEqual([]);
    const pgPolicy = policies.items.find((p) => p.metadata?.name === `${fullname}-postgres`);
    expect(pgPolicy?.spec?.ingress?.[0]?._from?.[0]?.podSelector?.matchExpressions).toContainEqual({
      key: "app.kubernetes.io/component",
      operator: "In",
      values: ["analytics", "jobs", "notifications", "users", "workflows", "operator"],
    });

    // Keys and DATABASE_URL reach the processes through secretKeyRef.
    const usersPod = deployments.items.find((d) => d.metadata?.name === `${fullname}-users`)?.spec?.template
      .spec;
    const env = Object.fromEntries((usersPod?.containers[0]?.env ?? []).map((e) => [e.name, e]));
    expect(env.CHRONOVERSE_USER_TOKEN_KEY?.valueFrom?.secretKeyRef).toEqual({
      name: `${fullname}-auth`,
      key: "user-token-key",
    });
    expect(env.CHRONOVERSE_SERVICE_TOKEN_KEY?.valueFrom?.secretKeyRef?.key).toBe("service-token-key");
    expect(env.DATABASE_URL?.valueFrom?.secretKeyRef).toEqual({ name: `${fullname}-postgres`, key: "url" });
    expect(env.CHRONOVERSE_JOBS_ADDRESS?.value).toBe(`${fullname}-jobs.${namespace}.svc:50053`);
    expect(usersPod?.containers[0]?.startupProbe?.grpc?.port).toBe(50051);

    // Pods, made by the real Deployment and StatefulSet controllers, admitted
    // under the restricted profile and scheduled onto the kwok node (the real
    // node is tainted). The cluster has no volume provisioner: Postgres's claim
    // is bound to a PersistentVolume made here (kwok never mounts it).
    const statefulSets = await apps.listNamespacedStatefulSet({ namespace, labelSelector: selector });
    expect(statefulSets.items.map((s) => s.metadata?.name)).toEqual([`${fullname}-postgres`]);
    const claim = statefulSets.items[0]?.spec?.volumeClaimTemplates?.[0];
    expect(claim?.metadata?.name).toBe("data");
    expect(claim?.spec?.resources?.requests?.storage).toBe("8Gi");
    await core.createPersistentVolume({
      body: {
        metadata: { name: `${namespace}-data` },
        spec: {
          capacity: { storage: "8Gi" },
          accessModes: ["ReadWriteOnce"],
          claimRef: { namespace, name: `data-${fullname}-postgres-0` },
          hostPath: { path: `/nonexistent/${namespace}` },
        },
      },
    });
    const expectedPods = components.length + 2 + 1;
    const pods = await waitFor(
      `${expectedPods} release pods Running`,
      async () => {
        const list = await core.listNamespacedPod({ namespace, labelSelector: selector });
        const running = list.items.filter((p) => p.status?.phase === "Running");
        if (running.length === expectedPods) return running;
        throw new Error(list.items.map((p) => `${p.metadata?.name}=${p.status?.phase}`).join(", "));
      },
      { timeoutMs: 60_000 },
    );
    for (const pod of pods) {
      const name = pod.metadata?.name ?? "";
      expect(pod.spec?.nodeName, name).toBe("kwok-node-0");
      restricted(pod.spec as k8s.V1PodSpec, name);
      const component = pod.metadata?.labels?.["app.kubernetes.io/component"] ?? "";
      const needsKube = ["operator", "workflows", "jobs"].includes(component);
      expect(pod.spec?.automountServiceAccountToken, `${name}: token`).toBe(needsKube);
      expect(pod.spec?.serviceAccountName).toBe(`${fullname}-${component}`);
    }
    // A pod that is not restricted is refused in this namespace: the check above is enforced.
    await expect(
      core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "not-restricted" },
          spec: { containers: [{ name: "c", image: "busybox" }] },
        },
      }),
    ).rejects.toThrow(/violates PodSecurity/);

    // RBAC: everything each component calls, and a few things it must not do.
    const can = async (
      component: string,
      verb: string,
      resource: string,
      opts: Partial<k8s.V1ResourceAttributes> = {},
    ) => {
      const [res, sub] = resource.split("/");
      const group = ["workflows", "workflowjobs"].includes(res ?? "")
        ? "chronoverse.dev"
        : res === "cronjobs" || res === "jobs"
          ? "batch"
          : res === "leases"
            ? "coordination.k8s.io"
            : "";
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${namespace}:${fullname}-${component}`,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
            resourceAttributes: { namespace, verb, group, resource: res, subresource: sub, ...opts },
          },
        },
      });
      return review.status?.allowed === true;
    };
    const allowed: Record<string, [string, string][]> = {
      operator: [
        ...["get", "list", "watch", "patch"].map((v): [string, string] => [v, "workflows"]),
        ["patch", "workflows/status"],
        ["update", "workflows/finalizers"],
        ...["get", "list", "watch", "create", "delete"].map((v): [string, string] => [v, "workflowjobs"]),
        ["patch", "workflowjobs/status"],
        ["update", "workflowjobs/finalizers"],
        ...["get", "list", "watch", "create", "patch"].map((v): [string, string] => [v, "cronjobs"]),
        ...["get", "list", "watch", "patch", "delete"].map((v): [string, string] => [v, "jobs"]),
        ...["get", "list", "watch", "create", "delete"].map((v): [string, string] => [v, "pods"]),
        ["get", "pods/log"],
        ["create", "events"],
        ...["get", "create", "update"].map((v): [string, string] => [v, "leases"]),
      ],
      workflows: [
        ...["get", "list", "watch", "create", "update", "delete"].map((v): [string, string] => [
          v,
          "workflows",
        ]),
        ["update", "workflows/status"],
        ["list", "workflowjobs"],
      ],
      jobs: [
        ...["get", "list", "watch", "create"].map((v): [string, string] => [v, "workflowjobs"]),
        ["update", "workflowjobs/status"],
        ...["get", "list", "watch"].map((v): [string, string] => [v, "workflows"]),
        ["get", "pods/log"],
      ],
    };
    const denied: Record<string, [string, string][]> = {
      operator: [
        ["get", "secrets"],
        ["list", "secrets"],
        ["delete", "workflows"],
        ["create", "workflows"],
        ["delete", "cronjobs"],
        ["create", "pods/exec"],
        ["delete", "leases"],
        ["update", "workflows/status"],
      ],
      workflows: [
        ["get", "secrets"],
        ["create", "workflowjobs"],
        ["delete", "workflowjobs"],
        ["get", "pods/log"],
        ["create", "pods"],
        ["patch", "workflows/status"],
      ],
      jobs: [
        ["get", "secrets"],
        ["delete", "workflows"],
        ["update", "workflows"],
        ["delete", "workflowjobs"],
        ["update", "workflowjobs"],
        ["list", "pods"],
        ["create", "pods"],
      ],
      users: [
        ["list", "workflows"],
        ["get", "secrets"],
        ["get", "pods/log"],
      ],
      notifications: [["list", "workflows"]],
      analytics: [["list", "workflowjobs"]],
    };
    for (const [component, rules] of Object.entries(allowed)) {
      for (const [verb, resource] of rules) {
        expect(await can(component, verb, resource), `${component} may ${verb} ${resource}`).toBe(true);
        // The same in another namespace: never.
        expect(
          await can(component, verb, resource, { namespace: other.name }),
          `${component} may not ${verb} ${resource} in another namespace`,
        ).toBe(false);
      }
    }
    for (const [component, rules] of Object.entries(denied)) {
      for (const [verb, resource] of rules) {
        expect(await can(component, verb, resource), `${component} may not ${verb} ${resource}`).toBe(false);
      }
    }
    const roles = await rbac.listNamespacedRole({ namespace, labelSelector: selector });
    expect(roles.items.map((r) => r.metadata?.name).sort()).toEqual(
      ["jobs", "operator", "workflows"].map((c) => `${fullname}-${c}`).sort(),
    );

    // Upgrade keeps the generated token keys and the database password.
    const before = await Promise.all(
      secretNames.map((name) => core.readNamespacedSecret({ name: name ?? "", namespace })),
    );
    await helm(
      "upgrade",
      release,
      chart,
      "-n",
      namespace,
      "--skip-crds",
      "--reuse-values",
      "--set",
      "logLevel=debug",
    );
    const after = await Promise.all(
      secretNames.map((name) => core.readNamespacedSecret({ name: name ?? "", namespace })),
    );
    expect(after.map((s) => s.data)).toEqual(before.map((s) => s.data));
    const keys = before[0]?.data ?? {};
    expect(Buffer.from(keys["user-token-key"] ?? "", "base64").length).toBeGreaterThanOrEqual(32);
    expect(keys["user-token-key"]).not.toBe(keys["service-token-key"]);
    const upgraded = await apps.readNamespacedDeployment({ name: `${fullname}-users`, namespace });
    expect(upgraded.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "LOG_LEVEL")?.value).toBe(
      "debug",
    );

    // Uninstall removes the release's objects.
    await helm("uninstall", release, "-n", namespace, "--wait");
    await waitFor("the release's objects to be gone", async () => {
      const left = [
        ...(await apps.listNamespacedDeployment({ namespace, labelSelector: selector })).items,
        ...(await apps.listNamespacedStatefulSet({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedService({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedSecret({ namespace, labelSelector: selector })).items,
        ...(await core.listNamespacedServiceAccount({ namespace, labelSelector: selector })).items,
        ...(await net.listNamespacedNetworkPolicy({ namespace, labelSelector: selector })).items,
        ...(await rbac.listNamespacedRole({ namespace, labelSelector: selector })).items,
        ...(await rbac.listNamespacedRoleBinding({ namespace, labelSelector: selector })).items,
      ];
      return left.length === 0 ? true : undefined;
    });
  });
});

describe("the helm test script (charts/chronoverse/files/health-check.cjs)", () => {
  const script = readFileSync(resolve(chart, "files/health-check.cjs"), "utf8");
  // Run as the test pod runs it: `node -e` from the package root, so the
  // image's node_modules resolve.
  async function check(targets: Record<string, string>): Promise<{ code: number; output: string }> {
    try {
      const { stdout } = await run(process.execPath, ["-e", script], {
        cwd: root,
        env: { ...process.env, CHECK_TARGETS: JSON.stringify(targets), CHECK_TIMEOUT_SECONDS: "1" },
      });
      return { code: 0, output: stdout };
    } catch (error) {
      const e = error as { code?: number; stdout?: string };
      return { code: e.code ?? -1, output: e.stdout ?? "" };
    }
  }

  it("passes against real Chronoverse gRPC servers and fails when one is not serving", async () => {
    const logger = createLogger({ level: "silent" });
    const a = await startGrpcServer({ services: [], port: 0, host: "127.0.0.1", logger });
    const b = await startGrpcServer({ services: [], port: 0, host: "127.0.0.1", logger });
    try {
      const targets = { users: `127.0.0.1:${a.port}`, jobs: `127.0.0.1:${b.port}` };
      const ok = await check(targets);
      expect(ok.output).toContain("all services SERVING");
      expect(ok.code).toBe(0);

      b.health.setStatus("", "NOT_SERVING");
      const notServing = await check(targets);
      expect(notServing.code).toBe(1);
      expect(notServing.output).toContain("not serving: jobs");

      await b.shutdown();
      const gone = await check({ users: `127.0.0.1:${a.port}`, analytics: `127.0.0.1:${b.port}` });
      expect(gone.code).toBe(1);
      expect(gone.output).toMatch(/analytics \(127\.0\.0\.1:\d+\): error: 14 UNAVAILABLE/);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });
});
