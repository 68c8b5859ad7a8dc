// What a test (or benchmark) needs to make a Pod on the kwok node "print":
// kwok serves a Pod's log from a file in the kubelet's CRI log format, named
// by a kwok `Logs` object (the CRDs `make cluster` installs). No vitest here,
// so benchmarks can use it too.
import * as k8s from "@kubernetes/client-node";

/** One log line in CRI format: `<RFC 3339 nano time> <stream> F <text>`. */
export function criLine(stream: "stdout" | "stderr", text: string, at: Date = new Date()): string {
  return `${at.toISOString().replace("Z", "000000Z")} ${stream} F ${text}\n`;
}

/** Points the log of `pod`'s containers at `logsFile`; `follow` keeps serving lines appended later. */
export async function serveLogFrom(
  kc: k8s.KubeConfig,
  options: { namespace: string; pod: string; logsFile: string; containers: string[]; follow?: boolean },
): Promise<void> {
  const { namespace, pod, logsFile, containers, follow = true } = options;
  await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
    group: "kwok.x-k8s.io",
    version: "v1alpha1",
    namespace,
    plural: "logs",
    body: {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Logs",
      metadata: { name: pod },
      spec: { logs: [{ containers, logsFile, follow }] },
    },
  });
}
