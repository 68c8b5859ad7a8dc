// The shared gRPC platform over a real connection: the handler wrapper's access
// levels and token checks, the one error mapping, response headers, server
// streaming, health, reflection (through grpcurl) and graceful shutdown.
// Stub implementations of real API services stand in for the services, so the
// platform is tested on its own.
import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Client, credentials, Metadata, makeClientConstructor, status } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobsServiceClient, JobsServiceService, type Log } from "../../../gen/jobs/jobs.ts";
import {
  type CreateNotificationRequest,
  type CreateNotificationResponse,
  type ListNotificationsRequest,
  type ListNotificationsResponse,
  type MarkNotificationsReadRequest,
  type MarkNotificationsReadResponse,
  NotificationsServiceClient,
  NotificationsServiceService,
} from "../../../gen/notifications/notifications.ts";
import { FailedPrecondition, InvalidArgument } from "../../../src/grpc/errors.ts";
import { createHandlers, requireSameUser } from "../../../src/grpc/handlers.ts";
import { type RunningGrpcServer, startGrpcServer } from "../../../src/grpc/server.ts";
import {
  collectStream,
  expectStatus,
  forgeToken,
  metadataWithToken,
  TEST_KEYS,
  testLogger,
  testTokens,
  unary,
} from "../../support/grpc.ts";
import { waitFor } from "../../support/wait.ts";

const run = promisify(execFile);
const grpcurl = join(homedir(), ".cache/chronoverse/bin/grpcurl");
const tokens = testTokens();
const logger = testLogger();
const handlers = createHandlers({ tokens, logger });
const ALICE = "0193a000-0000-7000-8000-00000000a11c";
const BOB = "0193a000-0000-7000-8000-000000000b0b";

/** Lets a test hold a call in flight until it says so. */
let releaseSlowCall: () => void = () => {};

function notificationsStub() {
  return {
    // internal: answers with the caller's service name, so the test sees who it was
    createNotification: handlers.unary<CreateNotificationRequest, CreateNotificationResponse>(
      "internal",
      async (_request, context) => ({ id: context.caller.kind === "service" ? context.caller.service : "?" }),
    ),
    // user: the request's user_id must match the token; sets a response header
    listNotifications: handlers.unary<ListNotificationsRequest, ListNotificationsResponse>(
      "user",
      async (request, context) => {
        requireSameUser(context, request.user_id);
        context.setHeader("x-page", "1");
        if (request.cursor === "bad") throw new InvalidArgument("cursor", "is not a valid cursor");
        if (request.cursor === "slow") await new Promise<void>((resolve) => (releaseSlowCall = resolve));
        return { notifications: [], cursor: "" };
      },
    ),
    // public: fails in ways the mapping must handle
    markNotificationsRead: handlers.unary<MarkNotificationsReadRequest, MarkNotificationsReadResponse>(
      "public",
      async (request) => {
        if (request.user_id === "precondition") throw new FailedPrecondition("over the limit", "ids");
        throw new Error("connection to db-7.internal:5432 refused, password=hunter2");
      },
    ),
  };
}

function jobsStub() {
  return {
    streamJobLogs: handlers.serverStream<{ id: string; user_id: string }, Log>(
      "user",
      async (request, context, send) => {
        requireSameUser(context, request.user_id);
        for (let i = 1; i <= 3; i++) {
          await send({
            timestamp: "",
            message: `line ${i}`,
            sequence_num: i,
            stream: "stdout",
            event_id: "",
          });
        }
        if (request.id === "fail") throw new FailedPrecondition("log retention is off");
        if (request.id === "forever") await new Promise(() => {});
      },
    ),
  };
}

/**
 * A raw ServerReflectionInfo call with `list_services: "*"` (field 7), without
 * generated code, so that each protocol version is exercised on its own.
 * Returns the response bytes as text (service names appear verbatim).
 */
function reflectionListServices(address: string, version: string): Promise<string> {
  const path = `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;
  const Raw = makeClientConstructor(
    {
      info: {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: Buffer) => value,
        requestDeserialize: (value: Buffer) => value,
        responseSerialize: (value: Buffer) => value,
        responseDeserialize: (value: Buffer) => value,
      },
    },
    "Raw",
  );
  const client = new Raw(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    // biome-ignore lint/suspicious/noExplicitAny: untyped raw client
    const call = (client as any).info();
    call.on("data", (data: Buffer) => {
      resolve(data.toString("latin1"));
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write(Buffer.from([0x3a, 0x01, 0x2a]));
  });
}

describe("gRPC platform", () => {
  let server: RunningGrpcServer;
  let address: string;
  const clients: Client[] = [];
  function connect<C extends Client>(
    ClientClass: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => C,
  ): C {
    const client = new ClientClass(address, credentials.createInsecure());
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    server = await startGrpcServer({
      services: [
        {
          name: "notifications.NotificationsService",
          definition: NotificationsServiceService,
          implementation: notificationsStub(),
        },
        { name: "jobs.JobsService", definition: JobsServiceService, implementation: jobsStub() },
      ],
      host: "127.0.0.1",
      port: 0,
      logger,
      shutdownTimeoutMs: 500,
    });
    address = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await server.shutdown();
  });

  describe("access levels and tokens", () => {
    it("lets a user call a user RPC for themselves and returns response headers", async () => {
      const client = connect(NotificationsServiceClient);
      const { response, headers } = await unary(
        client,
        client.listNotifications,
        { user_id: ALICE, cursor: "" },
        metadataWithToken(await tokens.issueUserToken(ALICE)),
      );
      expect(response).toEqual({ notifications: [], cursor: "" });
      expect(headers.get("x-page")).toEqual(["1"]);
    });

    it("rejects a call without a token as Unauthenticated", async () => {
      const client = connect(NotificationsServiceClient);
      await expectStatus(
        unary(client, client.listNotifications, { user_id: ALICE, cursor: "" }),
        status.UNAUTHENTICATED,
        /missing access token/,
      );
    });

    it("rejects an authorization header that is not a bearer token", async () => {
      const client = connect(NotificationsServiceClient);
      const metadata = new Metadata();
      metadata.set("authorization", "Basic YWxpY2U6c2VjcmV0");
      await expectStatus(
        unary(client, client.listNotifications, { user_id: ALICE, cursor: "" }, metadata),
        status.UNAUTHENTICATED,
        /Bearer/,
      );
    });

    it("rejects garbage, a bad signature, and a user token signed with the service key", async () => {
      const client = connect(NotificationsServiceClient);
      const wrongKey = new TextEncoder().encode("33".repeat(32));
      for (const token of [
        "not-a-jwt",
        await forgeToken({ subject: ALICE, key: wrongKey }),
        await forgeToken({ subject: ALICE, kind: "user", key: TEST_KEYS.service }),
      ]) {
        await expectStatus(
          unary(client, client.listNotifications, { user_id: ALICE, cursor: "" }, metadataWithToken(token)),
          status.UNAUTHENTICATED,
          /invalid access token/,
        );
      }
    });

    it("rejects an expired token", async () => {
      const client = connect(NotificationsServiceClient);
      const expired = await forgeToken({ subject: ALICE, expiresAt: Math.floor(Date.now() / 1000) - 60 });
      await expectStatus(
        unary(client, client.listNotifications, { user_id: ALICE, cursor: "" }, metadataWithToken(expired)),
        status.UNAUTHENTICATED,
        /expired/,
      );
    });

    it("denies a user acting for another user's id", async () => {
      const client = connect(NotificationsServiceClient);
      const error = await expectStatus(
        unary(
          client,
          client.listNotifications,
          { user_id: BOB, cursor: "" },
          metadataWithToken(await tokens.issueUserToken(ALICE)),
        ),
        status.PERMISSION_DENIED,
        /user_id/,
      );
      expect(error.metadata.get("error-field")).toEqual(["user_id"]);
    });

    it("requires the user_id field before comparing it", async () => {
      const client = connect(NotificationsServiceClient);
      await expectStatus(
        unary(
          client,
          client.listNotifications,
          { user_id: "", cursor: "" },
          metadataWithToken(await tokens.issueUserToken(ALICE)),
        ),
        status.INVALID_ARGUMENT,
        /user_id: is required/,
      );
    });

    it("denies a user token on an internal RPC and accepts a service token", async () => {
      const client = connect(NotificationsServiceClient);
      const request = { user_id: ALICE, kind: "WEB_INFO", payload: "{}", idempotency_key: "k" };
      await expectStatus(
        unary(
          client,
          client.createNotification,
          request,
          metadataWithToken(await tokens.issueUserToken(ALICE)),
        ),
        status.PERMISSION_DENIED,
        /internal/,
      );
      await expectStatus(unary(client, client.createNotification, request), status.UNAUTHENTICATED);
      const { response } = await unary(
        client,
        client.createNotification,
        request,
        metadataWithToken(await tokens.issueServiceToken("operator")),
      );
      expect(response.id).toBe("operator");
    });

    it("lets a service token act for any user on a user RPC", async () => {
      const client = connect(NotificationsServiceClient);
      const { response } = await unary(
        client,
        client.listNotifications,
        { user_id: BOB, cursor: "" },
        metadataWithToken(await tokens.issueServiceToken("operator")),
      );
      expect(response.cursor).toBe("");
    });
  });

  describe("error mapping", () => {
    it("keeps a domain error's code and message and names the field", async () => {
      const client = connect(NotificationsServiceClient);
      const invalid = await expectStatus(
        unary(
          client,
          client.listNotifications,
          { user_id: ALICE, cursor: "bad" },
          metadataWithToken(await tokens.issueUserToken(ALICE)),
        ),
        status.INVALID_ARGUMENT,
        "cursor: is not a valid cursor",
      );
      expect(invalid.metadata.get("error-field")).toEqual(["cursor"]);
      await expectStatus(
        unary(client, client.markNotificationsRead, { ids: [], user_id: "precondition" }),
        status.FAILED_PRECONDITION,
        "over the limit",
      );
    });

    it("turns an unexpected error into Internal without leaking its details", async () => {
      const client = connect(NotificationsServiceClient);
      const error = await expectStatus(
        unary(client, client.markNotificationsRead, { ids: [], user_id: ALICE }),
        status.INTERNAL,
        "internal error",
      );
      expect(error.details).not.toMatch(/hunter2|db-7/);
    });
  });

  describe("server streaming", () => {
    it("sends every message and ends the stream", async () => {
      const client = connect(JobsServiceClient);
      const messages = await collectStream(
        client,
        client.streamJobLogs,
        { id: "ok", workflow_id: "w", user_id: ALICE },
        metadataWithToken(await tokens.issueUserToken(ALICE)),
      );
      expect(messages.map((m) => m.message)).toEqual(["line 1", "line 2", "line 3"]);
    });

    it("checks the token before streaming and maps errors thrown mid-stream", async () => {
      const client = connect(JobsServiceClient);
      await expectStatus(
        collectStream(client, client.streamJobLogs, { id: "ok", workflow_id: "w", user_id: ALICE }),
        status.UNAUTHENTICATED,
      );
      await expectStatus(
        collectStream(
          client,
          client.streamJobLogs,
          { id: "fail", workflow_id: "w", user_id: ALICE },
          metadataWithToken(await tokens.issueUserToken(ALICE)),
        ),
        status.FAILED_PRECONDITION,
        /log retention/,
      );
    });
  });

  describe("health and reflection", () => {
    it("reports each service and the server as SERVING", async () => {
      const HealthClient = makeClientConstructor(healthService, "grpc.health.v1.Health");
      const client = connect(
        HealthClient as unknown as new (
          a: string,
          c: ReturnType<typeof credentials.createInsecure>,
        ) => Client,
      );
      const check = (service: string) =>
        new Promise<{ status: string }>((resolve, reject) =>
          // biome-ignore lint/suspicious/noExplicitAny: untyped client built from the health proto
          (client as any).check({ service }, (error: Error | null, response: { status: string }) =>
            error ? reject(error) : resolve(response),
          ),
        );
      expect((await check("")).status).toBe("SERVING");
      expect((await check("notifications.NotificationsService")).status).toBe("SERVING");
      expect((await check("jobs.JobsService")).status).toBe("SERVING");
      await expectStatus(check("users.UsersService"), status.NOT_FOUND);
    });

    it("lists and describes the served services through reflection (grpcurl)", async () => {
      const { stdout: list } = await run(grpcurl, ["-plaintext", address, "list"]);
      expect(list.trim().split("\n").sort()).toEqual(
        ["grpc.health.v1.Health", "jobs.JobsService", "notifications.NotificationsService"].sort(),
      );
      const { stdout: described } = await run(grpcurl, [
        "-plaintext",
        address,
        "describe",
        "notifications.CreateNotificationRequest",
      ]);
      expect(described).toMatch(/string idempotency_key = 4;/);
      // proto3 `optional` survives reflection (grpcurl then sends an explicit false)
      const { stdout: optional } = await run(grpcurl, [
        "-plaintext",
        address,
        "describe",
        "jobs.ListJobsRequest",
      ]);
      expect(optional).toMatch(/optional \.jobs\.ListJobsFilters filters = 4;/);
      const { stdout: methods } = await run(grpcurl, ["-plaintext", address, "describe", "jobs.JobsService"]);
      expect(methods).toMatch(
        /rpc StreamJobLogs \( \.jobs\.StreamJobLogsRequest \) returns \( stream \.jobs\.Log \)/,
      );
    });

    it("answers list_services on both reflection protocols, v1 and v1alpha", async () => {
      for (const version of ["v1", "v1alpha"]) {
        const raw = await reflectionListServices(address, version);
        expect(raw, version).toContain("notifications.NotificationsService");
        expect(raw, version).toContain("grpc.health.v1.Health");
      }
    });
  });
});

describe("graceful shutdown", () => {
  it("reports NOT_SERVING, refuses new connections, lets in-flight calls finish, forces endless streams", async () => {
    const server = await startGrpcServer({
      services: [
        {
          name: "notifications.NotificationsService",
          definition: NotificationsServiceService,
          implementation: notificationsStub(),
        },
        { name: "jobs.JobsService", definition: JobsServiceService, implementation: jobsStub() },
      ],
      host: "127.0.0.1",
      port: 0,
      logger,
      shutdownTimeoutMs: 1_000,
    });
    const address = `127.0.0.1:${server.port}`;
    const notifications = new NotificationsServiceClient(address, credentials.createInsecure());
    const jobs = new JobsServiceClient(address, credentials.createInsecure());
    const alice = metadataWithToken(await tokens.issueUserToken(ALICE));
    try {
      const slow = unary(
        notifications,
        notifications.listNotifications,
        { user_id: ALICE, cursor: "slow" },
        alice,
      );
      const endless = collectStream(
        jobs,
        jobs.streamJobLogs,
        { id: "forever", workflow_id: "w", user_id: ALICE },
        alice,
      );
      const previousRelease = releaseSlowCall;
      await waitFor("the slow call to reach its handler", () =>
        releaseSlowCall !== previousRelease ? true : undefined,
      );
      // a health watcher sees the server go NOT_SERVING as soon as shutdown begins
      const HealthClient = makeClientConstructor(healthService, "grpc.health.v1.Health");
      const health = new HealthClient(address, credentials.createInsecure());
      const seen: string[] = [];
      // biome-ignore lint/suspicious/noExplicitAny: untyped client built from the health proto
      const watch = (health as any).watch({ service: "jobs.JobsService" });
      watch.on("data", (response: { status: string }) => seen.push(response.status));
      watch.on("error", () => {});
      await waitFor("the watcher's first status", () => (seen[0] === "SERVING" ? true : undefined));

      const stopped = server.shutdown();
      await waitFor("NOT_SERVING on the health watch", () =>
        seen.includes("NOT_SERVING") ? true : undefined,
      );
      // while draining, a new connection is refused
      const fresh = new NotificationsServiceClient(address, credentials.createInsecure());
      await expectStatus(
        unary(fresh, fresh.listNotifications, { user_id: ALICE, cursor: "" }, alice, {
          deadline: Date.now() + 5_000,
        }),
        status.UNAVAILABLE,
      );
      fresh.close();
      // the call in flight when shutdown began still completes
      releaseSlowCall();
      await expect(slow).resolves.toMatchObject({ response: { cursor: "" } });
      // the never-ending stream (and the watch) hold the drain until the timeout forces them
      await stopped;
      await expect(endless).rejects.toMatchObject({ code: expect.any(Number) });
      health.close();
    } finally {
      notifications.close();
      jobs.close();
      await server.shutdown();
    }
  });
});

describe("message size limit", () => {
  it("refuses a request larger than maxMessageBytes with RESOURCE_EXHAUSTED", async () => {
    const server = await startGrpcServer({
      services: [
        {
          name: "notifications.NotificationsService",
          definition: NotificationsServiceService,
          implementation: notificationsStub(),
        },
      ],
      host: "127.0.0.1",
      port: 0,
      logger,
      maxMessageBytes: 1024,
    });
    const client = new NotificationsServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    try {
      await expectStatus(
        unary(client, client.markNotificationsRead, { ids: ["x".repeat(2048)], user_id: "precondition" }),
        status.RESOURCE_EXHAUSTED,
      );
      await expectStatus(
        unary(client, client.markNotificationsRead, { ids: ["x".repeat(100)], user_id: "precondition" }),
        status.FAILED_PRECONDITION,
      );
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});
