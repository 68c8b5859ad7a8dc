// The Workflow controller (DESIGN.md, reconciliation step 1): watches
// Workflows and the CronJobs they own, and for each Workflow makes its
// CronJob match the spec (server-side apply), suspends it and stops active
// runs when the workflow is terminated, and writes the build status with
// conditions. Level-triggered: a reconcile reads the cache (and the apiserver
// where the cache may be behind) and converges, whatever happened before —
// so a restart at any point is safe. Deleting a Workflow needs no code: its
// CronJob carries a controller owner reference and the garbage collector
// removes it.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Notifier } from "../../services/notifications/client.ts";
import { type NotificationEvent, notificationsFor } from "../../services/notifications/events.ts";
import { apiVersion, labels } from "../api/v1alpha1/schema.ts";
import { type Workflow, workflowResource } from "../api/v1alpha1/workflow.ts";
import { type WorkflowJob, workflowJobResource } from "../api/v1alpha1/workflow-job.ts";
import type { BackoffOptions } from "../runtime/backoff.ts";
import { Controller, objectKey, type ReconcileResult, splitKey } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import { Informer } from "../runtime/informer.ts";
import { apiMessage, describeError, isNotFound, isPermanent } from "../runtime/kube-errors.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import {
  cronJobForWorkflow,
  fieldManager,
  generationAnnotation,
  InvalidWorkflowError,
  type PodSettings,
  scheduleForInterval,
} from "./cronjob-for-workflow.ts";
import { canceledStatus, pendingRunsToCancelOnRebuild } from "./run-completion-decisions.ts";
import {
  buildFinishedNotification,
  buildStartedNotification,
  terminationNotification,
} from "./workflow-notifications.ts";
import {
  type BuildOutcome,
  shouldStartBuild,
  startedStatus,
  statusAfterBuild,
  statusPatch,
} from "./workflow-status.ts";

export interface WorkflowControllerHooks {
  /** Runs after the CronJob was applied and before the status is written (tests stop the operator here). */
  afterCronJobApplied?: (workflow: Workflow) => Promise<void> | void;
}

export interface WorkflowControllerOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  podSettings: PodSettings;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  /** How often every Workflow is reconciled even without a change. */
  resyncMs: number;
  backoff?: BackoffOptions;
  hooks?: WorkflowControllerHooks;
  /**
   * Files the workflow's own notifications (build started/skipped/completed/
   * failed, workflow terminated); none without it (no notifications service).
   */
  notifier?: Notifier;
  /**
   * The end-of-run actions run (RunCompletionController): stopping a run then
   * leaves its Pod to them, which keep its log and delete it; without them the
   * Pod goes with its batch Job at once.
   */
  runPodsStoppedAfterLogs?: boolean;
}

/** How many idempotency keys of filed notifications this process remembers (then it forgets them all). */
const filedMemoLimit = 10_000;

/** Seconds to wait before looking again at a CronJob that belongs to someone else (it may be on its way out). */
const foreignCronJobRetryMs = 10_000;

type RawCronJob = k8s.V1CronJob & {
  status?: { lastScheduleTime?: string; active?: k8s.V1ObjectReference[] };
};

export class WorkflowController {
  readonly controller: Controller;
  readonly workflows: Informer<Workflow>;
  readonly cronJobs: Informer<RawCronJob>;
  readonly #options: WorkflowControllerOptions;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #batch: k8s.BatchV1Api;
  readonly #log: Logger;
  /** Keys of the notifications this process has filed, so a resync does not file them again (only a restart does, harmlessly). */
  readonly #filed = new Set<string>();
  #stopping = false;
  #markStopped: () => void = () => undefined;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });

  constructor(options: WorkflowControllerOptions) {
    this.#options = options;
    const { kc, namespace, logger, resyncMs } = options;
    this.#log = logger.child({ controller: "workflow" });
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#batch = kc.makeApiClient(k8s.BatchV1Api);
    const { group, version, plural } = workflowResource;
    this.workflows = new Informer<Workflow>({
      name: "workflows",
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: () => this.#custom.listNamespacedCustomObject({ group, version, namespace, plural }),
      logger: this.#log,
      resyncMs,
    });
    const selector = `app.kubernetes.io/managed-by=${fieldManager}`;
    this.cronJobs = new Informer<RawCronJob>({
      name: "cronjobs",
      path: `/apis/batch/v1/namespaces/${namespace}/cronjobs`,
      // Raw JSON like the watch delivers, so cached objects have one shape.
      list: () =>
        this.#custom.listNamespacedCustomObject({
          group: "batch",
          version: "v1",
          namespace,
          plural: "cronjobs",
          labelSelector: selector,
        }),
      labelSelector: selector,
      logger: this.#log,
    });
    this.controller = new Controller({
      name: "workflow",
      reconcile: (key) => this.reconcile(key),
      workers: options.workers,
      logger: this.#log,
      metrics: options.metrics,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    this.workflows.on((workflow) => this.controller.enqueue(objectKey(workflow)));
    this.cronJobs.on((cronJob) => {
      const owner = cronJob.metadata?.ownerReferences?.find((ref) => ref.controller === true);
      if (owner?.apiVersion === apiVersion && owner.kind === workflowResource.kind) {
        this.controller.enqueue(`${cronJob.metadata?.namespace ?? ""}/${owner.name}`);
      }
    });
  }

  /** Fills the caches, then starts the workers. */
  async start(): Promise<void> {
    const synced = Promise.all([
      this.workflows.start(this.#options.kc),
      this.cronJobs.start(this.#options.kc),
    ]);
    // A stop while the caches fill ends the start too.
    await Promise.race([synced, this.#stopped]);
    if (!this.#stopping) this.controller.start();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#markStopped();
    await Promise.all([this.workflows.stop(), this.cronJobs.stop()]);
    await this.controller.stop();
  }

  /** One reconcile of one Workflow, by key "namespace/name". */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const cached = this.workflows.get(namespace, name);
    if (cached === undefined || cached.metadata.deletionTimestamp !== undefined) return undefined;
    try {
      return await this.#reconcile(cached);
    } catch (error) {
      // Deleted while we worked on it: the garbage collector does the rest.
      if (isNotFound(error) && this.workflows.get(namespace, name)?.metadata.uid !== cached.metadata.uid) {
        return undefined;
      }
      throw error;
    }
  }

  async #reconcile(cached: Workflow): Promise<ReconcileResult | undefined> {
    const namespace = cached.metadata.namespace ?? "";
    const name = cached.metadata.name ?? "";
    let workflow = cached;
    const log = this.#log.child({ workflow: name, generation: workflow.metadata.generation });

    // Build notifications are filed before the status they announce is
    // written: a crash in between files them again under the same key, never
    // not at all. A notification that cannot be filed holds the status back,
    // not the schedule: the CronJob is still applied.
    let heldNotification: unknown;
    if (shouldStartBuild(workflow)) {
      // A new build: runs waiting for the old spec are canceled first (a crash
      // before STARTED is written repeats this; runs scheduled for this
      // generation are never touched).
      await this.#cancelPendingRuns(workflow, log);
      try {
        await this.#notify(buildStartedNotification(workflow));
      } catch (error) {
        heldNotification = error;
      }
      if (heldNotification === undefined) {
        workflow = await this.#writeStatus(workflow, startedStatus(workflow, new Date()));
        log.info("build started");
      }
    }

    let outcome: BuildOutcome;
    let requeue: ReconcileResult | undefined;
    const existing = await this.#currentCronJob(namespace, name);
    const foreign =
      existing !== undefined &&
      !existing.metadata?.ownerReferences?.some(
        (ref) => ref.controller === true && ref.uid === workflow.metadata.uid,
      );
    if (foreign) {
      outcome = {
        type: "failed",
        message: `CronJob ${name} already exists and is not controlled by this workflow`,
      };
      requeue = { requeueAfterMs: foreignCronJobRetryMs };
    } else if (workflow.spec.terminated && existing === undefined) {
      outcome = { type: "canceled" };
    } else {
      outcome = await this.#build(workflow, existing, log);
    }

    // Retried with back-off; the status waits for the notification.
    if (heldNotification !== undefined) throw heldNotification;
    const previous = workflow.status?.buildStatus;
    const next = statusAfterBuild(workflow, outcome, new Date());
    await this.#notify(
      buildFinishedNotification(
        workflow,
        previous,
        next.buildStatus,
        outcome.type === "failed" ? outcome.message : undefined,
      ),
    );
    workflow = await this.#writeStatus(workflow, next);
    if (outcome.type === "failed" && previous !== "FAILED") {
      log.warn({ reason: outcome.message }, "build failed");
      await this.#options.events.record(workflow, "Warning", "BuildFailed", outcome.message);
    }
    if (
      outcome.type === "built" &&
      previous !== "COMPLETED" &&
      workflow.status?.buildStatus === "COMPLETED"
    ) {
      log.info({ schedule: outcome.schedule.cron }, "build completed");
    }
    // Last, once the CronJob is suspended and the runs stopped: the owner is
    // told of the termination (keyed by the recorded terminatedAt, so the next
    // reconcile files it if this one could not).
    await this.#notify(terminationNotification(workflow));
    return requeue;
  }

  /** Cancels the MANUAL runs still waiting for an older spec (pendingRunsToCancelOnRebuild). */
  async #cancelPendingRuns(workflow: Workflow, log: Logger): Promise<void> {
    const namespace = workflow.metadata.namespace ?? "";
    const name = workflow.metadata.name ?? "";
    const { group, version, plural } = workflowJobResource;
    const list = (await this.#custom.listNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      labelSelector: `${labels.workflowId}=${name}`,
    })) as { items: WorkflowJob[] };
    const runs = list.items.filter((run) => run.spec.workflowName === name);
    for (const run of pendingRunsToCancelOnRebuild(
      runs,
      workflow.metadata.generation ?? 0,
      generationAnnotation,
    )) {
      try {
        // Guarded by the resourceVersion listed: a run that got its Pod meanwhile
        // conflicts, and the retried reconcile leaves it running.
        await this.#custom.patchNamespacedCustomObjectStatus(
          {
            group,
            version,
            plural,
            namespace,
            name: run.metadata.name ?? "",
            body: {
              metadata: { resourceVersion: run.metadata.resourceVersion },
              status: canceledStatus("WorkflowUpdated", new Date()),
            },
            fieldManager,
          },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      log.info({ job: run.metadata.name }, "canceled a pending run: the workflow is rebuilt");
    }
  }

  /** Files a notification once per process (its idempotency key makes a repeat after a restart harmless). */
  async #notify(event: NotificationEvent | undefined): Promise<void> {
    const notifier = this.#options.notifier;
    if (event === undefined || notifier === undefined) return;
    const key = notificationKey(event);
    if (this.#filed.has(key)) return;
    await notifier.notify(event);
    if (this.#filed.size >= filedMemoLimit) this.#filed.clear();
    this.#filed.add(key);
  }

  /** Applies the CronJob; a request the apiserver refuses is a failed build, other errors are retried. */
  async #build(workflow: Workflow, existing: RawCronJob | undefined, log: Logger): Promise<BuildOutcome> {
    const name = workflow.metadata.name ?? "";
    const namespace = workflow.metadata.namespace ?? "";
    let schedule: ReturnType<typeof scheduleForInterval> | undefined;
    let desired: k8s.V1CronJob;
    try {
      schedule = scheduleForInterval(workflow.spec.intervalMinutes);
      desired = cronJobForWorkflow(workflow, this.#options.podSettings);
    } catch (error) {
      if (error instanceof InvalidWorkflowError || error instanceof RangeError) {
        return { type: "failed", message: error.message, ...(schedule === undefined ? {} : { schedule }) };
      }
      throw error;
    }

    let applied: k8s.V1CronJob;
    try {
      applied = await this.#batch.patchNamespacedCronJob(
        {
          name,
          namespace,
          body: desired,
          fieldManager,
          force: true,
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
      );
    } catch (error) {
      if (isPermanent(error)) {
        return {
          type: "failed",
          message: `the apiserver refused CronJob ${name}: ${apiMessage(error) ?? describeError(error)}`,
          schedule,
        };
      }
      throw error;
    }

    const events = this.#options.events;
    if (existing === undefined) {
      log.info({ schedule: schedule.cron }, "created CronJob");
      await events.record(
        workflow,
        "Normal",
        "CronJobCreated",
        `created CronJob ${name} with schedule "${schedule.cron}"`,
      );
    } else if (applied.metadata?.resourceVersion !== existing.metadata?.resourceVersion) {
      const suspendedNow = existing.spec?.suspend !== true && desired.spec?.suspend === true;
      const resumedNow = existing.spec?.suspend === true && desired.spec?.suspend !== true;
      const what = suspendedNow ? "suspended" : resumedNow ? "resumed" : "updated";
      log.info({ schedule: schedule.cron }, `${what} CronJob`);
      await events.record(
        workflow,
        "Normal",
        suspendedNow ? "CronJobSuspended" : resumedNow ? "CronJobResumed" : "CronJobUpdated",
        `${what} CronJob ${name} (schedule "${schedule.cron}")`,
      );
    }

    await this.#options.hooks?.afterCronJobApplied?.(workflow);

    if (workflow.spec.terminated) await this.#stopActiveRuns(workflow, log);

    const lastScheduleTime = (existing?.status?.lastScheduleTime ?? undefined) as string | undefined;
    return {
      type: "built",
      schedule,
      cronJobName: name,
      ...(lastScheduleTime === undefined ? {} : { lastScheduleTime }),
    };
  }

  /**
   * Terminating a workflow stops its runs in progress: unfinished batch Jobs of
   * its CronJob are deleted (with their Pods). Selected by label rather than
   * from the CronJob's active list, which misses Jobs it did not create itself.
   */
  async #stopActiveRuns(workflow: Workflow, log: Logger): Promise<void> {
    const namespace = workflow.metadata.namespace ?? "";
    const name = workflow.metadata.name ?? "";
    const jobs = await this.#batch.listNamespacedJob({
      namespace,
      labelSelector: `${labels.workflowId}=${name}`,
    });
    for (const job of jobs.items) {
      const finished = job.status?.conditions?.some(
        (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
      );
      const ownedByCronJob = job.metadata?.ownerReferences?.some(
        (ref) => ref.kind === "CronJob" && ref.name === name,
      );
      if (finished || !ownedByCronJob || job.metadata?.deletionTimestamp !== undefined) continue;
      const jobName = job.metadata?.name ?? "";
      try {
        // Orphan: the Pod must outlive its Job until its log is kept (the run
        // is canceled, and the end-of-run actions keep the log, then delete it).
        await this.#batch.deleteNamespacedJob({
          name: jobName,
          namespace,
          propagationPolicy: this.#options.runPodsStoppedAfterLogs ? "Orphan" : "Background",
        });
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      log.info({ job: jobName }, "stopped an active run");
      await this.#options.events.record(
        workflow,
        "Normal",
        "RunStopped",
        `stopped run ${jobName}: the workflow is terminated`,
      );
    }
  }

  /** The CronJob from the cache, or from the apiserver when the cache has none (it may be behind). */
  async #currentCronJob(namespace: string, name: string): Promise<RawCronJob | undefined> {
    const cached = this.cronJobs.get(namespace, name);
    if (cached !== undefined) return cached;
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: "batch",
        version: "v1",
        namespace,
        plural: "cronjobs",
        name,
      })) as RawCronJob;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Writes the operator's part of the status when it changed, guarded by the
   * resourceVersion the decision was based on (a conflict retries the reconcile
   * on fresher data). Returns the workflow as written.
   */
  async #writeStatus(workflow: Workflow, next: Parameters<typeof statusPatch>[1]): Promise<Workflow> {
    const patch = statusPatch(workflow.status, next);
    if (patch === undefined) return workflow;
    const { group, version, plural } = workflowResource;
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        plural,
        namespace: workflow.metadata.namespace ?? "",
        name: workflow.metadata.name ?? "",
        body: { metadata: { resourceVersion: workflow.metadata.resourceVersion }, status: patch },
        fieldManager,
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )) as Workflow;
  }
}

/** What tells one notification event from another (the requests' idempotency keys). */
function notificationKey(event: NotificationEvent): string {
  return notificationsFor(event)
    .map((request) => `${request.user_id}/${request.idempotency_key}`)
    .join(" ");
}
