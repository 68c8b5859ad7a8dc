// Faults survived: a Postgres restart. The test runs a Postgres server of its
// own (so stopping it disturbs nobody), `chronoverse serve all` and
// `chronoverse operator` on it as real processes, stops the server and starts
// it again. Meanwhile readiness says NOT_SERVING (gRPC health of every
// service and of the server as a whole; the operator's /readyz answers 503)
// while liveness stays up, calls answer UNAVAILABLE with the fixed message,
// and no process exits; afterwards everything is SERVING and answers again.
import { credentials, status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { UsersServiceClient } from "../../../gen/users/users.ts";
import { SERVICE_NAMES, type ServiceName } from "../../../src/config.ts";
import { DATABASE_UNAVAILABLE_MESSAGE } from "../../../src/grpc/errors.ts";
import { installCrds } from "../../support/crds.ts";
import { expectStatus, TEST_SERVICE_KEY, TEST_USER_KEY, unary } from "../../support/grpc.ts";
import { createTestNamespace, type TestNamespace, testKubeConfig } from "../../support/kube.ts";
import { freePort } from "../../support/net.ts";
import { waitFor } from "../../support/wait.ts";
import {
  assertRunning,
  type ChronoverseProcess,
  healthStatus,
  type OwnPostgres,
  SERVICE_FULL_NAMES,
  serviceEndpoints,
  startChronoverse,
  startOwnPostgres,
  waitListening,
} from "./support.ts";

describe("a Postgres restart", () => {
  const kc = testKubeConfig();
  let postgres: OwnPostgres;
  let ns: TestNamespace;
  let serve: ChronoverseProcess;
  let operator: ChronoverseProcess;
  let ports: Record<ServiceName, number>;
  let probePort: number;
  const users: UsersServiceClient[] = [];
  const address = (name: ServiceName) => `127.0.0.1:${ports[name]}`;

  beforeAll(async () => {
    await installCrds(kc);
    [postgres, ns] = await Promise.all([startOwnPostgres(), createTestNamespace(kc, "faults-restart")]);
    const endpoints = await serviceEndpoints();
    ports = endpoints.ports;
    probePort = await freePort();
    const common = {
      ...endpoints.env,
      DATABASE_URL: postgres.url,
      KUBECONFIG: inject("kubeconfig"),
      CHRONOVERSE_NAMESPACE: ns.name,
      CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
      CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
      DATABASE_HEALTH_INTERVAL: "500ms",
      DATABASE_CONNECT_TIMEOUT: "2s",
      LOG_LEVEL: "info",
    };
    serve = startChronoverse(["serve", "all"], { ...common, CHRONOVERSE_HOST: "127.0.0.1" });
    await waitListening(serve);
    operator = startChronoverse(["operator"], {
      ...common,
      POD_NAME: "faults-operator",
      OPERATOR_HOST: "127.0.0.1",
      OPERATOR_PROBE_PORT: String(probePort),
      OPERATOR_METRICS_PORT: "0",
    });
  });

  afterAll(async () => {
    for (const client of users) client.close();
    await Promise.allSettled([serve?.stop(), operator?.stop()]);
    await Promise.allSettled([postgres?.remove(), ns?.remove()]);
  });

  const probe = async (path: string): Promise<number> =>
    (await fetch(`http://127.0.0.1:${probePort}${path}`)).status;

  /** Every service's health under its own name and under "" (the server as a whole). */
  async function readiness(): Promise<string[]> {
    return Promise.all(
      SERVICE_NAMES.flatMap((name) => [
        healthStatus(address(name), SERVICE_FULL_NAMES[name]).then((s) => `${name}: ${s}`),
        healthStatus(address(name), "").then((s) => `${name} (""): ${s}`),
      ]),
    );
  }

  const allAre = (statuses: string[], wanted: string) => statuses.every((s) => s.endsWith(`: ${wanted}`));

  function register() {
    const client = new UsersServiceClient(address("users"), credentials.createInsecure());
    users.push(client);
    return unary(client, client.registerUser, {
      email: `${uuidv7()}@example.com`,
      password: "a long password",
    });
  }

  function assertAllRunning(): void {
    assertRunning(serve, "chronoverse serve all");
    assertRunning(operator, "chronoverse operator");
  }

  it("reports NOT_SERVING while the database is down and SERVING after, answers UNAVAILABLE meanwhile, and nothing exits", async () => {
    await waitFor("every service SERVING", async () => {
      assertAllRunning();
      return allAre(await readiness(), "SERVING") ? true : undefined;
    });
    await waitFor("the operator ready", async () => {
      assertAllRunning();
      return (await probe("/readyz")) === 200 ? true : undefined;
    });
    await register();

    await postgres.stop();

    let last: string[] = [];
    await waitFor("every service NOT_SERVING", async () => {
      assertAllRunning();
      last = await readiness();
      return allAre(last, "NOT_SERVING") ? true : undefined;
    });
    for (const name of SERVICE_NAMES) {
      // A liveness probe must not restart a process because its database is down.
      expect(await healthStatus(address(name), "liveness")).toBe("SERVING");
    }
    await expectStatus(register(), status.UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE);
    await waitFor("the operator not ready", async () => {
      assertAllRunning();
      return (await probe("/readyz")) === 503 ? true : undefined;
    });
    expect(await probe("/healthz")).toBe(200);
    assertAllRunning();

    await postgres.start();

    await waitFor("every service SERVING again", async () => {
      assertAllRunning();
      return allAre(await readiness(), "SERVING") ? true : undefined;
    });
    await waitFor("the operator ready again", async () => {
      assertAllRunning();
      return (await probe("/readyz")) === 200 ? true : undefined;
    });
    await waitFor("a call that writes to succeed", async () => {
      await register();
      return true;
    });
    assertAllRunning();
    expect(
      serve.logs.some((entry) => entry.msg === "database unreachable: not serving until it answers again"),
    ).toBe(true);
  });

  it("a service started while its database is down waits for it, then migrates and serves", async () => {
    await postgres.stop();
    const usersPort = await freePort();
    const late = startChronoverse(["serve", "users"], {
      DATABASE_URL: postgres.url,
      CHRONOVERSE_HOST: "127.0.0.1",
      CHRONOVERSE_USERS_PORT: String(usersPort),
      CHRONOVERSE_USER_TOKEN_KEY: TEST_USER_KEY,
      CHRONOVERSE_SERVICE_TOKEN_KEY: TEST_SERVICE_KEY,
      DATABASE_CONNECT_TIMEOUT: "2s",
      LOG_LEVEL: "info",
    });
    try {
      await waitFor("the service to wait for its database", () => {
        assertRunning(late, "chronoverse serve users");
        return late.logs.some(
          (entry) => entry.msg === "database unreachable at start: waiting for it before migrating",
        )
          ? true
          : undefined;
      });
      await postgres.start();
      await waitFor("the late service to serve", async () => {
        assertRunning(late, "chronoverse serve users");
        return (await healthStatus(`127.0.0.1:${usersPort}`, "")) === "SERVING" ? true : undefined;
      });
      assertAllRunning();
    } finally {
      await late.stop();
    }
  });
});
