// UsersService over a real gRPC connection and a real Postgres: every RPC's
// success path, every rule of SPEC.md with its status code, and the token
// checks on the calls that need one.
import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsersServiceClient } from "../../../gen/users/users.ts";
import { createUsersService } from "../../../services/users/server.ts";
import {
  expectStatus,
  forgeToken,
  metadataWithToken,
  startTestService,
  type TestService,
  unary,
} from "../../support/grpc.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const PASSWORD = "correct horse battery";

describe("UsersService", () => {
  let svc: TestService;
  let client: UsersServiceClient;
  let counter = 0;
  const freshEmail = (): string => `user${++counter}.${Date.now()}@example.com`;

  const register = (email: string, password = PASSWORD) =>
    unary(client, client.registerUser, { email, password });
  const login = (email: string, password = PASSWORD) => unary(client, client.loginUser, { email, password });
  /** Registers a user and returns its id and the token from the response header. */
  async function registered(email = freshEmail()): Promise<{ id: string; token: string; email: string }> {
    const { response, headers } = await register(email);
    const [header] = headers.get("authorization");
    return { id: response.user_id, token: String(header).replace(/^Bearer /, ""), email };
  }

  beforeAll(async () => {
    svc = await startTestService(createUsersService);
    client = svc.client(UsersServiceClient);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  describe("RegisterUser", () => {
    it("creates a user with a UUID v7 id and returns a user token in the authorization header", async () => {
      const { response, headers } = await register("Ada.Lovelace@Example.COM");
      expect(response.user_id).toMatch(UUID_V7);
      const [authorization] = headers.get("authorization");
      expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      const caller = await svc.tokens.verify(String(authorization).slice("Bearer ".length));
      expect(caller).toEqual({ kind: "user", userId: response.user_id });

      const row = await svc.db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", response.user_id)
        .executeTakeFirst();
      expect(row?.email).toBe("ada.lovelace@example.com");
      expect(row?.notification_preference).toBe("ALERTS");
      expect(row?.password_hash).toMatch(/^\$argon2id\$/);
      expect(row?.password_hash).not.toContain(PASSWORD);
    });

    it("accepts the boundaries: a 100-character email, 8- and 72-character passwords", async () => {
      const local = "a".repeat(100 - "@example.com".length);
      await expect(register(`${local}@example.com`)).resolves.toBeDefined();
      await expect(register(freshEmail(), "12345678")).resolves.toBeDefined();
      await expect(register(freshEmail(), "p".repeat(72))).resolves.toBeDefined();
      // characters, not bytes: 72 four-byte characters are fine
      await expect(register(freshEmail(), "🔑".repeat(72))).resolves.toBeDefined();
    });

    it.each([
      ["", /email: is required/],
      ["   ", /email: is required/],
      ["not-an-email", /email: must be a valid email address/],
      ["two@@example.com", /email: must be a valid email address/],
      ["no-domain-dot@localhost", /email: must be a valid email address/],
      ["spaces in@example.com", /email: must be a valid email address/],
      [`${"a".repeat(101 - "@example.com".length)}@example.com`, /email: must be at most 100 characters/],
    ])("rejects the email %j as InvalidArgument", async (email, message) => {
      const error = await expectStatus(register(email), status.INVALID_ARGUMENT, message);
      expect(error.metadata.get("error-field")).toEqual(["email"]);
    });

    it.each([
      ["", /password: is required/],
      ["1234567", /password: must be 8 to 72 characters \(got 7\)/],
      ["p".repeat(73), /password: must be 8 to 72 characters \(got 73\)/],
      ["🔑".repeat(73), /password: must be 8 to 72 characters \(got 73\)/],
    ])("rejects the password %j as InvalidArgument", async (password, message) => {
      const error = await expectStatus(register(freshEmail(), password), status.INVALID_ARGUMENT, message);
      expect(error.metadata.get("error-field")).toEqual(["password"]);
    });

    it("rejects a duplicate email, whatever its case, as AlreadyExists", async () => {
      const email = freshEmail();
      await register(email);
      await expectStatus(register(email), status.ALREADY_EXISTS, /email: is already registered/);
      await expectStatus(register(email.toUpperCase()), status.ALREADY_EXISTS, /email/);
      await expectStatus(register(`  ${email}  `), status.ALREADY_EXISTS, /email/);
    });

    it("lets exactly one of many concurrent registrations of one email succeed", async () => {
      const email = freshEmail();
      const attempts = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => register(i % 2 === 0 ? email : email.toUpperCase())),
      );
      const succeeded = attempts.filter((a) => a.status === "fulfilled");
      const failed = attempts.filter((a) => a.status === "rejected");
      expect(succeeded).toHaveLength(1);
      expect(failed.map((f) => status[(f.reason as { code: number }).code])).toEqual(
        Array(7).fill("ALREADY_EXISTS"),
      );
      const { rows } = await sql<{
        n: string;
      }>`select count(*) as n from users where lower(email) = ${email}`.execute(svc.db);
      expect(rows[0]?.n).toBe("1");
    });
  });

  describe("LoginUser", () => {
    it("returns the user's id and a fresh token in the authorization header, email in any case", async () => {
      const user = await registered();
      const { response, headers } = await login(user.email.toUpperCase());
      expect(response.user_id).toBe(user.id);
      const [authorization] = headers.get("authorization");
      const caller = await svc.tokens.verify(String(authorization).replace(/^Bearer /, ""));
      expect(caller).toEqual({ kind: "user", userId: user.id });
    });

    it("answers an unknown email and a wrong password with the same Unauthenticated error", async () => {
      const user = await registered();
      const wrongPassword = await expectStatus(login(user.email, "wrong password"), status.UNAUTHENTICATED);
      const unknownEmail = await expectStatus(login(`nobody.${user.email}`), status.UNAUTHENTICATED);
      const impossiblePassword = await expectStatus(login(user.email, "short"), status.UNAUTHENTICATED);
      expect(unknownEmail.details).toBe("invalid email or password");
      expect(wrongPassword.details).toBe(unknownEmail.details);
      expect(impossiblePassword.details).toBe(unknownEmail.details);
      expect(wrongPassword.metadata.getMap()).toEqual(unknownEmail.metadata.getMap());
    });

    it("requires both fields", async () => {
      await expectStatus(login("", PASSWORD), status.INVALID_ARGUMENT, /email: is required/);
      await expectStatus(login("someone@example.com", ""), status.INVALID_ARGUMENT, /password: is required/);
      await expectStatus(
        login("not-an-email"),
        status.INVALID_ARGUMENT,
        /email: must be a valid email address/,
      );
    });
  });

  describe("GetUser", () => {
    it("returns the caller's profile with the default preference and RFC 3339 UTC timestamps", async () => {
      const user = await registered(`Grace.${Date.now()}@Example.com`);
      const { response } = await unary(
        client,
        client.getUser,
        { id: user.id },
        metadataWithToken(user.token),
      );
      expect(response).toEqual({
        email: user.email.toLowerCase(),
        notification_preference: "ALERTS",
        created_at: expect.stringMatching(RFC3339_UTC),
        updated_at: expect.stringMatching(RFC3339_UTC),
      });
    });

    it("needs a valid, unexpired token", async () => {
      const user = await registered();
      await expectStatus(unary(client, client.getUser, { id: user.id }), status.UNAUTHENTICATED, /missing/);
      const wrongKey = await forgeToken({ subject: user.id, key: new TextEncoder().encode("x".repeat(40)) });
      await expectStatus(
        unary(client, client.getUser, { id: user.id }, metadataWithToken(wrongKey)),
        status.UNAUTHENTICATED,
        /invalid access token/,
      );
      const expired = await forgeToken({ subject: user.id, expiresAt: Math.floor(Date.now() / 1000) - 1 });
      await expectStatus(
        unary(client, client.getUser, { id: user.id }, metadataWithToken(expired)),
        status.UNAUTHENTICATED,
        /expired/,
      );
    });

    it("denies reading another user's profile", async () => {
      const alice = await registered();
      const bob = await registered();
      await expectStatus(
        unary(client, client.getUser, { id: bob.id }, metadataWithToken(alice.token)),
        status.PERMISSION_DENIED,
        /id does not match/,
      );
    });

    it("rejects a missing or malformed id", async () => {
      const user = await registered();
      await expectStatus(
        unary(client, client.getUser, { id: "" }, metadataWithToken(user.token)),
        status.INVALID_ARGUMENT,
        /id: is required/,
      );
      await expectStatus(
        unary(client, client.getUser, { id: "42" }, metadataWithToken(user.token)),
        status.INVALID_ARGUMENT,
        /id: must be a lower-case UUID/,
      );
    });

    it("is NotFound for a valid token whose user no longer exists", async () => {
      const user = await registered();
      await svc.db.deleteFrom("users").where("id", "=", user.id).execute();
      await expectStatus(
        unary(client, client.getUser, { id: user.id }, metadataWithToken(user.token)),
        status.NOT_FOUND,
      );
    });

    it("serves a service token acting for the user", async () => {
      const user = await registered();
      const { response } = await unary(
        client,
        client.getUser,
        { id: user.id },
        await svc.serviceMetadata("operator"),
      );
      expect(response.email).toBe(user.email);
    });
  });

  describe("UpdateUser", () => {
    it.each(["ALL", "NONE", "ALERTS"])("sets the notification preference to %s", async (preference) => {
      const user = await registered();
      const auth = metadataWithToken(user.token);
      const before = await unary(client, client.getUser, { id: user.id }, auth);
      const { response } = await unary(
        client,
        client.updateUser,
        { id: user.id, notification_preference: preference },
        auth,
      );
      expect(response).toEqual({});
      const after = await unary(client, client.getUser, { id: user.id }, auth);
      expect(after.response.notification_preference).toBe(preference);
      expect(after.response.created_at).toBe(before.response.created_at);
      expect(Date.parse(after.response.updated_at)).toBeGreaterThanOrEqual(
        Date.parse(before.response.updated_at),
      );
    });

    it.each(["", "all", "WEEKLY", "ALERTS "])(
      "rejects the preference %j as InvalidArgument",
      async (preference) => {
        const user = await registered();
        const error = await expectStatus(
          unary(
            client,
            client.updateUser,
            { id: user.id, notification_preference: preference },
            metadataWithToken(user.token),
          ),
          status.INVALID_ARGUMENT,
          /notification_preference: must be one of ALERTS, ALL, NONE/,
        );
        expect(error.metadata.get("error-field")).toEqual(["notification_preference"]);
      },
    );

    it("needs a token and the caller's own id", async () => {
      const alice = await registered();
      const bob = await registered();
      const request = { id: bob.id, notification_preference: "NONE" };
      await expectStatus(unary(client, client.updateUser, request), status.UNAUTHENTICATED);
      await expectStatus(
        unary(client, client.updateUser, request, metadataWithToken(alice.token)),
        status.PERMISSION_DENIED,
      );
      const { response } = await unary(client, client.getUser, { id: bob.id }, metadataWithToken(bob.token));
      expect(response.notification_preference).toBe("ALERTS");
    });

    it("is NotFound for a user that no longer exists", async () => {
      const user = await registered();
      await svc.db.deleteFrom("users").where("id", "=", user.id).execute();
      await expectStatus(
        unary(
          client,
          client.updateUser,
          { id: user.id, notification_preference: "ALL" },
          metadataWithToken(user.token),
        ),
        status.NOT_FOUND,
      );
    });
  });
});

describe("UsersService when its database fails", () => {
  it("answers Internal without leaking the cause", async () => {
    const svc = await startTestService(createUsersService);
    try {
      const client = svc.client(UsersServiceClient);
      await sql`alter table users rename to users_gone`.execute(svc.db);
      const error = await expectStatus(
        unary(client, client.loginUser, { email: "ada@example.com", password: PASSWORD }),
        status.INTERNAL,
        "internal error",
      );
      expect(error.details).not.toMatch(/users|relation|does not exist/);
    } finally {
      await svc.stop();
    }
  });
});
