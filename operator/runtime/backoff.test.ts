import { describe, expect, it } from "vitest";
import { backoffDelay, ExponentialBackoff } from "./backoff.ts";

describe("backoffDelay", () => {
  const options = { baseMs: 100, maxMs: 1_000 };
  it.each([
    [0, 0],
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1_000],
    [6, 1_000],
    [5_000, 1_000],
  ])("failure %i waits %i ms", (failures, delay) => {
    expect(backoffDelay(failures, options)).toBe(delay);
  });
});

describe("ExponentialBackoff", () => {
  it("doubles per key and starts over after forget", () => {
    const backoff = new ExponentialBackoff<string>({ baseMs: 5, maxMs: 1_000 });
    expect([backoff.when("a"), backoff.when("a"), backoff.when("a")]).toEqual([5, 10, 20]);
    expect(backoff.when("b")).toBe(5);
    expect(backoff.failures("a")).toBe(3);
    backoff.forget("a");
    expect(backoff.failures("a")).toBe(0);
    expect(backoff.when("a")).toBe(5);
  });

  it("refuses a nonsensical configuration", () => {
    expect(() => new ExponentialBackoff({ baseMs: 0, maxMs: 10 })).toThrow(/invalid back-off/);
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5 })).toThrow(/invalid back-off/);
  });
});
