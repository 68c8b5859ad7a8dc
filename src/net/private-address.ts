// Which addresses a heartbeat may not reach unless the installation allows it:
// loopback, link-local (cloud metadata), private and carrier-grade NAT ranges,
// multicast and reserved blocks, and cluster-internal names. Used twice: the
// workflows service refuses such endpoints by name at create/update, and the
// heartbeat program refuses them again after DNS resolution (a public name
// may resolve to a private address).
import { isIP } from "node:net";

function ipv4Octets(address: string): number[] {
  return address.split(".").map(Number);
}

/** An IPv4 address in a private, loopback, link-local or reserved range. */
export function isPrivateIPv4(address: string): boolean {
  const [a = 0, b = 0] = ipv4Octets(address);
  return (
    a === 0 || // "this network", 0.0.0.0
    a === 10 ||
    a === 127 || // loopback
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT (often pod/service ranges)
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224 // multicast, reserved, broadcast
  );
}

/** An IPv6 address that is loopback, unspecified, unique-local, link-local, multicast or maps a private IPv4. */
export function isPrivateIPv6(address: string): boolean {
  const lower = address.toLowerCase();
  if (lower === "::" || lower === "::1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped?.[1] !== undefined) return isPrivateIPv4(mapped[1]);
  if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(lower)) return true; // mapped, hex form: refuse
  const first = Number.parseInt(lower.split(":")[0] || "0", 16);
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 // multicast
  );
}

const INTERNAL_SUFFIXES = [".localhost", ".local", ".internal", ".svc", ".cluster.local", ".localdomain"];

/**
 * Whether a URL host names a loopback, link-local, private or cluster-internal
 * address: IP literals in those ranges, `localhost`, names under internal
 * suffixes (`.svc`, `.cluster.local`, `.internal`, …) and single-label names,
 * which resolve through the cluster's DNS search path to Services.
 */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
  const family = isIP(host);
  if (family === 4) return isPrivateIPv4(host);
  if (family === 6) return isPrivateIPv6(host);
  if (host === "localhost" || !host.includes(".")) return true;
  return INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

/** Whether a resolved IP address (v4 or v6) is one a heartbeat may not reach. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return isPrivateIPv4(address);
  if (family === 6) return isPrivateIPv6(address);
  return true; // not an address at all: refuse
}
