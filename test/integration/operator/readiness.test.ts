// An operator that may take the Lease but may not read Workflows (RBAC):
// it leads, reports not ready because its cache cannot fill, keeps retrying,
// and still stops cleanly — a cache that never fills must not block shutdown.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { startOperator } from "./harness.ts";

describe("operator readiness", () => {
  const kc = testKubeConfig();
  let ns: TestNamespace;
  let operator: RunningOperator | undefined;

  /** A KubeConfig for a service account that may use Leases and Events only. */
  async function limitedKubeConfig(): Promise<k8s.KubeConfig> {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({
      namespace: ns.name,
      body: { metadata: { name: "limited" } },
    });
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: "lease-only" },
        rules: [
          { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
          { apiGroups: [""], resources: ["events"], verbs: ["create"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: "lease-only" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "lease-only" },
        subjects: [{ kind: "ServiceAccount", name: "limited", namespace: ns.name }],
      },
    });
    const token = await core.createNamespacedServiceAccountToken({
      name: "limited",
      namespace: ns.name,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error("no current cluster in the test kubeconfig");
    const limited = new k8s.KubeConfig();
    limited.loadFromOptions({
      clusters: [{ ...cluster, name: "local" }],
      users: [{ name: "limited", token: token.status?.token ?? "" }],
      contexts: [{ name: "limited", cluster: "local", user: "limited" }],
      currentContext: "limited",
    });
    return limited;
  }

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "ready");
  });

  afterAll(async () => {
    await operator?.stop();
    await ns?.remove();
  });

  it("leads but is not ready while it cannot read Workflows, and stops cleanly", async () => {
    operator = await startOperator(await limitedKubeConfig(), ns.name, { identity: "limited" });
    const running = operator;
    await waitFor("the limited operator to lead", () => (running.isLeader() ? true : undefined));
    const readyz = await fetch(`http://127.0.0.1:${running.probePort}/readyz`);
    expect(readyz.status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${running.probePort}/healthz`)).status).toBe(200);
    await running.stop();
    expect(running.isLeader()).toBe(false);
    operator = undefined;
  });
});
