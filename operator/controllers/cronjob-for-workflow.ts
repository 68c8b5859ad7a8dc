// What the CronJob of a Workflow should look like: a pure function of the
// Workflow and the operator's settings, with no I/O, so that every rule
// (schedule, pod per kind, security, limits) is table-tested. The Workflow
// controller applies its result.
import type * as k8s from "@kubernetes/client-node";
import { apiVersion, labels } from "../api/v1alpha1/schema.ts";
import type { Workflow } from "../api/v1alpha1/workflow.ts";

export interface PodSettings {
  /** Image with the `chronoverse` program, run by HEARTBEAT pods. */
  image: string;
  /** Requests and limits for every run's container. */
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  /** The installation lets heartbeats reach private and cluster-internal addresses (`--allow-private`). */
  allowPrivateHeartbeats?: boolean;
  /** Where runs go: a node pool set aside for untrusted workloads (RUN_NODE_SELECTOR). */
  nodeSelector?: Record<string, string>;
  /** Taints of that pool the runs tolerate (RUN_TOLERATIONS). */
  tolerations?: k8s.V1Toleration[];
  /** How long a run's container may be unable to start (image pull, create) before the run fails (RUN_START_TIMEOUT). */
  startTimeoutMs?: number;
}

export const defaultPodSettings: PodSettings = {
  image: "chronoverse:dev",
  resources: {
    requests: { cpu: "50m", memory: "64Mi" },
    limits: { cpu: "500m", memory: "256Mi" },
  },
};

/** Seconds a HEARTBEAT pod gets beyond the HTTP timeout to start up and report. */
export const heartbeatStartupSeconds = 30;
/** Upper bound of the CronJob's start deadline (see docs/operator.md). */
export const maxStartingDeadlineSeconds = 3600;
/**
 * The user and group every run's container runs as, whatever the image's own
 * USER says (the distroless "nonroot" id). Images that run as root by default,
 * like busybox, then start under the restricted Pod Security profile instead
 * of being refused by the kubelet; see docs/operator.md ("Who a run runs as").
 */
export const runUid = 65532;

export const fieldManager = "chronoverse-operator";
export const generationAnnotation = "chronoverse.dev/workflow-generation";

export interface Schedule {
  /** The CronJob schedule: five-field cron (UTC) or `@every Nm`. */
  cron: string;
  /** True for cron forms, which run at fixed clock times; `@every` counts from the previous run. */
  clockAligned: boolean;
}

/**
 * Intervals (minutes) that one five-field cron expression repeats exactly:
 * minutes that divide an hour, hours that divide a day, a day, a week. A
 * minute step restarts every hour, an hour step every day and a day-of-month
 * step every month, so no other interval has an exact cron form.
 */
const cronForms: ReadonlyMap<number, string> = new Map<number, string>([
  [1, "* * * * *"],
  ...[2, 3, 4, 5, 6, 10, 12, 15, 20, 30].map((n) => [n, `*/${n} * * * *`] as [number, string]),
  [60, "0 * * * *"],
  ...[2, 3, 4, 6, 8, 12].map((h) => [h * 60, `0 */${h} * * *`] as [number, string]),
  [1440, "0 0 * * *"],
  [10080, "0 0 * * 0"],
]);

/**
 * The CronJob schedule for an interval: the exact cron form where one exists
 * (runs at fixed UTC clock times), `@every Nm` otherwise. The CronJob
 * controller parses schedules with robfig/cron, which accepts `@every`; it is
 * undocumented but maintained (kubernetes/kubernetes#104012, fixed by #109250)
 * and checked against the real controller by test/integration/operator/every-schedule.test.ts.
 */
export function scheduleForInterval(intervalMinutes: number): Schedule {
  if (!Number.isInteger(intervalMinutes) || intervalMinutes < 1) {
    throw new RangeError(`interval must be a positive whole number of minutes, got ${intervalMinutes}`);
  }
  const cron = cronForms.get(intervalMinutes);
  return cron === undefined
    ? { cron: `@every ${intervalMinutes}m`, clockAligned: false }
    : { cron, clockAligned: true };
}

/** Labels on the CronJob, its Jobs and their Pods: list calls select on them. */
export function workflowLabels(workflow: Workflow): Record<string, string> {
  return {
    [labels.userId]: workflow.spec.userId,
    [labels.workflowId]: workflow.metadata.name ?? "",
    "app.kubernetes.io/managed-by": fieldManager,
    "app.kubernetes.io/part-of": "chronoverse",
  };
}

export function ownerReference(workflow: Workflow): k8s.V1OwnerReference {
  return {
    apiVersion,
    kind: "Workflow",
    name: workflow.metadata.name ?? "",
    uid: workflow.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Why a Workflow cannot be turned into a CronJob; the build fails with this message. */
export class InvalidWorkflowError extends Error {
  override name = "InvalidWorkflowError";
}

const restrictedContainerSecurity: k8s.V1SecurityContext = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
  runAsNonRoot: true,
  seccompProfile: { type: "RuntimeDefault" },
};

/** The container of one run and its deadline in seconds. */
function runContainer(
  workflow: Workflow,
  settings: PodSettings,
): { container: k8s.V1Container; deadline: number } {
  const { spec } = workflow;
  const resources = {
    requests: { ...settings.resources.requests },
    limits: { ...settings.resources.limits },
  };
  if (spec.kind === "HEARTBEAT") {
    const heartbeat = spec.heartbeat;
    if (heartbeat === undefined)
      throw new InvalidWorkflowError("spec.heartbeat is required for a HEARTBEAT workflow");
    const args = [
      "heartbeat",
      "--url",
      heartbeat.endpoint,
      "--expected-status",
      String(heartbeat.expectedStatusCode),
      "--timeout",
      `${heartbeat.timeoutSeconds}s`,
    ];
    for (const name of Object.keys(heartbeat.headers ?? {}).sort()) {
      for (const value of heartbeat.headers?.[name] ?? []) args.push("--header", `${name}: ${value}`);
    }
    if (settings.allowPrivateHeartbeats === true) args.push("--allow-private");
    return {
      container: {
        name: "heartbeat",
        image: settings.image,
        command: ["chronoverse"],
        args,
        resources,
        securityContext: {
          ...restrictedContainerSecurity,
          readOnlyRootFilesystem: true,
        },
      },
      deadline: heartbeat.timeoutSeconds + heartbeatStartupSeconds,
    };
  }
  const container = spec.container;
  if (container === undefined)
    throw new InvalidWorkflowError("spec.container is required for a CONTAINER workflow");
  const env = Object.keys(container.env ?? {})
    .sort()
    .map((name) => ({ name, value: container.env?.[name] ?? "" }));
  return {
    container: {
      name: "run",
      image: container.image,
      // Docker CMD semantics: the image's ENTRYPOINT stays, the arguments replace its CMD.
      ...(container.command !== undefined && container.command.length > 0
        ? { args: [...container.command] }
        : {}),
      ...(env.length > 0 ? { env } : {}),
      resources,
      securityContext: { ...restrictedContainerSecurity },
    },
    deadline: container.timeoutSeconds,
  };
}

/**
 * The pod of one run of `workflow`, shared by the CronJob's job template and
 * manual runs (operator/controllers/manual-run.ts): labels, annotations and
 * spec, plus the run's deadline in seconds (also the pod's activeDeadlineSeconds).
 */
export function podTemplateForWorkflow(
  workflow: Workflow,
  settings: PodSettings = defaultPodSettings,
): {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: k8s.V1PodSpec;
  deadline: number;
} {
  const { container, deadline } = runContainer(workflow, settings);
  return {
    metadata: {
      labels: workflowLabels(workflow),
      annotations: { [generationAnnotation]: String(workflow.metadata.generation ?? 0) },
    },
    spec: {
      restartPolicy: "Never",
      activeDeadlineSeconds: deadline,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: runUid,
        runAsGroup: runUid,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [container],
      ...(settings.nodeSelector !== undefined && Object.keys(settings.nodeSelector).length > 0
        ? { nodeSelector: { ...settings.nodeSelector } }
        : {}),
      ...(settings.tolerations !== undefined && settings.tolerations.length > 0
        ? { tolerations: settings.tolerations.map((t) => ({ ...t })) }
        : {}),
    },
    deadline,
  };
}

/** The CronJob that runs `workflow` on its interval, complete and ready for server-side apply. */
export function cronJobForWorkflow(
  workflow: Workflow,
  settings: PodSettings = defaultPodSettings,
): k8s.V1CronJob {
  const name = workflow.metadata.name;
  const namespace = workflow.metadata.namespace;
  if (name === undefined || namespace === undefined || workflow.metadata.uid === undefined) {
    throw new InvalidWorkflowError("the workflow has no name, namespace or uid");
  }
  const schedule = scheduleForInterval(workflow.spec.intervalMinutes);
  const pod = podTemplateForWorkflow(workflow, settings);
  const { deadline } = pod;
  const objectLabels = pod.metadata.labels;
  const annotations = pod.metadata.annotations;
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name, namespace, labels: objectLabels, ownerReferences: [ownerReference(workflow)] },
    spec: {
      schedule: schedule.cron,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: Math.min(workflow.spec.intervalMinutes * 60, maxStartingDeadlineSeconds),
      suspend: workflow.spec.terminated,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: objectLabels, annotations },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: deadline,
          template: {
            metadata: { labels: { ...objectLabels }, annotations: { ...annotations } },
            spec: pod.spec,
          },
        },
      },
    },
  };
}
