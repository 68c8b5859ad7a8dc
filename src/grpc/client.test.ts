import { describe, expect, it } from "vitest";
import { createTokens } from "../auth/tokens.ts";
import { bearerMetadata, serviceAuth } from "./client.ts";

const tokens = createTokens({
  keys: { user: new TextEncoder().encode("u".repeat(32)), service: new TextEncoder().encode("s".repeat(32)) },
  userTokenTtlSeconds: 60,
  serviceTokenTtlSeconds: 60,
});

describe("serviceAuth", () => {
  it("mints a service token once and reuses it until it is due for renewal", async () => {
    const auth = serviceAuth(tokens, "workflows", 3600);
    const first = await auth.token();
    expect(await auth.token()).toBe(first);
    expect(await tokens.verify(first)).toEqual({ kind: "service", service: "workflows" });
    expect((await auth.metadata()).get("authorization")).toEqual([`Bearer ${first}`]);
  });
});

describe("bearerMetadata", () => {
  it("sets authorization: Bearer <token>", () => {
    expect(bearerMetadata("abc").get("authorization")).toEqual(["Bearer abc"]);
  });
});
