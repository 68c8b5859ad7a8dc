// The WorkflowJob custom resource (workflowjobs.chronoverse.dev): one run of a
// workflow. Its TypeScript types and its CRD, the one source of truth for both;
// hack/gen-crds.ts writes crds/workflowjobs.chronoverse.dev.yaml. Not named Job
// so that `kubectl get jobs` keeps meaning batch Jobs.
import {
  type apiVersion,
  type Condition,
  type CustomResourceDefinition,
  conditionsSchema,
  group,
  integer,
  metadataSchema,
  type ObjectMeta,
  object,
  type Schema,
  string,
  version,
} from "./schema.ts";

export const jobTriggers = ["AUTOMATIC", "MANUAL"] as const;
export type JobTrigger = (typeof jobTriggers)[number];

export const jobPhases = ["PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED"] as const;
export type JobPhase = (typeof jobPhases)[number];

/** Phases a run never leaves. */
export const terminalJobPhases: readonly JobPhase[] = ["COMPLETED", "FAILED", "CANCELED"];

export interface WorkflowJobSpec {
  workflowName: string;
  userId: string;
  trigger: JobTrigger;
  scheduledAt: string;
}

export interface WorkflowJobStatus {
  phase?: JobPhase;
  podName?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  reason?: string;
  attempts?: number;
  /** A run lost to the system and handed back for another attempt: its next Pod is due then (docs/operator.md). */
  retryAt?: string;
  conditions?: Condition[];
}

export interface WorkflowJob {
  apiVersion: typeof apiVersion;
  kind: "WorkflowJob";
  metadata: ObjectMeta;
  spec: WorkflowJobSpec;
  status?: WorkflowJobStatus;
}

export const workflowJobResource = {
  group,
  version,
  plural: "workflowjobs",
  kind: "WorkflowJob",
} as const;

const uuidPattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

const specSchema: Schema = object(
  "Which workflow this run belongs to and when it is due.",
  {
    workflowName: string(
      "Name (the id) of the Workflow this is a run of, in the same namespace. Immutable.",
      {
        pattern: uuidPattern,
        "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "workflowName is immutable" }],
      },
    ),
    userId: string("Id (lower-case UUID) of the user who owns the workflow. Immutable.", {
      pattern: uuidPattern,
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "userId is immutable" }],
    }),
    trigger: string("AUTOMATIC (started by the schedule) or MANUAL (scheduled by a user). Immutable.", {
      enum: jobTriggers,
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "trigger is immutable" }],
    }),
    scheduledAt: string("When the run is due to start (RFC 3339).", { format: "date-time" }),
  },
  { required: ["workflowName", "userId", "trigger", "scheduledAt"] },
);

const statusSchema: Schema = object("Progress of the run, derived from its Pod by the operator.", {
  phase: string("PENDING, QUEUED, RUNNING, COMPLETED, FAILED or CANCELED.", { enum: jobPhases }),
  podName: string("Name of the Pod that runs (or ran) this attempt.", { maxLength: 253 }),
  startedAt: string("When the run's container started.", { format: "date-time" }),
  finishedAt: string("When the run reached a terminal phase.", { format: "date-time" }),
  exitCode: integer("Exit code of the run's container, once it has ended.", { format: "int32" }),
  reason: string("Short machine-readable reason for the phase (for example DeadlineExceeded).", {
    maxLength: 1024,
  }),
  attempts: integer("Attempts made so far (runs lost to the system are retried, at most 3 attempts).", {
    minimum: 0,
    format: "int32",
    default: 0,
  }),
  retryAt: string(
    "Set while a run lost to the system waits for its next attempt (phase PENDING): the attempt's Pod is created no earlier.",
    { format: "date-time" },
  ),
  conditions: conditionsSchema("Current state as KEP-1623 conditions."),
});

export const workflowJobCrd: CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: `${workflowJobResource.plural}.${group}`,
    labels: { "app.kubernetes.io/part-of": "chronoverse" },
  },
  spec: {
    group,
    scope: "Namespaced",
    names: {
      kind: "WorkflowJob",
      listKind: "WorkflowJobList",
      plural: "workflowjobs",
      singular: "workflowjob",
      shortNames: ["cwj"],
      categories: ["chronoverse"],
    },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: object(
            "A WorkflowJob is one run of a Workflow, automatic (from its schedule) or manual.",
            {
              apiVersion: string("Versioned schema of this object (chronoverse.dev/v1alpha1)."),
              kind: string("Kind of this object (WorkflowJob)."),
              metadata: metadataSchema,
              spec: specSchema,
              // An absent status reads as PENDING: nothing has acted on the run yet.
              status: { ...statusSchema, default: { phase: "PENDING", attempts: 0 } },
            },
            { required: ["spec"] },
          ),
        },
        subresources: { status: {} },
        additionalPrinterColumns: [
          {
            name: "Workflow",
            type: "string",
            jsonPath: ".spec.workflowName",
            description: "The workflow this is a run of.",
          },
          { name: "Trigger", type: "string", jsonPath: ".spec.trigger", description: "AUTOMATIC or MANUAL." },
          { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Progress of the run." },
          {
            name: "Scheduled",
            type: "date",
            jsonPath: ".spec.scheduledAt",
            description: "When the run is due.",
          },
          {
            name: "Age",
            type: "date",
            jsonPath: ".metadata.creationTimestamp",
            description: "Time since creation.",
          },
        ],
      },
    ],
  },
};
