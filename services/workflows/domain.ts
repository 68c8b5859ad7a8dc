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
import { DURATION_MAX_LENGTH, parseGoDuration } from "../../src/env.ts";
import { FailedPrecondition, InvalidArgument } from "../../src/grpc/errors.ts";
import { HEADER_NAME_MAX_LENGTH, isHeaderName, isHeaderValue } from "../../src/net/http-fields.ts";
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
  if (value.length > IDEMPOTENCY_KEY_MAX) {
    throw new InvalidArgument("idempotency_key", `must be at most ${IDEMPOTENCY_KEY_MAX} characters`);
  }
  if (value.trim() === "") throw new InvalidArgument("idempotency_key", "is required");
  return value;
}

export function validateName(name: string): string {
  if (longerThan(name, limits.displayNameMax)) {
    throw new InvalidArgument("name", `must be at most ${limits.displayNameMax} characters`);
  }
  if (name.trim() === "") throw new InvalidArgument("name", "is required");
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

const DURATION_FORMS = 'a Go duration such as "30s", "1m30s", "1.5s" or "1500ms" (units ns, us, ms, s, m, h)';

/**
 * A payload timeout: any Go duration (src/env.ts parseGoDuration, the one
 * duration grammar). The Workflow stores whole seconds, so a fraction of a
 * second is rounded up ("1.2s" → 2s, "300us" → 1s): a check never gets less
 * time than asked for.
 */
function parseTimeout(value: unknown, defaultSeconds: number, maxSeconds: number, what: string): number {
  const field = "payload.timeout";
  if (value === undefined || value === null) return defaultSeconds;
  if (typeof value !== "string") throw new InvalidArgument(field, `must be ${DURATION_FORMS}`);
  if (value.length > DURATION_MAX_LENGTH) {
    throw new InvalidArgument(field, `must be at most ${DURATION_MAX_LENGTH} characters: ${DURATION_FORMS}`);
  }
  const nanos = parseGoDuration(value.trim());
  if (nanos === undefined) throw new InvalidArgument(field, `must be ${DURATION_FORMS}`);
  if (nanos <= 0n) throw new InvalidArgument(field, `must be above 0: ${DURATION_FORMS}`);
  if (nanos > BigInt(maxSeconds) * 1_000_000_000n) {
    throw new FailedPrecondition(`${field}: ${what} may be at most ${formatGoDuration(maxSeconds)}`, field);
  }
  return Number((nanos + 999_999_999n) / 1_000_000_000n);
}

// ------------------------------------------------------------------ payload

export interface PayloadRules {
  /** The installation allows heartbeats to private/cluster-internal addresses. */
  allowPrivateHeartbeats: boolean;
}

export type KindSettings =
  | { kind: "HEARTBEAT"; heartbeat: HeartbeatSettings }
  | { kind: "CONTAINER"; container: ContainerSettings };

/**
 * The largest payload read, in bytes of UTF-8 JSON. Checked before JSON.parse
 * so parsing is bounded; a Workflow object must fit etcd's 1.5 MiB request
 * limit anyway, so no larger payload could be stored.
 */
export const PAYLOAD_MAX_BYTES = 1024 * 1024;

function parsePayloadObject(payload: string): Record<string, unknown> {
  // UTF-16 length bounds the UTF-8 size from below: a text that long is too big without counting.
  if (payload.length > PAYLOAD_MAX_BYTES || Buffer.byteLength(payload, "utf8") > PAYLOAD_MAX_BYTES) {
    throw new InvalidArgument("payload", `must be at most ${PAYLOAD_MAX_BYTES} bytes of JSON`);
  }
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

/** Size limits of the CRD's schema (operator/api/v1alpha1/workflow.ts), checked here to name the field. */
export const payloadLimits = {
  endpointLength: 2048,
  headerNames: 64,
  headerValues: 16,
  headerValueLength: 8192,
  imageLength: 1024,
  cmdItems: 256,
  cmdItemLength: 8192,
  envNames: 128,
  envNameLength: 256,
  envValueLength: 32768,
} as const;

/** Whether a text has more than `max` characters (code points), without copying it. */
export function longerThan(text: string, max: number): boolean {
  if (text.length <= max) return false; // code points ≤ UTF-16 units
  if (text.length > 2 * max) return true; // each code point is at most 2 units
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++count > max) return true;
  }
  return false;
}

/** A short, printable rendering of a value the client sent, for error messages. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function stringList(field: string, value: unknown, maxItems: number, maxLength: number): string[] {
  if (!Array.isArray(value)) throw new InvalidArgument(field, "must be a list of strings");
  if (value.length > maxItems) throw new InvalidArgument(field, `must have at most ${maxItems} items`);
  value.forEach((item, index) => {
    if (typeof item !== "string") throw new InvalidArgument(`${field}[${index}]`, "must be a string");
    if (longerThan(item, maxLength)) {
      throw new InvalidArgument(`${field}[${index}]`, `must be at most ${maxLength} characters`);
    }
  });
  return value as string[];
}

/** Whether a text has a control character (C0, DEL, C1) or, with `orSpace`, any whitespace. */
function hasControlCharacter(text: string, orSpace: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return true;
    if (orSpace && (c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a))) return true;
    if (orSpace && (c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000))
      return true;
    if (orSpace && c === 0xfeff) return true;
  }
  return false;
}

/**
 * `headers`: header name → a list of values, or a single string (what the
 * original's clients send, `{"Content-Type": "application/json"}`), stored
 * as a one-item list.
 */
function parseHeaders(headers: unknown): Record<string, string[]> {
  const field = "payload.headers";
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) {
    throw new InvalidArgument(field, "must be an object of header name to a string or a list of strings");
  }
  const names = Object.keys(headers);
  if (names.length > payloadLimits.headerNames) {
    throw new InvalidArgument(field, `must have at most ${payloadLimits.headerNames} headers`);
  }
  // Entries, then Object.fromEntries: a key such as "__proto__" stays a key, never a prototype.
  const parsed: Array<[string, string[]]> = [];
  for (const name of names) {
    if (name.length > HEADER_NAME_MAX_LENGTH) {
      throw new InvalidArgument(
        field,
        `header name ${quoted(name)} is longer than ${HEADER_NAME_MAX_LENGTH} characters`,
      );
    }
    if (!isHeaderName(name)) {
      throw new InvalidArgument(
        field,
        `header name ${quoted(name)} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only)`,
      );
    }
    const value = (headers as Record<string, unknown>)[name];
    if (typeof value !== "string" && !Array.isArray(value)) {
      throw new InvalidArgument(`${field}.${name}`, "must be a string or a list of strings");
    }
    const values = stringList(
      `${field}.${name}`,
      typeof value === "string" ? [value] : value,
      payloadLimits.headerValues,
      payloadLimits.headerValueLength,
    );
    values.forEach((item, index) => {
      if (!isHeaderValue(item)) {
        throw new InvalidArgument(
          typeof value === "string" ? `${field}.${name}` : `${field}.${name}[${index}]`,
          "must not contain CR, LF or other control characters (visible ASCII, spaces, tabs and Latin-1 text only)",
        );
      }
    });
    parsed.push([name, values]);
  }
  return Object.fromEntries(parsed);
}

function parseEndpoint(endpoint: unknown, rules: PayloadRules): string {
  const field = "payload.endpoint";
  if (endpoint === undefined || endpoint === null || endpoint === "") {
    throw new InvalidArgument(field, "is required for HEARTBEAT workflows");
  }
  if (typeof endpoint !== "string") throw new InvalidArgument(field, "must be a string");
  if (endpoint.length > payloadLimits.endpointLength) {
    throw new InvalidArgument(field, `must be at most ${payloadLimits.endpointLength} characters`);
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidArgument(field, "must be an absolute http or https URL");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new InvalidArgument(field, "must be an absolute http or https URL");
  }
  // The URL parser drops some of these silently (tab, CR, LF); the stored text must not hold them.
  if (hasControlCharacter(endpoint, true)) {
    throw new InvalidArgument(field, "must not contain spaces or control characters (CR, LF, tab …)");
  }
  if (!rules.allowPrivateHeartbeats && isPrivateHost(url.hostname)) {
    throw new FailedPrecondition(
      `${field}: loopback, link-local, private and cluster-internal addresses are not allowed in this installation (IANA special-purpose blocks included)`,
      field,
    );
  }
  return endpoint;
}

// Keys other than these are ignored, as the original Chronoverse ignores them
// (encoding/json into a struct), so its clients keep working.
function parseHeartbeat(payload: Record<string, unknown>, rules: PayloadRules): HeartbeatSettings {
  const { endpoint, expected_status_code: status, headers, timeout } = payload;
  const settings: HeartbeatSettings = {
    endpoint: parseEndpoint(endpoint, rules),
    expectedStatusCode: 200,
    timeoutSeconds: parseTimeout(
      timeout,
      limits.heartbeatTimeoutSeconds.default,
      limits.heartbeatTimeoutSeconds.max,
      "a heartbeat timeout",
    ),
  };
  const { min, max } = limits.expectedStatusCode;
  if (status !== undefined && status !== null) {
    if (typeof status !== "number" || !Number.isInteger(status) || status < min || status > max) {
      throw new InvalidArgument("payload.expected_status_code", `must be an integer from ${min} to ${max}`);
    }
    settings.expectedStatusCode = status;
  }
  if (headers !== undefined && headers !== null) {
    const parsed = parseHeaders(headers);
    if (Object.keys(parsed).length > 0) settings.headers = parsed;
  }
  return settings;
}

/** A container environment variable name (what Kubernetes accepts). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function parseEnv(env: unknown): Record<string, string> {
  const field = "payload.env";
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new InvalidArgument(field, "must be an object of name to string value");
  }
  const names = Object.keys(env);
  if (names.length > payloadLimits.envNames) {
    throw new InvalidArgument(field, `must have at most ${payloadLimits.envNames} variables`);
  }
  const parsed: Array<[string, string]> = [];
  for (const name of names) {
    if (name.length > payloadLimits.envNameLength || !ENV_NAME.test(name)) {
      throw new InvalidArgument(
        field,
        `${quoted(name)} is not a valid environment variable name (a letter or _, then letters, digits, _ . -; at most ${payloadLimits.envNameLength} characters)`,
      );
    }
    const value = (env as Record<string, unknown>)[name];
    if (typeof value !== "string") throw new InvalidArgument(`${field}.${name}`, "must be a string");
    if (longerThan(value, payloadLimits.envValueLength)) {
      throw new InvalidArgument(
        `${field}.${name}`,
        `must be at most ${payloadLimits.envValueLength} characters`,
      );
    }
    parsed.push([name, value]);
  }
  return Object.fromEntries(parsed);
}

function parseContainer(payload: Record<string, unknown>): ContainerSettings {
  const { image, cmd, env, timeout } = payload;
  if (image === undefined || image === null || image === "") {
    throw new InvalidArgument("payload.image", "is required for CONTAINER workflows");
  }
  if (typeof image !== "string") throw new InvalidArgument("payload.image", "must be a string");
  if (image.length > payloadLimits.imageLength) {
    throw new InvalidArgument("payload.image", `must be at most ${payloadLimits.imageLength} characters`);
  }
  if (image.trim() === "") throw new InvalidArgument("payload.image", "is required for CONTAINER workflows");
  if (hasControlCharacter(image, true)) {
    throw new InvalidArgument(
      "payload.image",
      "must be an image reference without spaces or control characters",
    );
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
    const parsed = parseEnv(env);
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
  const rawQuery = filters?.query ?? "";
  // A query longer than any name matches nothing; refusing it bounds the per-workflow substring search.
  if (longerThan(rawQuery, limits.displayNameMax)) {
    throw new InvalidArgument("filters.query", `must be at most ${limits.displayNameMax} characters`);
  }
  const query = rawQuery.trim().toLowerCase();
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

/** Cursors this service makes are 52 characters; anything much longer is not one of them. */
const CURSOR_MAX_LENGTH = 128;

export function decodeCursor(cursor: string): string | undefined {
  if (cursor === "") return undefined;
  if (cursor.length > CURSOR_MAX_LENGTH) throw new InvalidArgument("cursor", "is not a valid cursor");
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
