// Shared setup of the workflows integration tests: the CRDs installed on the
// real apiserver, a namespace of the file's own, the WorkflowsService over
// real gRPC and a real (fresh) Postgres database, and small call helpers.
import type { Metadata } from "@grpc/grpc-js";
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import {
  type CreateWorkflowRequest,
  type GetWorkflowResponse,
  type ListWorkflowsFilters,
  type ListWorkflowsResponse,
  type UpdateWorkflowRequest,
  WorkflowsServiceClient,
} from "../../../gen/workflows/workflows.ts";
import { labels, type Workflow, workflowResource } from "../../../operator/api/v1alpha1/index.ts";
import { type WorkflowsServiceOptions, workflowsServiceFactory } from "../../../services/workflows/server.ts";
import { installCrds } from "../../support/crds.ts";
import { startTestService, type TestService, unary } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";

export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface WorkflowsHarness {
  svc: TestService;
  client: WorkflowsServiceClient;
  ns: TestNamespace;
  kc: k8s.KubeConfig;
  api: k8s.CustomObjectsApi;
  /** A fresh user id and its token metadata. */
  newUser(): Promise<{ userId: string; md: Metadata }>;
  service(): Promise<Metadata>;
  create(
    userId: string,
    md: Metadata,
    overrides?: Partial<CreateWorkflowRequest>,
  ): Promise<{ id: string; request: CreateWorkflowRequest }>;
  get(id: string, userId: string, md: Metadata): Promise<GetWorkflowResponse>;
  update(request: UpdateWorkflowRequest, md: Metadata): Promise<unknown>;
  list(
    userId: string,
    md: Metadata,
    filters?: Partial<ListWorkflowsFilters>,
    cursor?: string,
  ): Promise<ListWorkflowsResponse>;
  /** The Workflow object as the apiserver has it. */
  object(id: string): Promise<Workflow>;
  stop(): Promise<void>;
}

export function containerRequest(
  userId: string,
  overrides: Partial<CreateWorkflowRequest> = {},
): CreateWorkflowRequest {
  return {
    user_id: userId,
    name: "nightly report",
    kind: "CONTAINER",
    payload: JSON.stringify({
      image: "busybox:1.36",
      cmd: ["echo", "hello"],
      env: { MODE: "test" },
      timeout: "45s",
    }),
    interval: 15,
    max_consecutive_job_failures_allowed: 5,
    idempotency_key: uuidv7(),
    ...overrides,
  };
}

export async function startWorkflows(options: WorkflowsServiceOptions = {}): Promise<WorkflowsHarness> {
  const kc = testKubeConfig();
  await installCrds(kc);
  const ns = await createTestNamespace(kc, "wf");
  let svc: TestService;
  try {
    svc = await startTestService(workflowsServiceFactory({ kubeConfig: kc, ...options }), {
      env: { CHRONOVERSE_NAMESPACE: ns.name },
    });
  } catch (error) {
    await ns.remove();
    throw error;
  }
  const client = svc.client(WorkflowsServiceClient);
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const harness: WorkflowsHarness = {
    svc,
    client,
    ns,
    kc,
    api,
    async newUser() {
      const userId = uuidv7();
      return { userId, md: await svc.userMetadata(userId) };
    },
    service: () => svc.serviceMetadata("operator"),
    async create(userId, md, overrides = {}) {
      const request = containerRequest(userId, overrides);
      const { response } = await unary(client, client.createWorkflow, request, md);
      return { id: response.id, request };
    },
    async get(id, userId, md) {
      return (await unary(client, client.getWorkflow, { id, user_id: userId }, md)).response;
    },
    async update(request, md) {
      return (await unary(client, client.updateWorkflow, request, md)).response;
    },
    async list(userId, md, filters, cursor = "") {
      const request = {
        user_id: userId,
        cursor,
        ...(filters
          ? {
              filters: {
                query: "",
                kind: "",
                build_status: "",
                is_terminated: false,
                interval_min: 0,
                interval_max: 0,
                ...filters,
              },
            }
          : {}),
      };
      return (await unary(client, client.listWorkflows, request, md)).response;
    },
    async object(id) {
      return (await api.getNamespacedCustomObject({
        group: workflowResource.group,
        version: workflowResource.version,
        namespace: ns.name,
        plural: workflowResource.plural,
        name: id,
      })) as Workflow;
    },
    async stop() {
      await svc.stop();
      await ns.remove();
    },
  };
  return harness;
}

export { labels };
