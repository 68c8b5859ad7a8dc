import { describe, expect, it } from "vitest";
import { isPrivateAddress, isPrivateHost } from "./private-address.ts";

describe("private hosts", () => {
  it.each([
    "127.0.0.1",
    "localhost",
    "foo.localhost",
    "10.1.2.3",
    "172.20.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "[::1]",
    "[fe80::1]",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
    "kubernetes",
    "api.default.svc",
    "api.default.svc.cluster.local",
    "metadata.google.internal",
  ])("%s is private", (host) => expect(isPrivateHost(host)).toBe(true));
  it.each(["example.com", "8.8.8.8", "[2001:4860:4860::8888]", "api.example.org."])("%s is public", (host) =>
    expect(isPrivateHost(host)).toBe(false),
  );
});

describe("resolved addresses", () => {
  it.each(["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "fd12::1", "::ffff:192.168.0.1", "not-an-ip"])(
    "%s is refused",
    (address) => expect(isPrivateAddress(address)).toBe(true),
  );
  it.each(["93.184.216.34", "2606:2800:220:1::1"])("%s is allowed", (address) =>
    expect(isPrivateAddress(address)).toBe(false),
  );
});
