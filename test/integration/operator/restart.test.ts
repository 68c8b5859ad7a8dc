// Restart safety: an operator stopped after it created a Workflow's CronJob but
// before it wrote the build status leaves things half done; the next operator
// finishes them from what it reads — one CronJob (the same one), status
// COMPLETED.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningOperator } from "../../../operator/main.ts";
import { installCrds } from "../../support/crds.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import {
  eventsFor,
  heartbeatSpec,
  newId,
  readCronJob,
  startOperator,
  statusOf,
  Workflows,
} from "./harness.ts";

describe("operator restart", () => {
  const kc = testKubeConfig();
  let ns: TestNamespace;
  const running: RunningOperator[] = [];

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, "restart");
  });

  afterAll(async () => {
    await Promise.all(running.map((operator) => operator.stop()));
    await ns?.remove();
  });

  it("finishes a build interrupted between the CronJob and the status", async () => {
    const workflows = new Workflows(kc, ns.name);
    const name = newId();
    let interrupted: Promise<void> | undefined;
    const first = await startOperator(kc, ns.name, {
      identity: "first",
      hooks: {
        afterCronJobApplied: () => {
          // Stop the whole operator here, the way a crash or a rollout would.
          interrupted ??= first.stop();
          throw new Error("stopped by the test after applying the CronJob");
        },
      },
    });
    running.push(first);
    await workflows.create(name, heartbeatSpec());
    await waitFor("the first operator to be interrupted", () =>
      interrupted === undefined ? undefined : true,
    );
    await interrupted;

    const cronJob = await readCronJob(kc, ns.name, name);
    expect(cronJob?.spec?.schedule).toBe("*/5 * * * *");
    const halfDone = await workflows.get(name);
    expect(halfDone.status?.buildStatus).toBe("STARTED");

    const second = await startOperator(kc, ns.name, { identity: "second" });
    running.push(second);
    const done = await waitFor("the second operator to complete the build", async () => {
      const wf = await workflows.get(name);
      if (wf.status?.buildStatus === "COMPLETED") return wf;
      throw new Error(statusOf(wf));
    });
    expect(done.status).toMatchObject({ observedGeneration: 1, schedule: "*/5 * * * *" });
    expect(done.status?.conditions?.[0]).toMatchObject({
      type: "Ready",
      status: "True",
      observedGeneration: 1,
    });

    const cronJobs = await kc
      .makeApiClient(k8s.BatchV1Api)
      .listNamespacedCronJob({ namespace: ns.name, labelSelector: `chronoverse.dev/workflow-id=${name}` });
    expect(cronJobs.items.map((c) => c.metadata?.uid)).toEqual([cronJob?.metadata?.uid]);
    // The second operator found the CronJob in place: nothing was created twice.
    const created = (await eventsFor(kc, ns.name, name)).filter((e) => e.reason === "CronJobCreated");
    expect(created.map((e) => e.reportingInstance)).toEqual(["first"]);
  });
});
