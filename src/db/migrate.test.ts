import { describe, expect, it } from "vitest";
import { migrations, startRetryDelayMs } from "./migrate.ts";

describe("startRetryDelayMs", () => {
  it("waits 1 s, doubling, at most 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(startRetryDelayMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });
});

describe("migrations", () => {
  it("are listed in name order", () => {
    const names = Object.keys(migrations);
    expect(names).toEqual([...names].sort());
  });
});
