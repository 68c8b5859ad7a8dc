// WorkflowsService (port 50052): thin RPC handlers over the rules in
// ./domain.ts, Workflow objects in ./store.ts (writes to the apiserver, reads
// from the informer cache) and idempotency keys in ./idempotency.ts.
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import { type WorkflowsServiceServer, WorkflowsServiceService } from "../../gen/workflows/workflows.ts";
import type { Workflow, WorkflowStatus } from "../../operator/api/v1alpha1/index.ts";
import { FailedPrecondition, NotFound, ResourceExhausted } from "../../src/grpc/errors.ts";
import { type CallContext, requireSameUser } from "../../src/grpc/handlers.ts";
import { KeyedSerializer } from "../../src/grpc/limits.ts";
import type { ServiceFactory, ServiceInstance } from "../../src/grpc/service.ts";
import { createAnalyticsRecorder } from "../analytics/recorder.ts";
import {
  buildStatusOf,
  buildUnfinished,
  canonicalJson,
  decodeCursor,
  type PayloadRules,
  pageOf,
  parseListFilter,
  planUpdate,
  requireId,
  requireIdempotencyKey,
  specForCreate,
  toGetWorkflowByIdResponse,
  toGetWorkflowResponse,
  toListItem,
  validateBuildStatus,
  validateUpdate,
} from "./domain.ts";
import { createIdempotencyKeys } from "./idempotency.ts";
import { createWorkflowStore } from "./store.ts";

export const WORKFLOWS_SERVICE_NAME = "workflows.WorkflowsService";

export interface WorkflowsServiceOptions {
  /** Defaults to KUBECONFIG / in-cluster configuration. */
  kubeConfig?: k8s.KubeConfig;
  /** Heartbeats to loopback/private/cluster-internal addresses; default: config.allowPrivateHeartbeats. */
  allowPrivateHeartbeats?: boolean;
  /** How long a write waits for the cache to reach it (default 5 s). */
  readYourWritesTimeoutMs?: number;
}

/** Owned by the caller's user, else NotFound (never say that it exists). */
function owned(workflow: Workflow | undefined, userId: string): Workflow {
  if (workflow === undefined || workflow.spec.userId !== userId) throw new NotFound("workflow not found");
  return workflow;
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

/** Status after terminating: terminated time set once, an unfinished build canceled. */
function terminatedStatus(status: WorkflowStatus): WorkflowStatus {
  const build = status.buildStatus ?? "QUEUED";
  return {
    ...status,
    terminatedAt: status.terminatedAt ?? now(),
    buildStatus: buildUnfinished(build) ? "CANCELED" : build,
  };
}

/** A factory for `chronoverse serve`, with options for tests. */
export function workflowsServiceFactory(options: WorkflowsServiceOptions = {}): ServiceFactory {
  return async ({ handlers, database, config, logger }): Promise<ServiceInstance> => {
    const kc = options.kubeConfig ?? loadKubeConfig();
    const rules: PayloadRules = {
      allowPrivateHeartbeats: options.allowPrivateHeartbeats ?? config.allowPrivateHeartbeats,
    };
    const db = database();
    const keys = createIdempotencyKeys(db);
    const analytics = createAnalyticsRecorder(db);
    const store = createWorkflowStore({
      kc,
      namespace: config.namespace,
      logger: logger.child({ component: "workflow-store" }),
      ...(options.readYourWritesTimeoutMs !== undefined
        ? { readYourWritesTimeoutMs: options.readYourWritesTimeoutMs }
        : {}),
    });
    await store.start();
    // CreateWorkflow counts, then creates, one at a time per user (see the quota below).
    const createsByUser = new KeyedSerializer();
    const maxWorkflows = config.limits.workflowsPerUser;
    const pruner = setInterval(() => {
      keys.prune().catch((error: unknown) => logger.warn({ err: error }, "pruning idempotency keys failed"));
    }, 3_600_000);
    pruner.unref();

    /** Terminates the workflow; true when this call did it (it was active). */
    async function terminate(id: string, userId: string): Promise<boolean> {
      let didIt = false;
      await store.mutate(id, (workflow) => {
        owned(workflow, userId);
        didIt = !workflow.spec.terminated;
        if (workflow.spec.terminated && workflow.status?.terminatedAt) return undefined;
        return { spec: { ...workflow.spec, terminated: true }, status: terminatedStatus };
      });
      return didIt;
    }

    const userAndId = (context: CallContext, request: { id: string; user_id: string }) => {
      requireSameUser(context, request.user_id);
      return { userId: requireId("user_id", request.user_id), id: requireId("id", request.id) };
    };

    const implementation: WorkflowsServiceServer = {
      createWorkflow: handlers.unary("user", async (request, context) => {
        requireSameUser(context, request.user_id);
        const spec = specForCreate(request, rules);
        const key = requireIdempotencyKey(request.idempotency_key);
        return keys.run(
          {
            userId: spec.userId,
            operation: "CreateWorkflow",
            key,
            request: canonicalJson(spec),
            resourceId: uuidv7(),
          },
          async (id) =>
            createsByUser.run(spec.userId, async () => {
              // Every Workflow object of the user counts, terminated ones too, until
              // deleted; `id` itself may exist already (a create taken over after a crash).
              if (maxWorkflows > 0) {
                const others = (await store.listByUser(spec.userId)).filter((w) => w.metadata.name !== id);
                if (others.length >= maxWorkflows) {
                  throw new ResourceExhausted(
                    `workflows: this user has ${others.length}, the most allowed per user is ${maxWorkflows} (CHRONOVERSE_MAX_WORKFLOWS_PER_USER); delete a terminated workflow to make room`,
                  );
                }
              }
              const { created } = await store.create(id, spec);
              if (created) context.logger.info({ workflow_id: id, kind: spec.kind }, "workflow created");
              await analytics.recordWorkflowCreated(spec.userId, id).catch((error: unknown) => {
                // Not fatal: the operator counts the workflow (idempotently) when its first run finishes.
                context.logger.warn({ err: error, workflow_id: id }, "analytics: workflow not counted yet");
              });
              return { id };
            }),
        );
      }),

      updateWorkflow: handlers.unary("user", async (request, context) => {
        const { userId, id } = userAndId(context, request);
        const key = requireIdempotencyKey(request.idempotency_key);
        const existing = owned(await store.get(id), userId);
        const fields = validateUpdate(request, existing.spec.kind, rules);
        return keys.run(
          {
            userId,
            operation: "UpdateWorkflow",
            key,
            request: canonicalJson({ id, fields }),
            resourceId: id,
          },
          async () => {
            await store.mutate(id, (workflow) => {
              const plan = planUpdate(owned(workflow, userId).spec, fields);
              return {
                spec: plan.spec,
                status: (status) => {
                  const next: WorkflowStatus = { ...status, consecutiveFailures: 0 };
                  delete next.terminatedAt;
                  if (plan.rebuild) next.buildStatus = "QUEUED";
                  return next;
                },
              };
            });
            context.logger.info({ workflow_id: id }, "workflow updated");
            return {};
          },
        );
      }),

      updateWorkflowBuildStatus: handlers.unary("internal", async (request) => {
        const id = requireId("id", request.id);
        const userId = requireId("user_id", request.user_id);
        const buildStatus = validateBuildStatus(request.build_status);
        const generation = Number(request.generation);
        await store.mutate(id, (workflow) => {
          owned(workflow, userId);
          // A status for an older spec than the current one is stale: ignore it.
          if (generation !== 0 && generation !== (workflow.metadata.generation ?? 0)) return undefined;
          if (buildStatusOf(workflow) === buildStatus) return undefined;
          return { status: (status) => ({ ...status, buildStatus }) };
        });
        return {};
      }),

      getWorkflow: handlers.unary("user", async (request, context) => {
        const { userId, id } = userAndId(context, request);
        return toGetWorkflowResponse(owned(await store.get(id), userId));
      }),

      getWorkflowById: handlers.unary("internal", async (request) => {
        const id = requireId("id", request.id);
        const workflow = await store.get(id);
        if (workflow === undefined) throw new NotFound("workflow not found");
        return toGetWorkflowByIdResponse(workflow);
      }),

      incrementWorkflowConsecutiveJobFailuresCount: handlers.unary("internal", async (request, context) => {
        const id = requireId("id", request.id);
        const userId = requireId("user_id", request.user_id);
        const jobId = requireId("job_id", request.job_id);
        owned(await store.get(id), userId);
        return keys.run(
          {
            userId,
            operation: "IncrementWorkflowConsecutiveJobFailuresCount",
            key: `${id}/${jobId}`,
            request: `${id}/${jobId}`,
            resourceId: id,
          },
          async () => {
            const workflow = await store.mutate(id, (current) => {
              owned(current, userId);
              return {
                status: (status) => ({
                  ...status,
                  consecutiveFailures: (status.consecutiveFailures ?? 0) + 1,
                }),
              };
            });
            const count = workflow.status?.consecutiveFailures ?? 0;
            let thresholdReached = false;
            if (count >= workflow.spec.maxConsecutiveFailures && !workflow.spec.terminated) {
              thresholdReached = await terminate(id, userId);
              if (thresholdReached) {
                context.logger.info(
                  { workflow_id: id, failures: count },
                  "failure threshold reached: terminated",
                );
              }
            }
            return { threshold_reached: thresholdReached };
          },
        );
      }),

      resetWorkflowConsecutiveJobFailuresCount: handlers.unary("internal", async (request) => {
        const id = requireId("id", request.id);
        const userId = requireId("user_id", request.user_id);
        await store.mutate(id, (workflow) => {
          owned(workflow, userId);
          if ((workflow.status?.consecutiveFailures ?? 0) === 0) return undefined;
          return { status: (status) => ({ ...status, consecutiveFailures: 0 }) };
        });
        return {};
      }),

      terminateWorkflow: handlers.unary("user", async (request, context) => {
        const { userId, id } = userAndId(context, request);
        if (await terminate(id, userId)) context.logger.info({ workflow_id: id }, "workflow terminated");
        return {};
      }),

      deleteWorkflow: handlers.unary("user", async (request, context) => {
        const { userId, id } = userAndId(context, request);
        const workflow = owned(await store.get(id), userId);
        if (!workflow.spec.terminated) {
          throw new FailedPrecondition("only a terminated workflow can be deleted: terminate it first", "id");
        }
        if (await store.hasRunningJobs(id)) {
          throw new FailedPrecondition(
            "the workflow still has a running job; wait until it has stopped",
            "id",
          );
        }
        const deleted = await store.delete(id, (current) => {
          owned(current, userId);
          if (!current.spec.terminated) {
            throw new FailedPrecondition(
              "only a terminated workflow can be deleted: terminate it first",
              "id",
            );
          }
        });
        if (!deleted) throw new NotFound("workflow not found");
        context.logger.info({ workflow_id: id }, "workflow deleted");
        return {};
      }),

      listWorkflows: handlers.unary("user", async (request, context) => {
        requireSameUser(context, request.user_id);
        const userId = requireId("user_id", request.user_id);
        const filter = parseListFilter(request.filters);
        const cursor = decodeCursor(request.cursor);
        const page = pageOf(await store.listByUser(userId), filter, cursor);
        return { workflows: page.items.map(toListItem), cursor: page.cursor };
      }),
    };

    return {
      name: WORKFLOWS_SERVICE_NAME,
      definition: WorkflowsServiceService,
      implementation,
      async close() {
        clearInterval(pruner);
        await store.close();
      },
    };
  };
}

function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The factory `chronoverse serve workflows` uses (configuration from the environment). */
export const createWorkflowsService: ServiceFactory = (deps) => workflowsServiceFactory()(deps);
