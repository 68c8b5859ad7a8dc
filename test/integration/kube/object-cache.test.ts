// The workflows service's informer cache against the real apiserver: it keeps
// retrying while its resource is not served yet (a CRD installed after the
// service started: 404, then possibly 429 while the CRD warms up), syncs once
// it is, follows writes, and reports when it has reached a resourceVersion.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareResourceVersions, ObjectCache } from "../../../src/kube/object-cache.ts";
import { testLogger } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

interface Widget {
  metadata: { name?: string; resourceVersion?: string };
  spec?: { size?: number };
}

describe("ObjectCache", () => {
  const kc = testKubeConfig();
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const group = `t${randomBytes(4).toString("hex")}.test.chronoverse.dev`;
  const crdName = `widgets.${group}`;
  let ns: TestNamespace;
  let cache: ObjectCache<Widget>;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "wfcache");
  });
  afterAll(async () => {
    await cache?.stop();
    await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
    await ns?.remove();
  });

  const where = () => ({ group, version: "v1", namespace: ns.name, plural: "widgets" });

  it("retries until a CRD installed after it started is served, then follows writes", async () => {
    cache = new ObjectCache<Widget>({
      kc,
      name: "widgets",
      path: `/apis/${group}/v1/namespaces/${ns.name}/widgets`,
      list: async () => (await api.listNamespacedCustomObject(where())) as { items: Widget[] },
      logger: testLogger(),
    });
    expect(await cache.start(50)).toBe(false); // the resource does not exist yet
    expect(cache.synced).toBe(false);
    expect(cache.hasReached("1")).toBe(false);

    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    await waitFor("the cache to sync after the CRD appeared", () => (cache.synced ? true : undefined));

    const created = (await waitFor("the widget to be created", () =>
      api.createNamespacedCustomObject({
        ...where(),
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "one" }, spec: { size: 1 } },
      }),
    )) as Widget;
    const rv = created.metadata.resourceVersion ?? "";
    await waitFor(`the cache to reach ${rv}`, () => cache.hasReached(rv) || undefined);
    expect(cache.get("one")?.spec?.size).toBe(1);

    const updated = (await api.replaceNamespacedCustomObject({
      ...where(),
      name: "one",
      body: { ...created, spec: { size: 2 } },
    })) as Widget;
    const rv2 = updated.metadata.resourceVersion ?? "";
    await waitFor(`the cache to reach ${rv2}`, () => cache.hasReached(rv2) || undefined);
    expect(cache.get("one")?.spec?.size).toBe(2);
    expect(cache.list()).toHaveLength(1);

    await api.deleteNamespacedCustomObject({ ...where(), name: "one" });
    await waitFor("the cache to drop the widget", () => cache.get("one") === undefined || undefined);
  });

  it("restarts idle watches at once, without counting them as failures, and misses nothing", async () => {
    const idle = new ObjectCache<Widget>({
      kc,
      name: "widgets",
      path: `/apis/${group}/v1/namespaces/${ns.name}/widgets`,
      list: async () => (await api.listNamespacedCustomObject(where())) as { items: Widget[] },
      logger: testLogger(),
      idleTimeoutMs: 100,
    });
    try {
      expect(await idle.start(60_000)).toBe(true);
      await waitFor("a few idle watch restarts", () => (idle.stats.watches >= 4 ? true : undefined));
      expect(idle.stats.failures).toBe(0);
      const created = (await api.createNamespacedCustomObject({
        ...where(),
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "two" }, spec: { size: 2 } },
      })) as Widget;
      const rv = created.metadata.resourceVersion ?? "";
      await waitFor(`the idle cache to reach ${rv}`, () => idle.hasReached(rv) || undefined);
      expect(idle.get("two")?.spec?.size).toBe(2);
    } finally {
      await idle.stop();
    }
  });

  it("compares resourceVersions numerically", () => {
    expect(compareResourceVersions("9", "10")).toBe(-1);
    expect(compareResourceVersions("10", "10")).toBe(0);
    expect(compareResourceVersions("11", "10")).toBe(1);
    expect(compareResourceVersions("abc", "10")).toBeUndefined();
  });
});
