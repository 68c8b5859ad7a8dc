import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../logging.ts";
import { bearerToken, createTokens, loadTokenKeys } from "./tokens.ts";

const keys = {
  user: new TextEncoder().encode("u".repeat(32)),
  service: new TextEncoder().encode("s".repeat(32)),
};
const tokens = createTokens({ keys, userTokenTtlSeconds: 60, serviceTokenTtlSeconds: 60 });
const silent = createLogger({ level: "silent" });

describe("tokens", () => {
  it("round-trips user and service tokens to the right caller kind", async () => {
    expect(await tokens.verify(await tokens.issueUserToken("u-1"))).toEqual({ kind: "user", userId: "u-1" });
    expect(await tokens.verify(await tokens.issueServiceToken("operator"))).toEqual({
      kind: "service",
      service: "operator",
    });
  });

  it("rejects tokens from other keys, and expired ones", async () => {
    const other = createTokens({
      keys: { user: keys.service, service: keys.user },
      userTokenTtlSeconds: 60,
      serviceTokenTtlSeconds: 60,
    });
    await expect(tokens.verify(await other.issueUserToken("u-1"))).rejects.toThrow(/invalid access token/);
    await expect(tokens.verify(await other.issueServiceToken("x"))).rejects.toThrow(/invalid access token/);
    const expired = createTokens({ keys, userTokenTtlSeconds: -10, serviceTokenTtlSeconds: -10 });
    await expect(tokens.verify(await expired.issueUserToken("u-1"))).rejects.toThrow(/expired/);
    await expect(tokens.verify("a.b.c")).rejects.toThrow(/invalid access token/);
  });

  it("reads bearer tokens from metadata values", () => {
    expect(bearerToken(["Bearer abc.def.ghi"])).toBe("abc.def.ghi");
    expect(bearerToken(["bearer   abc"])).toBe("abc");
    expect(bearerToken(["Basic abc"])).toBeUndefined();
    expect(bearerToken([])).toBeUndefined();
    expect(bearerToken([Buffer.from("Bearer abc")])).toBeUndefined();
  });
});

describe("loadTokenKeys", () => {
  const dir = mkdtempSync(join(tmpdir(), "cv-keys-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("generates development keys once, private to the owner, and reuses them", () => {
    const config = {
      userKey: undefined,
      serviceKey: undefined,
      userTokenTtlSeconds: 1,
      serviceTokenTtlSeconds: 1,
    };
    const first = loadTokenKeys({ ...config, devKeyDir: dir }, silent);
    const second = loadTokenKeys({ ...config, devKeyDir: dir }, silent);
    expect(Buffer.from(first.user).equals(Buffer.from(second.user))).toBe(true);
    expect(Buffer.from(first.user).equals(Buffer.from(first.service))).toBe(false);
    expect(statSync(join(dir, "user-token.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "service-token.key"), "utf8").trim()).toHaveLength(64);
  });

  it("refuses short keys and identical keys", () => {
    const base = { userTokenTtlSeconds: 1, serviceTokenTtlSeconds: 1, devKeyDir: dir };
    expect(() =>
      loadTokenKeys(
        {
          ...base,
          userKey: { kind: "env", variable: "CHRONOVERSE_USER_TOKEN_KEY", value: "short" },
          serviceKey: undefined,
        },
        silent,
      ),
    ).toThrow(/CHRONOVERSE_USER_TOKEN_KEY: a token key needs at least 32 bytes/);
    const same = { kind: "env" as const, variable: "X", value: "k".repeat(32) };
    expect(() => loadTokenKeys({ ...base, userKey: same, serviceKey: same }, silent)).toThrow(/must differ/);
  });
});
