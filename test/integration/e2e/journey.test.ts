// A user's whole journey through the product as `make up` runs it: the real
// `chronoverse serve all` and `chronoverse operator` processes (one namespace,
// one database), driven over gRPC like a client would. Register, create a
// CONTAINER workflow (a Workflow object and its CronJob appear, the build
// completes), run it now with ScheduleJob, follow its log live with
// StreamJobLogs until the run ends, read the retained log after its Pod is
// gone, see the notification and the analytics, terminate and delete.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Log, LogSortOrder, LogStream } from "../../../gen/jobs/jobs.ts";
import { bearerMetadata } from "../../../src/grpc/client.ts";
import { unary } from "../../support/grpc.ts";
import { type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { criLine, serveLogFrom } from "../../support/kwok.ts";
import { type Stack, startStack } from "../../support/stack.ts";
import { waitFor } from "../../support/wait.ts";

describe("a user's journey through serve all + operator", () => {
  const kc = testKubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let stack: Stack;
  let ns: TestNamespace;
  let logDir: string;

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), "cv-journey-"));
    stack = await startStack("journey");
    ns = stack.ns;
  });

  afterAll(async () => {
    await stack?.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("registers, creates a workflow, runs it, streams and keeps its log, then cleans up", async () => {
    const { users, workflows, jobs, notifications, analytics } = stack;

    // Register: the token arrives in the `authorization` response header.
    const registered = await unary(users, users.registerUser, {
      email: "Journey@Example.com",
      password: "a long enough password",
    });
    const userId = registered.response.user_id;
    const token = String(registered.headers.get("authorization")[0] ?? "").replace(/^Bearer /, "");
    const auth: Metadata = bearerMetadata(token);
    await unary(users, users.updateUser, { id: userId, notification_preference: "ALL" }, auth);

    // Create: a Workflow object and its CronJob; the build completes.
    const payload = JSON.stringify({
      image: "busybox:1.36",
      cmd: ["sh", "-c", "echo hello"],
      env: { CHRONOVERSE_SIM_DURATION: "6s" },
    });
    const created = await unary(
      workflows,
      workflows.createWorkflow,
      {
        user_id: userId,
        name: "journey",
        payload,
        kind: "CONTAINER",
        interval: 10080,
        max_consecutive_job_failures_allowed: 3,
        idempotency_key: "journey-create",
      },
      auth,
    );
    const workflowId = created.response.id;
    const cronJob = await waitFor("the workflow's CronJob", async () =>
      (await batch.listNamespacedCronJob({ namespace: ns.name })).items.find(
        (c) => c.metadata?.name === workflowId,
      ),
    );
    expect(cronJob.spec?.schedule).toBe("0 0 * * 0");
    expect(cronJob.spec?.jobTemplate.spec?.template.spec?.containers[0]?.image).toBe("busybox:1.36");
    await waitFor("the build to complete", async () => {
      const { response } = await unary(
        workflows,
        workflows.getWorkflow,
        { id: workflowId, user_id: userId },
        auth,
      );
      if (response.build_status === "COMPLETED") return response;
      throw new Error(`build_status ${response.build_status}`);
    });

    // Run it now; its Pod (named after the run) prints lines kwok serves from a file.
    const scheduled = await unary(
      jobs,
      jobs.scheduleJob,
      {
        workflow_id: workflowId,
        user_id: userId,
        scheduled_at: new Date().toISOString(),
        trigger: "MANUAL",
        idempotency_key: "journey-run",
        workflow_generation: 0,
      },
      auth,
    );
    const jobId = scheduled.response.id;
    const logFile = join(logDir, `${jobId}.log`);
    writeFileSync(logFile, criLine("stdout", "starting") + criLine("stdout", "working on it"));
    await serveLogFrom(kc, { namespace: ns.name, pod: jobId, logsFile: logFile, containers: ["run"] });

    // Follow the log live: lines in order with sequence numbers, ending with the run.
    const received: Log[] = [];
    const streamed = new Promise<void>((resolveStream, reject) => {
      const stream = jobs.streamJobLogs({ id: jobId, workflow_id: workflowId, user_id: userId }, auth);
      stream.on("data", (log: Log) => received.push(log));
      stream.on("error", reject);
      stream.on("end", () => resolveStream());
    });
    await waitFor("the first streamed lines", () => (received.length >= 2 ? true : undefined), {
      timeoutMs: 60_000,
    });
    appendFileSync(logFile, criLine("stdout", "written while running"));
    await streamed; // ends by itself when the run is over
    expect(received.map((l) => l.message)).toEqual(["starting", "working on it", "written while running"]);
    expect(received.map((l) => l.sequence_num)).toEqual([1, 2, 3]);

    const { response: job } = await unary(
      jobs,
      jobs.getJob,
      { id: jobId, workflow_id: workflowId, user_id: userId },
      auth,
    );
    expect(job).toMatchObject({ status: "COMPLETED", trigger: "MANUAL" });

    // The operator keeps the log; it stays readable once the Pod is gone.
    await waitFor("the run to be finalized (log retained)", async () => {
      const run = (await custom.getNamespacedCustomObject({
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: ns.name,
        plural: "workflowjobs",
        name: jobId,
      })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
      return run.status?.conditions?.some((c) => c.type === "Finalized" && c.status === "True") || undefined;
    });
    await core.deleteNamespacedPod({ name: jobId, namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor("the pod to be gone", async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name });
      return pods.items.some((p) => p.metadata?.name === jobId) ? undefined : true;
    });
    const { response: logs } = await unary(
      jobs,
      jobs.getJobLogs,
      {
        id: jobId,
        workflow_id: workflowId,
        user_id: userId,
        cursor: "",
        filters: { stream: LogStream.LOG_STREAM_ALL },
        sort_order: LogSortOrder.LOG_SORT_ORDER_ASC,
      },
      auth,
    );
    expect(logs.logs.map((l) => l.message)).toEqual(["starting", "working on it", "written while running"]);
    const { response: found } = await unary(
      jobs,
      jobs.searchJobLogs,
      {
        id: jobId,
        workflow_id: workflowId,
        user_id: userId,
        cursor: "",
        filters: { stream: LogStream.LOG_STREAM_ALL, message: "WHILE" },
        sort_order: LogSortOrder.LOG_SORT_ORDER_ASC,
        disable_highlight: false,
      },
      auth,
    );
    const t = found.highlight_token;
    expect(found.logs.map((l) => l.message)).toEqual([
      `written __CV_HL_START_${t}__while__CV_HL_END_${t}__ running`,
    ]);

    // The run's notification, and the counters.
    const listed = await waitFor("the job-completed notification", async () => {
      const { response } = await unary(
        notifications,
        notifications.listNotifications,
        { user_id: userId, cursor: "" },
        auth,
      );
      return response.notifications.find((n) => n.kind === "WEB_SUCCESS" && n.payload.includes(jobId));
    });
    expect(JSON.parse(listed.payload)).toMatchObject({ entity_type: "JOB", entity_id: jobId });
    const { response: totals } = await unary(
      analytics,
      analytics.getUserAnalytics,
      { user_id: userId },
      auth,
    );
    expect(totals).toMatchObject({ total_workflows: 1, total_jobs: 1, total_joblogs: 3 });

    // Terminate (the CronJob is suspended), then delete (the CronJob goes with it).
    await unary(workflows, workflows.terminateWorkflow, { id: workflowId, user_id: userId }, auth);
    await waitFor(
      "the CronJob to be suspended",
      async () =>
        (await batch.readNamespacedCronJob({ name: workflowId, namespace: ns.name })).spec?.suspend ||
        undefined,
    );
    await unary(workflows, workflows.deleteWorkflow, { id: workflowId, user_id: userId }, auth);
    await waitFor("the CronJob to be garbage-collected", async () => {
      const list = await batch.listNamespacedCronJob({ namespace: ns.name });
      return list.items.length === 0 ? true : undefined;
    });
  }, 240_000);
});
