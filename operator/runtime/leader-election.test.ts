import { describe, expect, it } from "vitest";
import { loadOperatorConfig } from "../config.ts";
import {
  defaultLeaseTimings,
  type LeaseTimings,
  leaderStep,
  renewBudgetMs,
  requestTimeout,
  stopBudgetMs,
  validateTimings,
} from "./leader-election.ts";

const timings: LeaseTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

describe("leaderStep", () => {
  it("renews after a retry period while the renew deadline is far", () => {
    expect(leaderStep(1_000, 0, timings)).toEqual({ action: "renew", waitMs: 2_000 });
  });

  it("never sleeps past the renew deadline", () => {
    expect(leaderStep(9_500, 0, timings)).toEqual({ action: "renew", waitMs: 500 });
  });

  it("steps down once the renew deadline has passed, counted from the start of the last renewal", () => {
    expect(leaderStep(10_000, 0, timings)).toEqual({ action: "step-down" });
    expect(leaderStep(25_000, 12_000, timings)).toEqual({ action: "step-down" });
    expect(leaderStep(21_999, 12_000, timings)).toMatchObject({ action: "renew" });
  });
});

describe("renewBudgetMs", () => {
  it("gives a renewal the request timeout while the deadline is further", () => {
    expect(renewBudgetMs(2_000, 0, timings)).toBe(5_000);
  });

  it("cuts a renewal's requests at the renew deadline", () => {
    expect(renewBudgetMs(8_000, 0, timings)).toBe(2_000);
    expect(renewBudgetMs(10_500, 0, timings)).toBe(0);
  });
});

describe("requestTimeout", () => {
  it("is half the renew deadline unless set", () => {
    expect(requestTimeout(defaultLeaseTimings)).toBe(5_000);
    expect(requestTimeout({ ...timings, requestTimeoutMs: 1_500 })).toBe(1_500);
  });
});

describe("stopBudgetMs", () => {
  it("is what is left of the lease after the renew deadline", () => {
    expect(stopBudgetMs(timings)).toBe(5_000);
  });

  it("leaves the leader time to stop before any other replica may take over, for any valid timings", () => {
    for (const t of [
      defaultLeaseTimings,
      { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 },
    ]) {
      validateTimings(t);
      // The step-down happens at renewedAt + renew deadline; a takeover at renewedAt + lease duration at the earliest.
      expect(t.renewDeadlineMs + stopBudgetMs(t)).toBe(t.leaseDurationMs);
      expect(stopBudgetMs(t)).toBeGreaterThan(0);
    }
  });
});

describe("validateTimings", () => {
  it("accepts client-go's defaults", () => {
    expect(() => validateTimings(defaultLeaseTimings)).not.toThrow();
  });

  it.each([
    [{ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }, /renew deadline/],
    [{ leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }, /retry period/],
    [{ ...timings, requestTimeoutMs: 0 }, /request timeout/],
    [{ ...timings, requestTimeoutMs: 11_000 }, /request timeout/],
  ])("refuses %j", (bad, message) => {
    expect(() => validateTimings(bad)).toThrow(message);
  });
});

describe("OPERATOR_LEASE_REQUEST_TIMEOUT_MS", () => {
  it("is unset by default (half the renew deadline) and read when set", () => {
    expect(requestTimeout(loadOperatorConfig({}).lease)).toBe(5_000);
    expect(loadOperatorConfig({ OPERATOR_LEASE_REQUEST_TIMEOUT_MS: "3000" }).lease.requestTimeoutMs).toBe(
      3_000,
    );
  });

  it("must fit in the renew deadline", () => {
    expect(() => loadOperatorConfig({ OPERATOR_LEASE_REQUEST_TIMEOUT_MS: "12000" })).toThrow(
      /request timeout/,
    );
  });
});
