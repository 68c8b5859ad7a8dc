// The ground is real: a CRD is served by the local kube-apiserver, and a custom
// resource created through @kubernetes/client-node arrives through a watch.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

const group = "foundation.test.chronoverse.dev";
const suffix = randomBytes(3).toString("hex");
const plural = `gadgets${suffix}`;
const kind = `Gadget${suffix}`;

describe("custom resources on the local apiserver", () => {
  const kc = testKubeConfig();
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace(kc);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural, singular: plural.slice(0, -1), kind, listKind: `${kind}List` },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: {
                      type: "object",
                      required: ["size"],
                      properties: { size: { type: "integer", minimum: 1 } },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await waitFor("the CRD to be Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
        ? true
        : undefined;
    });
  });

  afterAll(async () => {
    await ext.deleteCustomResourceDefinition({ name: `${plural}.${group}` }).catch(() => undefined);
    await ns.remove();
  });

  it("delivers a created object through a watch", async () => {
    const seen: Array<{ type: string; name: string }> = [];
    const watch = new k8s.Watch(kc);
    // A freshly established CRD answers watches with 429 until its watch cache
    // is initialised; like an informer, start the watch again until it holds.
    let request: AbortController | undefined;
    await waitFor("a watch to be established", async () => {
      let ended: unknown;
      request = await watch.watch(
        `/apis/${group}/v1/namespaces/${ns.name}/${plural}`,
        {},
        (type, obj: k8s.KubernetesObject) => seen.push({ type, name: obj.metadata?.name ?? "" }),
        (err) => {
          ended = err ?? new Error("watch closed");
        },
      );
      await new Promise((resolve) => setImmediate(resolve));
      if (ended) throw ended;
      return true;
    });
    try {
      await custom.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace: ns.name,
        plural,
        body: { apiVersion: `${group}/v1`, kind, metadata: { name: "first" }, spec: { size: 3 } },
      });
      const event = await waitFor("an ADDED event", () => seen.find((e) => e.name === "first"));
      expect(event.type).toBe("ADDED");
    } finally {
      request?.abort();
    }
  });

  it("rejects an object that breaks the structural schema", async () => {
    await expect(
      custom.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace: ns.name,
        plural,
        body: { apiVersion: `${group}/v1`, kind, metadata: { name: "bad" }, spec: { size: 0 } },
      }),
    ).rejects.toThrow(/spec.size/);
  });
});
