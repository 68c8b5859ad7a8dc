// Notifications rules from SPEC.md, pure: which kinds exist, what a payload
// must contain, which kinds a user's preference shows, the page size, and the
// opaque list cursor. No I/O here; server.ts and store.ts do that.
import { InvalidArgument } from "../../src/grpc/errors.ts";

export const NOTIFICATION_KINDS = ["WEB_ALERT", "WEB_ERROR", "WEB_WARN", "WEB_SUCCESS", "WEB_INFO"] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const ENTITY_TYPES = ["WORKFLOW", "JOB"] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** SPEC.md, Numbers: notifications are listed 1000 to a page. */
export const NOTIFICATIONS_PAGE_SIZE = 1000;
/** Ids accepted by one MarkNotificationsRead call (one page's worth). */
export const MAX_IDS_PER_MARK_READ = 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
export const MAX_TITLE_LENGTH = 255;
export const MAX_MESSAGE_LENGTH = 4096;
/** Bytes of the payload JSON as received. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

export interface NotificationPayload {
  title: string;
  message: string;
  entity_id: string;
  entity_type: EntityType;
  action_url: string;
  // Further keys are kept as given (forward compatibility with new clients).
  [extra: string]: unknown;
}

export interface NewNotification {
  userId: string;
  kind: NotificationKind;
  payload: NotificationPayload;
  idempotencyKey: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_SOURCE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const WORKFLOW_URL = new RegExp(`^/workflows/(${UUID_SOURCE})$`, "i");
const JOB_URL = new RegExp(`^/workflows/(${UUID_SOURCE})/jobs/(${UUID_SOURCE})$`, "i");

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function invalid(field: string, message: string): InvalidArgument {
  return new InvalidArgument(field, message);
}

/** A required uuid field, returned lower-cased. */
export function requireUuid(field: string, value: string): string {
  if (value === "") throw invalid(field, "is required");
  if (!isUuid(value)) throw invalid(field, "must be a UUID");
  return value.toLowerCase();
}

export function isNotificationKind(value: string): value is NotificationKind {
  return (NOTIFICATION_KINDS as readonly string[]).includes(value);
}

function requireString(payload: Record<string, unknown>, key: string, maxLength?: number): string {
  const field = `payload.${key}`;
  const value = payload[key];
  if (value === undefined || value === null) throw invalid(field, "is required");
  if (typeof value !== "string") throw invalid(field, "must be a string");
  if (value.trim() === "") throw invalid(field, "must not be empty");
  if (maxLength !== undefined && [...value].length > maxLength) {
    throw invalid(field, `must be at most ${maxLength} characters`);
  }
  return value;
}

/**
 * Parses and checks a CreateNotification payload: a JSON object with title,
 * message, entity_id (uuid), entity_type (WORKFLOW | JOB) and an action_url
 * that points at that entity (`/workflows/{id}` for a workflow,
 * `/workflows/{id}/jobs/{entity_id}` for a job).
 */
export function parsePayload(json: string): NotificationPayload {
  if (json.trim() === "") throw invalid("payload", "is required");
  if (Buffer.byteLength(json, "utf8") > MAX_PAYLOAD_BYTES) {
    throw invalid("payload", `must be at most ${MAX_PAYLOAD_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw invalid("payload", "must be valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid("payload", "must be a JSON object");
  }
  const payload = parsed as Record<string, unknown>;
  const title = requireString(payload, "title", MAX_TITLE_LENGTH);
  const message = requireString(payload, "message", MAX_MESSAGE_LENGTH);
  const entityId = requireString(payload, "entity_id");
  if (!isUuid(entityId)) throw invalid("payload.entity_id", "must be a UUID");
  const entityType = requireString(payload, "entity_type");
  if (!(ENTITY_TYPES as readonly string[]).includes(entityType)) {
    throw invalid("payload.entity_type", `must be one of ${ENTITY_TYPES.join(", ")}`);
  }
  const actionUrl = requireString(payload, "action_url");
  if (entityType === "WORKFLOW") {
    const match = WORKFLOW_URL.exec(actionUrl);
    if (!match) throw invalid("payload.action_url", "must be /workflows/{id} for a WORKFLOW entity");
    if (match[1]?.toLowerCase() !== entityId.toLowerCase()) {
      throw invalid("payload.action_url", "must name the workflow in payload.entity_id");
    }
  } else {
    const match = JOB_URL.exec(actionUrl);
    if (!match) throw invalid("payload.action_url", "must be /workflows/{id}/jobs/{job} for a JOB entity");
    if (match[2]?.toLowerCase() !== entityId.toLowerCase()) {
      throw invalid("payload.action_url", "must name the job in payload.entity_id");
    }
  }
  return {
    ...payload,
    title,
    message,
    entity_id: entityId.toLowerCase(),
    entity_type: entityType as EntityType,
    action_url: actionUrl.toLowerCase(),
  };
}

export interface CreateNotificationInput {
  user_id: string;
  kind: string;
  payload: string;
  idempotency_key: string;
}

/** Checks a CreateNotification request, field by field in wire order. */
export function parseNewNotification(request: CreateNotificationInput): NewNotification {
  const userId = requireUuid("user_id", request.user_id);
  if (request.kind === "") throw invalid("kind", "is required");
  if (!isNotificationKind(request.kind)) {
    throw invalid("kind", `must be one of ${NOTIFICATION_KINDS.join(", ")}`);
  }
  const payload = parsePayload(request.payload);
  const key = request.idempotency_key;
  // A key over twice the limit in UTF-16 units is too long without counting (or copying) it.
  if (key.length > 2 * MAX_IDEMPOTENCY_KEY_LENGTH || [...key].length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalid("idempotency_key", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  if (key.trim() === "") throw invalid("idempotency_key", "is required");
  return { userId, kind: request.kind, payload, idempotencyKey: key };
}

/**
 * The ids of a MarkNotificationsRead request: each a UUID (the error names its
 * index), lower-cased, duplicates dropped, at most MAX_IDS_PER_MARK_READ.
 */
export function parseIdsToMark(ids: readonly string[]): string[] {
  if (ids.length > MAX_IDS_PER_MARK_READ) {
    throw invalid("ids", `at most ${MAX_IDS_PER_MARK_READ} ids per call`);
  }
  const unique = new Set<string>();
  ids.forEach((id, index) => {
    unique.add(requireUuid(`ids[${index}]`, id));
  });
  return [...unique];
}

export const NOTIFICATION_PREFERENCES = ["ALL", "ALERTS", "NONE"] as const;
export type NotificationPreference = (typeof NOTIFICATION_PREFERENCES)[number];
export const DEFAULT_NOTIFICATION_PREFERENCE: NotificationPreference = "ALERTS";

/**
 * Kinds a user with this preference sees in ListNotifications. An unknown or
 * missing preference counts as the default (ALERTS).
 */
export function visibleKinds(preference: string | undefined): readonly NotificationKind[] {
  switch (preference) {
    case "ALL":
      return NOTIFICATION_KINDS;
    case "NONE":
      return [];
    default:
      return ["WEB_ALERT"];
  }
}

// The cursor is the id of the last notification of the previous page. Ids are
// time-ordered UUIDv7, so "newest first" is "id descending" and the cursor
// resumes strictly below it. The version prefix lets the format change later
// without misreading old cursors.
const CURSOR_PREFIX = "n1:";

export function encodeCursor(lastId: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${lastId}`, "utf8").toString("base64url");
}

/** The id a cursor resumes after; undefined for the first page. */
export function decodeCursor(cursor: string): string | undefined {
  if (cursor === "") return undefined;
  // Cursors this service makes are under 64 characters: a longer one is not read at all.
  const text =
    cursor.length <= 128 && /^[A-Za-z0-9_-]+$/.test(cursor)
      ? Buffer.from(cursor, "base64url").toString("utf8")
      : "";
  const id = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : "";
  if (!isUuid(id)) throw invalid("cursor", "is not a cursor returned by ListNotifications");
  return id.toLowerCase();
}

/** RFC 3339 in UTC, empty when unset (SPEC.md notation). */
export function formatTimestamp(value: Date | null | undefined): string {
  return value ? value.toISOString() : "";
}
