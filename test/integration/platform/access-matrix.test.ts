// The access matrix, generated: every RPC of the five services — found by
// reflection over the generated service definitions in gen/, not a hand
// list — × every kind of credential × {own resource, another user's
// resource, another user's resource named under one's own user id, missing
// resource}, each answered with the exact code SPEC.md and DESIGN.md
// ("Identity and access") imply, over real gRPC to the five real services
// (real Postgres, real kube-apiserver). No response to user A ever carries
// an identifier or the email of user B. The rule that gives each expected
// code is `expectedCode` below; docs/testing.md has it as a table.
import { type Client, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as analyticsGen from "../../../gen/analytics/analytics.ts";
import * as jobsGen from "../../../gen/jobs/jobs.ts";
import * as notificationsGen from "../../../gen/notifications/notifications.ts";
import * as usersGen from "../../../gen/users/users.ts";
import * as workflowsGen from "../../../gen/workflows/workflows.ts";
import { createAnalyticsService } from "../../../services/analytics/server.ts";
import { jobsServiceFactory } from "../../../services/jobs/server.ts";
import { createNotificationsService } from "../../../services/notifications/server.ts";
import { createUsersService } from "../../../services/users/server.ts";
import { workflowsServiceFactory } from "../../../services/workflows/server.ts";
import { apiPackageDefinition } from "../../../src/grpc/descriptors.ts";
import { installCrds } from "../../support/crds.ts";
import {
  forgeToken,
  metadataWithToken,
  startTestService,
  type TestService,
  unary,
  unsignedToken,
} from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";

// ------------------------------------------------------------ the RPCs, by reflection

interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(value: Buffer): Record<string, unknown>;
  responseDeserialize(value: Buffer): unknown;
}

interface Rpc {
  service: string;
  name: string;
  pkg: string;
  definition: MethodDefinition;
  /** The request's field names (decoded from an empty message: every field at its default). */
  fields: string[];
}

const GENERATED = { analyticsGen, jobsGen, notificationsGen, usersGen, workflowsGen };

function reflectRpcs(): Rpc[] {
  const rpcs: Rpc[] = [];
  for (const module of Object.values(GENERATED)) {
    for (const [exported, value] of Object.entries(module)) {
      // ts-proto's grpc-js output: `<Name>ServiceService = { method: { path, requestSerialize, … } }`.
      if (!exported.endsWith("Service") || typeof value !== "object" || value === null) continue;
      for (const definition of Object.values(value as Record<string, unknown>)) {
        const d = definition as MethodDefinition;
        if (typeof d?.path !== "string" || typeof d.requestDeserialize !== "function") continue;
        const [, service = "", name = ""] = /^\/([^/]+)\/([^/]+)$/.exec(d.path) ?? [];
        rpcs.push({
          service,
          name,
          pkg: service.split(".")[0] ?? "",
          definition: d,
          fields: Object.keys(d.requestDeserialize(Buffer.alloc(0))),
        });
      }
    }
  }
  return rpcs;
}

const RPCS = reflectRpcs();

// ------------------------------------------------------------ who may call what (SPEC.md, DESIGN.md)

/** Open to anyone (SPEC.md: "RegisterUser/LoginUser are open"). */
const PUBLIC = new Set(["RegisterUser", "LoginUser"]);
/** SPEC.md's "(internal)" calls: a service token only. */
const INTERNAL = new Set([
  "UpdateWorkflowBuildStatus",
  "GetWorkflowByID",
  "IncrementWorkflowConsecutiveJobFailuresCount",
  "ResetWorkflowConsecutiveJobFailuresCount",
  "UpdateJobStatus",
  "GetJobByID",
  "CreateNotification",
]);

const CREDENTIALS = [
  "none",
  "garbage",
  "expired",
  "wrong audience",
  "wrong issuer",
  "alg none",
  "another key",
  "service audience, user key",
  "user A",
  "user B",
  "service",
] as const;
type Credential = (typeof CREDENTIALS)[number];
const VALID: readonly Credential[] = ["user A", "user B", "service"];

/**
 * own: A's user id and A's resources. other's: B's user id and B's resources.
 * other's under own id: A's user id with B's resource ids. missing: A's user
 * id and fresh ids (or, for calls that name only a user, a fresh user id).
 */
const COLUMNS = ["own", "other's", "other's under own id", "missing"] as const;
type Column = (typeof COLUMNS)[number];

/** The request fields that name a resource other than the user. */
function resourceFields(rpc: Rpc): string[] {
  return rpc.fields.filter(
    (f) => (f === "id" && rpc.pkg !== "users") || f === "workflow_id" || f === "job_id" || f === "ids",
  );
}
function userField(rpc: Rpc): string | undefined {
  if (rpc.fields.includes("user_id")) return "user_id";
  if (rpc.pkg === "users" && rpc.fields.includes("id")) return "id";
  return undefined;
}

/** Public calls: the credential is ignored; the answer depends on the email named. */
const PUBLIC_EXPECTED: Record<string, Record<Column, string>> = {
  // Own email with own password; another's email with one's own password; an unknown email.
  LoginUser: {
    own: "OK",
    "other's": "UNAUTHENTICATED",
    "other's under own id": "UNAUTHENTICATED",
    missing: "UNAUTHENTICATED",
  },
  RegisterUser: {
    own: "ALREADY_EXISTS",
    "other's": "ALREADY_EXISTS",
    "other's under own id": "ALREADY_EXISTS",
    missing: "OK",
  },
};
/** A service acting for a user id nobody has: absent (NotFound) where the call reads the user. */
const SERVICE_FOR_UNKNOWN_USER: Record<string, string> = { GetUser: "NOT_FOUND", UpdateUser: "NOT_FOUND" };
/** "Marking ids of another user changes nothing of theirs" — and is not an error. */
const IGNORES_OTHERS_IDS = new Set(["MarkNotificationsRead"]);

function expectedCode(rpc: Rpc, credential: Credential, column: Column): string {
  if (PUBLIC.has(rpc.name)) {
    const expected = PUBLIC_EXPECTED[rpc.name]?.[column];
    if (expected === undefined) throw new Error(`no expectation for public ${rpc.name}`);
    return expected;
  }
  if (!VALID.includes(credential)) return "UNAUTHENTICATED";
  const names = resourceFields(rpc);
  const user = userField(rpc);
  if (INTERNAL.has(rpc.name)) {
    if (credential !== "service") return "PERMISSION_DENIED";
    if (column === "missing") return names.length > 0 ? "NOT_FOUND" : "OK";
    // A service may reach anyone's resource by id, but a resource named with the wrong owner is absent.
    if (column === "other's under own id" && user !== undefined && names.length > 0) return "NOT_FOUND";
    return "OK";
  }
  const requestUser = column === "other's" ? "B" : column === "missing" && names.length === 0 ? "fresh" : "A";
  const idsOwner = column === "own" ? "A" : column === "missing" ? "fresh" : "B";
  if (credential !== "service" && requestUser !== (credential === "user A" ? "A" : "B")) {
    return "PERMISSION_DENIED";
  }
  if (requestUser === "fresh") return SERVICE_FOR_UNKNOWN_USER[rpc.name] ?? "OK";
  if (idsOwner !== requestUser) return IGNORES_OTHERS_IDS.has(rpc.name) ? "OK" : "NOT_FOUND";
  return "OK";
}

// ------------------------------------------------------------ the cluster of services and the fixtures

interface Resources {
  user: string;
  email: string;
  password: string;
  workflow: string;
  job: string;
  notification: string;
}

describe("access matrix (generated from the proto service definitions)", () => {
  let svc: TestService;
  let ns: TestNamespace;
  let client: Client;
  const A = {} as Resources;
  const B = {} as Resources;
  const tokens = {} as Record<Credential, Metadata | undefined>;
  /** Everything of B's: none of it may appear in a response to A. */
  const bSecrets = new Set<string>();

  const call = <T = unknown>(rpc: Rpc, request: unknown, metadata?: Metadata): Promise<T> => {
    const d = rpc.definition;
    const md = metadata ?? new Metadata();
    const deserialize = (b: Buffer) => d.responseDeserialize(b) as T;
    if (d.responseStream) {
      return new Promise((resolve, reject) => {
        const messages: unknown[] = [];
        const stream = client.makeServerStreamRequest(d.path, d.requestSerialize, deserialize, request, md);
        stream.on("data", (m: unknown) => messages.push(m));
        stream.on("error", reject);
        stream.on("end", () => resolve(messages as T));
      });
    }
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(d.path, d.requestSerialize, deserialize, request, md, (error, response) =>
        error ? reject(error) : resolve(response as T),
      );
    });
  };
  const rpc = (name: string): Rpc => {
    const found = RPCS.find((r) => r.name === name);
    if (!found) throw new Error(`no RPC ${name}`);
    return found;
  };
  const service = () => svc.serviceMetadata("matrix");

  const newWorkflow = async (user: string, terminated = false): Promise<string> => {
    const { id } = await call<{ id: string }>(
      rpc("CreateWorkflow"),
      {
        user_id: user,
        name: "matrix",
        kind: "CONTAINER",
        payload: JSON.stringify({ image: "busybox:1.36" }),
        interval: 60,
        max_consecutive_job_failures_allowed: 3,
        idempotency_key: uuidv7(),
      },
      await service(),
    );
    if (terminated) await call(rpc("TerminateWorkflow"), { id, user_id: user }, await service());
    return id;
  };
  const newNotification = async (user: string): Promise<string> => {
    const { id } = await call<{ id: string }>(
      rpc("CreateNotification"),
      {
        user_id: user,
        kind: "WEB_ALERT",
        idempotency_key: uuidv7(),
        payload: JSON.stringify({
          title: "t",
          message: "m",
          entity_id: user,
          entity_type: "WORKFLOW",
          action_url: `/workflows/${user}`,
        }),
      },
      await service(),
    );
    return id;
  };
  const setUp = async (who: Resources, tag: string): Promise<void> => {
    who.email = `${tag}-${uuidv7()}@example.com`;
    who.password = `${tag} password, long enough`;
    const users = svc.client(usersGen.UsersServiceClient);
    const { response, headers } = await unary(users, users.registerUser, {
      email: who.email,
      password: who.password,
    });
    who.user = response.user_id;
    tokens[`user ${tag}` as Credential] = metadataWithToken(
      String(headers.get("authorization")[0]).replace(/^Bearer /, ""),
    );
    who.workflow = await newWorkflow(who.user);
    const { id } = await call<{ id: string }>(
      rpc("ScheduleJob"),
      {
        workflow_id: who.workflow,
        user_id: who.user,
        scheduled_at: "2099-01-01T00:00:00Z",
        trigger: "MANUAL",
        idempotency_key: uuidv7(),
        workflow_generation: 0,
      },
      await service(),
    );
    who.job = id;
    // Finished: its log stream replays (nothing) and ends.
    await call(rpc("UpdateJobStatus"), { id, container_id: "", status: "COMPLETED" }, await service());
    who.notification = await newNotification(who.user);
  };

  beforeAll(async () => {
    const kc = testKubeConfig();
    await installCrds(kc);
    ns = await createTestNamespace(kc, "matrix");
    svc = await startTestService(
      [
        createUsersService,
        workflowsServiceFactory({ kubeConfig: kc }),
        jobsServiceFactory({ kubeConfig: kc, streamRecheckMs: 200 }),
        createNotificationsService,
        createAnalyticsService,
      ],
      {
        env: {
          CHRONOVERSE_NAMESPACE: ns.name,
          // The matrix makes many calls from one address and for one user: quotas off (they have their own suite).
          CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL: "0",
          CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS: "0",
          CHRONOVERSE_MAX_WORKFLOWS_PER_USER: "0",
          CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW: "0",
        },
      },
    );
    client = svc.client(usersGen.UsersServiceClient);
    await setUp(A, "A");
    await setUp(B, "B");
    for (const value of [B.user, B.email, B.workflow, B.job, B.notification]) bSecrets.add(value);

    const now = Math.floor(Date.now() / 1000);
    const bearer = async (token: Promise<string> | string) => metadataWithToken(await token);
    tokens.none = undefined;
    tokens.garbage = metadataWithToken("not-a-token");
    tokens.expired = await bearer(forgeToken({ subject: A.user, expiresAt: now - 3600 }));
    tokens["wrong audience"] = await bearer(
      forgeToken({ subject: A.user, audience: "chronoverse:elsewhere" }),
    );
    tokens["wrong issuer"] = await bearer(forgeToken({ subject: A.user, issuer: "someone-else" }));
    tokens["alg none"] = metadataWithToken(unsignedToken(A.user));
    tokens["another key"] = await bearer(
      forgeToken({ subject: A.user, key: new TextEncoder().encode("33".repeat(32)) }),
    );
    // A user who knows the user-token key still cannot mint a service token.
    tokens["service audience, user key"] = await bearer(
      forgeToken({ subject: "operator", kind: "service", key: new TextEncoder().encode("11".repeat(32)) }),
    );
    tokens.service = await service();
  });
  afterAll(async () => {
    await svc?.stop();
    await ns?.remove();
  });

  it("covers every RPC of the five services, and the definitions match the .proto files", () => {
    const services = new Set(RPCS.map((r) => r.service));
    expect([...services].sort()).toEqual([
      "analytics.AnalyticsService",
      "jobs.JobsService",
      "notifications.NotificationsService",
      "users.UsersService",
      "workflows.WorkflowsService",
    ]);
    const fromProto = Object.entries(apiPackageDefinition())
      .filter(([name]) => services.has(name))
      .flatMap(([, methods]) =>
        Object.values(methods as Record<string, { path: string }>).map((m) => m.path),
      );
    expect(RPCS.map((r) => r.definition.path).sort()).toEqual(fromProto.sort());
    // Every name in the hand-kept access lists is a real RPC.
    for (const name of [...PUBLIC, ...INTERNAL]) expect(RPCS.map((r) => r.name)).toContain(name);
  });

  /** A valid request for `rpc` in this column; `fresh` resources stand in where a call changes its target. */
  const requestFor = (
    rpc: Rpc,
    column: Column,
    resources: { user: Resources; ids: Resources },
    tag: string,
  ) => {
    const base: Record<string, unknown> = rpc.definition.requestDeserialize(Buffer.alloc(0));
    const { user, ids } = resources;
    const fill: Record<string, unknown> = {
      user_id: user.user,
      workflow_id: ids.workflow,
      job_id: ids.job,
      ids: [ids.notification],
      id: rpc.pkg === "users" ? user.user : rpc.pkg === "jobs" ? ids.job : ids.workflow,
      email: column === "missing" ? `${tag}-${uuidv7()}@example.com` : ids.email,
      password: A.password,
    };
    for (const field of rpc.fields) if (field in fill) base[field] = fill[field];
    return { ...base, ...(EXTRAS[rpc.name]?.() ?? {}) };
  };

  /** Fields each call needs besides the identities, valid so that only access decides. */
  const EXTRAS: Record<string, () => Record<string, unknown>> = {
    UpdateUser: () => ({ notification_preference: "ALL" }),
    CreateWorkflow: () => ({
      name: "matrix",
      kind: "CONTAINER",
      payload: JSON.stringify({ image: "busybox:1.36" }),
      interval: 60,
      max_consecutive_job_failures_allowed: 3,
      idempotency_key: uuidv7(),
    }),
    UpdateWorkflow: () => ({
      name: "matrix renamed",
      payload: JSON.stringify({ image: "busybox:1.36" }),
      interval: 30,
      max_consecutive_job_failures_allowed: 3,
      idempotency_key: uuidv7(),
    }),
    UpdateWorkflowBuildStatus: () => ({ build_status: "STARTED", generation: 0 }),
    ScheduleJob: () => ({
      scheduled_at: "2099-01-01T00:00:00Z",
      trigger: "MANUAL",
      idempotency_key: uuidv7(),
      workflow_generation: 0,
    }),
    UpdateJobStatus: () => ({ container_id: "", status: "COMPLETED" }),
    GetJobLogs: () => ({ filters: { stream: jobsGen.LogStream.LOG_STREAM_ALL }, sort_order: 0 }),
    SearchJobLogs: () => ({
      filters: { stream: jobsGen.LogStream.LOG_STREAM_ALL, message: "hello" },
      sort_order: 0,
      disable_highlight: false,
    }),
    CreateNotification: () => ({
      kind: "WEB_ALERT",
      idempotency_key: uuidv7(),
      payload: JSON.stringify({
        title: "t",
        message: "m",
        entity_id: A.workflow,
        entity_type: "WORKFLOW",
        action_url: `/workflows/${A.workflow}`,
      }),
    }),
  };

  /**
   * Calls that change or remove their target get a target of their own in
   * every cell that should succeed, so that no cell depends on another's.
   */
  const FRESH: Record<string, (owner: Resources) => Promise<Partial<Resources>>> = {
    UpdateWorkflow: async (o) => ({ workflow: await newWorkflow(o.user) }),
    TerminateWorkflow: async (o) => ({ workflow: await newWorkflow(o.user) }),
    DeleteWorkflow: async (o) => ({ workflow: await newWorkflow(o.user, true) }),
    IncrementWorkflowConsecutiveJobFailuresCount: async (o) => ({ workflow: await newWorkflow(o.user) }),
    MarkNotificationsRead: async (o) => ({ notification: await newNotification(o.user) }),
  };

  const missing = (): Resources => ({
    user: uuidv7(),
    email: `nobody-${uuidv7()}@example.com`,
    password: "",
    workflow: uuidv7(),
    job: uuidv7(),
    notification: uuidv7(),
  });

  for (const rpcUnderTest of RPCS) {
    it(`${rpcUnderTest.service}/${rpcUnderTest.name}`, async () => {
      const r = rpcUnderTest;
      const hasResources = resourceFields(r).length > 0;
      const mismatches: string[] = [];
      for (const credential of CREDENTIALS) {
        for (const column of COLUMNS) {
          // With nothing but a user to name, "other's under own id" is "own".
          if (column === "other's under own id" && !hasResources && !PUBLIC.has(r.name)) continue;
          const expected = expectedCode(r, credential, column);
          let user: Resources = column === "other's" ? B : A;
          let ids: Resources = column === "own" ? A : column === "missing" ? missing() : B;
          if (column === "missing" && !hasResources) user = missing();
          const fresh = FRESH[r.name];
          if (fresh && expected === "OK" && column !== "missing") {
            const made = await fresh(ids);
            for (const value of Object.values(made)) if (ids === B) bSecrets.add(value as string);
            ids = { ...ids, ...made };
            if (column !== "other's under own id") user = { ...user, ...made };
          }
          const request = requestFor(
            r,
            column,
            { user, ids },
            `${credential}-${column}`.replace(/\W+/g, "-"),
          );
          let got: string;
          let response: unknown;
          try {
            response = await call(r, request, tokens[credential]);
            got = "OK";
          } catch (error) {
            got = status[(error as ServiceError).code] ?? String(error);
            if (got === "INTERNAL" || got === "UNKNOWN") got += ` (${(error as ServiceError).details})`;
          }
          if (got !== expected)
            mismatches.push(`${credential} × ${column}: expected ${expected}, got ${got}`);
          // Nothing of B's in anything answered to A (or to anyone naming A).
          if (got === "OK" && (credential === "user A" || (credential !== "service" && user === A))) {
            const text = JSON.stringify(response);
            for (const secret of bSecrets) {
              if (text.includes(secret))
                mismatches.push(`${credential} × ${column}: response carries B's ${secret}`);
            }
          }
          // B's notification, named by A, is still B's and still unread.
          if (r.name === "MarkNotificationsRead" && column === "other's under own id" && got === "OK") {
            const list = await call<{ notifications: { id: string }[] }>(
              rpc("ListNotifications"),
              { user_id: B.user, cursor: "" },
              tokens["user B"],
            );
            if (!list.notifications.some((n) => n.id === ids.notification)) {
              mismatches.push(`${credential} × ${column}: A marked B's notification read`);
            }
          }
        }
      }
      expect(mismatches).toEqual([]);
    });
  }
});
