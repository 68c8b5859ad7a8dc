// The operator's configuration: one typed object, read from the environment
// once at start and validated with messages that name the variable. Defaults
// are listed in docs/operator.md.

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type Env, EnvReader, readNamespaceFile } from "../src/env.ts";
import { LOG_LEVELS, type LogLevel } from "../src/logging.ts";
import { defaultPodSettings, type PodSettings } from "./controllers/cronjob-for-workflow.ts";
import type { RunCompletionSettings } from "./controllers/run-completion.ts";
import { defaultStartTimeoutMs } from "./controllers/run-phase.ts";
import type { WorkflowControllerHooks } from "./controllers/workflow.ts";
import type { BackoffOptions } from "./runtime/backoff.ts";
import {
  defaultIdentity,
  defaultLeaseTimings,
  type LeaseTimings,
  validateTimings,
} from "./runtime/leader-election.ts";

export interface OperatorConfig {
  /** Namespace holding this installation's Workflows (and where the Lease lives). */
  namespace: string;
  /** This replica's name in the Lease (the Pod name in a cluster). */
  identity: string;
  leaseName: string;
  lease: LeaseTimings;
  /** Reconciles running at once per controller. */
  workers: number;
  /** How often every object is reconciled without a change. */
  resyncMs: number;
  /** Port for /metrics (0: any free port). */
  metricsPort: number;
  /** Port for /healthz and /readyz (0: any free port). */
  probePort: number;
  /** Interface the two HTTP servers bind to. */
  host: string;
  pods: PodSettings;
  logLevel: LogLevel;
  backoff?: BackoffOptions;
  /** Cluster access; default: in-cluster service account, else $KUBECONFIG / ~/.kube/config. */
  kubeConfig?: k8s.KubeConfig;
  logger?: Logger;
  hooks?: WorkflowControllerHooks;
  /**
   * Called when the controllers did not stop within the Lease's margin after
   * leadership ended (`chronoverse operator` exits, so that no reconcile runs
   * beside the next leader's).
   */
  onStopTimeout?: () => void;
  /** Finished WorkflowJobs kept per workflow (OPERATOR_RUN_HISTORY_LIMIT, default 10). */
  runHistoryLimit?: number;
  /**
   * End-of-run actions (failure counts, notifications, analytics, log
   * retention, history): need Postgres and the notifications service; off
   * when absent (runOperatorCommand builds it when DATABASE_URL is set).
   */
  runCompletion?: RunCompletionSettings;
}

/** A variable holding JSON of a given shape; a problem is recorded when it has another. */
function jsonSetting<T>(
  reader: EnvReader,
  name: string,
  isShape: (value: unknown) => value is T,
  shape: string,
): T | undefined {
  const raw = reader.get(name);
  if (raw === undefined || raw.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (isShape(value)) return value;
  reader.problems.push(`${name}=${JSON.stringify(raw)}: must be ${shape}`);
  return undefined;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

const tolerationFields: Record<string, string> = {
  key: "string",
  operator: "string",
  value: "string",
  effect: "string",
  tolerationSeconds: "number",
};

function isTolerationList(value: unknown): value is k8s.V1Toleration[] {
  return (
    Array.isArray(value) &&
    value.every(
      (item) =>
        typeof item === "object" &&
        item !== null &&
        !Array.isArray(item) &&
        Object.entries(item).every(([field, v]) => tolerationFields[field] === typeof v),
    )
  );
}

export class OperatorConfigError extends Error {
  override name = "OperatorConfigError";
}

/** Reads the configuration from the environment; throws listing every problem. */
export function loadOperatorConfig(env: Env = process.env): OperatorConfig {
  const reader = new EnvReader(env);
  const { problems } = reader;
  const get = (name: string): string | undefined => reader.get(name);
  const int = (name: string, fallback: number, min: number, max: number): number =>
    reader.integer(name, fallback, min, max);
  const lease: LeaseTimings = {
    leaseDurationMs: int("OPERATOR_LEASE_DURATION_MS", defaultLeaseTimings.leaseDurationMs, 1000, 600_000),
    renewDeadlineMs: int("OPERATOR_RENEW_DEADLINE_MS", defaultLeaseTimings.renewDeadlineMs, 500, 600_000),
    retryPeriodMs: int("OPERATOR_RETRY_PERIOD_MS", defaultLeaseTimings.retryPeriodMs, 100, 600_000),
  };
  if (get("OPERATOR_LEASE_REQUEST_TIMEOUT_MS") !== undefined) {
    lease.requestTimeoutMs = int("OPERATOR_LEASE_REQUEST_TIMEOUT_MS", lease.renewDeadlineMs, 100, 600_000);
  }
  try {
    validateTimings(lease);
  } catch (error) {
    problems.push(
      `OPERATOR_LEASE_DURATION_MS/OPERATOR_RENEW_DEADLINE_MS/OPERATOR_RETRY_PERIOD_MS/OPERATOR_LEASE_REQUEST_TIMEOUT_MS: ${(error as Error).message}`,
    );
  }
  const config: OperatorConfig = {
    namespace: get("CHRONOVERSE_NAMESPACE") ?? get("POD_NAMESPACE") ?? readNamespaceFile() ?? "default",
    identity: get("POD_NAME") ?? defaultIdentity(),
    leaseName: get("OPERATOR_LEASE_NAME") ?? "chronoverse-operator",
    lease,
    workers: int("OPERATOR_WORKERS", 4, 1, 256),
    resyncMs: int("OPERATOR_RESYNC_SECONDS", 600, 0, 86_400) * 1000,
    metricsPort: int("OPERATOR_METRICS_PORT", 8080, 0, 65_535),
    probePort: int("OPERATOR_PROBE_PORT", 8081, 0, 65_535),
    host: get("OPERATOR_HOST") ?? "0.0.0.0",
    pods: {
      image: get("CHRONOVERSE_IMAGE") ?? defaultPodSettings.image,
      allowPrivateHeartbeats: reader.boolean("CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS", false),
      resources: {
        requests: {
          cpu: get("RUN_CPU_REQUEST") ?? defaultPodSettings.resources.requests.cpu ?? "50m",
          memory: get("RUN_MEMORY_REQUEST") ?? defaultPodSettings.resources.requests.memory ?? "64Mi",
        },
        limits: {
          cpu: get("RUN_CPU_LIMIT") ?? defaultPodSettings.resources.limits.cpu ?? "500m",
          memory: get("RUN_MEMORY_LIMIT") ?? defaultPodSettings.resources.limits.memory ?? "256Mi",
        },
      },
    },
    logLevel: (get("LOG_LEVEL") ?? "info").toLowerCase() as LogLevel,
    runHistoryLimit: int("OPERATOR_RUN_HISTORY_LIMIT", 10, 1, 1000),
  };
  if (!(LOG_LEVELS as readonly string[]).includes(config.logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(config.logLevel)}: must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const quantity = /^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
  for (const [variable, value] of [
    ["RUN_CPU_REQUEST", config.pods.resources.requests.cpu],
    ["RUN_MEMORY_REQUEST", config.pods.resources.requests.memory],
    ["RUN_CPU_LIMIT", config.pods.resources.limits.cpu],
    ["RUN_MEMORY_LIMIT", config.pods.resources.limits.memory],
  ] as const) {
    if (!quantity.test(value ?? ""))
      problems.push(`${variable}=${JSON.stringify(value)}: must be a Kubernetes quantity like 100m or 64Mi`);
  }
  const nodeSelector = jsonSetting(
    reader,
    "RUN_NODE_SELECTOR",
    isStringMap,
    "a JSON object of label → value",
  );
  if (nodeSelector !== undefined) config.pods.nodeSelector = nodeSelector;
  const tolerations = jsonSetting(reader, "RUN_TOLERATIONS", isTolerationList, "a JSON list of tolerations");
  if (tolerations !== undefined) config.pods.tolerations = tolerations;
  config.pods.startTimeoutMs = reader.duration("RUN_START_TIMEOUT", defaultStartTimeoutMs);
  if (problems.length > 0)
    throw new OperatorConfigError(`invalid operator configuration:\n  ${problems.join("\n  ")}`);
  return config;
}
