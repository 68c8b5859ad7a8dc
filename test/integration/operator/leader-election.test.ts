// Leader election on a real coordination.k8s.io Lease: of several candidates
// exactly one leads; a leader whose Lease is taken steps down and stops its
// work; a clean stop releases the Lease.
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector, type LeaseTimings } from "../../../operator/runtime/leader-election.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";

const timings: LeaseTimings = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

describe("LeaderElector", () => {
  const kc = testKubeConfig();
  const leases = kc.makeApiClient(k8s.CoordinationV1Api);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  let ns: TestNamespace;
  const electors: LeaderElector[] = [];

  function candidate(leaseName: string, identity: string, log: string[]): LeaderElector {
    const elector = new LeaderElector({
      kc,
      namespace: ns.name,
      leaseName,
      identity,
      timings,
      logger,
      onStartedLeading: () => {
        log.push(`${identity} started`);
      },
      onStoppedLeading: () => {
        log.push(`${identity} stopped`);
      },
    });
    electors.push(elector);
    return elector;
  }

  const lease = (name: string) => leases.readNamespacedLease({ name, namespace: ns.name });

  beforeAll(async () => {
    ns = await createTestNamespace(kc, "lease");
  });

  afterAll(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    await ns?.remove();
  });

  it("elects exactly one of several candidates that start together", async () => {
    const log: string[] = [];
    const group = ["c1", "c2", "c3"].map((id) => candidate("race", id, log));
    for (const elector of group) elector.start();
    const leader = await waitFor("a leader", () => group.find((e) => e.isLeader));
    // Watch a few renewals go by: the leader keeps the Lease and nobody else leads.
    let renewals = 0;
    let lastRenew = "";
    await waitFor("three renewals", async () => {
      const current = await lease("race");
      expect(current.spec?.holderIdentity).toBe(leader.identity);
      expect(group.filter((e) => e.isLeader)).toEqual([leader]);
      const renew = String(current.spec?.renewTime);
      if (renew !== lastRenew) {
        renewals++;
        lastRenew = renew;
      }
      return renewals >= 3 ? true : undefined;
    });
    expect(log).toEqual([`${leader.identity} started`]);
  });

  it("steps down when another holder takes the Lease, and takes it back after it expires", async () => {
    const log: string[] = [];
    const elector = candidate("stolen", "owner", log);
    elector.start();
    await waitFor("owner to lead", () => (elector.isLeader ? true : undefined));
    const current = await lease("stolen");
    const now = `${new Date().toISOString().slice(0, 23)}000Z` as unknown as Date;
    await leases.replaceNamespacedLease({
      name: "stolen",
      namespace: ns.name,
      body: {
        metadata: { name: "stolen", resourceVersion: current.metadata?.resourceVersion },
        spec: { ...current.spec, holderIdentity: "intruder", renewTime: now, acquireTime: now },
      },
    });
    await waitFor("owner to step down", () => (log.includes("owner stopped") ? true : undefined));
    expect(elector.isLeader).toBe(false);
    // The intruder never renews: once its Lease expires the owner leads again.
    await waitFor("owner to lead again", () =>
      log.filter((l) => l === "owner started").length === 2 ? true : undefined,
    );
    expect(log).toEqual(["owner started", "owner stopped", "owner started"]);
    expect((await lease("stolen")).spec?.holderIdentity).toBe("owner");
  });

  it("releases the Lease on a clean stop, and keeps it on a crash-like stop", async () => {
    const log: string[] = [];
    const clean = candidate("release", "clean", log);
    clean.start();
    await waitFor("clean to lead", () => (clean.isLeader ? true : undefined));
    await clean.stop();
    expect(log).toEqual(["clean started", "clean stopped"]);
    // As client-go does: an empty holder, so the next candidate need not wait.
    expect((await lease("release")).spec?.holderIdentity ?? "").toBe("");

    const crashing = candidate("release", "crashing", log);
    crashing.start();
    await waitFor("crashing to lead", () => (crashing.isLeader ? true : undefined));
    await crashing.stop({ release: false });
    expect((await lease("release")).spec?.holderIdentity).toBe("crashing");
  });

  it("refuses timings where the renew deadline does not fit in the lease", () => {
    expect(
      () =>
        new LeaderElector({
          kc,
          namespace: "x",
          leaseName: "x",
          identity: "x",
          timings: { leaseDurationMs: 1_000, renewDeadlineMs: 2_000, retryPeriodMs: 100 },
          logger,
          onStartedLeading: () => undefined,
          onStoppedLeading: () => undefined,
        }),
    ).toThrow(/renew deadline/);
  });
});
