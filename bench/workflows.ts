// `make bench-workflows` (N=1000 by default, QUICK=1 for a smoke run of 40):
//  (a) CreateWorkflow latency over gRPC (workflows service in-process, fresh
//      database, read-your-writes included) against a raw create of the same
//      Workflow object through @kubernetes/client-node — interleaved one by
//      one, so both see the same cluster load — as p50/p99 and their ratio;
//  (b) with the operator running in-process as leader: time from
//      CreateWorkflow returning until the CronJob exists (seen by a watch),
//      p50/p99; then the operator's reconcile throughput on a backlog of N
//      Workflows created while no operator ran (from becoming leader until
//      the last CronJob exists).
// Everything runs in fresh namespaces on the local control plane, removed at
// the end. Loops are bounded by count and by time (BENCH_MAX_SECONDS).
import type { Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { type CreateWorkflowRequest, WorkflowsServiceClient } from "../gen/workflows/workflows.ts";
import { apiVersion, labels, type WorkflowSpec, workflowResource } from "../operator/api/v1alpha1/index.ts";
import { defaultPodSettings } from "../operator/controllers/cronjob-for-workflow.ts";
import { type RunningOperator, runOperator } from "../operator/main.ts";
import { specForCreate } from "../services/workflows/domain.ts";
import { workflowsServiceFactory } from "../services/workflows/server.ts";
import { callUnary } from "../src/grpc/client.ts";
import { waitFor } from "../test/support/wait.ts";
import {
  type BenchNamespace,
  benchLogger,
  createBenchNamespace,
  environmentLine,
  fmt,
  intEnv,
  kubeConfig,
  markdownTable,
  now,
  printTable,
  quick,
  ratio,
  startBenchService,
  summarize,
  updateDocs,
} from "./support.ts";

const N = intEnv("N", quick() ? 40 : 1000);
const WARMUP = Math.min(20, Math.ceil(N / 10));
const WORKERS = intEnv("WORKERS", 4);
/** Upper bound of each timed loop (the run reports how many iterations it got through). */
const MAX_MS = intEnv("BENCH_MAX_SECONDS", 150) * 1000;

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const userId = uuidv7();

function request(): CreateWorkflowRequest {
  return {
    user_id: userId,
    name: "bench workflow",
    kind: "CONTAINER",
    payload: JSON.stringify({ image: "busybox:1.36", cmd: ["echo", "hello"], timeout: "30s" }),
    // Weekly (Sunday 00:00 UTC): no run starts during a benchmark.
    interval: 10080,
    max_consecutive_job_failures_allowed: 3,
    idempotency_key: uuidv7(),
  };
}

const spec: WorkflowSpec = specForCreate(request(), { allowPrivateHeartbeats: false });

/** The object the workflows service writes (services/workflows/store.ts), created directly. */
function rawCreate(namespace: string, name = uuidv7()): Promise<unknown> {
  return custom.createNamespacedCustomObject({
    group: workflowResource.group,
    version: workflowResource.version,
    namespace,
    plural: workflowResource.plural,
    body: {
      apiVersion,
      kind: "Workflow",
      metadata: {
        name,
        namespace,
        labels: {
          [labels.userId]: spec.userId,
          [labels.workflowId]: name,
          "app.kubernetes.io/part-of": "chronoverse",
        },
      },
      spec,
    },
  });
}

/** Records when each CronJob of `namespace` is first seen (by name = workflow id). */
async function watchCronJobs(namespace: string): Promise<{ seen: Map<string, number>; stop(): void }> {
  const seen = new Map<string, number>();
  const controller = await new k8s.Watch(kc).watch(
    `/apis/batch/v1/namespaces/${namespace}/cronjobs`,
    {},
    (type: string, object: k8s.V1CronJob) => {
      const name = object.metadata?.name;
      if ((type === "ADDED" || type === "MODIFIED") && name !== undefined && !seen.has(name)) {
        seen.set(name, now());
      }
    },
    () => undefined,
  );
  return { seen, stop: () => controller.abort() };
}

function startOperator(namespace: string): Promise<RunningOperator> {
  return runOperator({
    namespace,
    identity: `bench-${process.pid}`,
    leaseName: "chronoverse-operator",
    lease: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    workers: WORKERS,
    resyncMs: 0,
    metricsPort: 0,
    probePort: 0,
    host: "127.0.0.1",
    pods: defaultPodSettings,
    logLevel: "silent",
    kubeConfig: kc,
    logger: benchLogger(),
  });
}

async function reconcileCount(operator: RunningOperator): Promise<number> {
  const metric = await operator.metrics.reconcileTotal.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

async function main(): Promise<void> {
  const started = new Date();
  const namespaces: BenchNamespace[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const served = await createBenchNamespace(kc, "bench-wf");
    const raw = await createBenchNamespace(kc, "bench-wf-raw");
    const backlog = await createBenchNamespace(kc, "bench-wf-backlog");
    namespaces.push(served, raw, backlog);

    const svc = await startBenchService(workflowsServiceFactory({ kubeConfig: kc }), {
      CHRONOVERSE_NAMESPACE: served.name,
    });
    cleanups.push(() => svc.stop());
    const client = svc.client(WorkflowsServiceClient);
    const md: Metadata = await svc.userMetadata(userId);

    const watch = await watchCronJobs(served.name);
    cleanups.push(() => watch.stop());
    let operator = await startOperator(served.name);
    cleanups.push(() => operator.stop());
    await waitFor("the operator to lead and fill its caches", () =>
      operator.isLeader() && operator.isReady() ? true : undefined,
    );

    // Warm-up (connections, JIT, first cache sync): not counted.
    for (let i = 0; i < WARMUP; i++) {
      await rawCreate(raw.name);
      await callUnary(client, client.createWorkflow, request(), md);
    }

    // (a) + (b): interleaved creates, one at a time.
    const rawMs: number[] = [];
    const grpcMs: number[] = [];
    const returnedAt = new Map<string, number>();
    const loopStart = now();
    for (let i = 0; i < N && now() - loopStart < MAX_MS; i++) {
      let t0 = now();
      await rawCreate(raw.name);
      rawMs.push(now() - t0);
      t0 = now();
      const { response } = await callUnary(client, client.createWorkflow, request(), md);
      const t1 = now();
      grpcMs.push(t1 - t0);
      returnedAt.set(response.id, t1);
    }
    const loopEnd = now();
    await waitFor(
      "every CronJob of the gRPC-created workflows",
      () => ([...returnedAt.keys()].every((id) => watch.seen.has(id)) ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const toCronJob = [...returnedAt].map(([id, t]) => (watch.seen.get(id) ?? Number.NaN) - t);
    const lastCronJob = Math.max(...[...returnedAt.keys()].map((id) => watch.seen.get(id) ?? 0));
    const pacedRate = returnedAt.size / ((lastCronJob - loopStart) / 1000);
    await operator.stop();

    // Operator throughput on a backlog: N Workflows exist before the operator starts.
    const backlogCount = returnedAt.size;
    const names = Array.from({ length: backlogCount }, () => uuidv7());
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < names.length) {
          const name = names[next++];
          if (name !== undefined) await rawCreate(backlog.name, name);
        }
      }),
    );
    const backlogWatch = await watchCronJobs(backlog.name);
    cleanups.push(() => backlogWatch.stop());
    const opStart = now();
    operator = await startOperator(backlog.name);
    const leaderAt = await waitFor(
      "the backlog operator to lead",
      () => (operator.isLeader() ? now() : undefined),
      {
        intervalMs: 20,
      },
    );
    await waitFor(
      "every CronJob of the backlog",
      () => (names.every((name) => backlogWatch.seen.has(name)) ? true : undefined),
      { timeoutMs: 180_000, intervalMs: 50 },
    );
    const backlogTimes = names.map((name) => backlogWatch.seen.get(name) ?? Number.NaN);
    const firstAt = Math.min(...backlogTimes);
    const lastAt = Math.max(...backlogTimes);
    const reconciles = await reconcileCount(operator);
    const drainRate = backlogCount / ((lastAt - leaderAt) / 1000);
    const steadyRate = backlogCount / ((lastAt - firstAt) / 1000);
    await operator.stop();

    // Report.
    const g = summarize(grpcMs);
    const r = summarize(rawMs);
    const c = summarize(toCronJob);
    const header = ["measure", "n", "p50 ms", "p99 ms", "mean ms", "ratio p50 / p99"];
    const rows = [
      [
        "CreateWorkflow over gRPC",
        String(g.n),
        fmt(g.p50),
        fmt(g.p99),
        fmt(g.mean),
        `${ratio(g.p50, r.p50)} / ${ratio(g.p99, r.p99)}`,
      ],
      [
        "baseline: raw create (client-node)",
        String(r.n),
        fmt(r.p50),
        fmt(r.p99),
        fmt(r.mean),
        "1.00× / 1.00×",
      ],
      ["CreateWorkflow returned → CronJob exists", String(c.n), fmt(c.p50), fmt(c.p99), fmt(c.mean), ""],
    ];
    const header2 = ["operator throughput", "workflows", "seconds", "workflows/s"];
    const rows2 = [
      [
        "backlog: leader → last CronJob",
        String(backlogCount),
        fmt((lastAt - leaderAt) / 1000),
        fmt(drainRate, 1),
      ],
      [
        "backlog: first → last CronJob",
        String(backlogCount),
        fmt((lastAt - firstAt) / 1000),
        fmt(steadyRate, 1),
      ],
      [
        "paced by sequential creates (part a)",
        String(returnedAt.size),
        fmt((lastCronJob - loopStart) / 1000),
        fmt(pacedRate, 1),
      ],
    ];
    printTable(
      `bench-workflows: N=${N} (${returnedAt.size} measured), operator workers=${WORKERS}`,
      header,
      rows,
    );
    printTable("", header2, rows2);
    process.stdout.write(
      `\nbacklog: operator start → leader ${fmt(leaderAt - opStart, 0)} ms; reconciles counted by the operator: ${reconciles}; create loop ${fmt((loopEnd - loopStart) / 1000)} s\n`,
    );
    const env = environmentLine();
    const markdown = [
      `### \`make bench-workflows\` — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, N=${N}${returnedAt.size < N ? ` (time bound reached after ${returnedAt.size})` : ""}`,
      "",
      `Machine and versions: ${env}. Operator in-process, ${WORKERS} workers.`,
      "",
      markdownTable(header, rows),
      "",
      markdownTable(header2, rows2),
      "",
      `Backlog: operator start → leader ${fmt(leaderAt - opStart, 0)} ms; reconciles the operator's metrics had counted when the last CronJob appeared: ${reconciles} (a status write can queue its workflow once more).`,
    ].join("\n");
    if (process.env.BENCH_WRITE_DOCS !== "0" && !quick()) {
      updateDocs("workflows", markdown);
    } else {
      process.stdout.write(`\n${markdown}\n`);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`cleanup: ${String(error)}\n`);
      }
    }
    for (const ns of namespaces) await ns.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench-workflows failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
