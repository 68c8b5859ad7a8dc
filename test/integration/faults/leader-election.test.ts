// Faults survived by leader election, on a real apiserver: a leader whose
// Lease requests hang (a TCP proxy in front of the apiserver stops passing
// anything) steps down at its renew deadline — its work has stopped before
// another replica takes the Lease over — and stopping takes a bounded time
// even when the leader's work does not stop or the apiserver does not answer.
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector, type LeaseTimings } from "../../../operator/runtime/leader-election.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { type FreezableProxy, startFreezableProxy } from "./support.ts";

const timings: LeaseTimings = { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 300 };

describe("leader election under faults", () => {
  const kc = testKubeConfig();
  const leases = kc.makeApiClient(k8s.CoordinationV1Api);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  let ns: TestNamespace;
  const electors: LeaderElector[] = [];
  const proxies: FreezableProxy[] = [];

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "lease-faults");
  });

  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
    await Promise.all(electors.map((e) => e.stop()));
    await ns?.remove();
  });

  /** The test kubeconfig, but reaching the apiserver through a proxy the test can freeze. */
  async function throughProxy(): Promise<{ kc: k8s.KubeConfig; proxy: FreezableProxy }> {
    const cluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    if (cluster === null || user === null) throw new Error("the test kubeconfig has no current cluster/user");
    const server = new URL(cluster.server);
    const proxy = await startFreezableProxy(server.hostname, Number(server.port || 443));
    proxies.push(proxy);
    const proxied = new k8s.KubeConfig();
    proxied.loadFromOptions({
      clusters: [{ ...cluster, name: "proxied", server: `https://127.0.0.1:${proxy.port}` }],
      users: [user],
      contexts: [{ name: "proxied", cluster: "proxied", user: user.name }],
      currentContext: "proxied",
    });
    return { kc: proxied, proxy };
  }

  function candidate(
    config: k8s.KubeConfig,
    leaseName: string,
    identity: string,
    log: string[],
    onStoppedLeading: () => Promise<void> | void = () => {
      log.push(`${identity} stopped`);
    },
  ): LeaderElector {
    const elector = new LeaderElector({
      kc: config,
      namespace: ns.name,
      leaseName,
      identity,
      timings,
      logger,
      onStartedLeading: () => {
        log.push(`${identity} started`);
      },
      onStoppedLeading,
      onStopTimeout: () => {
        log.push(`${identity} stop timed out`);
      },
    });
    electors.push(elector);
    return elector;
  }

  const holder = async (name: string) =>
    (await leases.readNamespacedLease({ name, namespace: ns.name })).spec?.holderIdentity ?? "";

  it("a leader whose renewals hang stops its work before another replica takes the Lease", async () => {
    const log: string[] = [];
    const { kc: proxied, proxy } = await throughProxy();
    const first = candidate(proxied, "hang", "first", log);
    first.start();
    await waitFor("first to lead", () => (first.isLeader ? true : undefined));
    const second = candidate(kc, "hang", "second", log);
    second.start();
    await waitFor("the Lease to name first", async () =>
      (await holder("hang")) === "first" ? true : undefined,
    );

    proxy.freeze();
    await waitFor("second to take over", () => (log.includes("second started") ? true : undefined));
    // The order is the point: first's work had stopped before second started.
    expect(log).toEqual(["first started", "first stopped", "second started"]);
    expect(first.isLeader).toBe(false);
    expect(await holder("hang")).toBe("second");

    // Stopping returns although the apiserver never answers first's release.
    await first.stop();
    expect(await holder("hang")).toBe("second");
  });

  it("stopping waits a bounded time for leader work that does not stop, then says so", async () => {
    const log: string[] = [];
    const stuck = candidate(kc, "stuck", "stuck", log, () => new Promise<void>(() => undefined));
    stuck.start();
    await waitFor("stuck to lead", () => (stuck.isLeader ? true : undefined));
    await stuck.stop();
    expect(log).toEqual(["stuck started", "stuck stop timed out"]);
    // The Lease is still released, so another replica need not wait for it to expire.
    expect(await holder("stuck")).toBe("");
  });
});
