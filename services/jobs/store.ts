// WorkflowJob objects (and the Workflows they belong to) for the jobs
// service. Reads come from informer caches (list + watch) so they never wait
// on the apiserver; writes go to the apiserver and their result is kept in a
// small overlay until the informer has caught up, so a caller reads its own
// writes (ScheduleJob then GetJob) even before the watch event arrives.
// A Workflow missing from the cache is confirmed with a GET: workflows are
// written by another process, and a workflow created a moment ago must not
// look unknown to ScheduleJob.
import * as k8s from "@kubernetes/client-node";
import { type Workflow, workflowResource } from "../../operator/api/v1alpha1/workflow.ts";
import { type WorkflowJob, workflowJobResource } from "../../operator/api/v1alpha1/workflow-job.ts";
import { ObjectCache } from "../../src/kube/object-cache.ts";
import type { Logger } from "../../src/logging.ts";

/** HTTP status of a failed @kubernetes/client-node call (ApiException.code). */
export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (error: unknown): boolean => statusCode(error) === 404;
export const isConflict = (error: unknown): boolean => statusCode(error) === 409;

/** A WorkflowJob as created: metadata with labels and the owner reference to its Workflow. */
export interface NewWorkflowJob {
  apiVersion: WorkflowJob["apiVersion"];
  kind: "WorkflowJob";
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: k8s.V1OwnerReference[];
  };
  spec: WorkflowJob["spec"];
}

export type JobListener = (job: WorkflowJob | undefined) => void;

function resourceVersion(obj: { metadata?: { resourceVersion?: string } } | undefined): bigint {
  try {
    return BigInt(obj?.metadata?.resourceVersion ?? "0");
  } catch {
    return 0n;
  }
}

export class JobStore {
  readonly namespace: string;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #jobs: ObjectCache<WorkflowJob>;
  readonly #workflows: ObjectCache<Workflow>;
  /** Objects this process wrote, newer than the informer's copy. */
  readonly #written = new Map<string, WorkflowJob>();
  readonly #listeners = new Map<string, Set<JobListener>>();
  /** Job names by workflow, so ListJobs does not scan every run of the namespace. */
  readonly #byWorkflow = new Map<string, Set<string>>();

  constructor(options: { kc: k8s.KubeConfig; namespace: string; logger: Logger }) {
    const { kc, namespace, logger } = options;
    this.namespace = namespace;
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const ns = encodeURIComponent(namespace);
    const { group, version } = workflowJobResource;
    this.#jobs = new ObjectCache<WorkflowJob>({
      kc,
      name: "workflowjobs",
      path: `/apis/${group}/${version}/namespaces/${ns}/${workflowJobResource.plural}`,
      list: async () =>
        (await this.#custom.listNamespacedCustomObject({
          group,
          version,
          namespace,
          plural: workflowJobResource.plural,
        })) as { metadata?: { resourceVersion?: string }; items: WorkflowJob[] },
      logger,
    });
    this.#workflows = new ObjectCache<Workflow>({
      kc,
      name: "workflows",
      path: `/apis/${group}/${version}/namespaces/${ns}/${workflowResource.plural}`,
      list: async () =>
        (await this.#custom.listNamespacedCustomObject({
          group,
          version,
          namespace,
          plural: workflowResource.plural,
        })) as { metadata?: { resourceVersion?: string }; items: Workflow[] },
      logger,
    });
    this.#jobs.on((job, event) => {
      const name = job.metadata?.name;
      if (name === undefined) return;
      this.#index(job, event !== "delete");
      const written = this.#written.get(name);
      if (written !== undefined && (event === "delete" || resourceVersion(job) >= resourceVersion(written))) {
        this.#written.delete(name);
      }
      const listeners = this.#listeners.get(name);
      if (listeners === undefined) return;
      const current = event === "delete" ? undefined : this.getJob(name);
      for (const listener of listeners) listener(current);
    });
  }

  /**
   * Starts both caches; resolves once each has its first list. Throws after
   * `timeoutMs` without one (CRDs not installed, apiserver unreachable, no
   * permission), so a misconfigured process fails at start with a reason.
   */
  async start(timeoutMs = 60_000): Promise<void> {
    const synced = await Promise.all([this.#jobs.start(timeoutMs), this.#workflows.start(timeoutMs)]);
    if (synced.includes(false)) {
      await this.stop();
      throw new Error(
        `the WorkflowJob and Workflow caches of namespace ${this.namespace} did not sync within ${timeoutMs} ms: are the CRDs installed, the apiserver reachable, and list/watch allowed?`,
      );
    }
  }

  /** Keeps the per-workflow index of job names (spec.workflowName is immutable). */
  #index(job: WorkflowJob, present: boolean): void {
    const name = job.metadata?.name;
    const workflow = job.spec?.workflowName;
    if (name === undefined || workflow === undefined) return;
    let names = this.#byWorkflow.get(workflow);
    if (present) {
      if (names === undefined) {
        names = new Set();
        this.#byWorkflow.set(workflow, names);
      }
      names.add(name);
    } else if (names !== undefined) {
      names.delete(name);
      if (names.size === 0) this.#byWorkflow.delete(workflow);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.#jobs.stop(), this.#workflows.stop()]);
    this.#listeners.clear();
  }

  /** The newest copy of a job this process knows of: its own write or the informer's. */
  getJob(name: string): WorkflowJob | undefined {
    const cached = this.#jobs.get(name);
    const written = this.#written.get(name);
    if (written === undefined) return cached;
    if (cached !== undefined && resourceVersion(cached) >= resourceVersion(written)) return cached;
    return written;
  }

  /** The runs of one workflow of one user (from the cache's per-workflow index). */
  listJobs(userId: string, workflowId: string): WorkflowJob[] {
    const jobs: WorkflowJob[] = [];
    for (const name of this.#byWorkflow.get(workflowId) ?? []) {
      const job = this.getJob(name);
      if (job !== undefined && job.spec.userId === userId && job.spec.workflowName === workflowId)
        jobs.push(job);
    }
    return jobs;
  }

  /** Calls `listener` with the job's newest copy (undefined once deleted) whenever it changes. */
  watchJob(name: string, listener: JobListener): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(name);
    };
  }

  #remember(job: WorkflowJob): WorkflowJob {
    const name = job.metadata.name ?? "";
    const cached = this.#jobs.get(name);
    if (cached === undefined || resourceVersion(cached) < resourceVersion(job)) {
      this.#written.set(name, job);
      this.#index(job, true);
      const listeners = this.#listeners.get(name);
      for (const listener of listeners ?? []) listener(job);
    }
    return job;
  }

  /** Creates the job; when an object of that name exists already (a retry), returns that one. */
  async createJob(body: NewWorkflowJob): Promise<{ job: WorkflowJob; created: boolean }> {
    const { group, version, plural } = workflowJobResource;
    try {
      const job = (await this.#custom.createNamespacedCustomObject({
        group,
        version,
        namespace: this.namespace,
        plural,
        body,
      })) as WorkflowJob;
      return { job: this.#remember(job), created: true };
    } catch (error) {
      if (statusCode(error) !== 409) throw error;
      const existing = await this.fetchJob(body.metadata.name);
      if (existing === undefined) throw error;
      return { job: existing, created: false };
    }
  }

  /** Reads a job from the apiserver (not the cache); undefined when absent. */
  async fetchJob(name: string): Promise<WorkflowJob | undefined> {
    const { group, version, plural } = workflowJobResource;
    try {
      const job = (await this.#custom.getNamespacedCustomObject({
        group,
        version,
        namespace: this.namespace,
        plural,
        name,
      })) as WorkflowJob;
      return this.#remember(job);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Replaces the job's status through the status subresource. The object's
   * resourceVersion makes it a compare-and-set: a concurrent write fails with
   * HTTP 409 (see isConflict) and the caller re-reads and retries.
   */
  async replaceStatus(job: WorkflowJob): Promise<WorkflowJob> {
    const { group, version, plural } = workflowJobResource;
    const updated = (await this.#custom.replaceNamespacedCustomObjectStatus({
      group,
      version,
      namespace: this.namespace,
      plural,
      name: job.metadata.name ?? "",
      body: job,
    })) as WorkflowJob;
    return this.#remember(updated);
  }

  /** A workflow from the cache, confirmed with a GET when the cache does not have it. */
  async getWorkflow(name: string): Promise<Workflow | undefined> {
    return this.#workflows.get(name) ?? (await this.fetchWorkflow(name));
  }

  /** A workflow read from the apiserver (for checks that must not act on a stale copy). */
  async fetchWorkflow(name: string): Promise<Workflow | undefined> {
    const { group, version, plural } = workflowResource;
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group,
        version,
        namespace: this.namespace,
        plural,
        name,
      })) as Workflow;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
