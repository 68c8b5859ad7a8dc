import { describe, expect, it } from "vitest";
import { isPrivateAddress, isPrivateHost } from "./private-address.ts";

// Each row of the IANA IPv4 and IPv6 Special-Purpose Address Registries (as
// published in 2025; the multicast blocks and deprecated IPv6 blocks added),
// with this installation's decision and addresses at both ends of the block.
// REFUSED: refused unless private heartbeats are allowed (registry "Globally
// Reachable" False or N/A). GLOBAL: allowed like any public address
// (Globally Reachable True). EMBEDDED: the IPv4 address the form carries decides.
const REFUSED = "refused";
const GLOBAL = "global";
const EMBEDDED = "embedded";
type Decision = typeof REFUSED | typeof GLOBAL | typeof EMBEDDED;

const ipv4Registry: Array<[prefix: string, name: string, decision: Decision, samples: string[]]> = [
  ["0.0.0.0/8", '"This network" (RFC 791)', REFUSED, ["0.0.0.1", "0.255.255.255"]],
  ["0.0.0.0/32", '"This host on this network" (RFC 1122)', REFUSED, ["0.0.0.0"]],
  ["10.0.0.0/8", "Private-Use (RFC 1918)", REFUSED, ["10.0.0.0", "10.255.255.255"]],
  ["100.64.0.0/10", "Shared Address Space (RFC 6598)", REFUSED, ["100.64.0.0", "100.127.255.255"]],
  ["127.0.0.0/8", "Loopback (RFC 1122)", REFUSED, ["127.0.0.0", "127.255.255.255"]],
  ["169.254.0.0/16", "Link Local (RFC 3927)", REFUSED, ["169.254.0.0", "169.254.169.254", "169.254.255.255"]],
  ["172.16.0.0/12", "Private-Use (RFC 1918)", REFUSED, ["172.16.0.0", "172.31.255.255"]],
  ["192.0.0.0/24", "IETF Protocol Assignments (RFC 6890)", REFUSED, ["192.0.0.11", "192.0.0.255"]],
  ["192.0.0.0/29", "IPv4 Service Continuity Prefix (RFC 7335)", REFUSED, ["192.0.0.0", "192.0.0.7"]],
  ["192.0.0.8/32", "IPv4 dummy address (RFC 7600)", REFUSED, ["192.0.0.8"]],
  ["192.0.0.9/32", "Port Control Protocol Anycast (RFC 7723)", GLOBAL, ["192.0.0.9"]],
  ["192.0.0.10/32", "Traversal Using Relays around NAT Anycast (RFC 8155)", GLOBAL, ["192.0.0.10"]],
  ["192.0.0.170/32", "NAT64/DNS64 Discovery (RFC 8880)", REFUSED, ["192.0.0.170"]],
  ["192.0.0.171/32", "NAT64/DNS64 Discovery (RFC 8880)", REFUSED, ["192.0.0.171"]],
  ["192.0.2.0/24", "Documentation TEST-NET-1 (RFC 5737)", REFUSED, ["192.0.2.0", "192.0.2.255"]],
  ["192.31.196.0/24", "AS112-v4 (RFC 7535)", GLOBAL, ["192.31.196.0", "192.31.196.255"]],
  ["192.52.193.0/24", "AMT (RFC 7450)", GLOBAL, ["192.52.193.0", "192.52.193.255"]],
  ["192.88.99.0/24", "Deprecated 6to4 Relay Anycast (RFC 7526)", REFUSED, ["192.88.99.0", "192.88.99.255"]],
  ["192.168.0.0/16", "Private-Use (RFC 1918)", REFUSED, ["192.168.0.0", "192.168.255.255"]],
  [
    "192.175.48.0/24",
    "Direct Delegation AS112 Service (RFC 7534)",
    GLOBAL,
    ["192.175.48.0", "192.175.48.255"],
  ],
  ["198.18.0.0/15", "Benchmarking (RFC 2544)", REFUSED, ["198.18.0.0", "198.19.255.255"]],
  ["198.51.100.0/24", "Documentation TEST-NET-2 (RFC 5737)", REFUSED, ["198.51.100.0", "198.51.100.255"]],
  ["203.0.113.0/24", "Documentation TEST-NET-3 (RFC 5737)", REFUSED, ["203.0.113.0", "203.0.113.255"]],
  ["224.0.0.0/4", "Multicast (RFC 5771; multicast registry)", REFUSED, ["224.0.0.0", "239.255.255.255"]],
  ["240.0.0.0/4", "Reserved (RFC 1112)", REFUSED, ["240.0.0.0", "255.255.255.254"]],
  ["255.255.255.255/32", "Limited Broadcast (RFC 919)", REFUSED, ["255.255.255.255"]],
];

const ipv6Registry: Array<[prefix: string, name: string, decision: Decision, samples: string[]]> = [
  ["::1/128", "Loopback Address (RFC 4291)", REFUSED, ["::1", "0:0:0:0:0:0:0:1"]],
  ["::/128", "Unspecified Address (RFC 4291)", REFUSED, ["::"]],
  ["::/96", "IPv4-compatible, deprecated (RFC 4291)", REFUSED, ["::8.8.8.8", "::808:808", "::7f00:1"]],
  ["::ffff:0:0/96", "IPv4-mapped Address (RFC 4291)", EMBEDDED, []],
  ["64:ff9b::/96", "IPv4-IPv6 Translat. (RFC 6052)", EMBEDDED, []],
  [
    "64:ff9b:1::/48",
    "IPv4-IPv6 Translat. local use (RFC 8215)",
    REFUSED,
    ["64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"],
  ],
  ["100::/64", "Discard-Only Address Block (RFC 6666)", REFUSED, ["100::", "100::ffff:ffff:ffff:ffff"]],
  [
    "100:0:0:1::/64",
    "Dummy IPv6 Prefix (RFC 9780)",
    REFUSED,
    ["100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff"],
  ],
  [
    "2001::/23",
    "IETF Protocol Assignments (RFC 2928)",
    REFUSED,
    ["2001:5::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  [
    "2001::/32",
    "TEREDO (RFC 4380), whatever it embeds",
    REFUSED,
    ["2001::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:c000:201::f7f7:fefe"],
  ],
  ["2001:1::1/128", "Port Control Protocol Anycast (RFC 7723)", GLOBAL, ["2001:1::1"]],
  ["2001:1::2/128", "Traversal Using Relays around NAT Anycast (RFC 8155)", GLOBAL, ["2001:1::2"]],
  ["2001:1::3/128", "DNS-SD Service Registration Protocol Anycast (RFC 9665)", GLOBAL, ["2001:1::3"]],
  ["2001:2::/48", "Benchmarking (RFC 5180)", REFUSED, ["2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"]],
  ["2001:3::/32", "AMT (RFC 7450)", GLOBAL, ["2001:3::", "2001:3:ffff:ffff:ffff:ffff:ffff:ffff"]],
  ["2001:4:112::/48", "AS112-v6 (RFC 7535)", GLOBAL, ["2001:4:112::", "2001:4:112:ffff:ffff:ffff:ffff:ffff"]],
  [
    "2001:10::/28",
    "Deprecated, previously ORCHID (RFC 4843)",
    REFUSED,
    ["2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  ["2001:20::/28", "ORCHIDv2 (RFC 7343)", GLOBAL, ["2001:20::", "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff"]],
  [
    "2001:30::/28",
    "Drone Remote ID Protocol Entity Tags (RFC 9374)",
    GLOBAL,
    ["2001:30::", "2001:3f:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  [
    "2001:db8::/32",
    "Documentation (RFC 3849)",
    REFUSED,
    ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  ["2002::/16", "6to4 (RFC 3056)", EMBEDDED, []],
  [
    "2620:4f:8000::/48",
    "Direct Delegation AS112 Service (RFC 7534)",
    GLOBAL,
    ["2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff"],
  ],
  ["3fff::/20", "Documentation (RFC 9637)", REFUSED, ["3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"]],
  [
    "5f00::/16",
    "Segment Routing (SRv6) SIDs (RFC 9602)",
    REFUSED,
    ["5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  [
    "fc00::/7",
    "Unique-Local (RFC 4193)",
    REFUSED,
    ["fc00::", "fd00::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  [
    "fe80::/10",
    "Link-Local Unicast (RFC 4291)",
    REFUSED,
    ["fe80::", "fe80::1%eth0", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  [
    "fec0::/10",
    "Site-Local, deprecated (RFC 3879)",
    REFUSED,
    ["fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ],
  ["ff00::/8", "Multicast (RFC 4291)", REFUSED, ["ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]],
  ["outside 2000::/3", "not assigned as global unicast", REFUSED, ["1::", "4000::1", "8000::", "e000::1"]],
];

// The forms that carry an IPv4 address: each is judged by the address it reaches.
const embedded: Array<[form: string, carries: string, decision: Decision]> = [
  ["::ffff:127.0.0.1", "127.0.0.1", REFUSED],
  ["::ffff:7f00:1", "127.0.0.1", REFUSED],
  ["::ffff:10.1.2.3", "10.1.2.3", REFUSED],
  ["::ffff:169.254.169.254", "169.254.169.254", REFUSED],
  ["::ffff:a9fe:a9fe", "169.254.169.254", REFUSED],
  ["::ffff:192.0.2.1", "192.0.2.1", REFUSED],
  ["::ffff:8.8.8.8", "8.8.8.8", GLOBAL],
  ["::ffff:808:808", "8.8.8.8", GLOBAL],
  ["64:ff9b::127.0.0.1", "127.0.0.1", REFUSED],
  ["64:ff9b::a00:1", "10.0.0.1", REFUSED],
  ["64:ff9b::c0a8:101", "192.168.1.1", REFUSED],
  ["64:ff9b::8.8.8.8", "8.8.8.8", GLOBAL],
  ["64:ff9b::5db8:d822", "93.184.216.34", GLOBAL],
  ["2002:7f00:1::", "127.0.0.1", REFUSED],
  ["2002:c0a8:101::1", "192.168.1.1", REFUSED],
  ["2002:a9fe:a9fe:1::1", "169.254.169.254", REFUSED],
  ["2002:a00:1::", "10.0.0.1", REFUSED],
  ["2002:808:808::1", "8.8.8.8", GLOBAL],
];

const refused = (decision: Decision) => decision === REFUSED;

describe("IANA IPv4 Special-Purpose Address Registry", () => {
  for (const [prefix, name, decision, samples] of ipv4Registry) {
    it.each(samples)(`${prefix} ${name}: %s is ${decision}`, (address) => {
      expect(isPrivateAddress(address)).toBe(refused(decision));
      expect(isPrivateHost(address)).toBe(refused(decision));
    });
  }
  it.each([
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.255",
    "192.0.3.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
  ])("%s, next to those blocks, is global", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
    expect(isPrivateHost(address)).toBe(false);
  });
});

describe("IANA IPv6 Special-Purpose Address Registry", () => {
  for (const [prefix, name, decision, samples] of ipv6Registry) {
    it.each(samples)(`${prefix} ${name}: %s is ${decision}`, (address) => {
      expect(isPrivateAddress(address)).toBe(refused(decision));
      if (!address.includes("%")) expect(isPrivateHost(`[${address}]`)).toBe(refused(decision));
    });
  }
  it.each(embedded)("%s carries %s: %s", (address, _v4, decision) => {
    expect(isPrivateAddress(address)).toBe(refused(decision));
    expect(isPrivateHost(`[${address}]`)).toBe(refused(decision));
    // The same through a URL, which rewrites the form (e.g. ::ffff:127.0.0.1 → ::ffff:7f00:1).
    expect(isPrivateHost(new URL(`http://[${address}]/`).hostname)).toBe(refused(decision));
  });
  it.each([
    "2606:2800:220:1::1",
    "2001:4860:4860::8888",
    "2a00:1450:4001::1",
    "2001:200::1",
    "3ffe::1",
    "3fff:1000::1",
  ])("%s is global unicast", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
    expect(isPrivateHost(`[${address}]`)).toBe(false);
  });
});

describe("hosts as URLs spell them", () => {
  // Every numeric spelling a URL parser (and inet_aton) reads as 127.0.0.1 or another private address.
  it.each([
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://127.0.1/", "127.0.0.1"],
    ["http://0/", "0.0.0.0"],
    ["http://3232235777/", "192.168.1.1"],
    ["http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"],
    ["http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"],
    ["http://LOCALHOST./", "localhost"],
  ])("%s (%s) is refused as a URL host and as a raw host", (url, _address) => {
    const host = new URL(url).hostname;
    expect(isPrivateHost(host)).toBe(true);
    expect(isPrivateHost(url.slice("http://".length, -1))).toBe(true);
  });
  it.each(["134744072", "0x8.0x8.0x8.0x8"])("%s (8.8.8.8 spelled as a number) is global", (host) =>
    expect(isPrivateHost(host)).toBe(false),
  );
});

describe("names", () => {
  it.each([
    "localhost",
    "foo.localhost",
    "kubernetes",
    "api.default.svc",
    "api.default.svc.cluster.local",
    "metadata.google.internal",
    "printer.local",
    "",
    "bad host",
    "x".repeat(100_000),
  ])("%j is refused", (host) => expect(isPrivateHost(host)).toBe(true));
  it.each(["example.com", "api.example.org.", "EXAMPLE.COM"])("%s is allowed", (host) =>
    expect(isPrivateHost(host)).toBe(false),
  );
  it("refuses what is not an address", () => expect(isPrivateAddress("not-an-ip")).toBe(true));
});
