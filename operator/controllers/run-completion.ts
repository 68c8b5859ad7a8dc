// What the operator does when a run ends (DESIGN.md, reconciliation steps 4–5;
// docs/operator.md, "When a run ends"). Two controllers over one pair of caches
// (WorkflowJobs and Workflows):
//
// - completion, per WorkflowJob: once its phase is terminal (COMPLETED, FAILED,
//   CANCELED — written by the run tracking), it copies the Pod's log into
//   Postgres where the workflow retains logs, counts the run on the Workflow
//   (FAILED +1, COMPLETED resets; the run's name is recorded in the same
//   resourceVersion-guarded status write, so it counts once), terminates the
//   workflow when the count reaches its maximum, files the run's notification,
//   records analytics, deletes a canceled run's Pod, and writes the
//   Finalized=True condition last. Every step is idempotent, so a crash before
//   the condition repeats the steps and changes nothing twice. Then it deletes
//   the workflow's oldest finished runs beyond the history limit.
// - cancellation, per Workflow: a terminated or deleted workflow's runs that
//   have not finished become CANCELED (reason WorkflowTerminated /
//   WorkflowDeleted); completion then files job-canceled and deletes their Pods.
// - log cleanup, per Workflow: once a Workflow is gone (DeleteWorkflow), its
//   retained logs are removed from Postgres. Triggered by the delete event and
//   by a periodic sweep over the workflows that have retained logs, so a
//   missed event or a crash only delays it.
import * as k8s from "@kubernetes/client-node";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { createAnalyticsRecorder } from "../../services/analytics/recorder.ts";
import { createLivePodLog, type LivePodLog } from "../../services/jobs/live-logs.ts";
import {
  deleteWorkflowLogs,
  findRetention,
  retainJobLogs,
  workflowsWithRetainedLogs,
} from "../../services/jobs/logs-store.ts";
import { type Notifier, notifierFromConfig } from "../../services/notifications/client.ts";
import { tokensFromConfig } from "../../src/auth/tokens.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/database.ts";
import { DatabaseHealth } from "../../src/db/health.ts";
import type { Database } from "../../src/db/schema.ts";
import { rfc3339, setCondition } from "../api/v1alpha1/schema.ts";
import { type Workflow, type WorkflowStatus, workflowResource } from "../api/v1alpha1/workflow.ts";
import { type WorkflowJob, workflowJobResource } from "../api/v1alpha1/workflow-job.ts";
import type { BackoffOptions } from "../runtime/backoff.ts";
import { Controller, objectKey, type ReconcileResult, splitKey } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import { Informer } from "../runtime/informer.ts";
import { describeError, isConflict, isNotFound } from "../runtime/kube-errors.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import { fieldManager } from "./cronjob-for-workflow.ts";
import {
  canceledStatus,
  defaultHistoryLimit,
  failureCountPatch,
  finalizedCondition,
  isFinalized,
  isTerminalPhase,
  needsCompletion,
  retryDecision,
  retryStatus,
  runNotification,
  runsBeyondHistory,
  runsToCancel,
  shouldRetainLogs,
  terminatedByThisRun,
} from "./run-completion-decisions.ts";

/** How long after a run finished an unreadable Pod log keeps being retried before the run ends without it. */
const logReadGiveUpMs = 10 * 60_000;

/** How often the sweep looks for retained logs of deleted workflows when resync is off. */
const defaultLogSweepMs = 10 * 60_000;

/** The container of a run's Pod (cronjob-for-workflow.ts names it so). */
export const runContainerName = "run";

export interface RunCompletionHooks {
  /** Runs right after the Workflow's failure count was written for `job` (tests stop the operator here). */
  afterFailureCounted?: (job: WorkflowJob) => Promise<void> | void;
  /** Runs right before a run's Pod log is read (tests hold the end-of-run actions back here). */
  beforeLogsRead?: (job: WorkflowJob) => Promise<void> | void;
}

/** What the end-of-run actions need beyond the cluster: Postgres and the notifications service. */
export interface RunCompletionSettings {
  /** Database with the analytics and job-log tables (migrated). */
  db: Kysely<Database>;
  notifier: Notifier;
  /** Finished WorkflowJobs kept per workflow (default 10). */
  historyLimit?: number;
  hooks?: RunCompletionHooks;
  /**
   * Whether the database answers (undefined: not known yet); the operator is
   * not ready while it does not. Absent: not watched.
   */
  databaseUp?: () => boolean | undefined;
  /**
   * Registers a listener for the database coming back: runs whose end-of-run
   * actions failed meanwhile are retried then rather than at the end of their back-off.
   */
  onDatabaseBack?: (listener: () => void) => () => void;
}

/**
 * The end-of-run settings of `chronoverse operator` from the environment
 * (DATABASE_URL, CHRONOVERSE_NOTIFICATIONS_ADDRESS, the service token key,
 * TLS: the variables of src/config.ts). Undefined when DATABASE_URL is unset:
 * the operator then runs without end-of-run actions and says so. Throws
 * ConfigError naming the variable when the configuration is invalid.
 */
export function runCompletionFromEnv(
  env: Record<string, string | undefined>,
  logger: Logger,
  historyLimit: number | undefined,
): { settings: RunCompletionSettings; close(): Promise<void> } | undefined {
  if (!env.DATABASE_URL?.trim()) {
    logger.warn("DATABASE_URL is not set: runs that end are not counted, notified or kept");
    return undefined;
  }
  const config = loadConfig(env);
  if (config.databaseUrl === undefined) throw new ConfigError("DATABASE_URL: must be a postgres:// URL");
  const listeners: (() => void)[] = [];
  const health = new DatabaseHealth({
    url: config.databaseUrl,
    connectTimeoutMs: config.databaseTimeouts.connectMs,
    intervalMs: config.databaseHealthIntervalMs,
    logger,
    onChange: (up) => {
      if (up) for (const listener of listeners) listener();
    },
  });
  const db = openDatabase({
    url: config.databaseUrl,
    maxConnections: config.databaseMaxConnections,
    ...config.databaseTimeouts,
    logger,
    onConnectionError: () => health.suspect(),
  });
  health.start();
  const notifier = notifierFromConfig(config, tokensFromConfig(config, logger), "operator");
  return {
    settings: {
      db,
      notifier,
      ...(historyLimit === undefined ? {} : { historyLimit }),
      databaseUp: () => health.up,
      onDatabaseBack: (listener) => {
        listeners.push(listener);
        return () => {
          const index = listeners.indexOf(listener);
          if (index >= 0) listeners.splice(index, 1);
        };
      },
    },
    async close() {
      notifier.close();
      await health.stop();
      await db.destroy();
    },
  };
}

export interface RunCompletionControllerOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  resyncMs: number;
  backoff?: BackoffOptions;
  settings: RunCompletionSettings;
}

const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

export class RunCompletionController {
  /** Finishes runs (key: the WorkflowJob's "namespace/name"). */
  readonly completion: Controller;
  /** Cancels runs of terminated or deleted workflows (key: the Workflow's "namespace/name"). */
  readonly cancellation: Controller;
  /** Deletes finished runs beyond the history limit (key: the Workflow's "namespace/name"). */
  readonly history: Controller;
  /** Removes the retained logs of deleted workflows (key: "namespace/workflow id"). */
  readonly logCleanup: Controller;
  readonly jobs: Informer<WorkflowJob>;
  readonly workflows: Informer<Workflow>;
  readonly #options: RunCompletionControllerOptions;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #core: k8s.CoreV1Api;
  readonly #logs: LivePodLog;
  readonly #analytics: ReturnType<typeof createAnalyticsRecorder>;
  readonly #historyLimit: number;
  readonly #log: Logger;
  #stopping = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  #unsubscribe: () => void = () => undefined;
  #markStopped: () => void = () => undefined;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });

  constructor(options: RunCompletionControllerOptions) {
    this.#options = options;
    const { kc, namespace, logger, resyncMs, settings } = options;
    this.#log = logger.child({ controller: "run-completion" });
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#logs = createLivePodLog({ kc, namespace, container: runContainerName });
    this.#analytics = createAnalyticsRecorder(settings.db);
    this.#historyLimit = settings.historyLimit ?? defaultHistoryLimit;
    const path = (plural: string) =>
      `/apis/${workflowResource.group}/${workflowResource.version}/namespaces/${namespace}/${plural}`;
    const list = (plural: string) => () =>
      this.#custom.listNamespacedCustomObject({
        group: workflowResource.group,
        version: workflowResource.version,
        namespace,
        plural,
      });
    this.jobs = new Informer<WorkflowJob>({
      name: "workflowjobs",
      path: path(workflowJobResource.plural),
      list: list(workflowJobResource.plural),
      logger: this.#log,
      resyncMs,
    });
    this.workflows = new Informer<Workflow>({
      name: "workflows (runs)",
      path: path(workflowResource.plural),
      list: list(workflowResource.plural),
      logger: this.#log,
      resyncMs,
    });
    const common = {
      workers: options.workers,
      metrics: options.metrics,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    };
    this.completion = new Controller({
      name: "run-completion",
      reconcile: (key) => this.reconcileRun(key),
      logger: this.#log,
      ...common,
    });
    this.cancellation = new Controller({
      name: "run-cancellation",
      reconcile: (key) => this.reconcileCancellation(key),
      logger: this.#log.child({ controller: "run-cancellation" }),
      ...common,
    });
    this.history = new Controller({
      name: "run-history",
      reconcile: (key) => this.reconcileHistory(key),
      logger: this.#log.child({ controller: "run-history" }),
      ...common,
    });
    this.logCleanup = new Controller({
      name: "log-cleanup",
      reconcile: (key) => this.reconcileLogCleanup(key),
      logger: this.#log.child({ controller: "log-cleanup" }),
      ...common,
    });
    this.jobs.on((job, event) => {
      if (event === "delete") return;
      const ns = job.metadata.namespace ?? "";
      if (isFinalized(job)) this.history.enqueue(`${ns}/${job.spec.workflowName}`);
      else if (needsCompletion(job)) this.completion.enqueue(objectKey(job));
      else if (!isTerminalPhase(job.status?.phase)) {
        // A run that appears for a workflow that is terminated (or gone) is canceled.
        const workflow = this.workflows.get(ns, job.spec.workflowName);
        if (workflow === undefined || workflow.spec.terminated) {
          this.cancellation.enqueue(`${ns}/${job.spec.workflowName}`);
        }
      }
    });
    this.workflows.on((workflow, event) => {
      if (event === "delete" || workflow.spec.terminated || workflow.metadata.deletionTimestamp) {
        this.cancellation.enqueue(objectKey(workflow));
      }
      if (event === "delete") this.logCleanup.enqueue(objectKey(workflow));
    });
    // Runs whose end failed while the database was away are retried as soon
    // as it is back, not at the end of a back-off that may have grown to minutes.
    this.#unsubscribe =
      settings.onDatabaseBack?.(() => {
        if (this.#stopping) return;
        for (const job of this.jobs.list()) {
          if (!needsCompletion(job)) continue;
          const key = objectKey(job);
          this.completion.queue.forget(key);
          this.completion.enqueue(key);
        }
      }) ?? this.#unsubscribe;
  }

  async start(): Promise<void> {
    const synced = Promise.all([this.jobs.start(this.#options.kc), this.workflows.start(this.#options.kc)]);
    await Promise.race([synced, this.#stopped]);
    if (this.#stopping) return;
    this.completion.start();
    this.cancellation.start();
    this.history.start();
    this.logCleanup.start();
    const sweep = () =>
      this.#sweepLogs().catch((error: unknown) =>
        this.#log.warn({ err: describeError(error) }, "sweep of deleted workflows' logs failed"),
      );
    void sweep();
    this.#sweepTimer = setInterval(
      sweep,
      this.#options.resyncMs > 0 ? this.#options.resyncMs : defaultLogSweepMs,
    );
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe();
    this.#markStopped();
    clearInterval(this.#sweepTimer);
    await Promise.all([this.jobs.stop(), this.workflows.stop()]);
    await Promise.all([
      this.completion.stop(),
      this.cancellation.stop(),
      this.history.stop(),
      this.logCleanup.stop(),
    ]);
  }

  // ---- completion ----

  /** The end-of-run actions of one WorkflowJob, by key "namespace/name". */
  async reconcileRun(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const cached = this.jobs.get(namespace, name);
    if (cached === undefined || !needsCompletion(cached)) return undefined;
    // The cache may be behind our own Finalized write: decide on the stored object.
    const job = await this.#get<WorkflowJob>(workflowJobResource.plural, namespace, name);
    if (job === undefined || !needsCompletion(job)) return undefined;
    const phase = job.status?.phase ?? "PENDING";
    const workflowId = job.spec.workflowName;
    const userId = job.spec.userId;
    const log = this.#log.child({ job: name, workflow: workflowId, phase });

    // 0. A run lost to the system gets another attempt instead of an end.
    const retry = retryDecision(job.status, new Date());
    if (retry.type === "retry") {
      const lostReason = job.status?.reason;
      await this.#patchJobStatus(job, retryStatus(retry));
      log.info(
        { reason: lostReason, attempt: retry.nextAttempt, retryAt: retry.notBefore },
        "retrying a lost run",
      );
      await this.#options.events.record(
        job,
        "Normal",
        "RetryScheduled",
        `run lost to the system (${lostReason}): attempt ${retry.nextAttempt} at ${rfc3339(retry.notBefore)}`,
      );
      return undefined;
    }
    let workflow = await this.#get<Workflow>(workflowResource.plural, namespace, workflowId);
    const ref = {
      userId,
      workflowId,
      jobId: name,
      ...(workflow?.spec.displayName ? { workflowName: workflow.spec.displayName } : {}),
    };

    // 1. Logs, while the Pod is still there (before anything may delete it).
    const lineCount = await this.#keepLogs(job, workflow);
    if (lineCount !== undefined) {
      await this.#analytics.recordJobLogLines({ userId, workflowId, jobId: name, lines: lineCount });
    }

    // 2. The failure count, exactly once per run (the run's name is written with the count).
    if (workflow !== undefined) {
      const patch = failureCountPatch(workflow, name, phase, new Date());
      if (patch !== undefined) {
        workflow = await this.#patchWorkflowStatus(workflow, patch);
        log.info({ consecutiveFailures: patch.consecutiveFailures }, "counted the run");
        await this.#options.settings.hooks?.afterFailureCounted?.(job);
      }
      // 3. The threshold: this run's failure terminated the workflow.
      if (terminatedByThisRun(workflow, name)) {
        if (!workflow.spec.terminated) {
          workflow = await this.#patchWorkflowSpec(workflow, { terminated: true });
          log.warn(
            { consecutiveFailures: workflow.status?.consecutiveFailures },
            "failure threshold reached: workflow terminated",
          );
          await this.#options.events.record(
            workflow,
            "Warning",
            "TerminatedByFailures",
            `terminated after ${workflow.spec.maxConsecutiveFailures} consecutive failed runs (last: ${name})`,
          );
        }
        await this.#options.settings.notifier.notify({
          ...ref,
          type: "workflow-terminated",
          terminatedAt: new Date(workflow.status?.terminatedAt ?? rfc3339(new Date())),
          byFailureThreshold: true,
          maxConsecutiveFailures: workflow.spec.maxConsecutiveFailures,
        });
      }
    }

    // 4. The run's own notification (its idempotency key makes a repeat harmless).
    const notification = runNotification(phase);
    if (notification === "job-failed") {
      await this.#options.settings.notifier.notify({
        ...ref,
        type: notification,
        ...(job.status?.reason ? { reason: job.status.reason } : {}),
      });
    } else if (notification === "job-canceled") {
      await this.#options.settings.notifier.notify({
        ...ref,
        type: notification,
        ...(job.status?.reason === "WorkflowUpdated" ? { byUpdate: true } : {}),
      });
    } else if (notification !== undefined) {
      await this.#options.settings.notifier.notify({ ...ref, type: notification });
    }

    // 5. Analytics: counted once per job id by the recorder.
    await this.#analytics.recordJobFinished({
      userId,
      workflowId,
      jobId: name,
      startedAt: dateOrNull(job.status?.startedAt),
      completedAt: dateOrNull(job.status?.finishedAt),
    });

    // 6. A canceled run's Pod stops now that its log is kept. So does the Pod of
    // an AUTOMATIC run of a terminated workflow: terminating orphans it from its
    // batch Job so that its log could be kept (workflow.ts), and nothing else
    // would remove it.
    const orphaned = workflow?.spec.terminated === true && job.spec.trigger === "AUTOMATIC";
    if ((phase === "CANCELED" || orphaned) && job.status?.podName) {
      await this.#deletePod(namespace, job.status.podName);
    }

    // 7. The guard, written last.
    await this.#patchJobStatus(job, {
      conditions: setCondition(
        job.status?.conditions,
        {
          type: finalizedCondition,
          status: "True",
          reason: "RunFinished",
          message: `end-of-run actions done for phase ${phase}`,
          ...(job.metadata.generation === undefined ? {} : { observedGeneration: job.metadata.generation }),
        },
        new Date(),
      ),
    });
    log.debug("run finalized");
    return undefined;
  }

  /**
   * Copies the run's output into Postgres where the workflow keeps logs, and
   * returns how many lines the run produced (undefined when not known: not a
   * CONTAINER run, or its Pod is gone and nothing was kept).
   */
  async #keepLogs(job: WorkflowJob, workflow: Workflow | undefined): Promise<number | undefined> {
    if (workflow?.spec.kind !== "CONTAINER") return undefined;
    const name = job.metadata.name ?? "";
    const retain = shouldRetainLogs(workflow);
    if (retain) {
      const kept = await findRetention(this.#options.settings.db, name);
      if (kept !== undefined) return kept.lineCount;
    }
    const podName = job.status?.podName;
    if (!podName) return undefined;
    await this.#options.settings.hooks?.beforeLogsRead?.(job);
    let lines: Awaited<ReturnType<LivePodLog["read"]>>;
    try {
      lines = await this.#logs.read(podName);
    } catch (error) {
      // Retried with back-off; a log that stays unreadable must not hold the run's end forever.
      const finished = Date.parse(job.status?.finishedAt ?? "");
      if (Number.isNaN(finished) || Date.now() - finished < logReadGiveUpMs) throw error;
      this.#log.warn({ job: name, pod: podName, err: describeError(error) }, "pod log unreadable; not kept");
      await this.#options.events.record(
        job,
        "Warning",
        "LogsNotKept",
        `could not read the log of pod ${podName}`,
      );
      return undefined;
    }
    if (lines === undefined) return undefined;
    if (!retain) return lines.length;
    const result = await retainJobLogs(this.#options.settings.db, {
      jobId: name,
      workflowId: job.spec.workflowName,
      userId: job.spec.userId,
      lines: lines.map((line) => ({ timestamp: line.timestamp, stream: line.stream, message: line.message })),
    });
    return result.lineCount;
  }

  // ---- history ----

  /**
   * Deletes the oldest finalized runs of a workflow beyond the history limit
   * (their Pods follow by owner reference), by key "namespace/workflow". The
   * cache can only be behind in showing runs finalized, so it never deletes
   * too many; the next Finalized write or resync catches up.
   */
  async reconcileHistory(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name: workflowId } = splitKey(key);
    const runs = this.jobs.list(namespace).filter((job) => job.spec.workflowName === workflowId);
    for (const old of runsBeyondHistory(runs, this.#historyLimit)) {
      const name = old.metadata.name ?? "";
      try {
        await this.#custom.deleteNamespacedCustomObject({
          group: workflowJobResource.group,
          version: workflowJobResource.version,
          namespace,
          plural: workflowJobResource.plural,
          name,
          propagationPolicy: "Background",
          body: { preconditions: { uid: old.metadata.uid } },
        });
        this.#log.info({ job: name, workflow: workflowId }, "deleted a run beyond the history limit");
      } catch (error) {
        if (!isNotFound(error) && !isConflict(error)) throw error;
      }
    }
    return undefined;
  }

  // ---- log cleanup ----

  /** Queues every workflow with retained logs that the cache does not hold (the reconcile confirms it is gone). */
  async #sweepLogs(): Promise<void> {
    const namespace = this.#options.namespace;
    for (const workflowId of await workflowsWithRetainedLogs(this.#options.settings.db)) {
      if (this.workflows.get(namespace, workflowId) === undefined) {
        this.logCleanup.enqueue(`${namespace}/${workflowId}`);
      }
    }
  }

  /**
   * Removes the retained logs of a workflow that no longer exists, by key
   * "namespace/workflow id". Confirmed with the apiserver (the cache may not
   * have seen a new workflow yet); a workflow still being deleted is left to
   * its delete event or the next sweep.
   */
  async reconcileLogCleanup(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    if (this.workflows.get(namespace, name) !== undefined) return undefined;
    if ((await this.#get<Workflow>(workflowResource.plural, namespace, name)) !== undefined) return undefined;
    const runs = await deleteWorkflowLogs(this.#options.settings.db, name);
    if (runs > 0) this.#log.info({ workflow: name, runs }, "removed the retained logs of a deleted workflow");
    return undefined;
  }

  // ---- cancellation ----

  /** Cancels the unfinished runs of a terminated or deleted workflow, by key "namespace/name". */
  async reconcileCancellation(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    let workflow = this.workflows.get(namespace, name);
    let reason: "WorkflowTerminated" | "WorkflowDeleted";
    if (workflow === undefined || workflow.metadata.deletionTimestamp !== undefined) {
      // Confirm with the apiserver: the cache may not have seen a new workflow yet.
      workflow = await this.#get<Workflow>(workflowResource.plural, namespace, name);
      if (workflow !== undefined && workflow.metadata.deletionTimestamp === undefined) {
        if (!workflow.spec.terminated) return undefined;
        reason = "WorkflowTerminated";
      } else {
        reason = "WorkflowDeleted";
      }
    } else if (workflow.spec.terminated) {
      reason = "WorkflowTerminated";
    } else {
      return undefined;
    }
    const runs = runsToCancel(this.jobs.list(namespace).filter((job) => job.spec.workflowName === name));
    for (const run of runs) {
      try {
        await this.#patchJobStatus(run, canceledStatus(reason, new Date()));
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      this.#log.info({ job: run.metadata.name, workflow: name, reason }, "canceled a run");
    }
    return undefined;
  }

  // ---- API helpers ----

  async #get<T>(plural: string, namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: workflowResource.group,
        version: workflowResource.version,
        namespace,
        plural,
        name,
      })) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** A merge patch of the Workflow's status, guarded by the resourceVersion the decision read. */
  async #patchWorkflowStatus(workflow: Workflow, status: Partial<WorkflowStatus>): Promise<Workflow> {
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: workflowResource.group,
        version: workflowResource.version,
        plural: workflowResource.plural,
        namespace: workflow.metadata.namespace ?? "",
        name: workflow.metadata.name ?? "",
        body: { metadata: { resourceVersion: workflow.metadata.resourceVersion }, status },
        fieldManager,
      },
      mergePatch,
    )) as Workflow;
  }

  async #patchWorkflowSpec(workflow: Workflow, spec: Partial<Workflow["spec"]>): Promise<Workflow> {
    return (await this.#custom.patchNamespacedCustomObject(
      {
        group: workflowResource.group,
        version: workflowResource.version,
        plural: workflowResource.plural,
        namespace: workflow.metadata.namespace ?? "",
        name: workflow.metadata.name ?? "",
        body: { metadata: { resourceVersion: workflow.metadata.resourceVersion }, spec },
        fieldManager,
      },
      mergePatch,
    )) as Workflow;
  }

  /** A merge patch of a WorkflowJob's status, guarded by the resourceVersion it was read at. */
  async #patchJobStatus(job: WorkflowJob, status: Record<string, unknown>): Promise<WorkflowJob> {
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: workflowJobResource.group,
        version: workflowJobResource.version,
        plural: workflowJobResource.plural,
        namespace: job.metadata.namespace ?? "",
        name: job.metadata.name ?? "",
        body: { metadata: { resourceVersion: job.metadata.resourceVersion }, status },
        fieldManager,
      },
      mergePatch,
    )) as WorkflowJob;
  }

  async #deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.#core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function dateOrNull(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
