// StreamJobLogs over real gRPC, following a real Pod log served by kwok
// through the kube-apiserver: lines arrive as they are written, in order, with
// sequence numbers and stream names; the stream ends once the run is terminal
// and every line was sent; a finished run replays what is retained (or what
// its Pod still has); and a client that cancels releases the apiserver
// connection at once — checked on the connection agent the service uses for
// Pod logs, which would keep the socket if the follower leaked.
import type { Agent } from "node:https";
import { type ClientReadableStream, type Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Log, LogSortOrder, LogStream, type StreamJobLogsRequest } from "../../../gen/jobs/jobs.ts";
import { retainJobLogs } from "../../../services/jobs/logs-store.ts";
import { collectStream, expectStatus, unary } from "../../support/grpc.ts";
import { testKubeConfig } from "../../support/kube.ts";
import { waitFor } from "../../support/wait.ts";
import { createLoggingPod, type JobsTest, PodLogFile, startJobsTest } from "./support.ts";

interface OpenStream {
  call: ClientReadableStream<Log>;
  received: Log[];
  /** Resolves when the server ends the stream; rejects on an error status. */
  ended: Promise<void>;
  isEnded(): boolean;
}

describe("JobsService: StreamJobLogs", () => {
  const logKc = testKubeConfig();
  let logAgent: Agent;
  let t: JobsTest;
  let userId: string;
  let md: Metadata;
  let workflowId: string;
  const files: PodLogFile[] = [];

  beforeAll(async () => {
    t = await startJobsTest({ logKubeConfig: logKc });
    const options: { agent?: unknown } = {};
    await logKc.applyToHTTPSOptions(options);
    logAgent = options.agent as Agent;
    userId = uuidv7();
    md = await t.user(userId);
    workflowId = (await t.createWorkflow(userId)).metadata.name ?? "";
  });
  afterAll(async () => {
    await t?.stop();
    for (const file of files) file.remove();
  });

  const request = (id: string): StreamJobLogsRequest => ({ id, workflow_id: workflowId, user_id: userId });
  const open = (id: string, metadata: Metadata = md): OpenStream => {
    const call = t.client.streamJobLogs(request(id), metadata);
    const received: Log[] = [];
    let done = false;
    const ended = new Promise<void>((resolve, reject) => {
      call.on("data", (log: Log) => received.push(log));
      call.on("end", () => {
        done = true;
        resolve();
      });
      call.on("error", (error) => {
        done = true;
        reject(error);
      });
    });
    ended.catch(() => undefined);
    return { call, received, ended, isEnded: () => done };
  };
  const messages = (logs: Log[]) => logs.map((l) => l.message);
  /** Sockets the service's Pod log agent holds open (in use or idle). */
  const logSockets = () =>
    Object.values(logAgent.sockets).flat().length + Object.values(logAgent.freeSockets).flat().length;
  const newLog = () => {
    const file = new PodLogFile();
    files.push(file);
    return file;
  };
  const cacheSees = (id: string, phase: string) =>
    waitFor(`the service to see ${id} ${phase}`, async () => {
      const r = await unary(t.client, t.client.getJob, { id, workflow_id: workflowId, user_id: userId }, md);
      return r.response.status === phase ? true : undefined;
    });

  it("follows a run from before its Pod exists to its end, line by line, in order", async () => {
    const jobId = await t.schedule(userId, workflowId);
    const stream = open(jobId);

    const log = newLog();
    log.write("stdout", "one");
    log.write("stderr", "two");
    const pod = `run-${jobId}`;
    await createLoggingPod(t, pod, log);
    await t.setJobStatus(jobId, { phase: "RUNNING", podName: pod });

    await waitFor("the lines written before the stream found the Pod", () =>
      stream.received.length === 2 ? true : undefined,
    );
    // Written while the stream is open: each arrives while the run is still going.
    for (const line of ["three", "four"]) {
      log.write("stdout", line);
      await waitFor(`"${line}" to arrive`, () =>
        messages(stream.received).includes(line) ? true : undefined,
      );
    }
    expect(stream.isEnded()).toBe(false);

    // Lines written right before the run ends are still sent, once, before the stream ends.
    log.write("stdout", "five", "six");
    log.write("stderr", "seven");
    await t.setJobStatus(jobId, { phase: "COMPLETED" });
    await stream.ended;

    expect(messages(stream.received)).toEqual(["one", "two", "three", "four", "five", "six", "seven"]);
    expect(stream.received.map((l) => l.sequence_num)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(stream.received[0]).toMatchObject({
      stream: "stdout",
      timestamp: "2026-01-01T00:00:00.001Z",
      event_id: `${jobId}/1`,
    });
    // kwok does not split stdout from stderr; a node that does labels "two" and "seven" stderr.
    for (const line of stream.received) expect(["stdout", "stderr"]).toContain(line.stream);
  });

  it("moves on to a retried run's new Pod, continuing the sequence", async () => {
    const jobId = await t.schedule(userId, workflowId);
    const first = newLog();
    first.write("stdout", "attempt 1 starts");
    await createLoggingPod(t, `a1-${jobId}`, first);
    await t.setJobStatus(jobId, { phase: "RUNNING", podName: `a1-${jobId}`, attempts: 1 });
    const stream = open(jobId);
    await waitFor("the first attempt's line", () => (stream.received.length === 1 ? true : undefined));

    const second = newLog();
    second.write("stdout", "attempt 2 starts", "attempt 2 works");
    await createLoggingPod(t, `a2-${jobId}`, second);
    await t.setJobStatus(jobId, { podName: `a2-${jobId}`, attempts: 2 });
    await waitFor("the second attempt's lines", () => (stream.received.length === 3 ? true : undefined));
    await t.setJobStatus(jobId, { phase: "COMPLETED" });
    await stream.ended;
    expect(messages(stream.received)).toEqual(["attempt 1 starts", "attempt 2 starts", "attempt 2 works"]);
    expect(stream.received.map((l) => l.sequence_num)).toEqual([1, 2, 3]);
  });

  it("replays the retained log of a finished run and ends", async () => {
    const jobId = await t.schedule(userId, workflowId);
    await t.setJobStatus(jobId, { phase: "FAILED" });
    await retainJobLogs(t.svc.db, {
      jobId,
      workflowId,
      userId,
      lines: [
        { timestamp: "2026-01-01T00:00:01Z", stream: "stdout", message: "working" },
        { timestamp: "2026-01-01T00:00:02Z", stream: "stderr", message: "it broke" },
      ],
    });
    const logs = await collectStream(t.client, t.client.streamJobLogs, request(jobId), md);
    expect(logs).toEqual([
      {
        timestamp: "2026-01-01T00:00:01.000Z",
        message: "working",
        sequence_num: 1,
        stream: "stdout",
        event_id: `${jobId}/1`,
      },
      {
        timestamp: "2026-01-01T00:00:02.000Z",
        message: "it broke",
        sequence_num: 2,
        stream: "stderr",
        event_id: `${jobId}/2`,
      },
    ]);
  });

  it("replays a finished run's Pod log while nothing is retained, and ends", async () => {
    const jobId = await t.schedule(userId, workflowId);
    const log = newLog();
    log.write("stdout", "alpha", "beta");
    const pod = `done-${jobId}`;
    await createLoggingPod(t, pod, log);
    await t.setJobStatus(jobId, { phase: "COMPLETED", podName: pod });
    await cacheSees(jobId, "COMPLETED");
    const logs = await collectStream(t.client, t.client.streamJobLogs, request(jobId), md);
    expect(messages(logs)).toEqual(["alpha", "beta"]);
  });

  it("ends at once for a finished run with no Pod and nothing retained", async () => {
    const jobId = await t.schedule(userId, workflowId);
    await t.setJobStatus(jobId, { phase: "CANCELED" });
    await cacheSees(jobId, "CANCELED");
    expect(await collectStream(t.client, t.client.streamJobLogs, request(jobId), md)).toEqual([]);
  });

  it("releases the Pod log connection as soon as the client cancels", async () => {
    const jobId = await t.schedule(userId, workflowId);
    const log = newLog();
    log.write("stdout", "hello");
    const pod = `cancel-${jobId}`;
    await createLoggingPod(t, pod, log);
    await t.setJobStatus(jobId, { phase: "RUNNING", podName: pod });

    await waitFor("no Pod log connection before the stream", () => (logSockets() === 0 ? true : undefined));
    const stream = open(jobId);
    await waitFor("the first line", () => (stream.received.length === 1 ? true : undefined));
    // The follower holds one connection to the apiserver while the run goes on.
    await waitFor("the follower's connection", () => (logSockets() === 1 ? true : undefined));
    log.write("stdout", "still running");
    await waitFor("a second line", () => (stream.received.length === 2 ? true : undefined));

    stream.call.cancel();
    await expectStatus(stream.ended, status.CANCELLED);
    await waitFor("the follower's connection to be closed", () => (logSockets() === 0 ? true : undefined));
    // A line written after the client left goes nowhere, and no connection reopens.
    log.write("stdout", "nobody listens");
    expect(logSockets()).toBe(0);
    expect(messages(stream.received)).toEqual(["hello", "still running"]);
  });

  it("applies the one log rule: HEARTBEAT runs have no log (Get, Search, Stream); a finished run's replay needs retention", async () => {
    const heartbeat =
      (
        await t.createWorkflow(userId, {
          kind: "HEARTBEAT",
          heartbeat: { endpoint: "https://example.com/health", expectedStatusCode: 200, timeoutSeconds: 10 },
          container: undefined,
          logRetention: false,
        })
      ).metadata.name ?? "";
    const beat = await t.schedule(userId, heartbeat);
    await t.setJobStatus(beat, { phase: "COMPLETED" });
    const ids = { id: beat, workflow_id: heartbeat, user_id: userId };
    await waitFor("the service to see the heartbeat run finish", async () => {
      const r = await unary(t.client, t.client.getJob, ids, md);
      return r.response.status === "COMPLETED" ? true : undefined;
    });
    const noLog = /HEARTBEAT workflows produce no logs/;
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, ids, md),
      status.FAILED_PRECONDITION,
      noLog,
    );
    const page = { cursor: "", sort_order: LogSortOrder.LOG_SORT_ORDER_ASC };
    await expectStatus(
      unary(
        t.client,
        t.client.getJobLogs,
        { ...ids, ...page, filters: { stream: LogStream.LOG_STREAM_ALL } },
        md,
      ),
      status.FAILED_PRECONDITION,
      noLog,
    );
    await expectStatus(
      unary(
        t.client,
        t.client.searchJobLogs,
        {
          ...ids,
          ...page,
          filters: { stream: LogStream.LOG_STREAM_ALL, message: "ok" },
          disable_highlight: false,
        },
        md,
      ),
      status.FAILED_PRECONDITION,
      noLog,
    );

    // A finished CONTAINER run of a workflow without retention: nothing was kept to replay.
    const quiet = (await t.createWorkflow(userId, { logRetention: false })).metadata.name ?? "";
    const done = await t.schedule(userId, quiet);
    await t.setJobStatus(done, { phase: "COMPLETED" });
    const quietIds = { id: done, workflow_id: quiet, user_id: userId };
    await waitFor("the service to see the run finish", async () => {
      const r = await unary(t.client, t.client.getJob, quietIds, md);
      return r.response.status === "COMPLETED" ? true : undefined;
    });
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, quietIds, md),
      status.FAILED_PRECONDITION,
      /log retention is off/,
    );
  });

  it("checks access and ids", async () => {
    const jobId = await t.schedule(userId, workflowId);
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, request(jobId)),
      status.UNAUTHENTICATED,
    );
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, request(jobId), await t.user(uuidv7())),
      status.PERMISSION_DENIED,
    );
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, request(uuidv7()), md),
      status.NOT_FOUND,
    );
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, { ...request(jobId), workflow_id: uuidv7() }, md),
      status.NOT_FOUND,
    );
    await expectStatus(
      collectStream(t.client, t.client.streamJobLogs, { ...request(jobId), id: "nope" }, md),
      status.INVALID_ARGUMENT,
      /id: must be a UUID/,
    );
  });
});
