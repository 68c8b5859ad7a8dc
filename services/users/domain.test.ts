import { describe, expect, it } from "vitest";
import {
  loginPasswordCouldMatch,
  normalizeEmail,
  parseNotificationPreference,
  validateNewPassword,
  validateUserId,
} from "./domain.ts";

describe("normalizeEmail", () => {
  it.each([
    ["Ada@Example.COM", "ada@example.com"],
    ["  ada@example.com\n", "ada@example.com"],
    ["first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"],
    [`ada@${"a".repeat(63)}.com`, `ada@${"a".repeat(63)}.com`],
    [`${" ".repeat(100_000)}ada@example.com`, "ada@example.com"],
  ])("accepts %j as %j", (raw, normalized) => {
    expect(normalizeEmail(raw)).toBe(normalized);
  });

  it.each([
    ["", /email: is required/],
    ["ada", /valid email/],
    ["ada@", /valid email/],
    ["@example.com", /valid email/],
    ["ada@example", /valid email/],
    ["ada@-example.com", /valid email/],
    ["a da@example.com", /valid email/],
    [`${"a".repeat(89)}@example.com`, /at most 100 characters/],
    // near-matches far past the limit: refused on length before the pattern runs
    [`${"a".repeat(100_000)}@example.com`, /at most 100 characters/],
    [`ada@${"a-".repeat(50_000)}.com`, /at most 100 characters/],
    [`ada@${"a.".repeat(50_000)}`, /at most 100 characters/],
    // near-matches within the limit: the domain labels' pattern answers right
    [`ada@${"a-".repeat(45)}.com`, /valid email/],
    [`ada@${"a".repeat(64)}.com`, /valid email/],
  ])("rejects %j", (raw, message) => {
    expect(() => normalizeEmail(raw)).toThrow(message);
  });

  it("allows exactly 100 characters", () => {
    expect(normalizeEmail(`${"a".repeat(88)}@example.com`)).toHaveLength(100);
  });
});

describe("passwords", () => {
  it("counts characters, not bytes", () => {
    expect(validateNewPassword("ééééééé€")).toBe("ééééééé€");
    expect(() => validateNewPassword("🔑".repeat(7))).toThrow(/got 7/);
    expect(() => validateNewPassword("")).toThrow(/password: is required/);
    expect(loginPasswordCouldMatch("x".repeat(73))).toBe(false);
    expect(loginPasswordCouldMatch("x".repeat(72))).toBe(true);
  });

  it("counts long and astral passwords right without copying them", () => {
    expect(validateNewPassword("🔑".repeat(72))).toHaveLength(144);
    expect(() => validateNewPassword("🔑".repeat(73))).toThrow(/got 73/);
    expect(() => validateNewPassword("x".repeat(4_000_000))).toThrow(/got 4000000/);
    expect(loginPasswordCouldMatch("🔑".repeat(1_000_000))).toBe(false);
    // a lone surrogate is one character
    expect(() => validateNewPassword(`${"\ud83d".repeat(7)}`)).toThrow(/got 7/);
  });
});

describe("parseNotificationPreference", () => {
  it("accepts exactly ALERTS, ALL and NONE", () => {
    expect(["ALERTS", "ALL", "NONE"].map(parseNotificationPreference)).toEqual(["ALERTS", "ALL", "NONE"]);
    for (const bad of ["", "alerts", "SOME"]) {
      expect(() => parseNotificationPreference(bad)).toThrow(/notification_preference: must be one of/);
    }
  });
});

describe("validateUserId", () => {
  it("wants a lower-case UUID", () => {
    expect(validateUserId("0193a000-0000-7000-8000-000000000001")).toBe(
      "0193a000-0000-7000-8000-000000000001",
    );
    expect(() => validateUserId("0193A000-0000-7000-8000-000000000001")).toThrow(/lower-case UUID/);
    expect(() => validateUserId("")).toThrow(/id: is required/);
  });
});
