// CreateNotification over a real gRPC connection and a real Postgres: internal
// access only, every payload rule with the field it names, and idempotency per
// (user, key), also under concurrent duplicates.
import { Metadata, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotificationsService } from "../../../services/notifications/server.ts";
import {
  expectStatus,
  forgeToken,
  metadataWithToken,
  startTestService,
  type TestService,
  unary,
} from "../../support/grpc.ts";
import { type Clients, clients, createRequest, insertUser, jobPayload, workflowPayload } from "./support.ts";

describe("CreateNotification", () => {
  let svc: TestService;
  let c: Clients;

  beforeAll(async () => {
    svc = await startTestService(createNotificationsService);
    c = await clients(svc);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("files a notification of each kind, stored as sent and listed for the user", async () => {
    const user = await insertUser(svc.db, "ALL");
    const kinds = ["WEB_ALERT", "WEB_ERROR", "WEB_WARN", "WEB_SUCCESS", "WEB_INFO"];
    const payload = jobPayload();
    const ids: string[] = [];
    for (const kind of kinds) {
      ids.push(await c.create(createRequest(user, { kind, payload: JSON.stringify(payload) })));
    }
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rows = await svc.db.selectFrom("notifications").selectAll().where("user_id", "=", user).execute();
    expect(rows.map((r) => r.kind).sort()).toEqual([...kinds].sort());
    expect(rows[0]?.payload).toEqual(payload);
    expect(rows.every((r) => r.read_at === null)).toBe(true);

    const listed = await c.list(user);
    expect(listed.notifications.map((n) => n.id)).toEqual([...ids].reverse());
    expect(JSON.parse(listed.notifications[0]?.payload ?? "")).toEqual(payload);
  });

  it("accepts a workflow payload and keeps extra keys", async () => {
    const user = await insertUser(svc.db);
    const payload = { ...workflowPayload(), severity: "high" };
    const id = await c.create(createRequest(user, { payload: JSON.stringify(payload) }));
    const row = await svc.db
      .selectFrom("notifications")
      .select("payload")
      .where("id", "=", id)
      .executeTakeFirst();
    expect(row?.payload).toEqual(payload);
  });

  describe("access", () => {
    it("needs a token: none is Unauthenticated", async () => {
      const user = await insertUser(svc.db);
      await expectStatus(
        unary(c.client, c.client.createNotification, createRequest(user), new Metadata()),
        status.UNAUTHENTICATED,
      );
    });

    it("refuses a user token, even the user's own: PermissionDenied", async () => {
      const user = await insertUser(svc.db);
      await expectStatus(
        unary(c.client, c.client.createNotification, createRequest(user), await svc.userMetadata(user)),
        status.PERMISSION_DENIED,
        /internal/,
      );
      expect(
        await svc.db.selectFrom("notifications").select("id").where("user_id", "=", user).execute(),
      ).toEqual([]);
    });

    it("refuses a service token signed with the wrong key, or expired: Unauthenticated", async () => {
      const user = await insertUser(svc.db);
      const forged = await forgeToken({
        subject: "operator",
        kind: "service",
        key: new Uint8Array(32).fill(7),
      });
      await expectStatus(
        unary(c.client, c.client.createNotification, createRequest(user), metadataWithToken(forged)),
        status.UNAUTHENTICATED,
      );
      const expired = await forgeToken({ subject: "operator", kind: "service", expiresAt: 1_000_000 });
      await expectStatus(
        unary(c.client, c.client.createNotification, createRequest(user), metadataWithToken(expired)),
        status.UNAUTHENTICATED,
        /expired/,
      );
    });
  });

  describe("validation: InvalidArgument naming the field", () => {
    const user = "0193a000-0000-7000-8000-00000000a11c";
    const wf = "0193a000-0000-7000-8000-0000000000aa";
    const job = "0193a000-0000-7000-8000-0000000000bb";
    const payloadWith = (change: Record<string, unknown>) =>
      JSON.stringify({ ...workflowPayload(wf), ...change });
    const cases: [string, Record<string, string>, string][] = [
      ["missing user_id", { user_id: "" }, "user_id"],
      ["user_id not a uuid", { user_id: "alice" }, "user_id"],
      ["missing kind", { kind: "" }, "kind"],
      ["unknown kind", { kind: "EMAIL" }, "kind"],
      ["missing payload", { payload: "" }, "payload"],
      ["payload not JSON", { payload: "{title:" }, "payload"],
      ["payload a JSON array", { payload: "[]" }, "payload"],
      ["payload a JSON string", { payload: '"hello"' }, "payload"],
      ["payload null", { payload: "null" }, "payload"],
      ["missing title", { payload: payloadWith({ title: undefined }) }, "payload.title"],
      ["empty title", { payload: payloadWith({ title: "" }) }, "payload.title"],
      ["title not a string", { payload: payloadWith({ title: 5 }) }, "payload.title"],
      ["missing message", { payload: payloadWith({ message: undefined }) }, "payload.message"],
      ["missing entity_id", { payload: payloadWith({ entity_id: undefined }) }, "payload.entity_id"],
      ["entity_id not a uuid", { payload: payloadWith({ entity_id: "wf-1" }) }, "payload.entity_id"],
      ["missing entity_type", { payload: payloadWith({ entity_type: undefined }) }, "payload.entity_type"],
      ["unknown entity_type", { payload: payloadWith({ entity_type: "USER" }) }, "payload.entity_type"],
      ["missing action_url", { payload: payloadWith({ action_url: undefined }) }, "payload.action_url"],
      [
        "action_url elsewhere",
        { payload: payloadWith({ action_url: "https://evil.example/" }) },
        "payload.action_url",
      ],
      [
        "action_url of another workflow",
        { payload: payloadWith({ action_url: `/workflows/${job}` }) },
        "payload.action_url",
      ],
      [
        "job URL for a WORKFLOW entity",
        { payload: payloadWith({ action_url: `/workflows/${wf}/jobs/${job}` }) },
        "payload.action_url",
      ],
      [
        "workflow URL for a JOB entity",
        { payload: payloadWith({ entity_id: job, entity_type: "JOB" }) },
        "payload.action_url",
      ],
      ["missing idempotency_key", { idempotency_key: "" }, "idempotency_key"],
      ["idempotency_key too long", { idempotency_key: "k".repeat(256) }, "idempotency_key"],
    ];
    it.each(cases)("%s → %s", async (_name, change, field) => {
      const error = await expectStatus(
        unary(c.client, c.client.createNotification, createRequest(user, change), c.service),
        status.INVALID_ARGUMENT,
        new RegExp(`^${field.replace(".", "\\.")}: `),
      );
      expect(error.metadata.get("error-field")).toEqual([field]);
    });
  });

  describe("idempotency per (user, idempotency_key)", () => {
    it("returns the first id for a repeated key and files nothing new", async () => {
      const user = await insertUser(svc.db);
      const first = await c.create(createRequest(user, { idempotency_key: "build-failed:wf-1:gen-3" }));
      const again = await c.create(
        createRequest(user, {
          idempotency_key: "build-failed:wf-1:gen-3",
          kind: "WEB_INFO",
          payload: JSON.stringify(workflowPayload(uuidv7(), "something else")),
        }),
      );
      expect(again).toBe(first);
      const rows = await svc.db
        .selectFrom("notifications")
        .select(["id", "kind"])
        .where("user_id", "=", user)
        .execute();
      expect(rows).toEqual([{ id: first, kind: "WEB_ALERT" }]);
    });

    it("keeps keys apart per user", async () => {
      const alice = await insertUser(svc.db);
      const bob = await insertUser(svc.db);
      const a = await c.create(createRequest(alice, { idempotency_key: "same" }));
      const b = await c.create(createRequest(bob, { idempotency_key: "same" }));
      expect(a).not.toBe(b);
    });

    it("files exactly one notification for concurrent duplicates", async () => {
      const user = await insertUser(svc.db);
      const request = createRequest(user, { idempotency_key: "concurrent" });
      const ids = await Promise.all(Array.from({ length: 20 }, () => c.create(request)));
      expect(new Set(ids).size).toBe(1);
      const rows = await svc.db
        .selectFrom("notifications")
        .select("id")
        .where("user_id", "=", user)
        .execute();
      expect(rows.map((r) => r.id)).toEqual([ids[0]]);
    });
  });
});
