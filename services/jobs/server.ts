// JobsService (port 50053): thin RPC handlers over the rules in ./domain.ts,
// WorkflowJob objects in ./store.ts (writes to the apiserver, reads from the
// informer cache), retained logs in ./logs-store.ts, ScheduleJob's idempotency
// keys in ./idempotency.ts and live Pod logs in ./live-logs.ts.
// Decisions SPEC.md leaves open are in docs/jobs.md.
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import * as k8s from "@kubernetes/client-node";
import type { Kysely } from "kysely";
import { v7 as uuidv7 } from "uuid";
import {
  type GetJobLogsResponse,
  type JobsServiceServer,
  JobsServiceService,
  type Log,
  type StreamJobLogsRequest,
} from "../../gen/jobs/jobs.ts";
import { apiVersion } from "../../operator/api/v1alpha1/schema.ts";
import type { Workflow } from "../../operator/api/v1alpha1/workflow.ts";
import type { WorkflowJob } from "../../operator/api/v1alpha1/workflow-job.ts";
import { generationAnnotation } from "../../operator/controllers/cronjob-for-workflow.ts";
import type { Database } from "../../src/db/schema.ts";
import { Aborted, InvalidArgument, NotFound, ResourceExhausted } from "../../src/grpc/errors.ts";
import {
  type Access,
  type CallContext,
  requireSameUser,
  type ServerStreamHandler,
  StreamCancelled,
} from "../../src/grpc/handlers.ts";
import { ConcurrencyLimiter, KeyedSerializer, limitStream } from "../../src/grpc/limits.ts";
import type { ServiceFactory, ServiceInstance } from "../../src/grpc/service.ts";
import {
  checkLogRead,
  checkSchedulable,
  decodeLogsCursor,
  encodeLogsCursor,
  highlight,
  isTerminal,
  jobByIdResponse,
  jobResponse,
  jobsListEntry,
  LABEL_TRIGGER,
  LABEL_USER_ID,
  LABEL_WORKFLOW_ID,
  LOGS_PAGE_SIZE,
  type LogLine,
  type LogStreamName,
  matchesSearch,
  nextStatus,
  pageJobs,
  pageLogLines,
  parseIdempotencyKey,
  parseJobFilters,
  parseJobPhase,
  parseLogStreamFilter,
  parseRfc3339,
  parseScheduleTrigger,
  parseSearchMessage,
  parseSortOrder,
  parseWorkflowGeneration,
  phaseOf,
  requireUuid,
  type SortDirection,
} from "./domain.ts";
import { claimJobId, findClaim, markAnswered, purgeExpiredKeys } from "./idempotency.ts";
import { createLivePodLog, type LiveLine, type LivePodLog } from "./live-logs.ts";
import { findRetention, type Retention, readJobLogs } from "./logs-store.ts";
import { isConflict, JobStore } from "./store.ts";

export const JOBS_SERVICE_NAME = "jobs.JobsService";

export interface JobsServiceOptions {
  /** Defaults to KUBECONFIG / in-cluster configuration. */
  kubeConfig?: k8s.KubeConfig;
  /**
   * Cluster access for Pod log connections. A KubeConfig keeps one connection
   * agent, so log followers get their own by default (a copy of kubeConfig)
   * and never queue behind, or hold up, the informers' connections.
   */
  logKubeConfig?: k8s.KubeConfig;
  /** Container whose log is read; default: the Pod's only container. */
  logContainer?: string;
  /** While a stream waits for a Pod or a phase, it re-checks this often even without a watch event (default 1 s). */
  streamRecheckMs?: number;
  /** Status writes retried on a conflict before Aborted (default 5). */
  statusWriteAttempts?: number;
}

const STATUS_WRITE_ATTEMPTS = 5;
const REPLAY_BATCH = 1000;
/** Consecutive failed follows of a Pod log before StreamJobLogs gives up. */
const MAX_FOLLOW_FAILURES = 5;
const KEY_PURGE_INTERVAL_MS = 3_600_000;
/** DNS-1123 subdomain: what a Pod name may be. */
const POD_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

function copyKubeConfig(kc: k8s.KubeConfig): k8s.KubeConfig {
  const copy = new k8s.KubeConfig();
  copy.loadFromString(kc.exportConfig());
  return copy;
}

/** A run owned by this user and of this workflow, else NotFound (never say which). */
function ownedJob(job: WorkflowJob | undefined, userId: string, workflowId: string): WorkflowJob {
  if (job === undefined || job.spec.userId !== userId || job.spec.workflowName !== workflowId) {
    throw new NotFound("id: job not found");
  }
  return job;
}

function ownedWorkflow(workflow: Workflow | undefined, userId: string): Workflow {
  if (workflow === undefined || workflow.spec.userId !== userId) {
    throw new NotFound("workflow_id: workflow not found");
  }
  return workflow;
}

function workflowFacts(workflow: Workflow) {
  return {
    userId: workflow.spec.userId,
    terminated: workflow.spec.terminated === true || (workflow.status?.terminatedAt ?? "") !== "",
    generation: workflow.metadata.generation ?? 0,
  };
}

function toLog(jobId: string, line: LogLine): Log {
  return {
    timestamp: line.timestamp,
    message: line.message,
    sequence_num: line.seq,
    stream: line.stream,
    event_id: `${jobId}/${line.seq}`,
  };
}

/** Numbers a live log 1..n, as retention will. */
function numberLines(lines: readonly LiveLine[]): LogLine[] {
  return lines.map((line, i) => ({ seq: i + 1, ...line }));
}

/** Resolves on the job's next change, after `ms`, or when `signal` aborts, whichever comes first. */
function changeWaiter(store: JobStore, jobId: string) {
  let wake: (() => void) | undefined;
  const unwatch = store.watchJob(jobId, () => wake?.());
  return {
    wait(ms: number, signal: AbortSignal): Promise<void> {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
        wake = done;
      });
    },
    close: unwatch,
  };
}

interface LogSource {
  jobId: string;
  job: WorkflowJob | undefined;
  retention: Retention | undefined;
  workflow: Workflow;
}

/** A factory for `chronoverse serve`, with options for tests. */
export function jobsServiceFactory(options: JobsServiceOptions = {}): ServiceFactory {
  return async ({ handlers, database, config, logger }): Promise<ServiceInstance> => {
    const kc = options.kubeConfig ?? loadKubeConfig();
    const logKc = options.logKubeConfig ?? copyKubeConfig(kc);
    const db: Kysely<Database> = database();
    const store = new JobStore({
      kc,
      namespace: config.namespace,
      logger: logger.child({ component: "jobs-store" }),
    });
    const live: LivePodLog = createLivePodLog({
      kc: logKc,
      namespace: config.namespace,
      ...(options.logContainer ? { container: options.logContainer } : {}),
    });
    const recheckMs = options.streamRecheckMs ?? 1000;
    const writeAttempts = options.statusWriteAttempts ?? STATUS_WRITE_ATTEMPTS;
    await store.start();
    const purger = setInterval(() => {
      purgeExpiredKeys(db).catch((error: unknown) =>
        logger.warn({ err: error }, "purging idempotency keys failed"),
      );
    }, KEY_PURGE_INTERVAL_MS);
    purger.unref();

    /** user_id: a UUID, and the caller's own (or any, for a service). */
    const requestUser = (context: CallContext, userId: string): string => {
      const id = requireUuid("user_id", userId);
      requireSameUser(context, id);
      return id;
    };

    const { limits } = config;
    // ScheduleJob counts, then creates, one at a time per workflow (the MANUAL-run quota).
    const schedulesByWorkflow = new KeyedSerializer();
    const streamsByUser = new ConcurrencyLimiter(limits.logStreamsPerUser);
    /** Refuses a MANUAL run when the workflow has as many unfinished ones as allowed. */
    const checkManualRunQuota = (userId: string, workflowId: string): void => {
      const max = limits.manualRunsPerWorkflow;
      if (max <= 0) return;
      const unfinished = store
        .listJobs(userId, workflowId)
        .filter((job) => job.spec.trigger === "MANUAL" && !isTerminal(phaseOf(job))).length;
      if (unfinished >= max) {
        throw new ResourceExhausted(
          `workflow_id: this workflow has ${unfinished} unfinished MANUAL runs, the most allowed is ${max} (CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW); wait for one to finish or cancel it`,
        );
      }
    };
    /**
     * StreamJobLogs under its limits: open streams per user (counted in this
     * process), then the stream's longest life and longest idle time.
     */
    const limitedLogStream = (access: Access, follow: ServerStreamHandler<StreamJobLogsRequest, Log>) => {
      const bounded = limitStream(follow, {
        maxDurationMs: limits.logStreamMaxDurationMs,
        idleTimeoutMs: limits.logStreamIdleTimeoutMs,
        maxDurationVariable: "CHRONOVERSE_LOG_STREAM_MAX_DURATION",
        idleTimeoutVariable: "CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT",
        hint: "call StreamJobLogs again to continue (it starts again from the first line; skip the sequence_num already seen)",
      });
      return handlers.serverStream<StreamJobLogsRequest, Log>(access, async (request, context, send) => {
        const userId = requestUser(context, request.user_id);
        const release = streamsByUser.tryAcquire(userId);
        if (release === undefined) {
          throw new ResourceExhausted(
            `user_id: this user has ${streamsByUser.held(userId)} log streams open, the most allowed at once is ${streamsByUser.limit} (CHRONOVERSE_MAX_LOG_STREAMS_PER_USER); close one first`,
          );
        }
        try {
          await bounded(request, context, send);
        } finally {
          release();
        }
      });
    };

    const resolveLogSource = async (
      context: CallContext,
      request: { id: string; workflow_id: string; user_id: string },
    ): Promise<LogSource> => {
      const userId = requestUser(context, request.user_id);
      const jobId = requireUuid("id", request.id);
      const workflowId = requireUuid("workflow_id", request.workflow_id);
      const job = store.getJob(jobId);
      const retention = await findRetention(db, jobId);
      if (job !== undefined) {
        ownedJob(job, userId, workflowId);
      } else if (
        retention === undefined ||
        retention.userId !== userId ||
        retention.workflowId !== workflowId
      ) {
        // The WorkflowJob may be gone (history limit) while its retained log stays readable.
        throw new NotFound("id: job not found");
      }
      const workflow = ownedWorkflow(await store.getWorkflow(workflowId), userId);
      return { jobId, job, retention, workflow };
    };

    /** One page of a job's log: retained lines from Postgres, else the live Pod log. */
    const logPage = async (
      source: LogSource,
      query: { streams: LogStreamName[]; direction: SortDirection; cursor: string; search?: string },
      signal: AbortSignal,
    ): Promise<{ lines: LogLine[]; cursor: string }> => {
      checkLogRead(source.workflow.spec, "kept");
      const afterSeq = decodeLogsCursor(query.cursor, query.direction);
      if (source.retention !== undefined) {
        const rows = await readJobLogs(db, {
          jobId: source.jobId,
          streams: query.streams,
          direction: query.direction,
          afterSeq,
          limit: LOGS_PAGE_SIZE + 1,
          ...(query.search !== undefined ? { search: query.search } : {}),
        });
        const lines = rows.slice(0, LOGS_PAGE_SIZE);
        const last = lines.at(-1);
        return {
          lines,
          cursor: rows.length > LOGS_PAGE_SIZE && last ? encodeLogsCursor(last.seq, query.direction) : "",
        };
      }
      const pod = source.job?.status?.podName;
      const liveLines = pod ? ((await live.read(pod, signal)) ?? []) : [];
      const selected = numberLines(liveLines).filter(
        (line) =>
          query.streams.includes(line.stream) &&
          (query.search === undefined || matchesSearch(line.message, query.search)),
      );
      return pageLogLines(selected, query.direction, query.cursor);
    };

    const implementation: JobsServiceServer = {
      scheduleJob: handlers.unary("user", async (request, context) => {
        const userId = requestUser(context, request.user_id);
        const workflowId = requireUuid("workflow_id", request.workflow_id);
        const scheduledAt = parseRfc3339("scheduled_at", request.scheduled_at);
        const trigger = parseScheduleTrigger(request.trigger, context.caller.kind === "service");
        const key = parseIdempotencyKey(request.idempotency_key, trigger);
        const generation = parseWorkflowGeneration(request.workflow_generation);

        let workflow = ownedWorkflow(await store.getWorkflow(workflowId), userId);
        // A repeated key answers with the job it made, whatever happened to the
        // workflow or the run since (the history limit may have deleted it):
        // a key answered once never creates a run again.
        if (key !== "") {
          const claimed = await findClaim(db, { userId, workflowId, key });
          if (claimed?.answered) return { id: claimed.jobId };
          if (
            claimed !== undefined &&
            (store.getJob(claimed.jobId) ?? (await store.fetchJob(claimed.jobId))) !== undefined
          ) {
            await markAnswered(db, { userId, workflowId, key, jobId: claimed.jobId });
            return { id: claimed.jobId };
          }
        }
        try {
          checkSchedulable(workflowFacts(workflow), generation);
        } catch {
          // The cache may be behind a change just made through the workflows
          // service: decide on a fresh copy before refusing.
          workflow = ownedWorkflow(await store.fetchWorkflow(workflowId), userId);
          checkSchedulable(workflowFacts(workflow), generation);
        }
        const create = async () => {
          const id =
            key === "" ? uuidv7() : await claimJobId(db, { userId, workflowId, key, newJobId: uuidv7() });
          // A concurrent duplicate of this key may have created the run meanwhile:
          // that is the answer, not a new run. A refused key keeps its claimed id for a retry.
          if (trigger === "MANUAL" && store.getJob(id) === undefined) checkManualRunQuota(userId, workflowId);
          const { job, created } = await store.createJob({
            apiVersion,
            kind: "WorkflowJob",
            metadata: {
              name: id,
              labels: { [LABEL_USER_ID]: userId, [LABEL_WORKFLOW_ID]: workflowId, [LABEL_TRIGGER]: trigger },
              // The spec this run was scheduled against: a rebuild cancels runs still waiting for an older one.
              annotations: { [generationAnnotation]: String(workflow.metadata.generation ?? 0) },
              ownerReferences: [
                {
                  apiVersion,
                  kind: "Workflow",
                  name: workflowId,
                  uid: workflow.metadata.uid ?? "",
                  controller: true,
                },
              ],
            },
            spec: { workflowName: workflowId, userId, trigger, scheduledAt },
          });
          if (key !== "") await markAnswered(db, { userId, workflowId, key, jobId: id });
          if (created) {
            context.logger.info(
              { job_id: id, workflow_id: workflowId, trigger, scheduled_at: scheduledAt },
              "job scheduled",
            );
          }
          return { id: job.metadata.name ?? id };
        };
        return trigger === "MANUAL" ? schedulesByWorkflow.run(workflowId, create) : create();
      }),

      updateJobStatus: handlers.unary("internal", async (request) => {
        const id = requireUuid("id", request.id);
        if (request.status === "") throw new InvalidArgument("status", "is required");
        const phase = parseJobPhase("status", request.status);
        const podName = request.container_id;
        if (podName !== "" && (podName.length > 253 || !POD_NAME.test(podName))) {
          throw new InvalidArgument("container_id", "must be a Pod name (DNS-1123 subdomain)");
        }
        for (let attempt = 1; attempt <= writeAttempts; attempt++) {
          // Always from the apiserver: the write is a compare-and-set on this copy's resourceVersion.
          const job = await store.fetchJob(id);
          if (job === undefined) throw new NotFound("id: job not found");
          const status = nextStatus(job.status, phase, podName, new Date());
          if (isDeepStrictEqual(status, job.status)) return {};
          try {
            await store.replaceStatus({ ...job, status });
            return {};
          } catch (error) {
            if (!isConflict(error)) throw error;
          }
        }
        throw new Aborted("status: the job kept changing; try again");
      }),

      getJob: handlers.unary("user", async (request, context) => {
        const userId = requestUser(context, request.user_id);
        const id = requireUuid("id", request.id);
        const workflowId = requireUuid("workflow_id", request.workflow_id);
        return jobResponse(ownedJob(store.getJob(id), userId, workflowId));
      }),

      getJobById: handlers.unary("internal", async (request) => {
        const id = requireUuid("id", request.id);
        const job = store.getJob(id) ?? (await store.fetchJob(id));
        if (job === undefined) throw new NotFound("id: job not found");
        return jobByIdResponse(job);
      }),

      listJobs: handlers.unary("user", async (request, context) => {
        const userId = requestUser(context, request.user_id);
        const workflowId = requireUuid("workflow_id", request.workflow_id);
        const filters = parseJobFilters(request.filters);
        ownedWorkflow(await store.getWorkflow(workflowId), userId);
        const page = pageJobs(store.listJobs(userId, workflowId), filters, request.cursor);
        return { jobs: page.jobs.map(jobsListEntry), cursor: page.cursor };
      }),

      getJobLogs: handlers.unary("user", async (request, context): Promise<GetJobLogsResponse> => {
        const source = await resolveLogSource(context, request);
        const streams = parseLogStreamFilter(request.filters?.stream);
        const direction = parseSortOrder(request.sort_order);
        decodeLogsCursor(request.cursor, direction);
        const page = await logPage(source, { streams, direction, cursor: request.cursor }, context.signal);
        return {
          id: source.jobId,
          workflow_id: source.workflow.metadata.name ?? "",
          logs: page.lines.map((line) => toLog(source.jobId, line)),
          cursor: page.cursor,
          highlight_token: "",
        };
      }),

      searchJobLogs: handlers.unary("user", async (request, context): Promise<GetJobLogsResponse> => {
        const source = await resolveLogSource(context, request);
        const streams = parseLogStreamFilter(request.filters?.stream);
        const search = parseSearchMessage(request.filters?.message ?? "");
        const direction = parseSortOrder(request.sort_order);
        decodeLogsCursor(request.cursor, direction);
        const page = await logPage(
          source,
          { streams, direction, cursor: request.cursor, search },
          context.signal,
        );
        const token = request.disable_highlight ? "" : randomBytes(8).toString("hex");
        return {
          id: source.jobId,
          workflow_id: source.workflow.metadata.name ?? "",
          logs: page.lines.map((line) =>
            toLog(
              source.jobId,
              token === "" ? line : { ...line, message: highlight(line.message, search, token) },
            ),
          ),
          cursor: page.cursor,
          highlight_token: token,
        };
      }),

      streamJobLogs: limitedLogStream("user", async (request, context, send) => {
        const source = await resolveLogSource(context, request);
        // A run already finished is a replay of what was kept; one in progress is followed live.
        const finished = source.job === undefined || isTerminal(phaseOf(source.job));
        checkLogRead(source.workflow.spec, finished ? "kept" : "live");
        const { jobId } = source;
        const { signal } = context;
        let seq = 0;
        const sent: Record<LogStreamName, number> = { stdout: 0, stderr: 0 };
        const emit = (line: { timestamp: string; message: string; stream: LogStreamName }) => {
          sent[line.stream]++;
          seq++;
          return send(toLog(jobId, { seq, ...line }));
        };
        /** Sends the lines of `lines` not sent yet (each stream's first `sent[s]` lines were). */
        const emitRest = async (
          lines: Iterable<{ timestamp: string; message: string; stream: LogStreamName }>,
        ) => {
          const skip = { ...sent };
          for (const line of lines) {
            if (skip[line.stream] > 0) skip[line.stream]--;
            else await emit(line);
          }
        };
        const replayRetained = async () => {
          const retention = source.retention ?? (await findRetention(db, jobId));
          if (retention === undefined) return;
          const all: LogLine[] = [];
          let afterSeq: number | undefined;
          for (;;) {
            const rows = await readJobLogs(db, {
              jobId,
              streams: ["stdout", "stderr"],
              direction: "asc",
              afterSeq,
              limit: REPLAY_BATCH,
            });
            all.push(...rows);
            if (rows.length < REPLAY_BATCH) break;
            afterSeq = rows.at(-1)?.seq;
          }
          await emitRest(all);
        };

        if (source.job === undefined || source.retention !== undefined) {
          await replayRetained();
          return;
        }
        const changes = changeWaiter(store, jobId);
        /** The Pod whose lines `sent` counts: a retry's new Pod starts a new log. */
        let countedPod: string | undefined;
        let failures = 0;
        try {
          for (;;) {
            if (signal.aborted) return;
            const job = store.getJob(jobId);
            if (job === undefined) return; // deleted: nothing more will be written
            const pod = job.status?.podName;
            if (pod && pod !== countedPod) {
              if (countedPod !== undefined) {
                sent.stdout = 0;
                sent.stderr = 0;
              }
              countedPod = pod;
            }
            if (isTerminal(phaseOf(job))) {
              // Catch up with whatever the follower had not delivered, then end.
              const rest = pod ? await live.read(pod, signal) : undefined;
              if (rest !== undefined) await emitRest(rest);
              else await replayRetained();
              return;
            }
            if (!pod) {
              await changes.wait(recheckMs, signal);
              continue;
            }
            const follower = new AbortController();
            let phaseChanged = false;
            const stopFollowing = () => follower.abort();
            signal.addEventListener("abort", stopFollowing, { once: true });
            const unwatch = store.watchJob(jobId, (current) => {
              if (current === undefined || isTerminal(phaseOf(current)) || current.status?.podName !== pod) {
                phaseChanged = true;
                follower.abort();
              }
            });
            try {
              const skip = { ...sent };
              for await (const line of live.follow(pod, follower.signal)) {
                if (skip[line.stream] > 0) skip[line.stream]--;
                else await emit(line);
              }
              failures = 0;
            } catch (error) {
              // A dropped connection or an apiserver hiccup: follow again from
              // the start (skipping what was sent); give up after a few in a row.
              if (signal.aborted || error instanceof StreamCancelled || ++failures >= MAX_FOLLOW_FAILURES) {
                throw error;
              }
              context.logger.warn(
                { job_id: jobId, err: String(error) },
                "following the pod log failed; retrying",
              );
            } finally {
              unwatch();
              signal.removeEventListener("abort", stopFollowing);
              follower.abort();
            }
            // The log ended on its own (the container stopped, or had not
            // started yet): wait for the phase to move before reading again.
            if (!phaseChanged && !signal.aborted) await changes.wait(recheckMs, signal);
          }
        } finally {
          changes.close();
        }
      }),
    };

    return {
      name: JOBS_SERVICE_NAME,
      definition: JobsServiceService,
      implementation,
      async close() {
        clearInterval(purger);
        await store.stop();
      },
    };
  };
}

/** The factory `chronoverse serve jobs` uses (configuration from the environment). */
export const createJobsService: ServiceFactory = (deps) => jobsServiceFactory()(deps);
