// NetworkPolicies are enforced on the real node (kube-network-policies beside
// the bridge CNI, hack/real-node.sh): with no policy a client reaches an
// in-cluster HTTP server; a default-deny ingress policy stops it; a policy that
// admits pods by label lets exactly those through.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { hasRealNode, runOnce, startHttpd } from "./support.ts";

const kc = testKubeConfig();
const realNode = await hasRealNode(kc);

describe.skipIf(!realNode)("NetworkPolicies on the real node", () => {
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  let ns: TestNamespace;
  let host: string;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "real-netpol");
    host = await startHttpd(kc, ns.name);
  });

  afterAll(async () => {
    await ns?.remove();
  });

  const fetch = (name: string, labels: Record<string, string> = {}) =>
    runOnce(kc, ns.name, name, ["wget", "-T", "3", "-qO-", `http://${host}/`], labels);

  it("lets traffic through without a policy, stops it with default-deny, admits what a policy allows", async () => {
    expect(await fetch("before")).toEqual({ exitCode: 0, log: "up\n" });

    await net.createNamespacedNetworkPolicy({
      namespace: ns.name,
      body: {
        metadata: { name: "default-deny" },
        spec: { podSelector: {}, policyTypes: ["Ingress"] },
      },
    });
    expect((await fetch("denied")).exitCode).not.toBe(0);

    await net.createNamespacedNetworkPolicy({
      namespace: ns.name,
      body: {
        metadata: { name: "clients-to-httpd" },
        spec: {
          podSelector: { matchLabels: { app: "httpd" } },
          policyTypes: ["Ingress"],
          ingress: [{ _from: [{ podSelector: { matchLabels: { role: "client" } } }] }],
        },
      },
    });
    expect(await fetch("admitted", { role: "client" })).toEqual({ exitCode: 0, log: "up\n" });
    expect((await fetch("still-denied")).exitCode).not.toBe(0);
  }, 180_000);
});
