// Installs the Chronoverse CRDs (crds/*.yaml, the files the chart installs)
// into the local control plane. CRDs are cluster-scoped and shared by every
// test file, so this applies idempotently (server-side apply) and never
// deletes them.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { waitFor } from "./wait.ts";

const crdFiles = ["workflows.chronoverse.dev.yaml", "workflowjobs.chronoverse.dev.yaml"];
const crdDir = resolve(import.meta.dirname, "../../crds");

let installed: Promise<void> | undefined;

/** Applies crds/*.yaml and waits until the apiserver serves them. Safe to call from every test file. */
export function installCrds(kc: k8s.KubeConfig): Promise<void> {
  installed ??= apply(kc).catch((error: unknown) => {
    installed = undefined;
    throw error;
  });
  return installed;
}

async function apply(kc: k8s.KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const file of crdFiles) {
    const body = parse(readFileSync(resolve(crdDir, file), "utf8")) as { metadata: { name: string } };
    const name = body.metadata.name;
    await ext.patchCustomResourceDefinition(
      { name, body, fieldManager: "chronoverse-tests", force: true },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
    );
    await waitFor(`CRD ${name} to be Established`, async () => {
      const crd = await ext.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.some(
        (c) => c.type === "Established" && c.status === "True",
      );
      // The apply may have changed the schema: wait until the new generation is served.
      return established && crd.status?.storedVersions?.includes("v1alpha1") ? true : undefined;
    });
  }
}
