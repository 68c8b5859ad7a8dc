// TLS and mutual TLS on the shared server bootstrap, with certificates made by
// openssl for this test: a client that trusts the CA and presents a
// certificate is served; one without a certificate, or without TLS, is not.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ListNotificationsRequest,
  type ListNotificationsResponse,
  NotificationsServiceClient,
  NotificationsServiceService,
} from "../../../gen/notifications/notifications.ts";
import type { TlsConfig } from "../../../src/config.ts";
import { channelCredentials } from "../../../src/grpc/client.ts";
import { createHandlers } from "../../../src/grpc/handlers.ts";
import { type RunningGrpcServer, startGrpcServer } from "../../../src/grpc/server.ts";
import { expectStatus, grpcurlPath, testLogger, testTokens, unary } from "../../support/grpc.ts";

const run = promisify(execFile);

async function makeCertificates(dir: string): Promise<TlsConfig> {
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=chronoverse test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  await writeFile(
    join(dir, "leaf.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "tls.key",
    "-out",
    "tls.csr",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    "tls.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "leaf.ext",
    "-out",
    "tls.crt",
  );
  return {
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    caFile: join(dir, "ca.crt"),
    requireClientCert: true,
  };
}

describe("TLS", () => {
  let dir: string;
  let tls: TlsConfig;
  let server: RunningGrpcServer;
  let address: string;
  const tokens = testTokens();
  const handlers = createHandlers({ tokens, logger: testLogger() });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cv-tls-"));
    tls = await makeCertificates(dir);
    server = await startGrpcServer({
      services: [
        {
          name: "notifications.NotificationsService",
          definition: NotificationsServiceService,
          implementation: {
            listNotifications: handlers.unary<ListNotificationsRequest, ListNotificationsResponse>(
              "public",
              async () => ({ notifications: [], cursor: "tls" }),
            ),
          },
        },
      ],
      host: "127.0.0.1",
      port: 0,
      tls,
      logger: testLogger(),
      shutdownTimeoutMs: 1_000,
    });
    address = `localhost:${server.port}`;
  });
  afterAll(async () => {
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves a client that trusts the CA and presents a certificate (mutual TLS)", async () => {
    const client = new NotificationsServiceClient(address, channelCredentials(tls));
    try {
      const { response } = await unary(client, client.listNotifications, { user_id: "", cursor: "" });
      expect(response.cursor).toBe("tls");
    } finally {
      client.close();
    }
  });

  it("refuses a client without a certificate, and a plaintext client", async () => {
    for (const creds of [
      channelCredentials({ ...tls, requireClientCert: false }),
      credentials.createInsecure(),
    ]) {
      const client = new NotificationsServiceClient(address, creds);
      try {
        await expectStatus(
          unary(client, client.listNotifications, { user_id: "", cursor: "" }, undefined, {
            deadline: Date.now() + 5_000,
          }),
          status.UNAVAILABLE,
        );
      } finally {
        client.close();
      }
    }
  });

  it("works with grpcurl given the CA and a client certificate", async () => {
    const { stdout } = await run(await grpcurlPath(), [
      "-cacert",
      tls.caFile ?? "",
      "-cert",
      tls.certFile,
      "-key",
      tls.keyFile,
      address,
      "list",
    ]);
    expect(stdout).toMatch(/notifications\.NotificationsService/);
  });
});
