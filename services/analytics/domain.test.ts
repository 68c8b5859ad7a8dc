import { describe, expect, it } from "vitest";
import {
  counter,
  jobDurationMs,
  totalSeconds,
  uint32,
  userAnalyticsResponse,
  workflowAnalyticsResponse,
} from "./domain.ts";

describe("jobDurationMs", () => {
  const start = new Date("2026-01-01T00:00:00.000Z");
  it("is completed − started", () => {
    expect(jobDurationMs(start, new Date("2026-01-01T00:01:30.250Z"))).toBe(90_250);
  });
  it("is zero when a time is missing or the clocks disagree", () => {
    expect(jobDurationMs(null, start)).toBe(0);
    expect(jobDurationMs(start, undefined)).toBe(0);
    expect(jobDurationMs(new Date("2026-01-01T00:00:05Z"), start)).toBe(0);
    expect(jobDurationMs(new Date("bad"), start)).toBe(0);
  });
});

describe("totals", () => {
  it("rounds the summed milliseconds down once", () => {
    expect(totalSeconds(3 * 400)).toBe(1);
    expect(totalSeconds(999)).toBe(0);
  });
  it("reads pg bigint strings", () => {
    expect(counter("12")).toBe(12);
    expect(counter(null)).toBe(0);
    expect(counter("-1")).toBe(0);
  });
  it("saturates uint32 fields", () => {
    expect(uint32(2 ** 32 + 5)).toBe(2 ** 32 - 1);
    expect(uint32(7)).toBe(7);
  });
  it("shapes the responses", () => {
    expect(
      userAnalyticsResponse({
        totalWorkflows: 2,
        totalJobs: 3,
        totalJobLogs: 4,
        totalJobExecutionDurationMs: 5_999,
      }),
    ).toEqual({ total_workflows: 2, total_jobs: 3, total_joblogs: 4, total_job_execution_duration: 5 });
    expect(
      workflowAnalyticsResponse({
        workflowId: "w",
        totalJobs: 2 ** 33,
        totalJobLogs: 1,
        totalJobExecutionDurationMs: 1000,
      }),
    ).toEqual({
      workflow_id: "w",
      total_job_execution_duration: 1,
      total_jobs: 2 ** 32 - 1,
      total_joblogs: 1,
    });
  });
});
