// Jobs rules from SPEC.md, pure: request validation, phase transitions, how a
// WorkflowJob becomes the wire messages, the order and cursors of ListJobs,
// log paging cursors, search highlighting, and reading the timestamped lines of
// the pods/log API. No I/O here; ./store.ts, ./logs-store.ts and ./server.ts do
// that.
import type { GetJobByIDResponse, GetJobResponse, JobsResponse } from "../../gen/jobs/jobs.ts";
import { LogSortOrder, LogStream } from "../../gen/jobs/jobs.ts";
import {
  type JobPhase,
  type JobTrigger,
  jobPhases,
  jobTriggers,
  terminalJobPhases,
  type WorkflowJob,
  type WorkflowJobStatus,
} from "../../operator/api/v1alpha1/workflow-job.ts";
import { FailedPrecondition, InvalidArgument } from "../../src/grpc/errors.ts";

export const JOBS_PAGE_SIZE = 10;
export const LOGS_PAGE_SIZE = 100;
/** SPEC.md "Numbers": a repeated idempotency key returns the same job for this long. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 3_600_000;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

export const LABEL_USER_ID = "chronoverse.dev/user-id";
export const LABEL_WORKFLOW_ID = "chronoverse.dev/workflow-id";
export const LABEL_TRIGGER = "chronoverse.dev/trigger";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// RFC 3339 date-time: date, 'T' (or space/t), time, optional fraction, Z or offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A required UUID field, lower-cased. */
export function requireUuid(field: string, value: string): string {
  if (value === "") throw new InvalidArgument(field, "is required");
  if (!UUID.test(value)) throw new InvalidArgument(field, "must be a UUID");
  return value.toLowerCase();
}

/** A required RFC 3339 timestamp, returned in UTC (ISO 8601 with milliseconds). */
export function parseRfc3339(field: string, value: string): string {
  if (value === "") throw new InvalidArgument(field, "is required");
  // The longest RFC 3339 time worth reading (nanoseconds and an offset) is 35 characters.
  if (value.length > 64) {
    throw new InvalidArgument(field, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z");
  }
  const time = Date.parse(value);
  if (!RFC3339.test(value) || Number.isNaN(time)) {
    throw new InvalidArgument(field, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z");
  }
  return new Date(time).toISOString();
}

/** Trigger of ScheduleJob: users may only schedule MANUAL runs; services may also record AUTOMATIC ones. */
export function parseScheduleTrigger(value: string, callerIsService: boolean): JobTrigger {
  if (value === "") throw new InvalidArgument("trigger", "is required");
  if (!(jobTriggers as readonly string[]).includes(value)) {
    throw new InvalidArgument("trigger", `must be one of ${jobTriggers.join(", ")}`);
  }
  if (value === "AUTOMATIC" && !callerIsService) {
    throw new InvalidArgument("trigger", "users may only schedule MANUAL runs");
  }
  return value as JobTrigger;
}

/** The idempotency key: required for MANUAL runs, optional otherwise ("" = none). */
export function parseIdempotencyKey(value: string, trigger: JobTrigger): string {
  if (value === "" && trigger === "MANUAL") {
    throw new InvalidArgument("idempotency_key", "is required for MANUAL runs");
  }
  if (value.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
    throw new InvalidArgument("idempotency_key", `must be at most ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`);
  }
  return value;
}

/** workflow_generation: 0 means "no check"; negative values are invalid. */
export function parseWorkflowGeneration(value: number | string | bigint): number {
  const generation = Number(value);
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw new InvalidArgument("workflow_generation", "must be zero (no check) or a positive generation");
  }
  return generation;
}

/** What ScheduleJob needs to know about the workflow, and the rules it applies. */
export interface WorkflowFacts {
  userId: string;
  terminated: boolean;
  generation: number;
}

/** Throws FailedPrecondition when a run may not be scheduled for this workflow. */
export function checkSchedulable(workflow: WorkflowFacts, expectedGeneration: number): void {
  if (workflow.terminated) {
    throw new FailedPrecondition("workflow_id: the workflow is terminated", "workflow_id");
  }
  if (expectedGeneration !== 0 && expectedGeneration !== workflow.generation) {
    throw new FailedPrecondition(
      `workflow_generation: the workflow is at generation ${workflow.generation}, not ${expectedGeneration}`,
      "workflow_generation",
    );
  }
}

export function parseJobPhase(field: string, value: string): JobPhase {
  if (!(jobPhases as readonly string[]).includes(value)) {
    throw new InvalidArgument(field, `must be one of ${jobPhases.join(", ")}`);
  }
  return value as JobPhase;
}

export function isTerminal(phase: JobPhase): boolean {
  return terminalJobPhases.includes(phase);
}

/** The phase of a run; an object nothing has acted on yet is PENDING. */
export function phaseOf(job: WorkflowJob): JobPhase {
  return job.status?.phase ?? "PENDING";
}

const phaseOrder: Record<JobPhase, number> = {
  PENDING: 0,
  QUEUED: 1,
  RUNNING: 2,
  COMPLETED: 3,
  FAILED: 3,
  CANCELED: 3,
};

/**
 * Runs only move forward: PENDING → QUEUED → RUNNING → a terminal phase (steps
 * may be skipped); terminal phases are final. Staying in the same phase is
 * allowed (a repeated write, or one that only sets the pod name).
 */
export function canTransition(from: JobPhase, to: JobPhase): boolean {
  if (from === to) return true;
  if (isTerminal(from)) return false;
  return phaseOrder[to] > phaseOrder[from];
}

/** The status after UpdateJobStatus: new phase and pod name, start/finish times filled in once. */
export function nextStatus(
  current: WorkflowJobStatus | undefined,
  to: JobPhase,
  podName: string,
  now: Date,
): WorkflowJobStatus {
  const from = current?.phase ?? "PENDING";
  if (!canTransition(from, to)) {
    throw new FailedPrecondition(`status: a ${from} job cannot become ${to}`, "status");
  }
  const status: WorkflowJobStatus = { ...current, phase: to };
  if (podName !== "") status.podName = podName;
  const at = now.toISOString();
  if (to === "RUNNING" && status.startedAt === undefined) status.startedAt = at;
  if (isTerminal(to) && status.finishedAt === undefined) status.finishedAt = at;
  return status;
}

function rfc3339(value: string | undefined): string {
  if (value === undefined || value === "") return "";
  const time = Date.parse(value);
  return Number.isNaN(time) ? "" : new Date(time).toISOString();
}

interface ManagedFieldsEntry {
  time?: string;
}

/** Last time the object was written: the newest managedFields entry, else its creation. */
export function updatedAt(job: WorkflowJob): string {
  const meta = job.metadata as { managedFields?: ManagedFieldsEntry[]; creationTimestamp?: string };
  let newest = Date.parse(meta.creationTimestamp ?? "");
  for (const entry of meta.managedFields ?? []) {
    const time = Date.parse(entry.time ?? "");
    if (!Number.isNaN(time) && (Number.isNaN(newest) || time > newest)) newest = time;
  }
  return Number.isNaN(newest) ? "" : new Date(newest).toISOString();
}

function common(job: WorkflowJob) {
  return {
    id: job.metadata.name ?? "",
    workflow_id: job.spec.workflowName,
    status: phaseOf(job),
    trigger: job.spec.trigger,
    scheduled_at: rfc3339(job.spec.scheduledAt),
    started_at: rfc3339(job.status?.startedAt),
    completed_at: rfc3339(job.status?.finishedAt),
    created_at: rfc3339(job.metadata.creationTimestamp),
    updated_at: updatedAt(job),
  };
}

/** GetJob's answer (Job A). */
export function jobResponse(job: WorkflowJob): GetJobResponse {
  return common(job);
}

/** GetJobByID's answer (Job B): with owner and container (Pod) name. */
export function jobByIdResponse(job: WorkflowJob): GetJobByIDResponse {
  return { ...common(job), user_id: job.spec.userId, container_id: job.status?.podName ?? "" };
}

/** One entry of ListJobs. */
export function jobsListEntry(job: WorkflowJob): JobsResponse {
  return { ...common(job), container_id: job.status?.podName ?? "", attempts: job.status?.attempts ?? 0 };
}

// ---------------------------------------------------------------- ListJobs

export interface JobFilters {
  status: JobPhase | undefined;
  trigger: JobTrigger | undefined;
}

export function parseJobFilters(filters: { status: string; trigger: string } | undefined): JobFilters {
  const status = filters?.status ?? "";
  const trigger = filters?.trigger ?? "";
  if (trigger !== "" && !(jobTriggers as readonly string[]).includes(trigger)) {
    throw new InvalidArgument("filters.trigger", `must be one of ${jobTriggers.join(", ")} (or empty)`);
  }
  return {
    status: status === "" ? undefined : parseJobPhase("filters.status", status),
    trigger: trigger === "" ? undefined : (trigger as JobTrigger),
  };
}

/** Position in the newest-first order: (scheduled time, name), both descending. */
interface JobPosition {
  at: number;
  name: string;
}

function positionOf(job: WorkflowJob): JobPosition {
  const at = Date.parse(job.spec.scheduledAt);
  return { at: Number.isNaN(at) ? 0 : at, name: job.metadata.name ?? "" };
}

/** Newest first: later scheduled time first, then the greater name (UUID v7 names are time-ordered). */
function compareNewestFirst(a: JobPosition, b: JobPosition): number {
  if (a.at !== b.at) return b.at - a.at;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

function encodeCursor(payload: object): string {
  return Buffer.from(JSON.stringify(payload), "utf8").toString("base64url");
}

/** Cursors this service makes are well under this; a longer one is not read at all. */
const CURSOR_MAX_LENGTH = 512;

function decodeCursor(field: string, cursor: string): Record<string, unknown> {
  let payload: unknown;
  try {
    if (cursor.length > CURSOR_MAX_LENGTH) throw new Error("too long");
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error("not base64url");
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidArgument(field, "is not a cursor returned by this service");
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new InvalidArgument(field, "is not a cursor returned by this service");
  }
  return payload as Record<string, unknown>;
}

export function encodeJobsCursor(position: JobPosition): string {
  return encodeCursor({ v: 1, t: position.at, n: position.name });
}

export function decodeJobsCursor(cursor: string): JobPosition | undefined {
  if (cursor === "") return undefined;
  const payload = decodeCursor("cursor", cursor);
  const { v, t, n } = payload;
  if (v !== 1 || typeof t !== "number" || !Number.isSafeInteger(t) || typeof n !== "string") {
    throw new InvalidArgument("cursor", "is not a cursor returned by this service");
  }
  return { at: t, name: n };
}

/** One page of a workflow's runs, newest first, after `cursor`; the cursor is "" on the last page. */
export function pageJobs(
  jobs: readonly WorkflowJob[],
  filters: JobFilters,
  cursor: string,
  pageSize = JOBS_PAGE_SIZE,
): { jobs: WorkflowJob[]; cursor: string } {
  const after = decodeJobsCursor(cursor);
  const matching = jobs
    .filter((job) => filters.status === undefined || phaseOf(job) === filters.status)
    .filter((job) => filters.trigger === undefined || job.spec.trigger === filters.trigger)
    .map((job) => ({ job, position: positionOf(job) }))
    .filter(({ position }) => after === undefined || compareNewestFirst(after, position) < 0)
    .sort((a, b) => compareNewestFirst(a.position, b.position));
  const page = matching.slice(0, pageSize);
  const last = page.at(-1);
  return {
    jobs: page.map(({ job }) => job),
    cursor: matching.length > pageSize && last ? encodeJobsCursor(last.position) : "",
  };
}

// ---------------------------------------------------------------- Logs

export type LogStreamName = "stdout" | "stderr";

/** A log line as stored and sent: 1-based sequence number within the job. */
export interface LogLine {
  seq: number;
  timestamp: string;
  stream: LogStreamName;
  message: string;
}

/**
 * The one rule for reading a run's log (docs/jobs.md, "Runs without a log"):
 * only CONTAINER workflows produce logs, so any log read of a HEARTBEAT run —
 * GetJobLogs, SearchJobLogs, StreamJobLogs — is FailedPrecondition; reading
 * what is kept of a run (GetJobLogs, SearchJobLogs, and StreamJobLogs of a run
 * already finished, which replays) needs log retention on. Following a run
 * still in progress (StreamJobLogs) works whatever the retention.
 */
export function checkLogRead(workflow: { kind: string; logRetention: boolean }, read: "kept" | "live"): void {
  if (workflow.kind !== "CONTAINER") {
    throw new FailedPrecondition(
      `workflow_id: ${workflow.kind} workflows produce no logs (only CONTAINER runs have one)`,
      "workflow_id",
    );
  }
  if (read === "kept" && !workflow.logRetention) {
    throw new FailedPrecondition("workflow_id: log retention is off for this workflow", "workflow_id");
  }
}

/** filters.stream: required; which stored streams it selects. */
export function parseLogStreamFilter(value: LogStream | undefined): LogStreamName[] {
  switch (value) {
    case LogStream.LOG_STREAM_STDOUT:
      return ["stdout"];
    case LogStream.LOG_STREAM_STDERR:
      return ["stderr"];
    case LogStream.LOG_STREAM_ALL:
      return ["stdout", "stderr"];
    case LogStream.LOG_STREAM_UNSPECIFIED:
    case undefined:
      throw new InvalidArgument("filters.stream", "is required (STDOUT, STDERR or ALL)");
    default:
      throw new InvalidArgument("filters.stream", "must be STDOUT, STDERR or ALL");
  }
}

export type SortDirection = "asc" | "desc";

/** sort_order: UNSPECIFIED means newest first. */
export function parseSortOrder(value: LogSortOrder | undefined): SortDirection {
  switch (value) {
    case LogSortOrder.LOG_SORT_ORDER_ASC:
      return "asc";
    case LogSortOrder.LOG_SORT_ORDER_DESC:
    case LogSortOrder.LOG_SORT_ORDER_UNSPECIFIED:
    case undefined:
      return "desc";
    default:
      throw new InvalidArgument("sort_order", "must be ASC, DESC or UNSPECIFIED");
  }
}

/** A logs cursor: the sequence number of the last line sent, bound to the sort direction. */
export function encodeLogsCursor(seq: number, direction: SortDirection): string {
  return encodeCursor({ v: 1, s: seq, o: direction });
}

export function decodeLogsCursor(cursor: string, direction: SortDirection): number | undefined {
  if (cursor === "") return undefined;
  const { v, s, o } = decodeCursor("cursor", cursor);
  if (
    v !== 1 ||
    typeof s !== "number" ||
    !Number.isSafeInteger(s) ||
    s < 0 ||
    (o !== "asc" && o !== "desc")
  ) {
    throw new InvalidArgument("cursor", "is not a cursor returned by this service");
  }
  if (o !== direction) throw new InvalidArgument("cursor", "was made for the other sort_order");
  return s;
}

/** Search text: required, matched case-insensitively as a plain substring. */
export function parseSearchMessage(value: string): string {
  if (value.length > 1024) throw new InvalidArgument("filters.message", "must be at most 1024 characters");
  if (value.trim() === "") throw new InvalidArgument("filters.message", "is required");
  return value;
}

/** Pages already-filtered lines (in ascending seq order) the way the Postgres queries do. */
export function pageLogLines(
  lines: readonly LogLine[],
  direction: SortDirection,
  cursor: string,
  pageSize = LOGS_PAGE_SIZE,
): { lines: LogLine[]; cursor: string } {
  const after = decodeLogsCursor(cursor, direction);
  const ordered = direction === "asc" ? [...lines] : [...lines].reverse();
  const rest =
    after === undefined
      ? ordered
      : ordered.filter((l) => (direction === "asc" ? l.seq > after : l.seq < after));
  const page = rest.slice(0, pageSize);
  const last = page.at(-1);
  return { lines: page, cursor: rest.length > pageSize && last ? encodeLogsCursor(last.seq, direction) : "" };
}

/** Case-insensitive substring match, the same rule as the ILIKE query. */
export function matchesSearch(message: string, needle: string): boolean {
  return message.toLowerCase().includes(needle.toLowerCase());
}

/** Wraps each case-insensitive occurrence of `needle` in the highlight markers of SPEC.md. */
export function highlight(message: string, needle: string, token: string): string {
  if (needle === "") return message;
  const lower = message.toLowerCase();
  const target = needle.toLowerCase();
  let out = "";
  let from = 0;
  for (;;) {
    const at = lower.indexOf(target, from);
    if (at < 0) break;
    out += message.slice(from, at);
    out += `__CV_HL_START_${token}__${message.slice(at, at + target.length)}__CV_HL_END_${token}__`;
    from = at + target.length;
  }
  return out + message.slice(from);
}

/**
 * One line of the pods/log API read with `timestamps=true`:
 * "<RFC 3339 nano timestamp> <text>". Lines without a parsable timestamp keep
 * their text and get `fallbackTime`. Timestamps are returned with millisecond
 * precision (ISO 8601, UTC).
 */
export function parseTimestampedLine(
  line: string,
  fallbackTime: string,
): { timestamp: string; message: string } {
  const space = line.indexOf(" ");
  const head = space < 0 ? line : line.slice(0, space);
  const time = Date.parse(head);
  if (space < 0 || !/^\d{4}-\d{2}-\d{2}T/.test(head) || Number.isNaN(time)) {
    return { timestamp: fallbackTime, message: line };
  }
  // Milliseconds, like the retained copy (Postgres keeps microseconds; the wire gets one format).
  return { timestamp: new Date(time).toISOString(), message: line.slice(space + 1) };
}

export interface TimedLine {
  timestamp: string;
  message: string;
}

/**
 * Whether two reads of one pod log, with stream=Stdout and stream=Stderr, came
 * back split. An apiserver without split streams, or a node that ignores the
 * option (kwok; a kubelet without the gate), answers both with the whole log:
 * both then hold it, one a prefix of the other (a line may be written between
 * the two reads). Undefined while the log is empty: nothing tells yet.
 */
export function readsAreSplit(
  stdout: readonly TimedLine[],
  stderr: readonly TimedLine[],
): boolean | undefined {
  if (stdout.length === 0 && stderr.length === 0) return undefined;
  if (stdout.length === 0 || stderr.length === 0) return true;
  const shorter = Math.min(stdout.length, stderr.length);
  for (let i = 0; i < shorter; i++) {
    const out = stdout[i];
    const err = stderr[i];
    if (out?.timestamp !== err?.timestamp || out?.message !== err?.message) return true;
  }
  return false;
}

/**
 * The two reads of a pod log with stream=Stdout and stream=Stderr, as one log:
 * not split (see readsAreSplit), every line is reported as stdout; otherwise
 * the two are merged by timestamp (stable: stdout first on ties).
 */
export function mergeSplitReads(
  stdout: readonly TimedLine[],
  stderr: readonly TimedLine[],
): { split: boolean; lines: (TimedLine & { stream: LogStreamName })[] } {
  if (readsAreSplit(stdout, stderr) === false) {
    const whole = stdout.length >= stderr.length ? stdout : stderr;
    return { split: false, lines: whole.map((l) => ({ ...l, stream: "stdout" })) };
  }
  const merged: (TimedLine & { stream: LogStreamName })[] = [];
  let i = 0;
  let j = 0;
  while (i < stdout.length || j < stderr.length) {
    const out = stdout[i];
    const err = stderr[j];
    if (out !== undefined && (err === undefined || Date.parse(out.timestamp) <= Date.parse(err.timestamp))) {
      merged.push({ ...out, stream: "stdout" });
      i++;
    } else if (err !== undefined) {
      merged.push({ ...err, stream: "stderr" });
      j++;
    }
  }
  return { split: true, lines: merged };
}
