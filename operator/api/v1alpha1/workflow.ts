// The Workflow custom resource (workflows.chronoverse.dev): its TypeScript
// types and its CRD, the one source of truth for both. hack/gen-crds.ts writes
// the CRD to crds/workflows.chronoverse.dev.yaml. Bounds follow SPEC.md.
import {
  type apiVersion,
  boolean,
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

export const workflowKinds = ["HEARTBEAT", "CONTAINER"] as const;
export type WorkflowKind = (typeof workflowKinds)[number];

export const buildStatuses = ["QUEUED", "STARTED", "COMPLETED", "FAILED", "CANCELED"] as const;
export type BuildStatus = (typeof buildStatuses)[number];

export interface HeartbeatSettings {
  /** http or https URL the check sends a GET to. */
  endpoint: string;
  expectedStatusCode: number;
  headers?: Record<string, string[]>;
  timeoutSeconds: number;
}

export interface ContainerSettings {
  image: string;
  command?: string[];
  env?: Record<string, string>;
  timeoutSeconds: number;
}

export interface WorkflowSpec {
  userId: string;
  displayName: string;
  kind: WorkflowKind;
  heartbeat?: HeartbeatSettings;
  container?: ContainerSettings;
  intervalMinutes: number;
  maxConsecutiveFailures: number;
  logRetention: boolean;
  terminated: boolean;
}

export interface WorkflowStatus {
  buildStatus?: BuildStatus;
  consecutiveFailures?: number;
  /** Names of the most recent runs already counted (failure or reset), so a run counts once. */
  countedRuns?: string[];
  /** The run whose failure reached the maximum and terminated the workflow. */
  failureThresholdRun?: string;
  terminatedAt?: string;
  lastScheduleTime?: string;
  observedGeneration?: number;
  schedule?: string;
  conditions?: Condition[];
}

export interface Workflow {
  apiVersion: typeof apiVersion;
  kind: "Workflow";
  metadata: ObjectMeta;
  spec: WorkflowSpec;
  status?: WorkflowStatus;
}

/** Where Workflows live in the API, for CustomObjectsApi calls and watch paths. */
export const workflowResource = {
  group,
  version,
  plural: "workflows",
  kind: "Workflow",
} as const;

/** Condition types on a Workflow. */
export const workflowConditions = {
  /** True when the CronJob matches the spec of observedGeneration. */
  ready: "Ready",
} as const;

export const limits = {
  displayNameMax: 255,
  intervalMinutes: { min: 1, max: 10080 },
  maxConsecutiveFailures: { min: 3, max: 100 },
  expectedStatusCode: { min: 100, max: 599 },
  heartbeatTimeoutSeconds: { min: 1, max: 300, default: 10 },
  containerTimeoutSeconds: { min: 1, max: 3600, default: 30 },
} as const;

const uuidPattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

const heartbeatSchema: Schema = object(
  "HTTP check settings; present exactly when kind is HEARTBEAT.",
  {
    endpoint: string("The http or https URL the check sends a GET request to.", {
      minLength: 1,
      maxLength: 2048,
      "x-kubernetes-validations": [
        {
          rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
          message: "endpoint must be an absolute http or https URL",
        },
      ],
    }),
    expectedStatusCode: integer("The HTTP status code that counts as success (any other is a failure).", {
      minimum: limits.expectedStatusCode.min,
      maximum: limits.expectedStatusCode.max,
      default: 200,
    }),
    headers: {
      type: "object",
      description: "Request headers to send: header name to its list of values.",
      maxProperties: 64,
      additionalProperties: {
        type: "array",
        description: "Values of one header, sent in order.",
        maxItems: 16,
        items: { type: "string", description: "One header value.", maxLength: 8192 },
      },
    },
    timeoutSeconds: integer("Seconds the request may take before the check fails (at most 300).", {
      minimum: limits.heartbeatTimeoutSeconds.min,
      maximum: limits.heartbeatTimeoutSeconds.max,
      default: limits.heartbeatTimeoutSeconds.default,
    }),
  },
  { required: ["endpoint"] },
);

const containerSchema: Schema = object(
  "Container run settings; present exactly when kind is CONTAINER.",
  {
    image: string("The container image to run (as for a Pod).", { minLength: 1, maxLength: 1024 }),
    command: {
      type: "array",
      description:
        "Arguments for the image (Docker CMD semantics: they replace the image's CMD and keep its ENTRYPOINT).",
      maxItems: 256,
      items: { type: "string", description: "One argument.", maxLength: 8192 },
    },
    env: {
      type: "object",
      description: "Environment variables for the container: name to value.",
      maxProperties: 128,
      additionalProperties: { type: "string", description: "The variable's value.", maxLength: 32768 },
    },
    timeoutSeconds: integer(
      "Seconds a run may take before it is stopped and counted as failed (at most 3600).",
      {
        minimum: limits.containerTimeoutSeconds.min,
        maximum: limits.containerTimeoutSeconds.max,
        default: limits.containerTimeoutSeconds.default,
      },
    ),
  },
  { required: ["image"] },
);

const specSchema: Schema = object(
  "What the workflow runs and how often.",
  {
    userId: string("Id (lower-case UUID) of the user who owns the workflow. Immutable.", {
      pattern: uuidPattern,
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "userId is immutable" }],
    }),
    displayName: string("Name shown to the user, 1 to 255 characters.", {
      minLength: 1,
      maxLength: limits.displayNameMax,
    }),
    kind: string("What a run does: HEARTBEAT (an HTTP check) or CONTAINER (runs an image). Immutable.", {
      enum: workflowKinds,
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "kind is immutable" }],
    }),
    heartbeat: heartbeatSchema,
    container: containerSchema,
    intervalMinutes: integer("Minutes between automatic runs, 1 to 10080 (one week).", {
      minimum: limits.intervalMinutes.min,
      maximum: limits.intervalMinutes.max,
    }),
    maxConsecutiveFailures: integer(
      "Failed runs in a row (3 to 100) after which the workflow is terminated and its owner alerted.",
      { minimum: limits.maxConsecutiveFailures.min, maximum: limits.maxConsecutiveFailures.max },
    ),
    logRetention: boolean("Whether the output of runs is kept after the run's Pod is gone.", {
      default: false,
    }),
    terminated: boolean("When true no further runs start and the schedule is suspended.", { default: false }),
  },
  {
    required: ["userId", "displayName", "kind", "intervalMinutes", "maxConsecutiveFailures"],
    "x-kubernetes-validations": [
      {
        rule: "has(self.heartbeat) == (self.kind == 'HEARTBEAT')",
        message: "heartbeat settings are required when kind is HEARTBEAT and not allowed otherwise",
        fieldPath: ".heartbeat",
      },
      {
        rule: "has(self.container) == (self.kind == 'CONTAINER')",
        message: "container settings are required when kind is CONTAINER and not allowed otherwise",
        fieldPath: ".container",
      },
      {
        rule: "self.kind != 'HEARTBEAT' || !has(self.logRetention) || !self.logRetention",
        message: "logRetention must be false for HEARTBEAT workflows (they produce no logs)",
        fieldPath: ".logRetention",
      },
    ],
  },
);

const statusSchema: Schema = object("State of the workflow as observed and written by the operator.", {
  buildStatus: string(
    "Progress of turning the spec into a schedule: QUEUED, STARTED, COMPLETED, FAILED, or CANCELED (terminated before the build finished).",
    { enum: buildStatuses },
  ),
  consecutiveFailures: integer("Failed runs in a row since the last successful run.", {
    minimum: 0,
    format: "int32",
    default: 0,
  }),
  countedRuns: {
    type: "array",
    description:
      "Names of the most recent finished runs already counted in consecutiveFailures (newest last, at most 32), so that each run counts exactly once.",
    maxItems: 32,
    items: { type: "string", description: "A WorkflowJob name.", maxLength: 253 },
  },
  failureThresholdRun: string(
    "Name of the run whose failure reached maxConsecutiveFailures and terminated the workflow.",
    { maxLength: 253 },
  ),
  terminatedAt: string("When the workflow was terminated; unset while it is active.", {
    format: "date-time",
  }),
  lastScheduleTime: string("When a run was last started by the schedule.", { format: "date-time" }),
  observedGeneration: integer("The .metadata.generation this status describes.", {
    minimum: 0,
    format: "int64",
  }),
  schedule: string("The cron schedule derived from intervalMinutes (see docs/operator.md).", {
    maxLength: 256,
  }),
  conditions: conditionsSchema(
    "Current state as KEP-1623 conditions; Ready is True when the schedule is built.",
  ),
});

export const workflowCrd: CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: `${workflowResource.plural}.${group}`,
    labels: { "app.kubernetes.io/part-of": "chronoverse" },
  },
  spec: {
    group,
    scope: "Namespaced",
    names: {
      kind: "Workflow",
      listKind: "WorkflowList",
      plural: "workflows",
      singular: "workflow",
      shortNames: ["cwf"],
      categories: ["chronoverse"],
    },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: object(
            "A Workflow runs an HTTP check or a container on a fixed interval. The operator turns it into a CronJob.",
            {
              apiVersion: string("Versioned schema of this object (chronoverse.dev/v1alpha1)."),
              kind: string("Kind of this object (Workflow)."),
              metadata: metadataSchema,
              spec: specSchema,
              // An absent status reads as QUEUED: nothing has built the workflow yet.
              status: { ...statusSchema, default: { buildStatus: "QUEUED", consecutiveFailures: 0 } },
            },
            { required: ["spec"] },
          ),
        },
        subresources: { status: {} },
        additionalPrinterColumns: [
          {
            name: "Display Name",
            type: "string",
            jsonPath: ".spec.displayName",
            description: "Name shown to the user.",
          },
          { name: "Kind", type: "string", jsonPath: ".spec.kind", description: "HEARTBEAT or CONTAINER." },
          {
            name: "Interval",
            type: "integer",
            jsonPath: ".spec.intervalMinutes",
            description: "Minutes between automatic runs.",
          },
          {
            name: "Build Status",
            type: "string",
            jsonPath: ".status.buildStatus",
            description: "Progress of building the schedule.",
          },
          {
            name: "Failures",
            type: "integer",
            jsonPath: ".status.consecutiveFailures",
            description: "Failed runs in a row.",
          },
          {
            name: "Terminated",
            type: "boolean",
            jsonPath: ".spec.terminated",
            description: "Whether the workflow is stopped.",
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
