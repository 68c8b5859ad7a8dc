// Access to the local control plane for integration tests: a KubeConfig for
// the admin kubeconfig, and a namespace per test file that is removed after it.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import { waitFor } from "./wait.ts";

export function testKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject("kubeconfig"));
  return kc;
}

export interface TestNamespace {
  name: string;
  remove(): Promise<void>;
}

export async function createTestNamespace(kc: k8s.KubeConfig, prefix = "test"): Promise<TestNamespace> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "chronoverse.dev/test": "true" } } } });
  // The ServiceAccount admission plugin refuses pods until the namespace's
  // `default` ServiceAccount exists (the serviceaccount controller makes it).
  await waitFor(`ServiceAccount ${name}/default`, () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }),
  );
  return {
    name,
    async remove() {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Labels `namespace` so that the apiserver enforces the restricted Pod Security profile on its pods. */
export async function enforceRestricted(kc: k8s.KubeConfig, namespace: string): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).patchNamespace(
    {
      name: namespace,
      body: { metadata: { labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
}
