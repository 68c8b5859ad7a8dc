import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowSpec } from "../../operator/api/v1alpha1/workflow.ts";
import { FailedPrecondition, InvalidArgument } from "../../src/grpc/errors.ts";
import {
  type CreateInput,
  decodeCursor,
  encodeCursor,
  formatGoDuration,
  formatPayload,
  pageOf,
  parseGoDuration,
  parseListFilter,
  planUpdate,
  requestFieldForSpecPath,
  specForCreate,
  toGetWorkflowByIdResponse,
  toGetWorkflowResponse,
  toListItem,
  validateUpdate,
} from "./domain.ts";

const USER = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const open = { allowPrivateHeartbeats: false };
const heartbeat = (payload: object): CreateInput => ({
  user_id: USER,
  name: "ping",
  kind: "HEARTBEAT",
  payload: JSON.stringify(payload),
  interval: 5,
  max_consecutive_job_failures_allowed: 3,
});
const container = (payload: object, logRetention?: boolean): CreateInput => ({
  ...heartbeat(payload),
  kind: "CONTAINER",
  ...(logRetention !== undefined ? { log_retention: logRetention } : {}),
});

function fails(fn: () => unknown, type: typeof InvalidArgument | typeof FailedPrecondition, field: string) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    expect((error as InvalidArgument).field).toBe(field);
    return;
  }
  throw new Error(`expected ${type.name} on ${field}`);
}

describe("Go durations", () => {
  it.each([
    ["10s", 10e9],
    ["1m30s", 90e9],
    ["1.5h", 5400e9],
    ["500ms", 5e8],
    ["0", 0],
  ])("parses %s", (text, nanos) => expect(parseGoDuration(text)).toBe(nanos));
  it.each(["", "10", "ten seconds", "1d", "s"])("rejects %j", (text) =>
    expect(parseGoDuration(text)).toBeUndefined(),
  );
  it.each([
    [10, "10s"],
    [90, "1m30s"],
    [300, "5m0s"],
    [3600, "1h0m0s"],
  ])("formats %d s as %s", (seconds, text) => expect(formatGoDuration(seconds)).toBe(text));
});

describe("specForCreate", () => {
  it("builds a heartbeat spec with defaults", () => {
    const spec = specForCreate(heartbeat({ endpoint: "https://example.com/health" }), open);
    expect(spec).toEqual({
      userId: USER,
      displayName: "ping",
      kind: "HEARTBEAT",
      heartbeat: { endpoint: "https://example.com/health", expectedStatusCode: 200, timeoutSeconds: 10 },
      intervalMinutes: 5,
      maxConsecutiveFailures: 3,
      logRetention: false,
      terminated: false,
    });
  });

  it("builds a container spec with log retention on by default", () => {
    const spec = specForCreate(
      container({ image: "busybox:1.36", cmd: ["echo", "hi"], env: { A: "1" }, timeout: "2m" }),
      open,
    );
    expect(spec.container).toEqual({
      image: "busybox:1.36",
      command: ["echo", "hi"],
      env: { A: "1" },
      timeoutSeconds: 120,
    });
    expect(spec.logRetention).toBe(true);
    expect(specForCreate(container({ image: "busybox" }, false), open).logRetention).toBe(false);
  });

  it.each([
    [{ ...heartbeat({ endpoint: "https://e.com" }), name: "" }, "name"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), name: "x".repeat(256) }, "name"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), kind: "CRON" }, "kind"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), interval: 0 }, "interval"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), interval: 10081 }, "interval"],
    [
      { ...heartbeat({ endpoint: "https://e.com" }), max_consecutive_job_failures_allowed: 2 },
      "max_consecutive_job_failures_allowed",
    ],
    [
      { ...heartbeat({ endpoint: "https://e.com" }), max_consecutive_job_failures_allowed: 101 },
      "max_consecutive_job_failures_allowed",
    ],
    [{ ...heartbeat({ endpoint: "https://e.com" }), payload: "{" }, "payload"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), payload: "[]" }, "payload"],
    [heartbeat({}), "payload.endpoint"],
    [heartbeat({ endpoint: "ftp://e.com" }), "payload.endpoint"],
    [heartbeat({ endpoint: "https://e.com", expected_status_code: 99 }), "payload.expected_status_code"],
    [heartbeat({ endpoint: "https://e.com", expected_status_code: 600 }), "payload.expected_status_code"],
    [heartbeat({ endpoint: "https://e.com", headers: { A: "x" } }), "payload.headers.A"],
    [heartbeat({ endpoint: "https://e.com", timeout: "soon" }), "payload.timeout"],
    [heartbeat({ endpoint: "https://e.com", timeout: "1500ms" }), "payload.timeout"],
    [heartbeat({ endpoint: "https://e.com", extra: 1 }), "payload.extra"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), log_retention: true }, "log_retention"],
    [container({}), "payload.image"],
    [container({ image: "busybox", cmd: "echo" }), "payload.cmd"],
    [container({ image: "busybox", env: { A: 1 } }), "payload.env.A"],
    [container({ image: "busybox", cmd: Array(257).fill("x") }), "payload.cmd"],
    [container({ image: "busybox", cmd: ["x".repeat(8193)] }), "payload.cmd"],
    [
      container({
        image: "busybox",
        env: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, "x"])),
      }),
      "payload.env",
    ],
    [container({ image: "busybox", env: { A: "x".repeat(32769) } }), "payload.env.A"],
    [heartbeat({ endpoint: "https://e.com", headers: { A: Array(17).fill("x") } }), "payload.headers.A"],
    [
      heartbeat({
        endpoint: "https://e.com",
        headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`H${i}`, ["x"]])),
      }),
      "payload.headers",
    ],
    [heartbeat({ endpoint: `https://e.com/${"x".repeat(2048)}` }), "payload.endpoint"],
  ])("rejects %j on %s", (request, field) =>
    fails(() => specForCreate(request, open), InvalidArgument, field),
  );

  it("refuses timeouts over the limits and private endpoints with FailedPrecondition", () => {
    fails(
      () => specForCreate(heartbeat({ endpoint: "https://e.com", timeout: "5m1s" }), open),
      FailedPrecondition,
      "payload.timeout",
    );
    expect(
      specForCreate(heartbeat({ endpoint: "https://e.com", timeout: "5m" }), open).heartbeat?.timeoutSeconds,
    ).toBe(300);
    fails(
      () => specForCreate(container({ image: "busybox", timeout: "61m" }), open),
      FailedPrecondition,
      "payload.timeout",
    );
    fails(
      () => specForCreate(heartbeat({ endpoint: "http://127.0.0.1:8080/" }), open),
      FailedPrecondition,
      "payload.endpoint",
    );
    expect(
      specForCreate(heartbeat({ endpoint: "http://127.0.0.1:8080/" }), { allowPrivateHeartbeats: true })
        .heartbeat?.endpoint,
    ).toBe("http://127.0.0.1:8080/");
  });
});

const baseSpec = (): WorkflowSpec => specForCreate(container({ image: "busybox", cmd: ["true"] }), open);

describe("requestFieldForSpecPath", () => {
  it.each([
    ["spec.displayName", "name"],
    ["spec.intervalMinutes", "interval"],
    ["spec.maxConsecutiveFailures", "max_consecutive_job_failures_allowed"],
    ["spec.container.command[3]", "payload"],
    ["spec.heartbeat.endpoint", "payload"],
    ["spec.logRetention", "log_retention"],
  ])("%s → %s", (path, field) => expect(requestFieldForSpecPath(path)).toBe(field));
});

describe("planUpdate", () => {
  const fields = (payload: object, interval = 5) =>
    validateUpdate(
      { name: "ping", payload: JSON.stringify(payload), interval, max_consecutive_job_failures_allowed: 3 },
      "CONTAINER",
      open,
    );

  it("an interval change alone does not rebuild", () => {
    const plan = planUpdate(baseSpec(), fields({ image: "busybox", cmd: ["true"] }, 10));
    expect(plan).toMatchObject({ rebuild: false, specChanged: true });
    expect(plan.spec.intervalMinutes).toBe(10);
  });
  it("a payload change rebuilds", () => {
    expect(planUpdate(baseSpec(), fields({ image: "alpine" })).rebuild).toBe(true);
  });
  it("a terminated workflow comes back and rebuilds", () => {
    const plan = planUpdate({ ...baseSpec(), terminated: true }, fields({ image: "busybox", cmd: ["true"] }));
    expect(plan).toMatchObject({ rebuild: true, specChanged: true });
    expect(plan.spec.terminated).toBe(false);
  });
  it("the same values change nothing", () => {
    expect(planUpdate(baseSpec(), fields({ image: "busybox", cmd: ["true"] }))).toMatchObject({
      rebuild: false,
      specChanged: false,
    });
  });
});

function workflow(id: string, spec: Partial<WorkflowSpec> = {}, buildStatus?: "COMPLETED"): Workflow {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "Workflow",
    metadata: { name: id, generation: 3, creationTimestamp: "2026-01-02T03:04:05Z" },
    spec: { ...baseSpec(), ...spec },
    ...(buildStatus ? { status: { buildStatus, consecutiveFailures: 2 } } : {}),
  };
}

describe("responses", () => {
  const w = workflow("0190a1b2-c3d4-7e5f-8a9b-000000000001", {}, "COMPLETED");
  it("shape A, B and the list item carry the same fields", () => {
    const a = toGetWorkflowResponse(w);
    expect(a).toEqual({
      id: "0190a1b2-c3d4-7e5f-8a9b-000000000001",
      name: "ping",
      payload: JSON.stringify({ image: "busybox", cmd: ["true"], env: {}, timeout: "30s" }),
      kind: "CONTAINER",
      build_status: "COMPLETED",
      interval: 5,
      consecutive_job_failures_count: 2,
      max_consecutive_job_failures_allowed: 3,
      created_at: "2026-01-02T03:04:05.000Z",
      updated_at: "2026-01-02T03:04:05.000Z",
      terminated_at: "",
      log_retention: true,
      generation: 3,
    });
    expect(toGetWorkflowByIdResponse(w)).toEqual({ ...a, user_id: USER });
    const { generation: _, ...item } = a;
    expect(toListItem(w)).toEqual(item);
  });
  it("an absent status reads as QUEUED with no failures", () => {
    const a = toGetWorkflowResponse(workflow("0190a1b2-c3d4-7e5f-8a9b-000000000001"));
    expect(a.build_status).toBe("QUEUED");
    expect(a.consecutive_job_failures_count).toBe(0);
  });
  it("heartbeat payloads come back in the user's shape", () => {
    const spec = specForCreate(
      heartbeat({ endpoint: "https://e.com", headers: { X: ["a", "b"] }, timeout: "90s" }),
      open,
    );
    expect(JSON.parse(formatPayload(spec))).toEqual({
      endpoint: "https://e.com",
      expected_status_code: 200,
      headers: { X: ["a", "b"] },
      timeout: "1m30s",
    });
  });
});

describe("listing", () => {
  const ids = Array.from({ length: 25 }, (_, i) => `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, "0")}`);
  const all = ids.map((id, i) =>
    workflow(id, { displayName: i % 2 ? `Odd ${i}` : `even ${i}`, intervalMinutes: i + 1 }),
  );

  it("pages newest first with an opaque cursor", () => {
    const filter = parseListFilter(undefined);
    const first = pageOf(all, filter, undefined);
    expect(first.items.map((w) => w.metadata.name)).toEqual(ids.slice(15).reverse());
    const second = pageOf(all, filter, decodeCursor(first.cursor));
    expect(second.items.map((w) => w.metadata.name)).toEqual(ids.slice(5, 15).reverse());
    const third = pageOf(all, filter, decodeCursor(second.cursor));
    expect(third.items).toHaveLength(5);
    expect(third.cursor).toBe("");
  });
  it("filters by name substring (case-insensitive) and interval range", () => {
    const filter = parseListFilter({
      query: "ODD",
      kind: "",
      build_status: "",
      is_terminated: false,
      interval_min: 2,
      interval_max: 6,
    });
    expect(pageOf(all, filter, undefined).items.map((w) => w.spec.displayName)).toEqual([
      "Odd 5",
      "Odd 3",
      "Odd 1",
    ]);
  });
  it("rejects bad cursors and min > max", () => {
    for (const cursor of ["nope", "!!", encodeCursor("x"), Buffer.from("v2:abc").toString("base64url")]) {
      fails(() => decodeCursor(cursor), InvalidArgument, "cursor");
    }
    fails(
      () =>
        parseListFilter({
          query: "",
          kind: "",
          build_status: "",
          is_terminated: false,
          interval_min: 9,
          interval_max: 3,
        }),
      InvalidArgument,
      "filters.interval_min",
    );
    fails(
      () =>
        parseListFilter({
          query: "",
          kind: "X",
          build_status: "",
          is_terminated: false,
          interval_min: 0,
          interval_max: 0,
        }),
      InvalidArgument,
      "filters.kind",
    );
  });
});
