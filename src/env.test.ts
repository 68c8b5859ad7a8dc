import { describe, expect, it } from "vitest";
import { parseDuration } from "./env.ts";

// The grammar of every duration setting and of `chronoverse heartbeat --timeout`.
describe("parseDuration", () => {
  it.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["250ms", 250],
    ["5m", 300_000],
    ["15", 15_000],
    ["1.5s", 1_500],
    ["", undefined],
    ["10x", undefined],
  ])("reads %j as %s ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["30s", 30_000],
    ["250ms", 250],
    ["15m", 900_000],
    ["24h", 86_400_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["90", 90_000],
  ])("parses %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "abc", "10 minutes", "-5s", "5d", "h"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
