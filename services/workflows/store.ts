// Workflow objects in Kubernetes: writes go to the kube-apiserver with
// optimistic concurrency (resourceVersion; a 409 re-reads and re-decides, a
// few times, then Aborted); reads come from the informer cache (./cache.ts).
// Read-your-writes: a write returns once the cache has applied its
// resourceVersion, waiting at most `readYourWritesTimeoutMs`; if the cache is
// slower than that, reads go to the apiserver until it has caught up.
import * as k8s from "@kubernetes/client-node";
import {
  apiVersion,
  labels,
  type Workflow,
  type WorkflowJob,
  type WorkflowSpec,
  type WorkflowStatus,
  workflowJobResource,
  workflowResource,
} from "../../operator/api/v1alpha1/index.ts";
import { Aborted, InvalidArgument, NotFound } from "../../src/grpc/errors.ts";
import { compareResourceVersions, ObjectCache } from "../../src/kube/object-cache.ts";
import type { Logger } from "../../src/logging.ts";
import { requestFieldForSpecPath } from "./domain.ts";

export interface WorkflowStoreOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  logger: Logger;
  readYourWritesTimeoutMs?: number;
  /** Attempts of a read-decide-write cycle before Aborted. */
  maxAttempts?: number;
}

/** What one write changes: a new spec, and/or a function of the current status. */
export interface Change {
  spec?: WorkflowSpec;
  status?: (status: WorkflowStatus, workflow: Workflow) => WorkflowStatus;
}

export interface WorkflowStore {
  /** Starts the cache; resolves after the first list or when `timeoutMs` passes. */
  start(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** A workflow by id (cache, or the apiserver while the cache lags behind a write). */
  get(id: string): Promise<Workflow | undefined>;
  /** All workflows of a user. */
  listByUser(userId: string): Promise<Workflow[]>;
  /**
   * Creates the Workflow named `id`. If it exists already and belongs to the
   * same user (a retried create), returns it.
   */
  create(id: string, spec: WorkflowSpec): Promise<{ workflow: Workflow; created: boolean }>;
  /**
   * Reads the workflow (NotFound when absent), asks `decide` what to change (it may throw, or return
   * undefined for "nothing"), and writes the spec, then the status; on a
   * conflict re-reads and repeats. Returns the workflow as written.
   */
  mutate(id: string, decide: (workflow: Workflow) => Change | undefined): Promise<Workflow>;
  /** Deletes the workflow if `check` (run on the current object) allows it; children go by owner references. */
  delete(id: string, check: (workflow: Workflow) => void): Promise<boolean>;
  /** Whether a run of the workflow is RUNNING. */
  hasRunningJobs(id: string): Promise<boolean>;
}

/**
 * A write the apiserver refused as invalid (422: the CRD's schema or CEL
 * rules) becomes InvalidArgument naming the request field; the domain rules
 * normally catch these first.
 */
function invalidFromApiserver(error: unknown): unknown {
  if (!(error instanceof k8s.ApiException) || error.code !== 422) return error;
  let body: { message?: string; details?: { causes?: { field?: string; message?: string }[] } } = {};
  try {
    body = typeof error.body === "string" ? JSON.parse(error.body) : (error.body as typeof body);
  } catch {
    // not a Status: keep the defaults
  }
  const cause = body.details?.causes?.[0];
  const field = requestFieldForSpecPath(cause?.field ?? "");
  return new InvalidArgument(
    field,
    `rejected by the Workflow schema: ${cause?.message ?? body.message ?? "invalid"}`,
  );
}

export function isConflict(error: unknown): boolean {
  return error instanceof k8s.ApiException && error.code === 409;
}

function isNotFound(error: unknown): boolean {
  return error instanceof k8s.ApiException && error.code === 404;
}

export function createWorkflowStore(options: WorkflowStoreOptions): WorkflowStore {
  const { kc, namespace, logger } = options;
  const rywTimeoutMs = options.readYourWritesTimeoutMs ?? 5_000;
  const maxAttempts = options.maxAttempts ?? 10;
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const base = {
    group: workflowResource.group,
    version: workflowResource.version,
    namespace,
    plural: workflowResource.plural,
  };

  const cache = new ObjectCache<Workflow>({
    kc,
    name: "workflows",
    path: `/apis/${base.group}/${base.version}/namespaces/${namespace}/${base.plural}`,
    list: async () => (await api.listNamespacedCustomObject(base)) as { items: Workflow[] },
    logger,
  });

  /** The newest write this process made that the cache had not reached in time. */
  let lagging = "";
  /** Names deleted by this process that the cache still holds. */
  const tombstones = new Set<string>();

  const cacheUsable = (): boolean => cache.synced && (lagging === "" || cache.hasReached(lagging));

  async function direct(id: string): Promise<Workflow | undefined> {
    try {
      return (await api.getNamespacedCustomObject({ ...base, name: id })) as Workflow;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async function afterWrite(written: Workflow): Promise<void> {
    const rv = written.metadata.resourceVersion ?? "";
    const name = written.metadata.name ?? "";
    const reached = (): boolean => {
      if (cache.hasReached(rv)) return true;
      // Non-numeric resourceVersions (not etcd): settle for seeing this object's version.
      return (
        compareResourceVersions(rv, rv) === undefined && cache.get(name)?.metadata.resourceVersion === rv
      );
    };
    if (!(await cache.waitUntil(reached, rywTimeoutMs))) {
      logger.warn({ workflow_id: name, resourceVersion: rv }, "cache behind a write; reading the apiserver");
      if (lagging === "" || (compareResourceVersions(rv, lagging) ?? 1) > 0) lagging = rv;
    }
  }

  async function current(id: string, attempt: number): Promise<Workflow | undefined> {
    if (attempt === 0 && cacheUsable() && !tombstones.has(id)) return cache.get(id);
    return direct(id);
  }

  async function writeStatus(workflow: Workflow, change: NonNullable<Change["status"]>): Promise<Workflow> {
    let target: Workflow | undefined = workflow;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (target === undefined) return workflow;
      const status = change(structuredClone(target.status ?? {}), target);
      if (JSON.stringify(status) === JSON.stringify(target.status ?? {})) return target;
      try {
        return (await api.replaceNamespacedCustomObjectStatus({
          ...base,
          name: target.metadata.name ?? "",
          body: { ...target, status },
        })) as Workflow;
      } catch (error) {
        if (!isConflict(error)) throw invalidFromApiserver(error);
        await jitter(attempt);
        target = await direct(target.metadata.name ?? "");
      }
    }
    throw new Aborted("the workflow's status was changed concurrently too often; try again");
  }

  return {
    async start(timeoutMs = 10_000) {
      if (!(await cache.start(timeoutMs))) {
        logger.warn({ namespace }, "workflow cache not synced yet; reads go to the apiserver until it is");
      }
    },

    async close() {
      await cache.stop();
    },

    async get(id) {
      if (tombstones.has(id)) {
        if (cache.get(id) === undefined) tombstones.delete(id);
        else return undefined;
      }
      return cacheUsable() ? cache.get(id) : direct(id);
    },

    async listByUser(userId) {
      const items = cacheUsable()
        ? cache.list()
        : ((
            (await api.listNamespacedCustomObject({
              ...base,
              labelSelector: `${labels.userId}=${userId}`,
            })) as { items: Workflow[] }
          ).items ?? []);
      return items.filter(
        (w) =>
          w.spec?.userId === userId &&
          !tombstones.has(w.metadata.name ?? "") &&
          !w.metadata.deletionTimestamp,
      );
    },

    async create(id, spec) {
      const body: Workflow = {
        apiVersion,
        kind: "Workflow",
        metadata: {
          name: id,
          namespace,
          labels: {
            [labels.userId]: spec.userId,
            [labels.workflowId]: id,
            "app.kubernetes.io/part-of": "chronoverse",
          },
        },
        spec,
      };
      let workflow: Workflow;
      let created = true;
      try {
        workflow = (await api.createNamespacedCustomObject({ ...base, body })) as Workflow;
      } catch (error) {
        if (!isConflict(error)) throw invalidFromApiserver(error);
        // A retry of a create that got through before (same id from the idempotency claim).
        const existing = await direct(id);
        if (existing === undefined || existing.spec.userId !== spec.userId) throw error;
        workflow = existing;
        created = false;
      }
      await afterWrite(workflow);
      return { workflow, created };
    },

    async mutate(id, decide) {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const workflow = await current(id, attempt);
        if (workflow === undefined) throw new NotFound("workflow not found");
        const change = decide(structuredClone(workflow));
        if (change === undefined) return workflow;
        let written = workflow;
        if (change.spec !== undefined && JSON.stringify(change.spec) !== JSON.stringify(workflow.spec)) {
          try {
            written = (await api.replaceNamespacedCustomObject({
              ...base,
              name: id,
              body: { ...workflow, spec: change.spec },
            })) as Workflow;
          } catch (error) {
            if (!isConflict(error)) throw invalidFromApiserver(error);
            await jitter(attempt);
            continue;
          }
        }
        if (change.status !== undefined) written = await writeStatus(written, change.status);
        if (written !== workflow) await afterWrite(written);
        return written;
      }
      throw new Aborted("the workflow was changed concurrently too often; try again");
    },

    async delete(id, check) {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const workflow = await current(id, attempt);
        if (workflow === undefined) return false;
        check(workflow);
        try {
          await api.deleteNamespacedCustomObject({
            ...base,
            name: id,
            propagationPolicy: "Background",
            body: { preconditions: { resourceVersion: workflow.metadata.resourceVersion ?? "" } },
          });
        } catch (error) {
          if (isNotFound(error)) return false;
          if (!isConflict(error)) throw error;
          await jitter(attempt);
          continue;
        }
        tombstones.add(id);
        if (await cache.waitUntil(() => cache.get(id) === undefined, rywTimeoutMs)) tombstones.delete(id);
        return true;
      }
      throw new Aborted("the workflow was changed concurrently too often; try again");
    },

    async hasRunningJobs(id) {
      const { items } = (await api.listNamespacedCustomObject({
        group: workflowJobResource.group,
        version: workflowJobResource.version,
        namespace,
        plural: workflowJobResource.plural,
        labelSelector: `${labels.workflowId}=${id}`,
      })) as { items: WorkflowJob[] };
      return (items ?? []).some((job) => job.status?.phase === "RUNNING");
    },
  };
}

/** A short random pause between conflicting attempts, so racing writers spread out. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(200, 10 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
