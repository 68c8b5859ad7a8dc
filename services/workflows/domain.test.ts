import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowSpec } from "../../operator/api/v1alpha1/workflow.ts";
import { FailedPrecondition, InvalidArgument } from "../../src/grpc/errors.ts";
import {
  type CreateInput,
  decodeCursor,
  encodeCursor,
  formatGoDuration,
  formatPayload,
  IDEMPOTENCY_KEY_MAX,
  longerThan,
  PAYLOAD_MAX_BYTES,
  pageOf,
  parseListFilter,
  parsePayload,
  planUpdate,
  requestFieldForSpecPath,
  requireIdempotencyKey,
  specForCreate,
  toGetWorkflowByIdResponse,
  toGetWorkflowResponse,
  toListItem,
  validateName,
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

describe("formatGoDuration", () => {
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
    [heartbeat({ endpoint: "https://e.com", headers: { A: 1 } }), "payload.headers.A"],
    [heartbeat({ endpoint: "https://e.com", timeout: "soon" }), "payload.timeout"],
    [heartbeat({ endpoint: "https://e.com", timeout: "0" }), "payload.timeout"],
    [{ ...heartbeat({ endpoint: "https://e.com" }), log_retention: true }, "log_retention"],
    [container({}), "payload.image"],
    [container({ image: "busybox", cmd: "echo" }), "payload.cmd"],
    [container({ image: "busybox", env: { A: 1 } }), "payload.env.A"],
    [container({ image: "busybox", cmd: Array(257).fill("x") }), "payload.cmd"],
    [container({ image: "busybox", cmd: ["x".repeat(8193)] }), "payload.cmd[0]"],
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

/** The error a call throws (or undefined), for asserting its field and message. */
function errorOf(fn: () => unknown): (InvalidArgument | FailedPrecondition) | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof InvalidArgument || error instanceof FailedPrecondition) return error;
    throw error;
  }
}

// Issue 9 item 7: what the original Chronoverse's clients send must keep working.
describe("payload compatibility with the original's clients", () => {
  it("accepts header values as plain strings and stores the list form", () => {
    const spec = specForCreate(
      heartbeat({
        endpoint: "https://e.com",
        headers: { "Content-Type": "application/json", Accept: ["text/plain", "application/json"] },
      }),
      open,
    );
    expect(spec.heartbeat?.headers).toEqual({
      "Content-Type": ["application/json"],
      Accept: ["text/plain", "application/json"],
    });
    expect(JSON.parse(formatPayload(spec)).headers).toEqual({
      "Content-Type": ["application/json"],
      Accept: ["text/plain", "application/json"],
    });
  });

  // Whole seconds are stored: fractions are rounded up, so a check never gets less time than asked.
  it.each([
    ["1500ms", 2],
    ["1.5s", 2],
    ["1m30s", 90],
    ["90s", 90],
    ["300us", 1],
    ["300\u00b5s", 1],
    ["1000000000ns", 1],
    [".5s", 1],
    ["1m0.5s", 61],
    ["+10s", 10],
    ["5m", 300],
    ["4m59.9999s", 300],
    ["0.0833333h", 300],
  ])("reads the Go duration %j as %d s", (timeout, seconds) => {
    expect(
      specForCreate(heartbeat({ endpoint: "https://e.com", timeout }), open).heartbeat?.timeoutSeconds,
    ).toBe(seconds);
  });

  it("reads 2h and 1h as container timeouts, within and over the 1h limit", () => {
    expect(
      specForCreate(container({ image: "busybox", timeout: "1h" }), open).container?.timeoutSeconds,
    ).toBe(3600);
    expect(
      specForCreate(container({ image: "busybox", timeout: "59m59.5s" }), open).container?.timeoutSeconds,
    ).toBe(3600);
    const error = errorOf(() => specForCreate(container({ image: "busybox", timeout: "2h" }), open));
    expect(error).toBeInstanceOf(FailedPrecondition);
    expect(error?.message).toContain("at most 1h0m0s");
    expect(
      errorOf(() => specForCreate(heartbeat({ endpoint: "https://e.com", timeout: "5m0.001s" }), open)),
    ).toBeInstanceOf(FailedPrecondition);
  });

  it.each(["0", "-0", "+0", "0s", "0.0s", "-1s", "-1m30s"])(
    "refuses %j with a message saying what is allowed",
    (timeout) => {
      const error = errorOf(() => specForCreate(heartbeat({ endpoint: "https://e.com", timeout }), open));
      expect(error).toBeInstanceOf(InvalidArgument);
      expect(error?.field).toBe("payload.timeout");
      expect(error?.message).toMatch(/above 0: a Go duration such as "30s", "1m30s", "1.5s" or "1500ms"/);
    },
  );

  it.each(["ten seconds", "10", "1d", "1.5", "s", "1s2"])(
    "refuses the malformed duration %j naming the forms",
    (timeout) => {
      const error = errorOf(() => specForCreate(heartbeat({ endpoint: "https://e.com", timeout }), open));
      expect(error).toBeInstanceOf(InvalidArgument);
      expect(error?.message).toMatch(/a Go duration such as .*units ns, us, ms, s, m, h/);
    },
  );

  it("ignores unknown payload keys, as the original does", () => {
    const hb = specForCreate(
      heartbeat({ endpoint: "https://e.com", method: "POST", body: { nested: [1, 2] }, retries: 3 }),
      open,
    );
    expect(hb.heartbeat).toEqual({ endpoint: "https://e.com", expectedStatusCode: 200, timeoutSeconds: 10 });
    const ct = specForCreate(container({ image: "busybox", args: ["x"], workdir: "/tmp" }), open);
    expect(ct.container).toEqual({ image: "busybox", timeoutSeconds: 30 });
    // and the same request with or without them is the same spec (the idempotency hash is the spec's)
    expect(ct).toEqual(specForCreate(container({ image: "busybox" }), open));
  });
});

// Issue 11: header names and values are checked at create time, never passed on to a request line.
describe("header names and values", () => {
  it.each([
    [{ "X-A": "a\r\nInjected: yes" }, "payload.headers.X-A"],
    [{ "X-A": ["ok", "a\nb"] }, "payload.headers.X-A[1]"],
    [{ "X-A": "a\rb" }, "payload.headers.X-A"],
    [{ "X-A": "nul\u0000" }, "payload.headers.X-A"],
    [{ "X-A": "bell\u0007" }, "payload.headers.X-A"],
    [{ "X-A": "del\u007f" }, "payload.headers.X-A"],
    [{ "X-A": "c1\u0085" }, "payload.headers.X-A"],
    [{ "X-A": "\u65e5\u672c" }, "payload.headers.X-A"],
    [{ "X-A\r\nInjected": "v" }, "payload.headers"],
    [{ "X A": "v" }, "payload.headers"],
    [{ "X-A:": "v" }, "payload.headers"],
    [{ "": "v" }, "payload.headers"],
    [{ "X-\u00e9": "v" }, "payload.headers"],
  ])("refuses %j on %s", (headers, field) => {
    const error = errorOf(() => specForCreate(heartbeat({ endpoint: "https://e.com", headers }), open));
    expect(error).toBeInstanceOf(InvalidArgument);
    expect(error?.field).toBe(field);
  });

  it('keeps "__proto__" a header or variable name like any other, never a prototype', () => {
    const payload = `{"endpoint":"https://e.com","headers":{"__proto__":"v","X":"w"}}`;
    const parsed = parsePayload("HEARTBEAT", payload, open);
    expect(parsed.kind === "HEARTBEAT" && Object.entries(parsed.heartbeat.headers ?? {})).toEqual([
      ["__proto__", ["v"]],
      ["X", ["w"]],
    ]);
    const env = parsePayload("CONTAINER", `{"image":"busybox","env":{"__proto__":"v"}}`, open);
    expect(env.kind === "CONTAINER" && Object.entries(env.container.env ?? {})).toEqual([["__proto__", "v"]]);
  });

  it("accepts tabs, spaces, visible ASCII and Latin-1 text in values", () => {
    const headers = { "X-Token": "Bearer a.b.c", "X-Text": "caf\u00e9 \tok ~!" };
    expect(specForCreate(heartbeat({ endpoint: "https://e.com", headers }), open).heartbeat?.headers).toEqual(
      {
        "X-Token": ["Bearer a.b.c"],
        "X-Text": ["caf\u00e9 \tok ~!"],
      },
    );
  });

  it.each([
    "https://e.com/\r\nX: y",
    "https://e.com/a b",
    "https://e.com/\t",
    "https://e.com/\u0000",
    " https://e.com/",
  ])("refuses an endpoint with spaces or control characters: %j", (endpoint) => {
    const error = errorOf(() => specForCreate(heartbeat({ endpoint }), open));
    expect(error).toBeInstanceOf(InvalidArgument);
    expect(error?.field).toBe("payload.endpoint");
  });
});

// Issue 11: every field is bounded by its limit before it is parsed; answers are right at,
// just past and far past the limit, and for near-matches of 100k characters and more.
describe("bounded validators: at, beyond and far beyond each limit", () => {
  const long = (n: number, unit = "x") => unit.repeat(n);
  const refusedOn = (fn: () => unknown, field: string) => {
    const error = errorOf(fn);
    expect(error, `expected an error naming ${field}`).toBeInstanceOf(InvalidArgument);
    expect(error?.field).toBe(field);
    expect(error?.message.length).toBeLessThan(400); // the message never echoes the input whole
  };

  it("name: 255 characters (also astral ones), not 256", () => {
    expect(validateName(long(255))).toHaveLength(255);
    expect(validateName(long(255, "\u{1f600}"))).toHaveLength(510);
    refusedOn(() => validateName(long(256)), "name");
    refusedOn(() => validateName(long(256, "\u{1f600}")), "name");
    refusedOn(() => validateName(long(100_000, " ")), "name");
    refusedOn(() => validateName(long(4_000_000)), "name");
  });

  it("longerThan counts code points without copying", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.nat({ max: 45 }), (text, max) => {
        expect(longerThan(text, max)).toBe([...text].length > max);
      }),
    );
  });

  it("idempotency_key: 255 characters, not 256", () => {
    expect(requireIdempotencyKey(long(IDEMPOTENCY_KEY_MAX))).toHaveLength(IDEMPOTENCY_KEY_MAX);
    refusedOn(() => requireIdempotencyKey(long(IDEMPOTENCY_KEY_MAX + 1)), "idempotency_key");
    refusedOn(() => requireIdempotencyKey(long(1_000_000, " ")), "idempotency_key");
  });

  it("payload: 1 MiB of JSON, not a byte more; nothing bigger is parsed", () => {
    const base = JSON.stringify({ endpoint: "https://e.com" });
    const atLimit = base + " ".repeat(PAYLOAD_MAX_BYTES - base.length);
    expect(parsePayload("HEARTBEAT", atLimit, open)).toMatchObject({ kind: "HEARTBEAT" });
    refusedOn(() => parsePayload("HEARTBEAT", `${atLimit} `, open), "payload");
    // multi-byte characters count as their UTF-8 bytes
    const wide = `{"endpoint":"https://e.com","x":"${"\u00e9".repeat(PAYLOAD_MAX_BYTES / 2)}"}`;
    refusedOn(() => parsePayload("HEARTBEAT", wide, open), "payload");
    refusedOn(() => parsePayload("HEARTBEAT", "[".repeat(4_000_000), open), "payload");
    // deep nesting within the limit is just an ignored key
    const deep = `{"endpoint":"https://e.com","x":${"[".repeat(400_000)}${"]".repeat(400_000)}}`;
    expect(parsePayload("HEARTBEAT", deep, open)).toMatchObject({ kind: "HEARTBEAT" });
    refusedOn(() => parsePayload("HEARTBEAT", `{"endpoint":${"[".repeat(500_000)}`, open), "payload");
  });

  it("payload.timeout: near-matches of the duration grammar", () => {
    for (const timeout of [
      `0.${"s000".repeat(25_000)}n`,
      `${long(100_000, "1")}s`,
      long(100_000, "1s"),
      "0.s000s000s000s000s000s000s000s000n",
    ]) {
      refusedOn(
        () => specForCreate(heartbeat({ endpoint: "https://e.com", timeout }), open),
        "payload.timeout",
      );
    }
  });

  it("payload.endpoint: 2048 characters, not 2049", () => {
    const at = `https://e.com/${long(2048 - "https://e.com/".length)}`;
    expect(specForCreate(heartbeat({ endpoint: at }), open).heartbeat?.endpoint).toBe(at);
    refusedOn(() => specForCreate(heartbeat({ endpoint: `${at}x` }), open), "payload.endpoint");
    refusedOn(
      () => specForCreate(heartbeat({ endpoint: `https://${long(200_000, "a.")}com/` }), open),
      "payload.endpoint",
    );
  });

  it("payload.headers: names of 256 token characters, values of 8192", () => {
    const name = long(256, "X");
    expect(
      specForCreate(heartbeat({ endpoint: "https://e.com", headers: { [name]: long(8192, "v") } }), open)
        .heartbeat?.headers?.[name],
    ).toEqual([long(8192, "v")]);
    refusedOn(
      () => specForCreate(heartbeat({ endpoint: "https://e.com", headers: { [`${name}X`]: "v" } }), open),
      "payload.headers",
    );
    refusedOn(
      () =>
        specForCreate(
          heartbeat({ endpoint: "https://e.com", headers: { [`${long(100_000, "X")}:`]: "v" } }),
          open,
        ),
      "payload.headers",
    );
    refusedOn(
      () => specForCreate(heartbeat({ endpoint: "https://e.com", headers: { A: long(8193, "v") } }), open),
      "payload.headers.A[0]",
    );
    refusedOn(
      () =>
        specForCreate(
          heartbeat({ endpoint: "https://e.com", headers: { A: `${long(8000, "v")}\r\n` } }),
          open,
        ),
      "payload.headers.A",
    );
  });

  it("payload.env: names of 256 characters; near-match names of 100k", () => {
    const name = `A${long(255, "b")}`;
    expect(specForCreate(container({ image: "busybox", env: { [name]: "v" } }), open).container?.env).toEqual(
      {
        [name]: "v",
      },
    );
    refusedOn(
      () => specForCreate(container({ image: "busybox", env: { [`${name}b`]: "v" } }), open),
      "payload.env",
    );
    refusedOn(
      () => specForCreate(container({ image: "busybox", env: { [`${long(100_000, "A")}!`]: "v" } }), open),
      "payload.env",
    );
  });

  it("payload.image and payload.cmd", () => {
    expect(specForCreate(container({ image: long(1024, "b") }), open).container?.image).toHaveLength(1024);
    refusedOn(() => specForCreate(container({ image: long(1025, "b") }), open), "payload.image");
    refusedOn(() => specForCreate(container({ image: `${long(1000, "b")} ` }), open), "payload.image");
    refusedOn(() => specForCreate(container({ image: "busybox", cmd: ["x", 1] }), open), "payload.cmd[1]");
  });

  it("filters.query and cursor", () => {
    expect(parseListFilter({ query: long(255) } as never).query).toHaveLength(255);
    refusedOn(() => parseListFilter({ query: long(256) } as never), "filters.query");
    refusedOn(() => parseListFilter({ query: long(1_000_000) } as never), "filters.query");
    refusedOn(() => decodeCursor(long(100_000, "A")), "cursor");
    refusedOn(() => decodeCursor(`${encodeCursor(USER)}${long(100_000, "A")}`), "cursor");
  });

  // Property: whatever JSON a client sends as a payload (of any shape), the answer is a
  // spec or an InvalidArgument / FailedPrecondition naming a payload field — never another error.
  it("answers any JSON payload with a spec or an error naming a payload field", () => {
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string()),
    );
    const key = fc.constantFrom(
      "endpoint",
      "expected_status_code",
      "headers",
      "timeout",
      "image",
      "cmd",
      "env",
      "x",
    );
    const payload = fc.dictionary(key, fc.oneof(value, fc.dictionary(fc.string(), value)));
    fc.assert(
      fc.property(fc.constantFrom("HEARTBEAT" as const, "CONTAINER" as const), payload, (kind, object) => {
        const error = errorOf(() => parsePayload(kind, JSON.stringify(object), open));
        if (error !== undefined) expect(error.field ?? "").toMatch(/^payload/);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (text) => {
        const error = errorOf(() => parsePayload("HEARTBEAT", text, open));
        if (error !== undefined) expect(error.field ?? "").toMatch(/^payload/);
      }),
    );
  });
});
