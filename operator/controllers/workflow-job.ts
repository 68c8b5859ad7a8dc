// The run controllers (DESIGN.md, reconciliation steps 2–4, first half):
//   - "run-mirror", keyed by batch Job: mirrors each Job a workflow's CronJob
//     starts into an AUTOMATIC WorkflowJob (./run-mirror.ts);
//   - "workflow-job", keyed by WorkflowJob: creates the Pod of a MANUAL run
//     when it is due (requeued for exactly the time left before that,
//     ./manual-run.ts), and keeps status.phase, podName, times, exit code,
//     reason and the Finished condition true to the run's Pod (./run-phase.ts).
// Level-triggered like the Workflow controller: every reconcile reads the
// caches (and the apiserver where a cache may be behind and a wrong answer
// would be final) and converges; creates are idempotent by name, so a restart
// at any point is safe. What happens once a run is terminal (failure counts,
// notifications, analytics, logs, history) is someone else's controller; this
// one never moves a terminal phase back.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Histogram } from "prom-client";
import type { Workflow } from "../api/v1alpha1/workflow.ts";
import { workflowResource } from "../api/v1alpha1/workflow.ts";
import { type WorkflowJob, workflowJobResource } from "../api/v1alpha1/workflow-job.ts";
import type { BackoffOptions } from "../runtime/backoff.ts";
import { Controller, objectKey, type ReconcileResult, splitKey } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import { Informer } from "../runtime/informer.ts";
import { apiMessage, describeError, isConflict, isNotFound, isPermanent } from "../runtime/kube-errors.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import { fieldManager, InvalidWorkflowError, type PodSettings } from "./cronjob-for-workflow.ts";
import { manualPodName, manualRunWait, podForManualRun } from "./manual-run.ts";
import {
  automaticRunName,
  mirrorBatchJob,
  mirroredAnnotation,
  runLabels,
  scheduledTimeOfJob,
  workflowJobForBatchJob,
  workflowOfBatchJob,
} from "./run-mirror.ts";
import {
  failedToStart,
  isTerminal,
  observePod,
  observeWithoutPod,
  type RunObservation,
  runStatusPatch,
  scheduleSkewSeconds,
  timestamp,
} from "./run-phase.ts";

export interface RunControllerOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  podSettings: PodSettings;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  resyncMs: number;
  backoff?: BackoffOptions;
}

/** Longest single wait for a manual run's due time (timers hold at most ~24.8 days; a resync also looks). */
export const maxDueWaitMs = 6 * 3_600_000;

const skewMetricName = "chronoverse_operator_schedule_skew_seconds";

/** The schedule-skew histogram, registered once per metrics registry (a re-elected leader reuses it). */
export function scheduleSkewHistogram(metrics: OperatorMetrics): Histogram<"trigger"> {
  const existing = metrics.registry.getSingleMetric(skewMetricName);
  if (existing !== undefined) return existing as Histogram<"trigger">;
  return new Histogram({
    name: skewMetricName,
    help: "Seconds between a run's scheduled time and the start of its container, by trigger.",
    labelNames: ["trigger"],
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [metrics.registry],
  });
}

const eventReasons: Record<string, string> = {
  QUEUED: "Queued",
  RUNNING: "Running",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
};

export class RunController {
  readonly workflows: Informer<Workflow>;
  readonly runs: Informer<WorkflowJob>;
  readonly batchJobs: Informer<k8s.V1Job>;
  readonly pods: Informer<k8s.V1Pod>;
  /** Keys: batch Jobs. */
  readonly mirror: Controller;
  /** Keys: WorkflowJobs. */
  readonly phases: Controller;
  readonly #options: RunControllerOptions;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #core: k8s.CoreV1Api;
  readonly #log: Logger;
  readonly #skew: Histogram<"trigger">;
  #stopping = false;
  #markStopped: () => void = () => undefined;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });

  constructor(options: RunControllerOptions) {
    this.#options = options;
    const { kc, namespace, logger, resyncMs } = options;
    this.#log = logger.child({ controller: "runs" });
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#skew = scheduleSkewHistogram(options.metrics);
    const managed = `app.kubernetes.io/managed-by=${fieldManager}`;
    const custom = this.#custom;
    const listCustom = (group: string, version: string, plural: string, labelSelector?: string) => () =>
      custom.listNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        ...(labelSelector === undefined ? {} : { labelSelector }),
      });
    this.workflows = new Informer<Workflow>({
      name: "run-workflows",
      path: `/apis/${workflowResource.group}/${workflowResource.version}/namespaces/${namespace}/${workflowResource.plural}`,
      list: listCustom(workflowResource.group, workflowResource.version, workflowResource.plural),
      logger: this.#log,
    });
    const { group, version, plural } = workflowJobResource;
    this.runs = new Informer<WorkflowJob>({
      name: "workflowjobs",
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: listCustom(group, version, plural),
      logger: this.#log,
      resyncMs,
    });
    this.batchJobs = new Informer<k8s.V1Job>({
      name: "batch-jobs",
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      list: listCustom("batch", "v1", "jobs", managed),
      labelSelector: managed,
      logger: this.#log,
      resyncMs,
    });
    this.pods = new Informer<k8s.V1Pod>({
      name: "run-pods",
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => this.#core.listNamespacedPod({ namespace, labelSelector: managed }),
      labelSelector: managed,
      logger: this.#log,
    });
    const common = {
      workers: options.workers,
      metrics: options.metrics,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    };
    this.mirror = new Controller({
      ...common,
      name: "run-mirror",
      reconcile: (key) => this.reconcileBatchJob(key),
      logger: this.#log.child({ queue: "run-mirror" }),
    });
    this.phases = new Controller({
      ...common,
      name: "workflow-job",
      reconcile: (key) => this.reconcileRun(key),
      logger: this.#log.child({ queue: "workflow-job" }),
    });

    this.runs.on((run) => this.phases.enqueue(objectKey(run)));
    this.batchJobs.on((job) => {
      this.mirror.enqueue(objectKey(job));
      const run = this.#runNameOfBatchJob(job);
      if (run !== undefined) this.phases.enqueue(`${job.metadata?.namespace ?? ""}/${run}`);
    });
    this.pods.on((pod) => {
      const run = this.#runNameOfPod(pod);
      if (run !== undefined) this.phases.enqueue(`${pod.metadata?.namespace ?? ""}/${run}`);
    });
    // A terminated workflow cancels its runs that have no Pod yet: look at them again.
    this.workflows.on((workflow) => {
      if (!workflow.spec.terminated) return;
      for (const run of this.runs.list(workflow.metadata.namespace)) {
        if (run.spec.workflowName === workflow.metadata.name && !isTerminal(run.status?.phase)) {
          this.phases.enqueue(objectKey(run));
        }
      }
    });
  }

  /** True once every cache has its first list. */
  get hasSynced(): boolean {
    return this.workflows.hasSynced && this.runs.hasSynced && this.batchJobs.hasSynced && this.pods.hasSynced;
  }

  async start(): Promise<void> {
    const kc = this.#options.kc;
    const synced = Promise.all([
      this.workflows.start(kc),
      this.runs.start(kc),
      this.batchJobs.start(kc),
      this.pods.start(kc),
    ]);
    await Promise.race([synced, this.#stopped]);
    if (this.#stopping) return;
    this.mirror.start();
    this.phases.start();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#markStopped();
    await Promise.all([this.workflows.stop(), this.runs.stop(), this.batchJobs.stop(), this.pods.stop()]);
    await Promise.all([this.mirror.stop(), this.phases.stop()]);
  }

  // ---- automatic runs -------------------------------------------------------

  /** Mirrors one batch Job (key "namespace/name") into its WorkflowJob. */
  async reconcileBatchJob(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const job = this.batchJobs.get(namespace, name);
    if (job === undefined) return undefined;
    const workflowId = workflowOfBatchJob(job);
    if (workflowId === undefined) return undefined;
    const workflow = await this.#workflow(namespace, workflowId);
    // A Job of a deleted workflow: the garbage collector removes it.
    if (workflow === undefined || workflow.metadata.deletionTimestamp !== undefined) return undefined;
    const run = workflowJobForBatchJob(job, workflow);
    if (run === undefined) {
      this.#log.warn({ job: name }, "batch Job has no readable scheduled time; not mirrored");
      return undefined;
    }
    const runName = run.metadata.name ?? "";
    // Mirrored before: the WorkflowJob may since have been removed by the
    // history limit, and must not come back while the Job lingers.
    if (job.metadata?.annotations?.[mirroredAnnotation] === runName) {
      this.phases.enqueue(`${namespace}/${runName}`);
      return undefined;
    }
    if (this.runs.get(namespace, runName) === undefined && (await mirrorBatchJob(this.#custom, run))) {
      this.#log.info(
        { job: name, run: runName, scheduledAt: run.spec.scheduledAt },
        "mirrored a scheduled run",
      );
    }
    this.phases.enqueue(`${namespace}/${runName}`);
    await this.#markMirrored(namespace, name, runName);
    return undefined;
  }

  /** Records on the batch Job which WorkflowJob mirrors it (so it is mirrored once, ever). */
  async #markMirrored(namespace: string, name: string, runName: string): Promise<void> {
    try {
      await this.#custom.patchNamespacedCustomObject(
        {
          group: "batch",
          version: "v1",
          plural: "jobs",
          namespace,
          name,
          body: { metadata: { annotations: { [mirroredAnnotation]: runName } } },
          fieldManager,
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error; // A Job already gone needs no mark.
    }
  }

  #runNameOfBatchJob(job: k8s.V1Job): string | undefined {
    const workflowId = workflowOfBatchJob(job);
    const scheduledAt = scheduledTimeOfJob(job);
    return workflowId === undefined || scheduledAt === undefined
      ? undefined
      : automaticRunName(workflowId, scheduledAt);
  }

  #runNameOfPod(pod: k8s.V1Pod): string | undefined {
    const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller === true);
    if (owner?.kind === workflowJobResource.kind) return owner.name;
    const jobName = pod.metadata?.labels?.["job-name"];
    if (owner?.kind !== "Job" || jobName === undefined) return undefined;
    const job = this.batchJobs.get(pod.metadata?.namespace ?? "", jobName);
    if (job !== undefined) return this.#runNameOfBatchJob(job);
    return this.runs
      .list(pod.metadata?.namespace)
      .find((run) => run.metadata.labels?.[runLabels.batchJob] === jobName)?.metadata.name;
  }

  // ---- phases and manual runs -----------------------------------------------

  /** One reconcile of one WorkflowJob, by key "namespace/name". */
  async reconcileRun(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const run = this.runs.get(namespace, name);
    if (run === undefined || run.metadata.deletionTimestamp !== undefined) return undefined;
    if (isTerminal(run.status?.phase)) return undefined;
    const now = new Date();
    // A MANUAL run, or a later attempt of any run, runs in a Pod of its own.
    const ownPod = run.spec.trigger === "MANUAL" || (run.status?.attempts ?? 1) > 1;
    const { observation, requeue } = ownPod
      ? await this.#observeManual(run, now)
      : await this.#observeAutomatic(run, now);
    if (observation === undefined) return requeue;
    await this.#record(run, observation, now);
    if (failedToStart(observation) && observation.podName !== undefined) {
      // The kubelet would go on pulling (or creating) until the deadline.
      await this.#deletePod(namespace, observation.podName);
    }
    if (observation.recheckAfterMs === undefined) return requeue;
    const recheck = Math.min(observation.recheckAfterMs, requeue?.requeueAfterMs ?? Number.POSITIVE_INFINITY);
    return { ...requeue, requeueAfterMs: recheck };
  }

  #observePod(pod: k8s.V1Pod, now: Date): RunObservation {
    return observePod(pod, now, this.#options.podSettings.startTimeoutMs);
  }

  async #deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.#core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async #observeManual(
    run: WorkflowJob,
    now: Date,
  ): Promise<{ observation?: RunObservation; requeue?: ReconcileResult }> {
    const namespace = run.metadata.namespace ?? "";
    const name = run.metadata.name ?? "";
    const attempt = Math.max(1, run.status?.attempts ?? 0);
    // The Pod the status names (a retry clears it), else the attempt's own name.
    const hadPod = run.status?.podName !== undefined && run.status.podName !== "";
    const podName = hadPod ? (run.status?.podName ?? "") : manualPodName(name, attempt);
    const cached = this.pods.get(namespace, podName);
    if (cached !== undefined) return { observation: this.#observePod(cached, now) };

    const workflow = await this.#workflow(namespace, run.spec.workflowName);
    // The workflow is gone: the garbage collector removes its runs too.
    if (workflow === undefined) return {};
    if (hadPod) {
      // The cache may be behind: ask before calling the Pod gone.
      const pod = await this.#readPod(namespace, podName);
      if (pod !== undefined) return { observation: this.#observePod(pod, now) };
      return { observation: this.#ended(run, workflow, "PodDeleted", `pod ${podName} was deleted`, now) };
    }
    if (workflow.spec.terminated) {
      return {
        observation: {
          phase: "CANCELED",
          reason: "WorkflowTerminated",
          message: "the workflow was terminated before the run started",
          finishedAt: now.toISOString(),
        },
      };
    }
    const wait = manualRunWait(run, attempt, now);
    if (wait !== undefined) {
      return {
        observation: { phase: "PENDING", reason: wait.reason, message: wait.message },
        requeue: { requeueAfterMs: Math.min(wait.delayMs, maxDueWaitMs) },
      };
    }
    let desired: k8s.V1Pod;
    try {
      desired = podForManualRun(run, workflow, this.#options.podSettings, attempt);
    } catch (error) {
      if (!(error instanceof InvalidWorkflowError)) throw error;
      return {
        observation: {
          phase: "FAILED",
          reason: "InvalidWorkflow",
          message: error.message,
          finishedAt: now.toISOString(),
        },
      };
    }
    try {
      const created = await this.#core.createNamespacedPod({ namespace, body: desired, fieldManager });
      this.#log.info(
        { run: name, pod: podName, scheduledAt: run.spec.scheduledAt },
        "created the pod of a manual run",
      );
      await this.#options.events.record(run, "Normal", "PodCreated", `created pod ${podName}`);
      return { observation: this.#observePod(created, now) };
    } catch (error) {
      if (isConflict(error)) {
        // AlreadyExists: created before (a restart, or the cache is behind).
        const pod = await this.#readPod(namespace, podName);
        if (pod !== undefined) return { observation: this.#observePod(pod, now) };
        throw error;
      }
      if (isPermanent(error)) {
        const message = `the apiserver refused pod ${podName}: ${apiMessage(error) ?? describeError(error)}`;
        return {
          observation: { phase: "FAILED", reason: "PodCreateFailed", message, finishedAt: now.toISOString() },
        };
      }
      throw error;
    }
  }

  async #observeAutomatic(
    run: WorkflowJob,
    now: Date,
  ): Promise<{ observation?: RunObservation; requeue?: ReconcileResult }> {
    const namespace = run.metadata.namespace ?? "";
    const jobName = run.metadata.labels?.[runLabels.batchJob];
    if (jobName === undefined) {
      return {
        observation: {
          phase: "FAILED",
          reason: "NoBatchJob",
          message: `an AUTOMATIC run needs the label ${runLabels.batchJob}`,
          finishedAt: now.toISOString(),
        },
      };
    }
    const cached = this.#newestPod(this.pods.list(namespace), jobName);
    if (cached !== undefined) return { observation: this.#observePod(cached, now) };

    const job = this.batchJobs.get(namespace, jobName) ?? (await this.#readBatchJob(namespace, jobName));
    const hadPod = run.status?.podName !== undefined;
    const jobRunning =
      job !== undefined &&
      !job.status?.conditions?.some((c) => c.status === "True" && c.type !== "Suspended");
    if (jobRunning && !hadPod && !this.#terminated(namespace, run.spec.workflowName)) {
      return {
        observation: {
          phase: "PENDING",
          reason: "WaitingForPod",
          message: `batch Job ${jobName} has no pod yet`,
        },
      };
    }
    // The Pod is not in the cache, yet it existed or the Job has ended: ask the apiserver.
    const listed = await this.#core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
    const pod = this.#newestPod(listed.items, jobName);
    if (pod !== undefined) return { observation: this.#observePod(pod, now) };
    const workflow = await this.#workflow(namespace, run.spec.workflowName);
    // The workflow is gone: the garbage collector removes its runs too.
    if (workflow === undefined) return {};
    const observation = observeWithoutPod({
      jobName,
      job,
      hadPod,
      workflowTerminated: workflow.spec.terminated,
      now,
    });
    return observation === undefined ? {} : { observation };
  }

  #terminated(namespace: string, workflowId: string): boolean {
    return this.workflows.get(namespace, workflowId)?.spec.terminated ?? false;
  }

  /** A run whose Pod went away unfinished: CANCELED when its workflow was terminated, else FAILED. */
  #ended(run: WorkflowJob, workflow: Workflow, reason: string, message: string, now: Date): RunObservation {
    const podName = run.status?.podName;
    const base = { finishedAt: now.toISOString(), ...(podName === undefined ? {} : { podName }) };
    return workflow.spec.terminated
      ? {
          ...base,
          phase: "CANCELED",
          reason: "WorkflowTerminated",
          message: `the workflow was terminated (${message})`,
        }
      : { ...base, phase: "FAILED", reason, message };
  }

  #newestPod(pods: readonly k8s.V1Pod[], jobName: string): k8s.V1Pod | undefined {
    let newest: k8s.V1Pod | undefined;
    for (const pod of pods) {
      if (pod.metadata?.labels?.["job-name"] !== jobName) continue;
      const created = timestamp(pod.metadata?.creationTimestamp) ?? "";
      if (newest === undefined || created > (timestamp(newest.metadata?.creationTimestamp) ?? ""))
        newest = pod;
    }
    return newest;
  }

  /** Writes the status the observation calls for (when it changes), with an Event for a new phase. */
  async #record(run: WorkflowJob, observation: RunObservation, now: Date): Promise<void> {
    const patch = runStatusPatch(run.status, observation, run.metadata.generation, now);
    if (observation.podName !== undefined && (run.status?.attempts ?? 0) < 1) {
      // The first Pod is the first attempt (system retries count further).
      if (patch !== undefined) patch.attempts = 1;
    }
    if (patch === undefined) return;
    const { group, version, plural } = workflowJobResource;
    const written = (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        plural,
        namespace: run.metadata.namespace ?? "",
        name: run.metadata.name ?? "",
        body: { metadata: { resourceVersion: run.metadata.resourceVersion }, status: patch },
        fieldManager,
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )) as WorkflowJob;
    const log = this.#log.child({ run: run.metadata.name, trigger: run.spec.trigger });
    if (patch.startedAt !== undefined && run.status?.startedAt === undefined) {
      const skew = scheduleSkewSeconds(run.spec.scheduledAt, patch.startedAt);
      if (skew !== undefined) this.#skew.observe({ trigger: run.spec.trigger }, skew);
    }
    if (patch.phase !== undefined) {
      log.info({ phase: patch.phase, reason: observation.reason }, "run phase changed");
      const reason = eventReasons[patch.phase];
      if (reason !== undefined) {
        await this.#options.events.record(
          written,
          patch.phase === "FAILED" ? "Warning" : "Normal",
          reason,
          observation.message,
        );
      }
    }
  }

  async #workflow(namespace: string, name: string): Promise<Workflow | undefined> {
    const cached = this.workflows.get(namespace, name);
    if (cached !== undefined) return cached;
    const { group, version, plural } = workflowResource;
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group,
        version,
        plural,
        namespace,
        name,
      })) as Workflow;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
    try {
      return await this.#core.readNamespacedPod({ namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #readBatchJob(namespace: string, name: string): Promise<k8s.V1Job | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: "batch",
        version: "v1",
        plural: "jobs",
        namespace,
        name,
      })) as k8s.V1Job;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
