// `chronoverse heartbeat` against a real HTTP server on 127.0.0.1.
import { execFileSync } from "node:child_process";
import type { LookupAddress } from "node:dns";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialsMayGoTo } from "../../src/net/http-fields.ts";
import { check, guardedLookup, parseArgs, printableUrl, runHeartbeat } from "./heartbeat.ts";

interface Captured {
  stdout: string;
  stderr: string;
}

/** Runs the check against the local test server, which is private: so --allow-private. */
async function heartbeat(argv: string[]): Promise<Captured & { code: number }> {
  return heartbeatAsIs([...argv, "--allow-private"]);
}

async function heartbeatAsIs(argv: string[]): Promise<Captured & { code: number }> {
  const out: Captured = { stdout: "", stderr: "" };
  const code = await runHeartbeat(argv, {
    stdout: { write: (t: string) => (out.stdout += t) },
    stderr: { write: (t: string) => (out.stderr += t) },
  });
  return { ...out, code };
}

describe("chronoverse heartbeat", () => {
  let server: Server;
  let base: string;
  const seen: IncomingHttpHeaders[] = [];
  const pending = new Set<() => void>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/slow") {
        // Answers only when the test ends: the check must give up first.
        pending.add(() => res.end());
        return;
      }
      if (url.pathname === "/redirect") {
        res.writeHead(302, { location: "/status/200" });
        res.end();
        return;
      }
      const status = Number(url.pathname.split("/")[2] ?? 200);
      res.writeHead(status, { "content-type": "text/plain" });
      res.end("body is ignored");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const finish of pending) finish();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("succeeds when the status is the expected one", async () => {
    const result = await heartbeat(["--url", `${base}/status/200`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: GET http:\/\/127\.0\.0\.1:\d+\/status\/200 returned 200 in \d+ms\n$/);
    expect(result.stderr).toBe("");
  });

  it("succeeds on a non-2xx status when that is what is expected", async () => {
    const result = await heartbeat(["--url", `${base}/status/503`, "--expected-status", "503"]);
    expect(result.code).toBe(0);
  });

  it("fails with one line when the status differs, even on another 2xx", async () => {
    const result = await heartbeat(["--url", `${base}/status/204`, "--expected-status=200"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^failed: GET http:\/\/127\.0\.0\.1:\d+\/status\/204 returned 204, expected 200\n$/,
    );
    expect(result.stdout).toBe("");
  });

  it("fails when the endpoint does not answer within the timeout", async () => {
    const result = await heartbeat(["--url", `${base}/slow`, "--timeout", "300ms"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^failed: GET http:\/\/127\.0\.0\.1:\d+\/slow timed out after 300ms\n$/);
  });

  it("sends the given headers, every value of a repeated one", async () => {
    seen.length = 0;
    const result = await heartbeat([
      "--url",
      `${base}/status/200`,
      "--header",
      "X-Api-Key: secret-value",
      "--header",
      "Accept: text/plain",
      "--header",
      "Accept: application/json",
    ]);
    expect(result.code).toBe(0);
    expect(seen[0]?.["x-api-key"]).toBe("secret-value");
    expect(seen[0]?.accept).toBe("text/plain, application/json");
    expect(seen[0]?.["user-agent"]).toBe("chronoverse-heartbeat");
    expect(result.stdout + result.stderr).not.toContain("secret-value");
  });

  it("follows redirects unless a redirect is what is expected", async () => {
    expect((await heartbeat(["--url", `${base}/redirect`])).code).toBe(0);
    expect((await heartbeat(["--url", `${base}/redirect`, "--expected-status", "302"])).code).toBe(0);
    expect((await heartbeat(["--url", `${base}/redirect`, "--expected-status", "301"])).stderr).toContain(
      "returned 302, expected 301",
    );
  });

  it("refuses private and cluster-internal addresses unless allowed", async () => {
    seen.length = 0;
    for (const url of [
      `${base}/status/200`,
      "http://localhost:1/",
      "http://api.default.svc/",
      "http://[::1]/",
    ]) {
      const result = await heartbeatAsIs(["--url", url]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^failed: GET .*: refused: a private or cluster-internal address\n$/);
    }
    expect(seen).toHaveLength(0); // nothing reached the server
  });

  it("fails with the network reason when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await heartbeat(["--url", `http://127.0.0.1:${port}/`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^failed: GET http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
  });

  it("sends URL credentials as Basic authentication and never prints them or the query", async () => {
    seen.length = 0;
    const url = `${base.replace("http://", "http://user:pw@")}/status/500?token=abc`;
    const result = await heartbeat(["--url", url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^failed: GET http:\/\/127\.0\.0\.1:\d+\/status\/500 returned 500, expected 200\n$/,
    );
    expect(seen[0]?.authorization).toBe(`Basic ${Buffer.from("user:pw").toString("base64")}`);
  });

  it.each([
    [[], "--url is required"],
    [["--url", "ftp://example.com"], "--url must be an absolute http or https URL"],
    [["--url", "not a url"], "--url must be an absolute http or https URL"],
    [
      ["--url", "http://x", "--expected-status", "600"],
      "--expected-status must be an HTTP status from 100 to 599",
    ],
    [["--url", "http://x", "--timeout", "6m"], "--timeout must be a duration above 0 and at most 5m"],
    [["--url", "http://x", "--timeout", "soon"], "--timeout must be a duration"],
    [["--url", "http://x", "--header", "no colon"], "--header must look like 'Name: value'"],
    [
      ["--url", "http://x", "--header", "X-A: a\r\nInjected: yes"],
      "--header X-A: the value must not contain CR, LF",
    ],
    [["--url", "http://x", "--header", "X-A: nul\u0000"], "--header X-A: the value must not contain CR, LF"],
    [["--url", "http://x", "--header", "X A: v"], "--header must look like 'Name: value'"],
    [["--url", "http://x", "--timeout", "0"], "--timeout must be a duration above 0"],
    [["--url"], "--url needs a value"],
    [["--verbose"], 'unknown argument "--verbose"'],
  ])("rejects %j with exit code 2", async (argv, message) => {
    const result = await heartbeatAsIs(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`heartbeat: ${message}`);
    expect(result.stderr).toContain("usage: chronoverse heartbeat");
  });
});

describe("heartbeat argument parsing", () => {
  it("defaults to status 200 and 10 s", () => {
    const parsed = parseArgs(["--url", "https://example.com/health"]);
    expect(parsed.expectedStatus).toBe(200);
    expect(parsed.timeoutMs).toBe(10_000);
    expect(parsed.headers).toEqual([]);
  });

  it("prints URLs without user info and query", () => {
    expect(printableUrl(new URL("https://a:b@example.com:8443/x/y?q=1#f"))).toBe(
      "https://example.com:8443/x/y",
    );
  });
});

describe("guardedLookup (the DNS answer decides, not the name)", () => {
  const resolver =
    (answers: Record<string, string[]>) =>
    (
      hostname: string,
      _options: { all: true; family?: number },
      callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
    ) =>
      callback(
        null,
        (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
      );
  const lookup = guardedLookup(
    resolver({ "public.example": ["93.184.216.34"], "sneaky.example": ["93.184.216.34", "10.0.0.7"] }),
  );
  const ask = (host: string, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      lookup(host, { all }, (error, address) => resolve({ error, address })),
    );

  it("passes a name that resolves only to public addresses", async () => {
    expect(await ask("public.example", false)).toEqual({ error: null, address: "93.184.216.34" });
    expect((await ask("public.example", true)).address).toEqual([{ address: "93.184.216.34", family: 4 }]);
  });

  it("guards the real connection: a public-looking name resolving to loopback is never reached", async () => {
    const request = parseArgs(["--url", "http://public.example/status/200"]);
    const result = await check(request, { resolve: resolver({ "public.example": ["127.0.0.1"] }) });
    expect(result.ok).toBe(false);
    expect(result.line).toMatch(/refused: public\.example resolves to a private or cluster-internal address/);
  });

  it("refuses a public name with any private address, and a name with none", async () => {
    expect((await ask("sneaky.example", false)).error?.code).toBe("EPRIVATEADDRESS");
    expect((await ask("nothing.example", false)).error?.code).toBe("EPRIVATEADDRESS");
  });
});

// Two real servers on 127.0.0.1: A (the URL the user gave) redirects; B (another origin: another
// port) records what reached it. Credentials must reach A only.
describe("credentials do not follow a redirect to another origin", () => {
  const servers: Server[] = [];
  const seenBy = { a: [] as IncomingHttpHeaders[], b: [] as IncomingHttpHeaders[] };
  let a = "";
  let b = "";

  const listen = async (handler: Parameters<typeof createServer>[1]): Promise<string> => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    b = await listen((req, res) => {
      seenBy.b.push(req.headers);
      res.writeHead(200).end();
    });
    a = await listen((req, res) => {
      seenBy.a.push(req.headers);
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const location =
        path === "/to-b"
          ? `${b}/landing`
          : path === "/to-b-with-userinfo"
            ? `${b.replace("http://", "http://mallory:stolen@")}/landing`
            : path === "/same-origin"
              ? "/final"
              : undefined;
      if (location !== undefined) res.writeHead(302, { location }).end();
      else res.writeHead(200).end();
    });
  });

  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const run = async (url: string, headers: string[]) => {
    seenBy.a.length = 0;
    seenBy.b.length = 0;
    const argv = ["--url", url, "--allow-private"];
    for (const header of headers) argv.push("--header", header);
    const result = await check(parseArgs(argv));
    expect(result.line).toMatch(/^ok: /);
  };

  it("drops Authorization, Cookie and Proxy-Authorization on a redirect to another port, keeps the rest", async () => {
    await run(`${a}/to-b`, [
      "Authorization: Bearer secret-token",
      "Cookie: session=secret",
      "Proxy-Authorization: Basic c2VjcmV0",
      "X-Trace: 42",
    ]);
    expect(seenBy.a[0]?.authorization).toBe("Bearer secret-token");
    expect(seenBy.a[0]?.cookie).toBe("session=secret");
    expect(seenBy.b).toHaveLength(1);
    expect(seenBy.b[0]?.authorization).toBeUndefined();
    expect(seenBy.b[0]?.cookie).toBeUndefined();
    expect(seenBy.b[0]?.["proxy-authorization"]).toBeUndefined();
    expect(seenBy.b[0]?.["x-trace"]).toBe("42");
  });

  it("does not send URL user info (as Basic authentication) to another origin", async () => {
    await run(`${a.replace("http://", "http://user:pw@")}/to-b`, []);
    expect(seenBy.a[0]?.authorization).toBe(`Basic ${Buffer.from("user:pw").toString("base64")}`);
    expect(seenBy.b[0]?.authorization).toBeUndefined();
  });

  it("never uses user info from a redirect's Location", async () => {
    await run(`${a}/to-b-with-userinfo`, []);
    expect(seenBy.b).toHaveLength(1);
    expect(seenBy.b[0]?.authorization).toBeUndefined();
  });

  it("keeps credentials on a redirect within the same origin", async () => {
    await run(`${a}/same-origin`, ["Authorization: Bearer secret-token"]);
    expect(seenBy.a).toHaveLength(2);
    expect(seenBy.a[1]?.authorization).toBe("Bearer secret-token");
  });

  it.each([
    ["https://api.example.com/health", "https://api.example.com/other", true],
    ["https://api.example.com/health", "https://api.example.com:443/x", true],
    ["https://api.example.com/health", "http://api.example.com/health", false],
    ["https://api.example.com/health", "https://api.example.com:8443/health", false],
    ["https://api.example.com/health", "https://other.example.com/health", false],
    ["https://api.example.com/health", "https://sub.api.example.com/health", false],
    ["http://api.example.com/health", "https://api.example.com/health", false],
    ["http://127.0.0.1:80/", "http://127.0.0.1/", true],
  ])("credentials for %s may go to %s: %s", (from, to, allowed) =>
    expect(credentialsMayGoTo(new URL(from), new URL(to))).toBe(allowed),
  );
});

// https → http on the very same host and port: one port that speaks TLS and plain HTTP (the
// first byte of a TLS connection is 0x16), with a self-signed certificate made by openssl.
describe("credentials do not follow a redirect from https down to http", () => {
  const seen: Array<{ scheme: string; path: string; authorization: string | undefined }> = [];
  const dir = mkdtempSync(join(tmpdir(), "heartbeat-tls-"));
  let previous: Dispatcher;
  let port = 0;
  const mux = createNetServer();

  beforeAll(async () => {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-days",
        "1",
      ],
      { stdio: "ignore" },
    );
    const handler =
      (scheme: string): RequestListener =>
      (req, res) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        seen.push({ scheme, path, authorization: req.headers.authorization });
        if (path === "/downgrade") res.writeHead(302, { location: `http://127.0.0.1:${port}/landing` }).end();
        else if (path === "/stay") res.writeHead(302, { location: "/landing" }).end();
        else res.writeHead(200).end();
      };
    const tls = createHttpsServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
      handler("https"),
    );
    const plain = createServer(handler("http"));
    mux.on("connection", (socket) => {
      socket.once("readable", () => {
        const first = socket.read(1) as Buffer | null;
        if (first === null) return;
        socket.unshift(first);
        (first[0] === 0x16 ? tls : plain).emit("connection", socket);
      });
    });
    await new Promise<void>((resolve) => mux.listen(0, "127.0.0.1", resolve));
    port = (mux.address() as AddressInfo).port;
    // The heartbeat (with --allow-private) uses undici's global dispatcher: trust the test certificate.
    previous = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(join(dir, "cert.pem")) } }));
  });

  afterAll(async () => {
    setGlobalDispatcher(previous);
    await new Promise((resolve) => mux.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends Authorization over https, not to the same host and port over http", async () => {
    seen.length = 0;
    const result = await check(
      parseArgs([
        "--url",
        `https://127.0.0.1:${port}/downgrade`,
        "--allow-private",
        "--header",
        "Authorization: Bearer s3cret",
      ]),
    );
    expect(result.line, result.line).toMatch(/^ok: /);
    expect(seen).toEqual([
      { scheme: "https", path: "/downgrade", authorization: "Bearer s3cret" },
      { scheme: "http", path: "/landing", authorization: undefined },
    ]);
  });

  it("keeps it on an https redirect to the same origin", async () => {
    seen.length = 0;
    await check(
      parseArgs([
        "--url",
        `https://127.0.0.1:${port}/stay`,
        "--allow-private",
        "--header",
        "Authorization: Bearer s3cret",
      ]),
    );
    expect(seen.map((s) => [s.scheme, s.authorization])).toEqual([
      ["https", "Bearer s3cret"],
      ["https", "Bearer s3cret"],
    ]);
  });
});
