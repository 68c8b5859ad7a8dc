// Runs on the real node (hack/real-node.sh): the user's container really runs
// under the restricted Pod Security profile, its real output streams back and
// is kept, a failing container counts towards the failure threshold, a
// HEARTBEAT probes an in-cluster HTTP server, and the ways a real container
// fails to run (no such image, no such command, past its timeout) each end the
// run as FAILED with a reason a user understands. The real `serve all` and
// `operator` processes, as `make up` runs them, with runs sent to the real node.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Log, LogSortOrder, LogStream } from "../../../gen/jobs/jobs.ts";
import { collectStream, unary } from "../../support/grpc.ts";
import { enforceRestricted, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { type Stack, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";
import {
  createWorkflow,
  eventsOf,
  finished,
  hasRealNode,
  realNodeName,
  realNodeOperatorEnv,
  runNow,
  runStatus,
  startHttpd,
  type TestUser,
} from "./support.ts";

const kc = testKubeConfig();
const realNode = await hasRealNode(kc);

describe.skipIf(!realNode)("runs on the real node", () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let stack: Stack;
  let ns: TestNamespace;
  let clients: Stack;
  let user: TestUser;

  beforeAll(async () => {
    stack = await startStack("real-runs", realNodeOperatorEnv, {
      CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS: "true",
    });
    ns = stack.ns;
    clients = stack;
    // The namespace the runs use enforces the restricted profile: every run pod must pass it.
    await enforceRestricted(kc, ns.name);
    user = await stack.newUser("ALL");
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function logsOf(workflowId: string, jobId: string): Promise<Log[]> {
    const { jobs } = clients;
    const { response } = await unary(
      jobs,
      jobs.getJobLogs,
      {
        id: jobId,
        workflow_id: workflowId,
        user_id: user.userId,
        cursor: "",
        filters: { stream: LogStream.LOG_STREAM_ALL },
        sort_order: LogSortOrder.LOG_SORT_ORDER_ASC,
      },
      user.auth,
    );
    return response.logs;
  }

  async function finalized(jobId: string): Promise<void> {
    await waitFor(`run ${jobId} to be finalized`, async () => {
      const status = await runStatus(kc, ns.name, jobId);
      return status.conditions?.some((c) => c.type === "Finalized" && c.status === "True") || undefined;
    });
  }

  it("runs the container (busybox runs as root by default: here as 65532), streams its real output and keeps it", async () => {
    const workflowId = await createWorkflow(clients, user, {
      name: "hello",
      kind: "CONTAINER",
      payload: {
        image: "busybox:1.36",
        cmd: ["sh", "-c", "echo hello from $(hostname); id -u; echo to stderr >&2; sleep 2; echo done"],
      },
    });
    const jobId = await runNow(clients, user, workflowId, "hello-1");
    // Follow it from the start: the stream ends by itself when the run ends.
    const streamed: Log[] = await collectStream(
      clients.jobs,
      clients.jobs.streamJobLogs,
      { id: jobId, workflow_id: workflowId, user_id: user.userId },
      user.auth,
    );
    const pod = (await runStatus(kc, ns.name, jobId)).podName ?? "";
    // Each stream keeps its order; between the two, lines written a moment
    // apart may arrive either way round (they come over two connections).
    const of = (stream: string) => streamed.filter((l) => l.stream === stream).map((l) => l.message);
    expect(of("stdout")).toEqual([`hello from ${pod}`, "65532", "done"]);
    expect(of("stderr")).toEqual(["to stderr"]);
    expect(streamed.map((l) => l.sequence_num)).toEqual([1, 2, 3, 4]);
    expect((await finished(clients, user, workflowId, jobId)).status).toBe("COMPLETED");
    const placed = await core.readNamespacedPod({ name: pod, namespace: ns.name });
    expect(placed.spec?.nodeName).toBe(realNodeName);

    // Kept in Postgres: readable once the Pod is gone.
    await finalized(jobId);
    await core.deleteNamespacedPod({ name: pod, namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor("the pod to be gone", async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name });
      return pods.items.some((p) => p.metadata?.name === pod) ? undefined : true;
    });
    const kept = await logsOf(workflowId, jobId);
    const keptOf = (stream: string) => kept.filter((l) => l.stream === stream).map((l) => l.message);
    expect(keptOf("stdout")).toEqual(of("stdout"));
    expect(keptOf("stderr")).toEqual(of("stderr"));
    const { jobs } = clients;
    const { response: found } = await unary(
      jobs,
      jobs.searchJobLogs,
      {
        id: jobId,
        workflow_id: workflowId,
        user_id: user.userId,
        cursor: "",
        filters: { stream: LogStream.LOG_STREAM_STDERR, message: "STDERR" },
        sort_order: LogSortOrder.LOG_SORT_ORDER_ASC,
        disable_highlight: true,
      },
      user.auth,
    );
    expect(found.logs.map((l) => l.message)).toEqual(["to stderr"]);
  }, 240_000);

  it("counts a failing container's runs and terminates the workflow at the maximum, keeping stderr as stderr", async () => {
    const workflowId = await createWorkflow(clients, user, {
      name: "boom",
      kind: "CONTAINER",
      payload: { image: "busybox:1.36", cmd: ["sh", "-c", "echo boom >&2; exit 3"] },
      maxFailures: 3,
    });
    for (const attempt of [1, 2, 3]) {
      const jobId = await runNow(clients, user, workflowId, `boom-${attempt}`);
      expect((await finished(clients, user, workflowId, jobId)).status).toBe("FAILED");
      expect(await runStatus(kc, ns.name, jobId)).toMatchObject({ exitCode: 3, reason: "NonZeroExitCode" });
      await finalized(jobId);
      expect((await logsOf(workflowId, jobId)).map((l) => [l.stream, l.message])).toEqual([
        ["stderr", "boom"],
      ]);
    }
    const { workflows, notifications } = clients;
    const workflow = await waitFor("the workflow to be terminated", async () => {
      const { response } = await unary(
        workflows,
        workflows.getWorkflow,
        { id: workflowId, user_id: user.userId },
        user.auth,
      );
      return response.terminated_at !== "" ? response : undefined;
    });
    expect(workflow.consecutive_job_failures_count).toBe(3);
    const alert = await waitFor("the WEB_ALERT", async () => {
      const { response } = await unary(
        notifications,
        notifications.listNotifications,
        { user_id: user.userId, cursor: "" },
        user.auth,
      );
      return response.notifications.find((n) => n.kind === "WEB_ALERT" && n.payload.includes(workflowId));
    });
    expect(JSON.parse(alert.payload)).toMatchObject({ entity_type: "WORKFLOW", entity_id: workflowId });
  }, 300_000);

  it.each([
    {
      case: "an image that cannot be pulled",
      payload: { image: "127.0.0.1:9/chronoverse/missing:1", cmd: ["true"] },
      reasons: ["ErrImagePull", "ImagePullBackOff"],
      says: /could not start its container/,
    },
    {
      case: "a command that is not in the image",
      payload: { image: "busybox:1.36", cmd: ["no-such-command"] },
      reasons: ["StartError", "ContainerCannotRun", "CreateContainerError", "RunContainerError"],
      says: /no-such-command/,
    },
    {
      case: "a run past its timeout",
      payload: { image: "busybox:1.36", cmd: ["sleep", "600"], timeout: "3s" },
      reasons: ["DeadlineExceeded"],
      says: /deadline/i,
    },
  ])(
    "fails $case with a reason, never stuck",
    async ({ case: name, payload, reasons, says }) => {
      const workflowId = await createWorkflow(clients, user, {
        name: name.replaceAll(" ", "-"),
        kind: "CONTAINER",
        payload,
      });
      const jobId = await runNow(clients, user, workflowId, "once");
      expect((await finished(clients, user, workflowId, jobId)).status).toBe("FAILED");
      const status = await runStatus(kc, ns.name, jobId);
      expect(reasons).toContain(status.reason);
      const condition = status.conditions?.find((c) => c.type === "Finished");
      expect(condition?.message).toMatch(says);
      const events = await eventsOf(kc, ns.name, jobId);
      expect(events.some((e) => e.startsWith("Failed: ") && says.test(e))).toBe(true);
    },
    240_000,
  );

  it("runs a HEARTBEAT against an in-cluster HTTP server, and fails it with a clear message where nothing listens", async () => {
    const host = await startHttpd(kc, ns.name);
    const up = await createWorkflow(clients, user, {
      name: "heartbeat-up",
      kind: "HEARTBEAT",
      payload: { endpoint: `http://${host}/`, expected_status_code: 200, timeout: "5s" },
    });
    const upRun = await runNow(clients, user, up, "up-1");
    expect((await finished(clients, user, up, upRun)).status).toBe("COMPLETED");

    const down = await createWorkflow(clients, user, {
      name: "heartbeat-down",
      kind: "HEARTBEAT",
      payload: { endpoint: `http://${host}:81/`, timeout: "5s" },
    });
    const downRun = await runNow(clients, user, down, "down-1");
    expect((await finished(clients, user, down, downRun)).status).toBe("FAILED");
    const pod = (await runStatus(kc, ns.name, downRun)).podName ?? "";
    const log = await core.readNamespacedPodLog({ name: pod, namespace: ns.name });
    expect(log).toMatch(/ECONNREFUSED|refused/i);
  }, 300_000);
});
