// The Workflows rules of SPEC.md as pure functions: validating requests,
// parsing the per-kind payload JSON into the typed spec fields of the Workflow
// custom resource, the private-address rule for heartbeat endpoints, what an
// update changes, list filtering and cursors, and converting a Workflow object
// into the three response shapes (with their own field numbers).

import type {
  GetWorkflowByIDResponse,
  GetWorkflowResponse,
  ListWorkflowsFilters,
  WorkflowsByUserIDResponse,
} from "../../gen/workflows/workflows.ts";
import {
  type BuildStatus,
  buildStatuses,
  type ContainerSettings,
  type HeartbeatSettings,
  limits,
  type Workflow,
  type WorkflowKind,
  type WorkflowSpec,
  workflowKinds,
} from "../../operator/api/v1alpha1/workflow.ts";
import { FailedPrecondition, InvalidArgument } from "../../src/grpc/errors.ts";
import { isPrivateHost } from "../../src/net/private-address.ts";

export const PAGE_SIZE = 10;
export const IDEMPOTENCY_KEY_MAX = 255;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A required lower-case UUID (workflow, user or job id). */
export function requireId(field: string, value: string): string {
  if (value === "") throw new InvalidArgument(field, "is required");
  if (!UUID.test(value)) throw new InvalidArgument(field, "must be a lower-case UUID");
  return value;
}

export function requireIdempotencyKey(value: string): string {
  if (value.trim() === "") throw new InvalidArgument("idempotency_key", "is required");
  if (value.length > IDEMPOTENCY_KEY_MAX) {
    throw new InvalidArgument("idempotency_key", `must be at most ${IDEMPOTENCY_KEY_MAX} characters`);
  }
  return value;
}

export function validateName(name: string): string {
  if (name.trim() === "") throw new InvalidArgument("name", "is required");
  if ([...name].length > limits.displayNameMax) {
    throw new InvalidArgument("name", `must be at most ${limits.displayNameMax} characters`);
  }
  return name;
}

export function validateKind(kind: string): WorkflowKind {
  if (kind === "") throw new InvalidArgument("kind", "is required");
  if (!(workflowKinds as readonly string[]).includes(kind)) {
    throw new InvalidArgument("kind", `must be one of ${workflowKinds.join(", ")}`);
  }
  return kind as WorkflowKind;
}

export function validateInterval(interval: number, field = "interval"): number {
  const { min, max } = limits.intervalMinutes;
  if (!Number.isInteger(interval) || interval < min || interval > max) {
    throw new InvalidArgument(field, `must be from ${min} to ${max} minutes`);
  }
  return interval;
}

export function validateMaxFailures(value: number): number {
  const { min, max } = limits.maxConsecutiveFailures;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgument("max_consecutive_job_failures_allowed", `must be from ${min} to ${max}`);
  }
  return value;
}

export function validateBuildStatus(value: string): BuildStatus {
  if (!(buildStatuses as readonly string[]).includes(value)) {
    throw new InvalidArgument("build_status", `must be one of ${buildStatuses.join(", ")}`);
  }
  return value as BuildStatus;
}

// ---------------------------------------------------------------- durations

const NANOS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration string ("10s", "1m30s", "1.5h") into nanoseconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^[+-]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/.test(text) && text !== "0") return undefined;
  if (text === "0") return 0;
  const sign = text.startsWith("-") ? -1 : 1;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(amount) * (NANOS[unit as string] ?? Number.NaN);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Formats whole seconds the way Go's time.Duration.String does ("10s", "1m30s", "1h0m0s"). */
export function formatGoDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function parseTimeout(value: unknown, defaultSeconds: number, maxSeconds: number, what: string): number {
  const field = "payload.timeout";
  if (value === undefined || value === null) return defaultSeconds;
  if (typeof value !== "string") throw new InvalidArgument(field, 'must be a duration string such as "30s"');
  const nanos = parseGoDuration(value.trim());
  if (nanos === undefined) throw new InvalidArgument(field, 'must be a duration string such as "30s"');
  if (nanos <= 0) throw new InvalidArgument(field, "must be positive");
  if (nanos % 1e9 !== 0) throw new InvalidArgument(field, "must be a whole number of seconds");
  const seconds = nanos / 1e9;
  if (seconds > maxSeconds) {
    throw new FailedPrecondition(`${field}: ${what} may be at most ${formatGoDuration(maxSeconds)}`, field);
  }
  return seconds;
}

// ------------------------------------------------------------------ payload

export interface PayloadRules {
  /** The installation allows heartbeats to private/cluster-internal addresses. */
  allowPrivateHeartbeats: boolean;
}

export type KindSettings =
  | { kind: "HEARTBEAT"; heartbeat: HeartbeatSettings }
  | { kind: "CONTAINER"; container: ContainerSettings };

function parsePayloadObject(payload: string): Record<string, unknown> {
  if (payload.trim() === "") throw new InvalidArgument("payload", "is required (a JSON object)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    throw new InvalidArgument("payload", "must be valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgument("payload", "must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

function rejectUnknownKeys(object: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new InvalidArgument(`payload.${key}`, `is not a known field (expected ${known.join(", ")})`);
    }
  }
}

/** Size limits of the CRD's schema (operator/api/v1alpha1/workflow.ts), checked here to name the field. */
const payloadLimits = {
  headerNames: 64,
  headerValues: 16,
  headerValueLength: 8192,
  cmdItems: 256,
  cmdItemLength: 8192,
  envNames: 128,
  envValueLength: 32768,
} as const;

function stringList(field: string, value: unknown, maxItems: number, maxLength: number): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new InvalidArgument(field, "must be a list of strings");
  }
  if (value.length > maxItems) throw new InvalidArgument(field, `must have at most ${maxItems} items`);
  if (value.some((item) => [...item].length > maxLength)) {
    throw new InvalidArgument(field, `items must be at most ${maxLength} characters`);
  }
  return value as string[];
}

function parseHeartbeat(payload: Record<string, unknown>, rules: PayloadRules): HeartbeatSettings {
  rejectUnknownKeys(payload, ["endpoint", "expected_status_code", "headers", "timeout"]);
  const { endpoint, expected_status_code: status, headers, timeout } = payload;
  if (endpoint === undefined || endpoint === null || endpoint === "") {
    throw new InvalidArgument("payload.endpoint", "is required for HEARTBEAT workflows");
  }
  if (typeof endpoint !== "string") throw new InvalidArgument("payload.endpoint", "must be a string");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidArgument("payload.endpoint", "must be an absolute http or https URL");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new InvalidArgument("payload.endpoint", "must be an absolute http or https URL");
  }
  if (endpoint.length > 2048)
    throw new InvalidArgument("payload.endpoint", "must be at most 2048 characters");
  if (!rules.allowPrivateHeartbeats && isPrivateHost(url.hostname)) {
    throw new FailedPrecondition(
      "payload.endpoint: loopback, link-local, private and cluster-internal addresses are not allowed in this installation",
      "payload.endpoint",
    );
  }
  const { min, max } = limits.expectedStatusCode;
  let expectedStatusCode = 200;
  if (status !== undefined && status !== null) {
    if (typeof status !== "number" || !Number.isInteger(status) || status < min || status > max) {
      throw new InvalidArgument("payload.expected_status_code", `must be an integer from ${min} to ${max}`);
    }
    expectedStatusCode = status;
  }
  const settings: HeartbeatSettings = {
    endpoint,
    expectedStatusCode,
    timeoutSeconds: parseTimeout(
      timeout,
      limits.heartbeatTimeoutSeconds.default,
      limits.heartbeatTimeoutSeconds.max,
      "a heartbeat timeout",
    ),
  };
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== "object" || Array.isArray(headers)) {
      throw new InvalidArgument("payload.headers", "must be an object of header name to a list of strings");
    }
    const parsed: Record<string, string[]> = {};
    if (Object.keys(headers).length > payloadLimits.headerNames) {
      throw new InvalidArgument("payload.headers", `must have at most ${payloadLimits.headerNames} headers`);
    }
    for (const [name, values] of Object.entries(headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        throw new InvalidArgument(`payload.headers.${name}`, "is not a valid header name");
      }
      parsed[name] = stringList(
        `payload.headers.${name}`,
        values,
        payloadLimits.headerValues,
        payloadLimits.headerValueLength,
      );
    }
    if (Object.keys(parsed).length > 0) settings.headers = parsed;
  }
  return settings;
}

function parseContainer(payload: Record<string, unknown>): ContainerSettings {
  rejectUnknownKeys(payload, ["image", "cmd", "env", "timeout"]);
  const { image, cmd, env, timeout } = payload;
  if (image === undefined || image === null || (typeof image === "string" && image.trim() === "")) {
    throw new InvalidArgument("payload.image", "is required for CONTAINER workflows");
  }
  if (typeof image !== "string") throw new InvalidArgument("payload.image", "must be a string");
  if (image.length > 1024 || /\s/.test(image)) {
    throw new InvalidArgument("payload.image", "must be an image reference without spaces");
  }
  const settings: ContainerSettings = {
    image,
    timeoutSeconds: parseTimeout(
      timeout,
      limits.containerTimeoutSeconds.default,
      limits.containerTimeoutSeconds.max,
      "a container timeout",
    ),
  };
  if (cmd !== undefined && cmd !== null) {
    const command = stringList("payload.cmd", cmd, payloadLimits.cmdItems, payloadLimits.cmdItemLength);
    if (command.length > 0) settings.command = command;
  }
  if (env !== undefined && env !== null) {
    if (typeof env !== "object" || Array.isArray(env)) {
      throw new InvalidArgument("payload.env", "must be an object of name to string value");
    }
    const parsed: Record<string, string> = {};
    if (Object.keys(env).length > payloadLimits.envNames) {
      throw new InvalidArgument("payload.env", `must have at most ${payloadLimits.envNames} variables`);
    }
    for (const [name, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
        throw new InvalidArgument(`payload.env.${name}`, "is not a valid environment variable name");
      }
      if (typeof value !== "string") throw new InvalidArgument(`payload.env.${name}`, "must be a string");
      if ([...value].length > payloadLimits.envValueLength) {
        throw new InvalidArgument(
          `payload.env.${name}`,
          `must be at most ${payloadLimits.envValueLength} characters`,
        );
      }
      parsed[name] = value;
    }
    if (Object.keys(parsed).length > 0) settings.env = parsed;
  }
  return settings;
}

/** Parses and validates a payload for its kind into the typed spec settings. */
export function parsePayload(kind: WorkflowKind, payload: string, rules: PayloadRules): KindSettings {
  const object = parsePayloadObject(payload);
  return kind === "HEARTBEAT"
    ? { kind, heartbeat: parseHeartbeat(object, rules) }
    : { kind, container: parseContainer(object) };
}

/** The payload JSON in the user's shape, with defaults filled in. */
export function formatPayload(spec: WorkflowSpec): string {
  if (spec.kind === "HEARTBEAT" && spec.heartbeat) {
    const h = spec.heartbeat;
    return JSON.stringify({
      endpoint: h.endpoint,
      expected_status_code: h.expectedStatusCode ?? 200,
      headers: h.headers ?? {},
      timeout: formatGoDuration(h.timeoutSeconds ?? limits.heartbeatTimeoutSeconds.default),
    });
  }
  const c = spec.container;
  return JSON.stringify({
    image: c?.image ?? "",
    cmd: c?.command ?? [],
    env: c?.env ?? {},
    timeout: formatGoDuration(c?.timeoutSeconds ?? limits.containerTimeoutSeconds.default),
  });
}

function resolveLogRetention(kind: WorkflowKind, requested: boolean | undefined): boolean {
  if (kind === "HEARTBEAT") {
    if (requested === true) {
      throw new InvalidArgument(
        "log_retention",
        "must be off for HEARTBEAT workflows (they produce no logs)",
      );
    }
    return false;
  }
  return requested ?? true;
}

export interface CreateInput {
  user_id: string;
  name: string;
  payload: string;
  kind: string;
  interval: number;
  max_consecutive_job_failures_allowed: number;
  log_retention?: boolean | undefined;
}

/** Validates a CreateWorkflow request into the Workflow spec it creates. */
export function specForCreate(request: CreateInput, rules: PayloadRules): WorkflowSpec {
  const userId = requireId("user_id", request.user_id);
  const displayName = validateName(request.name);
  const kind = validateKind(request.kind);
  const settings = parsePayload(kind, request.payload, rules);
  const intervalMinutes = validateInterval(request.interval);
  const maxConsecutiveFailures = validateMaxFailures(request.max_consecutive_job_failures_allowed);
  const logRetention = resolveLogRetention(kind, request.log_retention);
  return {
    userId,
    displayName,
    kind,
    ...(settings.kind === "HEARTBEAT"
      ? { heartbeat: settings.heartbeat }
      : { container: settings.container }),
    intervalMinutes,
    maxConsecutiveFailures,
    logRetention,
    terminated: false,
  };
}

export interface UpdateInput {
  name: string;
  payload: string;
  interval: number;
  max_consecutive_job_failures_allowed: number;
}

/** The fields an UpdateWorkflow request sets, validated (the kind comes from the workflow). */
export interface UpdateFields {
  displayName: string;
  settings: KindSettings;
  intervalMinutes: number;
  maxConsecutiveFailures: number;
}

export function validateUpdate(request: UpdateInput, kind: WorkflowKind, rules: PayloadRules): UpdateFields {
  return {
    displayName: validateName(request.name),
    settings: parsePayload(kind, request.payload, rules),
    intervalMinutes: validateInterval(request.interval),
    maxConsecutiveFailures: validateMaxFailures(request.max_consecutive_job_failures_allowed),
  };
}

/** Deterministic JSON (sorted keys), for comparing specs and hashing requests. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export interface UpdatePlan {
  spec: WorkflowSpec;
  /** Whether what runs changes (payload, or a terminated workflow coming back): the build starts again. */
  rebuild: boolean;
  /** Whether the spec differs at all (a write is needed). */
  specChanged: boolean;
}

/** What UpdateWorkflow does to a spec (SPEC.md "Update"). */
export function planUpdate(current: WorkflowSpec, fields: UpdateFields): UpdatePlan {
  const spec: WorkflowSpec = {
    ...current,
    displayName: fields.displayName,
    intervalMinutes: fields.intervalMinutes,
    maxConsecutiveFailures: fields.maxConsecutiveFailures,
    terminated: false,
  };
  delete spec.heartbeat;
  delete spec.container;
  if (fields.settings.kind === "HEARTBEAT") spec.heartbeat = fields.settings.heartbeat;
  else spec.container = fields.settings.container;
  const payloadChanged =
    canonicalJson(current.heartbeat ?? current.container ?? {}) !==
    canonicalJson(spec.heartbeat ?? spec.container ?? {});
  return {
    spec,
    rebuild: payloadChanged || current.terminated,
    specChanged: canonicalJson(current) !== canonicalJson(spec),
  };
}

/**
 * The request field behind a Workflow spec path that the apiserver's schema
 * rejected (e.g. "spec.container.command[3]" → "payload"), so that such a
 * rejection is still an InvalidArgument naming a field the client sent.
 */
export function requestFieldForSpecPath(path: string): string {
  const field = path.replace(/^\.?spec\./, "").split(/[.[]/)[0] ?? "";
  switch (field) {
    case "displayName":
      return "name";
    case "intervalMinutes":
      return "interval";
    case "maxConsecutiveFailures":
      return "max_consecutive_job_failures_allowed";
    case "logRetention":
      return "log_retention";
    case "kind":
      return "kind";
    case "userId":
      return "user_id";
    default:
      return "payload";
  }
}

// ------------------------------------------------------------------ reading

export function isTerminated(workflow: Workflow): boolean {
  return workflow.spec.terminated === true;
}

export function buildStatusOf(workflow: Workflow): BuildStatus {
  return workflow.status?.buildStatus ?? "QUEUED";
}

/** Build statuses that mean the build has not finished (terminating then cancels it). */
export function buildUnfinished(status: BuildStatus): boolean {
  return status === "QUEUED" || status === "STARTED";
}

interface CommonFields {
  id: string;
  name: string;
  payload: string;
  kind: string;
  build_status: string;
  interval: number;
  consecutive_job_failures_count: number;
  max_consecutive_job_failures_allowed: number;
  created_at: string;
  updated_at: string;
  terminated_at: string;
  log_retention: boolean;
}

/** The time of the last write to the spec or status, from managedFields; else creation. */
export function updatedAt(workflow: Workflow): string {
  const { managedFields } = workflow.metadata as { managedFields?: { time?: unknown }[] };
  const times = (managedFields ?? [])
    .map((entry) => entry.time)
    .filter((time): time is string => typeof time === "string")
    .map((time) => new Date(time).getTime());
  const created = new Date(workflow.metadata.creationTimestamp ?? 0).getTime();
  return rfc3339(Math.max(created, ...times));
}

function rfc3339(value: string | number | undefined): string {
  if (value === undefined || value === "") return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function common(workflow: Workflow): CommonFields {
  const { spec, status, metadata } = workflow;
  return {
    id: metadata.name ?? "",
    name: spec.displayName,
    payload: formatPayload(spec),
    kind: spec.kind,
    build_status: buildStatusOf(workflow),
    interval: spec.intervalMinutes,
    consecutive_job_failures_count: status?.consecutiveFailures ?? 0,
    max_consecutive_job_failures_allowed: spec.maxConsecutiveFailures,
    created_at: rfc3339(metadata.creationTimestamp),
    updated_at: updatedAt(workflow),
    terminated_at: spec.terminated ? rfc3339(status?.terminatedAt) : "",
    log_retention: spec.logRetention === true,
  };
}

/** Workflow A (GetWorkflowResponse). */
export function toGetWorkflowResponse(workflow: Workflow): GetWorkflowResponse {
  return { ...common(workflow), generation: workflow.metadata.generation ?? 0 };
}

/** Workflow B (GetWorkflowByIDResponse). */
export function toGetWorkflowByIdResponse(workflow: Workflow): GetWorkflowByIDResponse {
  return {
    ...common(workflow),
    user_id: workflow.spec.userId,
    generation: workflow.metadata.generation ?? 0,
  };
}

/** A list item (WorkflowsByUserIDResponse). */
export function toListItem(workflow: Workflow): WorkflowsByUserIDResponse {
  return common(workflow);
}

// ------------------------------------------------------------------ listing

export interface ListFilter {
  query: string;
  kind: WorkflowKind | undefined;
  buildStatus: BuildStatus | undefined;
  isTerminated: boolean | undefined;
  intervalMin: number | undefined;
  intervalMax: number | undefined;
}

/**
 * Validates ListWorkflowsFilters. Zero values mean "no filter"; is_terminated
 * filters only when the filters message is present and it is true (proto3 bool:
 * false cannot be told apart from unset), in which case only terminated
 * workflows are listed.
 */
export function parseListFilter(filters: ListWorkflowsFilters | undefined): ListFilter {
  const query = (filters?.query ?? "").trim().toLowerCase();
  const kind = filters?.kind ? validateKindFilter(filters.kind) : undefined;
  const buildStatus = filters?.build_status ? validateBuildStatusFilter(filters.build_status) : undefined;
  const intervalMin = filters?.interval_min
    ? validateInterval(filters.interval_min, "filters.interval_min")
    : undefined;
  const intervalMax = filters?.interval_max
    ? validateInterval(filters.interval_max, "filters.interval_max")
    : undefined;
  if (intervalMin !== undefined && intervalMax !== undefined && intervalMin > intervalMax) {
    throw new InvalidArgument("filters.interval_min", "must not be greater than filters.interval_max");
  }
  return {
    query,
    kind,
    buildStatus,
    isTerminated: filters?.is_terminated ? true : undefined,
    intervalMin,
    intervalMax,
  };
}

function validateKindFilter(kind: string): WorkflowKind {
  if (!(workflowKinds as readonly string[]).includes(kind)) {
    throw new InvalidArgument("filters.kind", `must be one of ${workflowKinds.join(", ")}`);
  }
  return kind as WorkflowKind;
}

function validateBuildStatusFilter(value: string): BuildStatus {
  if (!(buildStatuses as readonly string[]).includes(value)) {
    throw new InvalidArgument("filters.build_status", `must be one of ${buildStatuses.join(", ")}`);
  }
  return value as BuildStatus;
}

export function matchesFilter(workflow: Workflow, filter: ListFilter): boolean {
  const { spec } = workflow;
  if (filter.query !== "" && !spec.displayName.toLowerCase().includes(filter.query)) return false;
  if (filter.kind !== undefined && spec.kind !== filter.kind) return false;
  if (filter.buildStatus !== undefined && buildStatusOf(workflow) !== filter.buildStatus) return false;
  if (filter.isTerminated !== undefined && isTerminated(workflow) !== filter.isTerminated) return false;
  if (filter.intervalMin !== undefined && spec.intervalMinutes < filter.intervalMin) return false;
  if (filter.intervalMax !== undefined && spec.intervalMinutes > filter.intervalMax) return false;
  return true;
}

/** Cursors are the last id of the previous page, base64url-encoded behind a version tag. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`v1:${lastId}`, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): string | undefined {
  if (cursor === "") return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  const id = text.startsWith("v1:") ? text.slice(3) : "";
  if (!UUID.test(id)) throw new InvalidArgument("cursor", "is not a valid cursor");
  return id;
}

/**
 * One page of a user's workflows, newest first. Ids are UUID v7 (time-ordered),
 * so ordering by id descending is ordering by creation.
 */
export function pageOf(
  workflows: readonly Workflow[],
  filter: ListFilter,
  cursor: string | undefined,
  pageSize = PAGE_SIZE,
): { items: Workflow[]; cursor: string } {
  const sorted = workflows
    .filter((w) => (cursor === undefined || (w.metadata.name ?? "") < cursor) && matchesFilter(w, filter))
    .sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? 1 : -1));
  const items = sorted.slice(0, pageSize);
  const last = items.at(-1)?.metadata.name;
  return { items, cursor: sorted.length > pageSize && last !== undefined ? encodeCursor(last) : "" };
}
