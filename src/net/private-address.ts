// Which addresses a heartbeat may not reach unless the installation allows it.
// Used twice: the workflows service refuses such endpoints by name at
// create/update, and the heartbeat program refuses them again after DNS
// resolution (a public name may resolve to a private address) and on every
// redirect.
//
// The rule follows the IANA IPv4 and IPv6 Special-Purpose Address Registries:
// an address in a registry row whose "Globally Reachable" is not True is
// refused (the most specific row decides, so 192.0.0.9/32 is allowed inside the
// refused 192.0.0.0/24). Multicast, and IPv6 outside global unicast 2000::/3,
// are refused too. IPv6 forms that carry an IPv4 address — IPv4-mapped
// ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16 — are judged by the IPv4
// address they reach; the deprecated IPv4-compatible ::/96 and Teredo
// 2001::/32 are refused whatever they embed. Names: `localhost`, single-label
// names (they resolve to Services through the cluster's DNS search path) and
// internal suffixes (.svc, .cluster.local, .internal, …) are refused; numeric
// IPv4 spellings (2130706433, 0x7f.1, 0177.0.0.1) are read as the address
// they are, the way URL parsers and resolvers read them.
import { isIP } from "node:net";

/** A row of a special-purpose registry: a prefix and whether it is globally reachable. */
interface Row {
  prefix: string;
  name: string;
  /** true: allowed like any global address; false: refused; "embedded": the embedded IPv4 decides. */
  global: boolean | "embedded";
}

// IANA IPv4 Special-Purpose Address Registry (plus multicast, from the multicast registry).
const ipv4Rows: readonly Row[] = [
  { prefix: "0.0.0.0/8", name: '"This network"', global: false },
  { prefix: "0.0.0.0/32", name: '"This host on this network"', global: false },
  { prefix: "10.0.0.0/8", name: "Private-Use", global: false },
  { prefix: "100.64.0.0/10", name: "Shared Address Space", global: false },
  { prefix: "127.0.0.0/8", name: "Loopback", global: false },
  { prefix: "169.254.0.0/16", name: "Link Local", global: false },
  { prefix: "172.16.0.0/12", name: "Private-Use", global: false },
  { prefix: "192.0.0.0/24", name: "IETF Protocol Assignments", global: false },
  { prefix: "192.0.0.0/29", name: "IPv4 Service Continuity Prefix", global: false },
  { prefix: "192.0.0.8/32", name: "IPv4 dummy address", global: false },
  { prefix: "192.0.0.9/32", name: "Port Control Protocol Anycast", global: true },
  { prefix: "192.0.0.10/32", name: "Traversal Using Relays around NAT Anycast", global: true },
  { prefix: "192.0.0.170/32", name: "NAT64/DNS64 Discovery", global: false },
  { prefix: "192.0.0.171/32", name: "NAT64/DNS64 Discovery", global: false },
  { prefix: "192.0.2.0/24", name: "Documentation (TEST-NET-1)", global: false },
  { prefix: "192.31.196.0/24", name: "AS112-v4", global: true },
  { prefix: "192.52.193.0/24", name: "AMT", global: true },
  { prefix: "192.88.99.0/24", name: "Deprecated (6to4 Relay Anycast)", global: false },
  { prefix: "192.168.0.0/16", name: "Private-Use", global: false },
  { prefix: "192.175.48.0/24", name: "Direct Delegation AS112 Service", global: true },
  { prefix: "198.18.0.0/15", name: "Benchmarking", global: false },
  { prefix: "198.51.100.0/24", name: "Documentation (TEST-NET-2)", global: false },
  { prefix: "203.0.113.0/24", name: "Documentation (TEST-NET-3)", global: false },
  { prefix: "224.0.0.0/4", name: "Multicast", global: false },
  { prefix: "240.0.0.0/4", name: "Reserved", global: false },
  { prefix: "255.255.255.255/32", name: "Limited Broadcast", global: false },
];

// IANA IPv6 Special-Purpose Address Registry (plus multicast, the deprecated
// IPv4-compatible and site-local blocks).
const ipv6Rows: readonly Row[] = [
  { prefix: "::/128", name: "Unspecified Address", global: false },
  { prefix: "::1/128", name: "Loopback Address", global: false },
  { prefix: "::/96", name: "IPv4-compatible (deprecated, RFC 4291)", global: false },
  { prefix: "::ffff:0:0/96", name: "IPv4-mapped Address", global: "embedded" },
  { prefix: "64:ff9b::/96", name: "IPv4-IPv6 Translat.", global: "embedded" },
  { prefix: "64:ff9b:1::/48", name: "IPv4-IPv6 Translat. (local use)", global: false },
  { prefix: "100::/64", name: "Discard-Only Address Block", global: false },
  { prefix: "100:0:0:1::/64", name: "Dummy IPv6 Prefix", global: false },
  { prefix: "2001::/23", name: "IETF Protocol Assignments", global: false },
  { prefix: "2001::/32", name: "TEREDO", global: false },
  { prefix: "2001:1::1/128", name: "Port Control Protocol Anycast", global: true },
  { prefix: "2001:1::2/128", name: "Traversal Using Relays around NAT Anycast", global: true },
  { prefix: "2001:1::3/128", name: "DNS-SD Service Registration Protocol Anycast", global: true },
  { prefix: "2001:2::/48", name: "Benchmarking", global: false },
  { prefix: "2001:3::/32", name: "AMT", global: true },
  { prefix: "2001:4:112::/48", name: "AS112-v6", global: true },
  { prefix: "2001:10::/28", name: "Deprecated (previously ORCHID)", global: false },
  { prefix: "2001:20::/28", name: "ORCHIDv2", global: true },
  { prefix: "2001:30::/28", name: "Drone Remote ID Protocol Entity Tags (DETs) Prefix", global: true },
  { prefix: "2001:db8::/32", name: "Documentation", global: false },
  { prefix: "2002::/16", name: "6to4", global: "embedded" },
  { prefix: "2620:4f:8000::/48", name: "Direct Delegation AS112 Service", global: true },
  { prefix: "3fff::/20", name: "Documentation", global: false },
  { prefix: "5f00::/16", name: "Segment Routing (SRv6) SIDs", global: false },
  { prefix: "fc00::/7", name: "Unique-Local", global: false },
  { prefix: "fe80::/10", name: "Link-Local Unicast", global: false },
  { prefix: "fec0::/10", name: "Site-Local (deprecated)", global: false },
  { prefix: "ff00::/8", name: "Multicast", global: false },
];

/** An address as 4 or 16 bytes. */
type Bytes = readonly number[];

function ipv4Bytes(address: string): Bytes {
  return address.split(".").map(Number);
}

/** The 16 bytes of an IPv6 address that node:net's isIP accepts (zone id ignored). */
function ipv6Bytes(address: string): Bytes {
  let text = address.split("%")[0] ?? "";
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    tail.push(...ipv4Bytes(text.slice(lastColon + 1)));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = "", rest] = text.split("::");
  const groups = (part: string | undefined) =>
    part ? part.split(":").map((g) => Number.parseInt(g, 16)) : [];
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = all.flatMap((group) => [group >> 8, group & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

interface Prefix {
  bytes: Bytes;
  length: number;
}

function parsePrefix(prefix: string, family: 4 | 6): Prefix {
  const [address = "", length = ""] = prefix.split("/");
  return { bytes: family === 4 ? ipv4Bytes(address) : ipv6Bytes(address), length: Number(length) };
}

function inPrefix(bytes: Bytes, prefix: Prefix): boolean {
  for (let bit = 0; bit < prefix.length; bit += 8) {
    const bits = Math.min(8, prefix.length - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    const index = bit / 8;
    if (((bytes[index] ?? 0) & mask) !== ((prefix.bytes[index] ?? 0) & mask)) return false;
  }
  return true;
}

const parsedIpv4Rows = ipv4Rows.map((row) => ({ row, prefix: parsePrefix(row.prefix, 4) }));
const parsedIpv6Rows = ipv6Rows.map((row) => ({ row, prefix: parsePrefix(row.prefix, 6) }));

/** The most specific registry row an address falls in, if any. */
function mostSpecific(bytes: Bytes, rows: typeof parsedIpv4Rows): Row | undefined {
  let best: (typeof parsedIpv4Rows)[number] | undefined;
  for (const entry of rows) {
    if (inPrefix(bytes, entry.prefix) && (best === undefined || entry.prefix.length > best.prefix.length)) {
      best = entry;
    }
  }
  return best?.row;
}

function privateIPv4Bytes(bytes: Bytes): boolean {
  const row = mostSpecific(bytes, parsedIpv4Rows);
  return row !== undefined && row.global !== true;
}

/** An IPv4 address in a special-purpose range that is not globally reachable (or multicast). */
export function isPrivateIPv4(address: string): boolean {
  return privateIPv4Bytes(ipv4Bytes(address));
}

/** The IPv4 address an IPv6 form reaches: mapped/NAT64 in the last 32 bits, 6to4 in bits 16–47. */
function embeddedIPv4(bytes: Bytes, row: Row): Bytes {
  return row.prefix === "2002::/16" ? bytes.slice(2, 6) : bytes.slice(12, 16);
}

/** An IPv6 address that is not globally reachable, or that carries an IPv4 address that is not. */
export function isPrivateIPv6(address: string): boolean {
  const bytes = ipv6Bytes(address);
  const row = mostSpecific(bytes, parsedIpv6Rows);
  if (row !== undefined) {
    if (row.global === "embedded") return privateIPv4Bytes(embeddedIPv4(bytes, row));
    return !row.global;
  }
  return ((bytes[0] ?? 0) & 0xe0) !== 0x20; // outside global unicast 2000::/3: not assigned for use
}

const INTERNAL_SUFFIXES = [".localhost", ".local", ".internal", ".svc", ".cluster.local", ".localdomain"];

/** The longest host name looked at (DNS names are at most 253 characters). */
const HOST_MAX_LENGTH = 253;

/**
 * A host as URL parsers and resolvers read it: brackets, trailing dot and case
 * removed, numeric IPv4 spellings ("2130706433", "0x7f.1", "127.1") turned into
 * the dotted address they mean. Undefined when it is no valid host at all.
 */
function canonicalHost(hostname: string): string | undefined {
  if (hostname.length > HOST_MAX_LENGTH + 2) return undefined;
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) === 6) return bare.toLowerCase();
  try {
    return new URL(`http://${bare}/`).hostname.replace(/\.$/, "").toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Whether a URL host names a loopback, link-local, private, special-purpose or
 * cluster-internal address: IP literals (in any spelling) in those ranges,
 * `localhost`, names under internal suffixes (`.svc`, `.cluster.local`,
 * `.internal`, …) and single-label names. A host that is not valid is refused.
 */
export function isPrivateHost(hostname: string): boolean {
  const host = canonicalHost(hostname);
  if (host === undefined || host === "") return true;
  const family = isIP(host.startsWith("[") ? host.slice(1, -1) : host);
  if (family === 4) return isPrivateIPv4(host);
  if (family === 6) return isPrivateIPv6(host.replace(/^\[|\]$/g, ""));
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
