// The ground is real: a Pod's log is read through the kube-apiserver's pods/log
// subresource, which proxies to the kwok node; kwok serves the lines from a
// CRI-format file named by a kwok `Logs` object.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { podLogLines } from "../../../src/kube/pod-log.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { criLine, serveLogFrom } from "../../support/kwok.ts";
import { waitFor } from "../../support/wait.ts";

describe("pod logs through the API", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: TestNamespace;
  let dir: string;
  let logFile: string;

  beforeAll(async () => {
    ns = await createTestNamespace(kc);
    dir = mkdtempSync(join(tmpdir(), "cv-logs-"));
    logFile = join(dir, "main.log");
    writeFileSync(logFile, criLine("stdout", "hello from the pod") + criLine("stderr", "a warning"));
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: "talker" },
        spec: { containers: [{ name: "main", image: "busybox:1.36" }] },
      },
    });
    await serveLogFrom(kc, { namespace: ns.name, pod: "talker", logsFile: logFile, containers: ["main"] });
    await waitFor("the pod to run", async () => {
      const p = await core.readNamespacedPod({ name: "talker", namespace: ns.name });
      return p.status?.phase === "Running" ? p : undefined;
    });
  });

  afterAll(async () => {
    await ns.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the log lines of a running pod", async () => {
    const text = await waitFor("the log to be served", async () => {
      const log = await core.readNamespacedPodLog({ name: "talker", namespace: ns.name, container: "main" });
      return log.includes("hello from the pod") ? log : undefined;
    });
    expect(text).toContain("a warning");
  });

  it("follows lines appended while the pod runs, and lets go when aborted", async () => {
    const abort = new AbortController();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const line of podLogLines(kc, {
        namespace: ns.name,
        pod: "talker",
        container: "main",
        follow: true,
        signal: abort.signal,
      })) {
        lines.push(line);
      }
    })();
    await waitFor("the first lines", () => (lines.includes("hello from the pod") ? true : undefined));
    appendFileSync(logFile, criLine("stdout", "written later"));
    await waitFor("the appended line", () => (lines.includes("written later") ? true : undefined));
    abort.abort();
    await reading;
    expect(lines).toEqual(["hello from the pod", "a warning", "written later"]);
  });
});
