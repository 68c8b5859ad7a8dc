// The process logger: pino, JSON lines on stdout. Fields that could carry a
// secret are redacted wherever they appear in a log object, as a second line of
// defence: request bodies are never logged in the first place.
import pino, { type Logger } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const REDACTED_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
];

export function createLogger(options: { level?: LogLevel; name?: string } = {}): Logger {
  return pino({
    level: options.level ?? "info",
    ...(options.name === undefined ? {} : { name: options.name }),
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  });
}
