// Users: the rules of SPEC.md for emails, passwords and notification
// preferences, as pure functions that return the clean value or throw an
// InvalidArgument naming the field.
import { InvalidArgument } from "../../src/grpc/errors.ts";

export const EMAIL_MAX_LENGTH = 100;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 72;

export const NOTIFICATION_PREFERENCES = ["ALERTS", "ALL", "NONE"] as const;
export type NotificationPreference = (typeof NOTIFICATION_PREFERENCES)[number];
export const DEFAULT_NOTIFICATION_PREFERENCE: NotificationPreference = "ALERTS";

// The WHATWG "valid e-mail address" (what browsers accept for <input type=email>),
// with at least one dot in the domain: local@example.com, not local@localhost.
const EMAIL_PATTERN =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Validates an email and returns its canonical form: surrounding whitespace
 * removed and lower-cased, which is how it is stored and compared.
 */
export function normalizeEmail(raw: string): string {
  const email = raw.trim();
  if (email === "") throw new InvalidArgument("email", "is required");
  if (email.length > EMAIL_MAX_LENGTH) {
    throw new InvalidArgument("email", `must be at most ${EMAIL_MAX_LENGTH} characters`);
  }
  if (!EMAIL_PATTERN.test(email)) throw new InvalidArgument("email", "must be a valid email address");
  return email.toLowerCase();
}

/** Password length in characters (code points), not bytes or UTF-16 units. */
export function passwordLength(password: string): number {
  // Counted in place: a spread would copy a request's megabytes into an array first.
  let length = 0;
  for (let i = 0; i < password.length; i++) {
    const unit = password.charCodeAt(i);
    const next = password.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
    length++;
  }
  return length;
}

/** Checks a new password against the length rule (8–72 characters). */
export function validateNewPassword(password: string): string {
  if (password === "") throw new InvalidArgument("password", "is required");
  const length = passwordLength(password);
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new InvalidArgument(
      "password",
      `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (got ${length})`,
    );
  }
  return password;
}

/**
 * At login only presence is checked: a password that could never have been
 * registered is just a wrong password, answered like any other.
 */
export function loginPasswordCouldMatch(password: string): boolean {
  const length = passwordLength(password);
  return length >= PASSWORD_MIN_LENGTH && length <= PASSWORD_MAX_LENGTH;
}

export function parseNotificationPreference(raw: string): NotificationPreference {
  if ((NOTIFICATION_PREFERENCES as readonly string[]).includes(raw)) return raw as NotificationPreference;
  throw new InvalidArgument(
    "notification_preference",
    `must be one of ${NOTIFICATION_PREFERENCES.join(", ")}${raw === "" ? "" : ` (got ${JSON.stringify(raw)})`}`,
  );
}

export function validateUserId(raw: string, field = "id"): string {
  if (raw === "") throw new InvalidArgument(field, "is required");
  if (!UUID_PATTERN.test(raw)) throw new InvalidArgument(field, "must be a lower-case UUID");
  return raw;
}
