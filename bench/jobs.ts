// `make bench-jobs` (K=20000 log lines, C=16 clients, COUNT=20000 calls per
// RPC; QUICK=1 for a smoke run). The jobs service runs in-process on a free
// 127.0.0.1 port over a fresh database, watching a fresh namespace; no
// operator: the benchmark writes the Workflow, the WorkflowJob's status and the
// Pod itself (a kwok Pod whose log is a CRI-format file we append to).
//  1. Log streaming: a RUNNING job whose Pod log holds K lines. Throughput
//     (lines/s until the K-th line) and time to the first line through
//     StreamJobLogs, against following the same Pod log straight from the
//     kube-apiserver with src/kube/pod-log.ts podLogLines (the baseline),
//     alternating, ROUNDS times. Then, with both following and caught up,
//     APPENDS lines are appended one at a time: latency from the append until
//     each reader has the line.
//  2. GetJob and ListJobs under C concurrent grpc-js clients (one connection
//     each), COUNT calls or MAX_SECONDS per RPC, against the health check RPC
//     on the same server (no handler, no token): the ratio is the handler's cost.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type Metadata, type ServiceError } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { JobsServiceClient, type Log } from "../gen/jobs/jobs.ts";
import { jobsServiceFactory } from "../services/jobs/server.ts";
import { callUnary } from "../src/grpc/client.ts";
import { podLogLines } from "../src/kube/pod-log.ts";
import { serveLogFrom } from "../test/support/kwok.ts";
import { waitFor } from "../test/support/wait.ts";
import {
  type BenchNamespace,
  closedLoop,
  createBenchNamespace,
  environmentLine,
  fmt,
  intEnv,
  kubeConfig,
  markdownTable,
  now,
  percentile,
  printTable,
  quick,
  ratio,
  startBenchService,
  summarize,
  updateDocs,
} from "./support.ts";

const K = intEnv("K", quick() ? 2_000 : 20_000);
const ROUNDS = intEnv("ROUNDS", quick() ? 1 : 3);
const APPENDS = intEnv("APPENDS", quick() ? 10 : 50);
const C = intEnv("C", 16);
const COUNT = intEnv("COUNT", quick() ? 1_000 : 20_000);
const MAX_MS = intEnv("MAX_SECONDS", quick() ? 5 : 20) * 1000;
const JOBS = intEnv("JOBS", 30);
const group = "chronoverse.dev";
const version = "v1alpha1";

const kc = kubeConfig();
/** The baseline's own connection agent, as the service keeps one for Pod logs. */
const logKc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const userId = uuidv7();

/** A kwok-served log file in CRI format. */
class PodLogFile {
  readonly dir = mkdtempSync(join(tmpdir(), "cv-bench-logs-"));
  readonly path = join(this.dir, "main.log");
  #time = Date.UTC(2026, 0, 1);
  constructor() {
    writeFileSync(this.path, "");
  }
  write(messages: string[]): void {
    let text = "";
    for (const message of messages) {
      this.#time += 1;
      text += `${new Date(this.#time).toISOString().replace("Z", "000000Z")} stdout F ${message}\n`;
    }
    appendFileSync(this.path, text);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const line = (i: number) =>
  `line ${String(i).padStart(6, "0")} level=info msg="processed batch" items=128 duration_ms=42 worker=7`;

async function createLoggingPod(namespace: string, name: string, log: PodLogFile): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name }, spec: { containers: [{ name: "main", image: "busybox:1.36" }] } },
  });
  await serveLogFrom(kc, { namespace, pod: name, logsFile: log.path, containers: ["main"] });
  await waitFor(`pod ${name} to run`, async () => {
    const pod = await core.readNamespacedPod({ name, namespace });
    return pod.status?.phase === "Running" ? pod : undefined;
  });
}

/** A reader that counts lines and notes when chosen messages arrive. */
interface Reader {
  count: number;
  openedAt: number;
  firstAt: number;
  /** When line number `n` (1-based) arrived. */
  reachedAt(n: number): Promise<number>;
  /** When a message equal to `text` arrives. */
  arrival(text: string): Promise<number>;
  stop(): void;
}

function makeReader(): {
  reader: Reader;
  onLine(message: string): void;
  setStop(stop: () => void): void;
} {
  const targets = new Map<number, (t: number) => void>();
  const messages = new Map<string, (t: number) => void>();
  let stop: () => void = () => undefined;
  const reader: Reader = {
    count: 0,
    openedAt: now(),
    firstAt: Number.NaN,
    reachedAt(n) {
      return new Promise((resolve) => targets.set(n, resolve));
    },
    arrival(text) {
      return new Promise((resolve) => messages.set(text, resolve));
    },
    stop: () => stop(),
  };
  return {
    reader,
    onLine(message) {
      const t = now();
      reader.count++;
      if (reader.count === 1) reader.firstAt = t;
      targets.get(reader.count)?.(t);
      const m = messages.get(message);
      if (m !== undefined) {
        messages.delete(message);
        m(t);
      }
    },
    setStop(s) {
      stop = s;
    },
  };
}

/** The baseline: follows the Pod log straight from the apiserver, as the service's follower does. */
function followDirect(namespace: string, pod: string): Reader {
  const { reader, onLine, setStop } = makeReader();
  const abort = new AbortController();
  setStop(() => abort.abort());
  void (async () => {
    for await (const text of podLogLines(logKc, {
      namespace,
      pod,
      follow: true,
      timestamps: true,
      signal: abort.signal,
    })) {
      // "<timestamp> <message>": the message is what the stream compares.
      onLine(text.slice(text.indexOf(" ") + 1));
    }
  })().catch((error: unknown) => process.stderr.write(`baseline follower: ${String(error)}\n`));
  return reader;
}

function followService(
  client: JobsServiceClient,
  md: Metadata,
  request: { id: string; workflow_id: string; user_id: string },
): Reader {
  const { reader, onLine, setStop } = makeReader();
  const call = client.streamJobLogs(request, md);
  call.on("data", (log: Log) => onLine(log.message));
  call.on("error", (error: ServiceError) => {
    if (error.code !== 1) process.stderr.write(`StreamJobLogs: ${error.message}\n`);
  });
  setStop(() => call.cancel());
  return reader;
}

/** Reads until the K-th line; returns lines/s and time to the first line (ms). */
async function readK(open: () => Reader): Promise<{ rate: number; firstMs: number }> {
  const reader = open();
  const doneAt = await reader.reachedAt(K);
  reader.stop();
  return { rate: K / ((doneAt - reader.openedAt) / 1000), firstMs: reader.firstAt - reader.openedAt };
}

const median = (values: number[]) => percentile(values, 50);

async function main(): Promise<void> {
  const started = new Date();
  let ns: BenchNamespace | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    ns = await createBenchNamespace(kc, "bench-jobs");
    const namespace = ns.name;
    const svc = await startBenchService(jobsServiceFactory({ kubeConfig: kc }), {
      CHRONOVERSE_NAMESPACE: namespace,
    });
    cleanups.push(() => svc.stop());
    const client = svc.client(JobsServiceClient);
    const md = await svc.userMetadata(userId);

    const workflowId = uuidv7();
    await custom.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: "workflows",
      body: {
        apiVersion: `${group}/${version}`,
        kind: "Workflow",
        metadata: {
          name: workflowId,
          labels: { "chronoverse.dev/user-id": userId, "chronoverse.dev/workflow-id": workflowId },
        },
        spec: {
          userId,
          displayName: "bench",
          kind: "CONTAINER",
          container: { image: "busybox:1.36", timeoutSeconds: 30 },
          intervalMinutes: 10080,
          maxConsecutiveFailures: 3,
          logRetention: true,
          terminated: false,
        },
      },
    });
    const schedule = async (at: Date) =>
      (
        await callUnary(
          client,
          client.scheduleJob,
          {
            workflow_id: workflowId,
            user_id: userId,
            scheduled_at: at.toISOString(),
            trigger: "MANUAL",
            idempotency_key: uuidv7(),
            workflow_generation: 0,
          },
          md,
        )
      ).response.id;
    const jobId = await waitFor("ScheduleJob to accept (the service's cache has the workflow)", () =>
      schedule(new Date()),
    );

    // 1. Log streaming.
    const log = new PodLogFile();
    cleanups.push(() => log.remove());
    for (let i = 0; i < K; i += 1000)
      log.write(Array.from({ length: Math.min(1000, K - i) }, (_, j) => line(i + j + 1)));
    const pod = `run-${jobId}`;
    await createLoggingPod(namespace, pod, log);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace,
        plural: "workflowjobs",
        name: jobId,
        body: { status: { phase: "RUNNING", podName: pod } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    const request = { id: jobId, workflow_id: workflowId, user_id: userId };
    await waitFor("the service to see the run RUNNING", async () => {
      const r = await callUnary(client, client.getJob, request, md);
      return r.response.status === "RUNNING" ? true : undefined;
    });

    const direct = { rate: [] as number[], first: [] as number[] };
    const served = { rate: [] as number[], first: [] as number[] };
    // Warm-up round, not counted.
    await readK(() => followDirect(namespace, pod));
    await readK(() => followService(client, md, request));
    for (let round = 0; round < ROUNDS; round++) {
      const d = await readK(() => followDirect(namespace, pod));
      direct.rate.push(d.rate);
      direct.first.push(d.firstMs);
      const s = await readK(() => followService(client, md, request));
      served.rate.push(s.rate);
      served.first.push(s.firstMs);
    }

    // Appended lines while both follow (caught up first).
    const a = followDirect(namespace, pod);
    const b = followService(client, md, request);
    await Promise.all([a.reachedAt(K), b.reachedAt(K)]);
    const appendDirect: number[] = [];
    const appendServed: number[] = [];
    for (let i = 0; i < APPENDS; i++) {
      const text = `appended ${i} ${uuidv7()}`;
      const arrivals = Promise.all([a.arrival(text), b.arrival(text)]);
      const t0 = now();
      log.write([text]);
      const [ta, tb] = await Promise.race([
        arrivals,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`appended line ${i} not received in 30 s`)), 30_000),
        ),
      ]);
      appendDirect.push(ta - t0);
      appendServed.push(tb - t0);
    }
    a.stop();
    b.stop();

    // 2. GetJob / ListJobs under concurrency.
    const future = Date.now() + 7 * 24 * 3600 * 1000;
    const ids = [jobId];
    for (let i = 1; i < JOBS; i++) ids.push(await schedule(new Date(future + i * 60_000)));
    await waitFor("the service's cache to hold every job", async () => {
      const r = await callUnary(client, client.getJob, { ...request, id: ids.at(-1) ?? jobId }, md);
      return r.response.id !== "" ? true : undefined;
    });
    const clients = Array.from({ length: C }, () => svc.client(JobsServiceClient));
    const raw = Array.from({ length: C }, () => svc.client(Client));
    const healthRequest = Buffer.concat([
      Buffer.from([0x0a, "jobs.JobsService".length]),
      Buffer.from("jobs.JobsService"),
    ]);
    const health = (w: number) =>
      new Promise<void>((resolve, reject) => {
        const c = raw[w];
        if (c === undefined) return reject(new Error("no client"));
        c.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (x: Buffer) => x,
          (x: Buffer) => x,
          healthRequest,
          (error) => (error ? reject(error) : resolve()),
        );
      });
    const pick = <T>(list: T[], w: number): T => {
      const item = list[w];
      if (item === undefined) throw new Error("no client");
      return item;
    };
    const getJob = (w: number) => {
      const c = pick(clients, w);
      const id = ids[Math.floor(Math.random() * ids.length)] ?? jobId;
      return callUnary(c, c.getJob, { ...request, id }, md);
    };
    const listJobs = (w: number) => {
      const c = pick(clients, w);
      return callUnary(c, c.listJobs, { workflow_id: workflowId, user_id: userId, cursor: "" }, md);
    };
    const rpcs: [string, (w: number) => Promise<unknown>][] = [
      ["baseline: grpc.health.v1.Health/Check", health],
      ["GetJob", getJob],
      ["ListJobs (first page of 10)", listJobs],
    ];
    for (const [, task] of rpcs) await closedLoop(C, Math.min(COUNT, 500), MAX_MS, task); // warm-up
    const results = [];
    for (const [name, task] of rpcs) results.push({ name, ...(await closedLoop(C, COUNT, MAX_MS, task)) });

    // Report.
    const rate = (r: { latencies: number[]; elapsedMs: number }) => r.latencies.length / (r.elapsedMs / 1000);
    const dRate = median(direct.rate);
    const sRate = median(served.rate);
    const dFirst = median(direct.first);
    const sFirst = median(served.first);
    const ad = summarize(appendDirect);
    const as = summarize(appendServed);
    const logHeader = ["log streaming", "direct (podLogLines)", "StreamJobLogs", "ratio (service / direct)"];
    const logRows = [
      [
        `throughput, lines/s (median of ${ROUNDS}, K=${K})`,
        fmt(dRate, 0),
        fmt(sRate, 0),
        ratio(sRate, dRate),
      ],
      ["open → first line, ms (median)", fmt(dFirst), fmt(sFirst), ratio(sFirst, dFirst)],
      [`appended line → received, p50 ms (n=${APPENDS})`, fmt(ad.p50), fmt(as.p50), ratio(as.p50, ad.p50)],
      [`appended line → received, p99 ms (n=${APPENDS})`, fmt(ad.p99), fmt(as.p99), ratio(as.p99, ad.p99)],
    ];
    const base = results[0];
    const rpcHeader = [
      "RPC",
      "calls",
      "errors",
      "calls/s",
      "p50 ms",
      "p99 ms",
      "throughput vs baseline",
      "p50 vs baseline",
    ];
    const rpcRows = results.map((r) => {
      const s = summarize(r.latencies);
      const b = base === undefined ? s : summarize(base.latencies);
      return [
        r.name,
        String(r.latencies.length),
        String(r.errors),
        fmt(rate(r), 0),
        fmt(s.p50),
        fmt(s.p99),
        base === undefined ? "" : ratio(rate(r), rate(base)),
        ratio(s.p50, b.p50),
      ];
    });
    printTable(`bench-jobs: log of K=${K} lines`, logHeader, logRows);
    printTable(
      `bench-jobs: C=${C} concurrent clients, up to ${COUNT} calls or ${MAX_MS / 1000} s per RPC, ${JOBS} jobs`,
      rpcHeader,
      rpcRows,
    );
    const markdown = [
      `### \`make bench-jobs\` — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, K=${K}, C=${C}`,
      "",
      `Machine and versions: ${environmentLine()}. Service, clients and baseline in one Node process.`,
      "",
      markdownTable(logHeader, logRows),
      "",
      `${C} concurrent grpc-js clients (one connection each), up to ${COUNT} calls or ${MAX_MS / 1000} s per RPC, ${JOBS} WorkflowJobs in the cache:`,
      "",
      markdownTable(rpcHeader, rpcRows),
    ].join("\n");
    if (process.env.BENCH_WRITE_DOCS !== "0" && !quick()) updateDocs("jobs", markdown);
    else process.stdout.write(`\n${markdown}\n`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`cleanup: ${String(error)}\n`);
      }
    }
    await ns?.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench-jobs failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
