// The operator's informer on the real apiserver: the first list fills the
// cache, watch events reach the handlers, a resync hands every cached object
// over again, and an informer whose resource does not exist yet keeps
// retrying and syncs once it appears (the library alone would stop).
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Informer, type InformerEvent } from "../../../operator/runtime/informer.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

describe("Informer", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  let ns: TestNamespace;
  const informers: Array<Informer<k8s.KubernetesObject>> = [];

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "informer");
  });

  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    await ns?.remove();
  });

  it("lists, watches and resyncs", async () => {
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "before" } } });
    const seen: Array<[string, InformerEvent]> = [];
    const informer = new Informer<k8s.V1ConfigMap>({
      name: "configmaps",
      path: `/api/v1/namespaces/${ns.name}/configmaps`,
      list: () => core.listNamespacedConfigMap({ namespace: ns.name }),
      logger,
      resyncMs: 300,
    });
    informers.push(informer);
    informer.on((obj, event) => seen.push([obj.metadata?.name ?? "", event]));
    await informer.start(kc);
    expect(informer.hasSynced).toBe(true);
    expect(informer.get(ns.name, "before")).toBeDefined();

    await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: "after" }, data: { a: "1" } },
    });
    await waitFor("the add event", () =>
      seen.some(([n, e]) => n === "after" && e === "add") ? true : undefined,
    );
    await core.patchNamespacedConfigMap(
      { name: "after", namespace: ns.name, body: { data: { a: "2" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor("the update event", () =>
      seen.some(([n, e]) => n === "after" && e === "update") ? true : undefined,
    );
    expect(informer.get(ns.name, "after")?.data).toEqual({ a: "2" });
    await waitFor("a resync of the first object", () =>
      seen.some(([n, e]) => n === "before" && e === "resync") ? true : undefined,
    );
    await core.deleteNamespacedConfigMap({ name: "after", namespace: ns.name });
    await waitFor("the delete event", () =>
      seen.some(([n, e]) => n === "after" && e === "delete") ? true : undefined,
    );
    expect(informer.get(ns.name, "after")).toBeUndefined();
  });

  it("keeps retrying until its resource exists, then syncs", async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const suffix = randomBytes(3).toString("hex");
    const group = "informer.test.chronoverse.dev";
    const plural = `probes${suffix}`;
    const informer = new Informer<k8s.KubernetesObject>({
      name: plural,
      path: `/apis/${group}/v1/namespaces/${ns.name}/${plural}`,
      list: () => custom.listNamespacedCustomObject({ group, version: "v1", namespace: ns.name, plural }),
      logger,
    });
    informers.push(informer);
    const synced = informer.start(kc);
    await waitFor("the first list to fail", () => (informer.errors > 0 ? true : undefined));
    expect(informer.hasSynced).toBe(false);

    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: {
            plural,
            singular: `probe${suffix}`,
            kind: `Probe${suffix}`,
            listKind: `Probe${suffix}List`,
          },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } as never,
              },
            },
          ],
        },
      },
    });
    try {
      await synced;
      expect(informer.hasSynced).toBe(true);
      await custom.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace: ns.name,
        plural,
        body: { apiVersion: `${group}/v1`, kind: `Probe${suffix}`, metadata: { name: "one" } },
      });
      await waitFor("the object in the cache", () => informer.get(ns.name, "one"));
    } finally {
      await informer.stop();
      await ext.deleteCustomResourceDefinition({ name: `${plural}.${group}` }).catch(() => undefined);
    }
  });
});
