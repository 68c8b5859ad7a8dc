// ListNotifications and MarkNotificationsRead over a real gRPC connection and
// a real Postgres: unread only, newest first, the user's preference, opaque
// cursors across pages (a small page size, and once SPEC.md's 1000), and
// marking read that touches only the caller's own notifications.
import { status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOTIFICATIONS_PAGE_SIZE } from "../../../services/notifications/domain.ts";
import {
  createNotificationsService,
  notificationsServiceFactory,
} from "../../../services/notifications/server.ts";
import { createNotification } from "../../../services/notifications/store.ts";
import { expectStatus, startTestService, type TestService, unary } from "../../support/grpc.ts";
import {
  type Clients,
  clients,
  createRequest,
  insertUser,
  setPreference,
  workflowPayload,
} from "./support.ts";

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe("ListNotifications and MarkNotificationsRead", () => {
  let svc: TestService;
  let c: Clients;

  beforeAll(async () => {
    svc = await startTestService(createNotificationsService);
    c = await clients(svc);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  describe("ListNotifications", () => {
    it("returns the user's unread notifications, newest first, with their fields", async () => {
      const user = await insertUser(svc.db, "ALL");
      const other = await insertUser(svc.db, "ALL");
      const payloads = [workflowPayload(), workflowPayload(), workflowPayload()];
      const ids: string[] = [];
      for (const payload of payloads)
        ids.push(await c.create(createRequest(user, { payload: JSON.stringify(payload) })));
      await c.create(createRequest(other));

      const page = await c.list(user);
      expect(page.cursor).toBe("");
      expect(page.notifications.map((n) => n.id)).toEqual([...ids].reverse());
      const newest = page.notifications[0];
      expect(newest?.kind).toBe("WEB_ALERT");
      expect(JSON.parse(newest?.payload ?? "")).toEqual(payloads[2]);
      expect(newest?.read_at).toBe("");
      expect(newest?.created_at).toMatch(RFC3339_UTC);
      expect(newest?.updated_at).toMatch(RFC3339_UTC);
    });

    it("is empty for a user with no notifications", async () => {
      const user = await insertUser(svc.db);
      expect(await c.list(user)).toEqual({ notifications: [], cursor: "" });
    });

    it("follows the user's notification_preference: ALL, ALERTS (default), NONE", async () => {
      const user = await insertUser(svc.db);
      const byKind = new Map<string, string>();
      for (const kind of ["WEB_INFO", "WEB_ALERT", "WEB_ERROR", "WEB_SUCCESS", "WEB_WARN"]) {
        byKind.set(kind, await c.create(createRequest(user, { kind })));
      }
      const kindsListed = async () => (await c.list(user)).notifications.map((n) => n.kind);

      expect(await kindsListed()).toEqual(["WEB_ALERT"]); // default preference is ALERTS
      await setPreference(svc.db, user, "ALL");
      expect(await kindsListed()).toEqual(["WEB_WARN", "WEB_SUCCESS", "WEB_ERROR", "WEB_ALERT", "WEB_INFO"]);
      await setPreference(svc.db, user, "NONE");
      expect(await kindsListed()).toEqual([]);
      await setPreference(svc.db, user, "ALERTS");
      expect((await c.list(user)).notifications.map((n) => n.id)).toEqual([byKind.get("WEB_ALERT")]);
    });

    it("treats a user without a users row as ALERTS", async () => {
      const ghost = uuidv7();
      await c.create(createRequest(ghost, { kind: "WEB_INFO" }));
      const alert = await c.create(createRequest(ghost, { kind: "WEB_ALERT" }));
      expect((await c.list(ghost)).notifications.map((n) => n.id)).toEqual([alert]);
    });

    it("lets a service token list for any user", async () => {
      const user = await insertUser(svc.db);
      const id = await c.create(createRequest(user));
      expect((await c.list(user, "", c.service)).notifications.map((n) => n.id)).toEqual([id]);
    });

    it("needs a token (Unauthenticated) matching user_id (PermissionDenied)", async () => {
      const alice = await insertUser(svc.db);
      const bob = await insertUser(svc.db);
      await c.create(createRequest(alice));
      await expectStatus(
        unary(c.client, c.client.listNotifications, { user_id: alice, cursor: "" }),
        status.UNAUTHENTICATED,
      );
      await expectStatus(
        unary(
          c.client,
          c.client.listNotifications,
          { user_id: alice, cursor: "" },
          await svc.userMetadata(bob),
        ),
        status.PERMISSION_DENIED,
        /user_id/,
      );
    });

    it("rejects a missing or malformed user_id and a cursor it did not issue: InvalidArgument", async () => {
      const user = await insertUser(svc.db);
      await expectStatus(c.list("", "", c.service), status.INVALID_ARGUMENT, /^user_id: /);
      await expectStatus(c.list("nope", "", c.service), status.INVALID_ARGUMENT, /^user_id: /);
      for (const cursor of ["garbage", "!!", user, Buffer.from("n1:123").toString("base64url")]) {
        await expectStatus(c.list(user, cursor), status.INVALID_ARGUMENT, /^cursor: /);
      }
    });
  });

  describe("pagination", () => {
    let small: TestService;
    let s: Clients;
    beforeAll(async () => {
      small = await startTestService(notificationsServiceFactory({ pageSize: 3 }));
      s = await clients(small);
    });
    afterAll(async () => {
      await small?.stop();
    });

    it("walks every unread notification exactly once, newest first, across pages", async () => {
      const user = await insertUser(small.db, "ALL");
      const ids: string[] = [];
      for (let i = 0; i < 8; i++)
        ids.push(await s.create(createRequest(user, { kind: i % 2 ? "WEB_INFO" : "WEB_ALERT" })));
      // read ones and another user's do not show up on any page
      await s.markRead(user, [ids[1] as string, ids[6] as string]);
      await s.create(createRequest(await insertUser(small.db, "ALL")));

      const { pages, ids: listed } = await s.listAll(user);
      const expected = ids.filter((_, i) => i !== 1 && i !== 6).reverse();
      expect(listed).toEqual(expected);
      expect(pages.map((p) => p.notifications.length)).toEqual([3, 3]);
      expect(pages[0]?.cursor).not.toBe("");
      expect(pages[0]?.cursor).not.toContain(expected[2]);
      expect(pages.at(-1)?.cursor).toBe("");
    });

    it("ends with an empty cursor when the last page is exactly full", async () => {
      const user = await insertUser(small.db);
      for (let i = 0; i < 3; i++) await s.create(createRequest(user));
      const first = await s.list(user);
      expect(first.notifications).toHaveLength(3);
      expect(first.cursor).toBe("");
    });

    it("pages only through the kinds the preference shows", async () => {
      const user = await insertUser(small.db); // ALERTS
      const alerts: string[] = [];
      for (let i = 0; i < 10; i++) {
        const id = await s.create(createRequest(user, { kind: i % 3 === 0 ? "WEB_ALERT" : "WEB_SUCCESS" }));
        if (i % 3 === 0) alerts.push(id);
      }
      const { pages, ids } = await s.listAll(user);
      expect(ids).toEqual([...alerts].reverse());
      expect(pages.map((p) => p.notifications.length)).toEqual([3, 1]);
    });

    it(`holds ${NOTIFICATIONS_PAGE_SIZE} notifications per page at SPEC.md's size`, async () => {
      const user = await insertUser(svc.db);
      const total = NOTIFICATIONS_PAGE_SIZE + 5;
      const ids: string[] = [];
      // Filed through the store (not one RPC each), in order, so ids are time-ordered.
      for (let i = 0; i < total; i++) {
        const notification = createRequest(user);
        ids.push(
          (
            await createNotification(svc.db, {
              userId: user,
              kind: "WEB_ALERT",
              payload: JSON.parse(notification.payload),
              idempotencyKey: notification.idempotency_key,
            })
          ).id,
        );
      }
      const { pages, ids: listed } = await c.listAll(user);
      expect(pages.map((p) => p.notifications.length)).toEqual([NOTIFICATIONS_PAGE_SIZE, 5]);
      expect(listed).toEqual([...ids].reverse());
    });
  });

  describe("MarkNotificationsRead", () => {
    it("marks the caller's notifications read: they leave the list and get read_at", async () => {
      const user = await insertUser(svc.db);
      const [a, b, d] = [
        await c.create(createRequest(user)),
        await c.create(createRequest(user)),
        await c.create(createRequest(user)),
      ];
      await c.markRead(user, [a as string, d as string]);
      expect((await c.list(user)).notifications.map((n) => n.id)).toEqual([b]);
      const rows = await svc.db
        .selectFrom("notifications")
        .select(["id", "read_at", "created_at", "updated_at"])
        .where("user_id", "=", user)
        .orderBy("id")
        .execute();
      expect(rows.map((r) => r.read_at !== null)).toEqual([true, false, true]);
      const readA = rows[0];
      expect(readA?.updated_at.getTime()).toBeGreaterThanOrEqual(readA?.created_at.getTime() ?? 0);

      // marking again (and with duplicates and upper-case ids) succeeds and keeps the first read_at
      await c.markRead(user, [a as string, (a as string).toUpperCase()]);
      const again = await svc.db
        .selectFrom("notifications")
        .select("read_at")
        .where("id", "=", a as string)
        .executeTakeFirst();
      expect(again?.read_at?.getTime()).toBe(readA?.read_at?.getTime());
    });

    it("changes nothing of another user's, and does not say so", async () => {
      const alice = await insertUser(svc.db);
      const bob = await insertUser(svc.db);
      const bobs = await c.create(createRequest(bob));
      const alices = await c.create(createRequest(alice));
      await c.markRead(alice, [bobs, alices, uuidv7()]);
      expect((await c.list(bob)).notifications.map((n) => n.id)).toEqual([bobs]);
      expect((await c.list(alice)).notifications).toEqual([]);
    });

    it("accepts an empty list", async () => {
      const user = await insertUser(svc.db);
      await c.markRead(user, []);
    });

    it("rejects a malformed id, naming its index, and marks none: InvalidArgument", async () => {
      const user = await insertUser(svc.db);
      const id = await c.create(createRequest(user));
      const error = await expectStatus(
        c.markRead(user, [id, "not-a-uuid"]),
        status.INVALID_ARGUMENT,
        /^ids\[1\]: /,
      );
      expect(error.metadata.get("error-field")).toEqual(["ids[1]"]);
      expect((await c.list(user)).notifications.map((n) => n.id)).toEqual([id]);
    });

    it("rejects more ids than one page: InvalidArgument", async () => {
      const user = await insertUser(svc.db);
      const ids = Array.from({ length: NOTIFICATIONS_PAGE_SIZE + 1 }, () => uuidv7());
      await expectStatus(c.markRead(user, ids), status.INVALID_ARGUMENT, /^ids: /);
    });

    it("needs a token (Unauthenticated) matching user_id (PermissionDenied), and a user_id (InvalidArgument)", async () => {
      const alice = await insertUser(svc.db);
      const bob = await insertUser(svc.db);
      const id = await c.create(createRequest(alice));
      await expectStatus(
        unary(c.client, c.client.markNotificationsRead, { user_id: alice, ids: [id] }),
        status.UNAUTHENTICATED,
      );
      await expectStatus(
        unary(
          c.client,
          c.client.markNotificationsRead,
          { user_id: alice, ids: [id] },
          await svc.userMetadata(bob),
        ),
        status.PERMISSION_DENIED,
      );
      await expectStatus(
        unary(
          c.client,
          c.client.markNotificationsRead,
          { user_id: "", ids: [id] },
          await svc.userMetadata(bob),
        ),
        status.INVALID_ARGUMENT,
        /^user_id: /,
      );
      expect((await c.list(alice)).notifications.map((n) => n.id)).toEqual([id]);
    });
  });
});
