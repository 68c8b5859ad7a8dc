// Runs the operator in-process against the local control plane, scoped to one
// test namespace, with lease timings and back-off short enough for tests; and
// small readers for the objects the tests look at.
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { v7 as uuidv7 } from "uuid";
import type { Workflow, WorkflowSpec } from "../../../operator/api/v1alpha1/workflow.ts";
import type { OperatorConfig } from "../../../operator/config.ts";
import { defaultPodSettings } from "../../../operator/controllers/cronjob-for-workflow.ts";
import { type RunningOperator, runOperator } from "../../../operator/main.ts";

export const userId = "0192f0a4-1111-7000-8000-00000000abcd";

export function startOperator(
  kc: k8s.KubeConfig,
  namespace: string,
  overrides: Partial<OperatorConfig> = {},
): Promise<RunningOperator> {
  return runOperator({
    namespace,
    identity: overrides.identity ?? "operator-test",
    leaseName: "chronoverse-operator",
    lease: { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
    workers: 2,
    resyncMs: 0,
    metricsPort: 0,
    probePort: 0,
    host: "127.0.0.1",
    pods: { ...defaultPodSettings, image: "chronoverse:test" },
    logLevel: "warn",
    backoff: { baseMs: 100, maxMs: 2_000 },
    kubeConfig: kc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    ...overrides,
  });
}

/** A fresh workflow name: a lower-case v7 UUID, as the workflows service makes. */
export function newId(): string {
  return uuidv7();
}

export function heartbeatSpec(spec: Partial<WorkflowSpec> = {}): WorkflowSpec {
  return {
    userId,
    displayName: "ping",
    kind: "HEARTBEAT",
    heartbeat: { endpoint: "https://example.com/health", expectedStatusCode: 200, timeoutSeconds: 10 },
    intervalMinutes: 5,
    maxConsecutiveFailures: 3,
    logRetention: false,
    terminated: false,
    ...spec,
  };
}

export function containerSpec(spec: Partial<WorkflowSpec> = {}): WorkflowSpec {
  return {
    userId,
    displayName: "job",
    kind: "CONTAINER",
    container: {
      image: "busybox:1.36",
      command: ["echo", "hi"],
      env: { GREETING: "hello" },
      timeoutSeconds: 60,
    },
    intervalMinutes: 120,
    maxConsecutiveFailures: 3,
    logRetention: true,
    terminated: false,
    ...spec,
  };
}

export class Workflows {
  readonly #custom: k8s.CustomObjectsApi;
  readonly #namespace: string;

  constructor(kc: k8s.KubeConfig, namespace: string) {
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#namespace = namespace;
  }

  async create(name: string, spec: WorkflowSpec): Promise<Workflow> {
    return (await this.#custom.createNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: this.#namespace,
      plural: "workflows",
      body: {
        apiVersion: "chronoverse.dev/v1alpha1",
        kind: "Workflow",
        metadata: {
          name,
          labels: { "chronoverse.dev/user-id": spec.userId, "chronoverse.dev/workflow-id": name },
        },
        spec,
      },
    })) as Workflow;
  }

  async get(name: string): Promise<Workflow> {
    return (await this.#custom.getNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: this.#namespace,
      plural: "workflows",
      name,
    })) as Workflow;
  }

  /** Merge-patches the spec, as the workflows service (or kubectl) would. */
  async patchSpec(name: string, spec: Record<string, unknown>): Promise<Workflow> {
    return (await this.#custom.patchNamespacedCustomObject(
      {
        group: "chronoverse.dev",
        version: "v1alpha1",
        namespace: this.#namespace,
        plural: "workflows",
        name,
        body: { spec },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )) as Workflow;
  }

  async delete(name: string): Promise<void> {
    await this.#custom.deleteNamespacedCustomObject({
      group: "chronoverse.dev",
      version: "v1alpha1",
      namespace: this.#namespace,
      plural: "workflows",
      name,
    });
  }
}

/** The CronJob of a workflow, or undefined when there is none. */
export async function readCronJob(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<k8s.V1CronJob | undefined> {
  try {
    return await kc.makeApiClient(k8s.BatchV1Api).readNamespacedCronJob({ name, namespace });
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Events recorded on an object, oldest first. */
export async function eventsFor(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<k8s.CoreV1Event[]> {
  const list = await kc
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

/** The status of a workflow as one line, for wait messages. */
export function statusOf(workflow: Workflow): string {
  return JSON.stringify(workflow.status ?? {});
}
