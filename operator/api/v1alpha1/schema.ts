// Building blocks shared by the chronoverse.dev/v1alpha1 CRD definitions: the
// OpenAPI v3 schema subset the apiserver accepts for structural schemas (with
// the wire spelling of its keys, so the generated YAML is exactly this), the
// KEP-1623 condition type and its schema, and the names every object carries.

export const group = "chronoverse.dev";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

/** Labels on every Chronoverse object; list calls select on them. */
export const labels = {
  userId: "chronoverse.dev/user-id",
  workflowId: "chronoverse.dev/workflow-id",
} as const;

/** The metadata fields Chronoverse code reads (a subset of metav1.ObjectMeta). */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** metav1.OwnerReference: the object this one belongs to (deleting the owner deletes it). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** The part of JSONSchemaProps used by our CRDs, spelled as on the wire. */
export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  format?: string;
  enum?: readonly string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  required?: readonly string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  "x-kubernetes-validations"?: readonly CelRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: readonly string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
}

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

/** A CustomResourceDefinition as written to crds/*.yaml. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    scope: "Namespaced";
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: readonly string[];
      categories: readonly string[];
    };
    versions: ReadonlyArray<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: Schema };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: readonly PrinterColumn[];
    }>;
  };
}

/** A KEP-1623 condition (metav1.Condition). */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** The schema of metav1.Condition, with the upstream bounds. */
export function conditionsSchema(description: string): Schema {
  return {
    type: "array",
    description,
    maxItems: 16,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
    items: {
      type: "object",
      description: "One aspect of the object's current state (KEP-1623 condition).",
      required: ["type", "status", "lastTransitionTime", "reason", "message"],
      properties: {
        type: {
          type: "string",
          description: "Type of the condition, in CamelCase (for example Ready).",
          maxLength: 316,
          pattern:
            "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        },
        status: {
          type: "string",
          description: "Status of the condition: True, False or Unknown.",
          enum: ["True", "False", "Unknown"],
        },
        observedGeneration: {
          type: "integer",
          format: "int64",
          minimum: 0,
          description: "The .metadata.generation the condition was set for.",
        },
        lastTransitionTime: {
          type: "string",
          format: "date-time",
          description: "When the condition last changed from one status to another.",
        },
        reason: {
          type: "string",
          description: "A CamelCase, programmatic identifier for the condition's last transition.",
          minLength: 1,
          maxLength: 1024,
          pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        },
        message: {
          type: "string",
          description: "A human readable message about the transition; may be empty.",
          maxLength: 32768,
        },
      },
    },
  };
}

/** Standard metadata schema: the apiserver validates metadata itself. */
export const metadataSchema: Schema = { type: "object" };

export function string(description: string, extra: Omit<Schema, "type" | "description"> = {}): Schema {
  return { type: "string", description, ...extra };
}

export function integer(description: string, extra: Omit<Schema, "type" | "description"> = {}): Schema {
  return { type: "integer", description, ...extra };
}

export function boolean(description: string, extra: Omit<Schema, "type" | "description"> = {}): Schema {
  return { type: "boolean", description, ...extra };
}

export function object(
  description: string,
  properties: Record<string, Schema>,
  extra: Omit<Schema, "type" | "description" | "properties"> = {},
): Schema {
  return { type: "object", description, properties, ...extra };
}

/** Sets `condition` on a condition list the KEP-1623 way: the transition time moves only on a status change. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  condition: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === condition.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime =
    previous !== undefined && previous.status === condition.status
      ? previous.lastTransitionTime
      : rfc3339(now);
  const next: Condition = { ...condition, lastTransitionTime };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** RFC 3339 in UTC with whole seconds, the form metav1.Time uses. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
