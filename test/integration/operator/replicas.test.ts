// Two operator replicas on one namespace: only the Lease holder reconciles
// and writes; when it dies without releasing the Lease, the standby takes
// over once the Lease expires and carries on.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { eventsFor, heartbeatSpec, newId, startOperator, statusOf, Workflows } from "./harness.ts";

async function reconciles(operator: RunningOperator): Promise<number> {
  const metric = await operator.metrics.reconcileTotal.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe("two operator replicas", () => {
  const kc = testKubeConfig();
  const leases = kc.makeApiClient(k8s.CoordinationV1Api);
  let ns: TestNamespace;
  const running: RunningOperator[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "replicas");
  });

  afterAll(async () => {
    await Promise.all(running.map((operator) => operator.stop()));
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    await ns?.remove();
  });

  it("lets only the leader write, and the standby take over when the leader dies", async () => {
    const workflows = new Workflows(kc, ns.name);
    const a = await startOperator(kc, ns.name, { identity: "replica-a" });
    running.push(a);
    await waitFor("replica-a to lead", () => (a.isLeader() ? true : undefined));
    const b = await startOperator(kc, ns.name, { identity: "replica-b" });
    running.push(b);
    await waitFor("replica-b to be a ready standby", () => (b.isReady() ? true : undefined));
    expect(b.isLeader()).toBe(false);

    const first = newId();
    await workflows.create(first, heartbeatSpec());
    await waitFor("the first workflow to be built", async () => {
      const wf = await workflows.get(first);
      if (wf.status?.buildStatus === "COMPLETED") return wf;
      throw new Error(statusOf(wf));
    });
    const firstEvents = await eventsFor(kc, ns.name, first);
    expect(firstEvents.length).toBeGreaterThan(0);
    expect(new Set(firstEvents.map((e) => e.reportingInstance))).toEqual(new Set(["replica-a"]));
    expect(await reconciles(a)).toBeGreaterThan(0);
    expect(await reconciles(b)).toBe(0);
    const standbyMetrics = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
    expect(standbyMetrics).toContain("chronoverse_operator_leader 0");

    const before = await leases.readNamespacedLease({ name: "chronoverse-operator", namespace: ns.name });
    expect(before.spec?.holderIdentity).toBe("replica-a");

    // replica-a dies: it stops without giving the Lease up.
    await a.stop({ releaseLease: false });
    await waitFor("replica-b to take over", () => (b.isLeader() ? true : undefined));
    const after = await leases.readNamespacedLease({ name: "chronoverse-operator", namespace: ns.name });
    expect(after.spec?.holderIdentity).toBe("replica-b");
    expect(after.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);

    const second = newId();
    await workflows.create(second, heartbeatSpec({ intervalMinutes: 10 }));
    const built = await waitFor("the new leader to build the second workflow", async () => {
      const wf = await workflows.get(second);
      if (wf.status?.buildStatus === "COMPLETED") return wf;
      throw new Error(statusOf(wf));
    });
    expect(built.status?.schedule).toBe("*/10 * * * *");
    const secondEvents = await eventsFor(kc, ns.name, second);
    expect(new Set(secondEvents.map((e) => e.reportingInstance))).toEqual(new Set(["replica-b"]));
  });

  it("stops reconciling as soon as it loses the Lease", async () => {
    // A namespace of its own: the replicas of the test above still watch theirs.
    const own = await createTestNamespace(kc, "stepdown");
    cleanups.push(() => own.remove());
    const workflows = new Workflows(kc, own.name);
    const leaseName = "steal-me";
    const c = await startOperator(kc, own.name, { identity: "replica-c", leaseName });
    running.push(c);
    await waitFor("replica-c to lead", () => (c.isLeader() ? true : undefined));
    const current = await leases.readNamespacedLease({ name: leaseName, namespace: own.name });
    const now = `${new Date().toISOString().slice(0, 23)}000Z` as unknown as Date;
    // Another holder appears (as after a network partition); its record is fresh.
    await leases.replaceNamespacedLease({
      name: leaseName,
      namespace: own.name,
      body: {
        metadata: { name: leaseName, resourceVersion: current.metadata?.resourceVersion },
        spec: { ...current.spec, holderIdentity: "intruder", renewTime: now, acquireTime: now },
      },
    });
    await waitFor("replica-c to step down", () => (c.isLeader() ? undefined : true));
    const before = await reconciles(c);
    const name = newId();
    await workflows.create(name, heartbeatSpec());
    const meanwhile = await workflows.get(name);
    if (!c.isLeader()) {
      // Still within the intruder's lease: nothing ran.
      expect(meanwhile.status?.buildStatus).toBe("QUEUED");
      expect(await reconciles(c)).toBe(before);
    }
    // The intruder never renews: replica-c leads again after the lease duration and builds it.
    await waitFor("replica-c to lead again and build the workflow", async () => {
      const wf = await workflows.get(name);
      if (wf.status?.buildStatus === "COMPLETED") return wf;
      throw new Error(statusOf(wf));
    });
    expect(c.isLeader()).toBe(true);
    expect(await reconciles(c)).toBeGreaterThan(before);
  });
});
