// The real helm binary (built into the tool cache by hack/build-tools.sh)
// against the local control plane, for the chart's tests.
import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);
export const root = resolve(import.meta.dirname, "../..");
export const chart = resolve(root, "charts/chronoverse");
const helmBin = process.env.HELM ?? resolve(homedir(), ".cache/chronoverse/bin/helm");

/** Runs helm; its stderr becomes the error's message when it fails. */
export async function helm(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(helmBin, args, {
      cwd: root,
      env: { ...process.env, KUBECONFIG: inject("kubeconfig") },
      maxBuffer: 32 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(" ")} failed: ${e.stderr || e.message}\n${e.stdout ?? ""}`);
  }
}

/** Runs helm expecting it to fail; returns the message. */
export async function helmFails(...args: string[]): Promise<string> {
  try {
    await helm(...args);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`helm ${args.join(" ")} succeeded but should have failed`);
}

/** The objects of a multi-document YAML text (helm template's output). */
export function documents(text: string): k8s.KubernetesObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as k8s.KubernetesObject | null)
    .filter((obj): obj is k8s.KubernetesObject => obj !== null && obj.kind !== undefined);
}
