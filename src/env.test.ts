import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DURATION_MAX_LENGTH, parseDuration, parseGoDuration } from "./env.ts";

// The grammar of every duration setting and of `chronoverse heartbeat --timeout`.
describe("parseDuration", () => {
  it.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["250ms", 250],
    ["5m", 300_000],
    ["15", 15_000],
    ["1.5s", 1_500],
    ["", undefined],
    ["10x", undefined],
  ])("reads %j as %s ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["30s", 30_000],
    ["250ms", 250],
    ["15m", 900_000],
    ["24h", 86_400_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["90", 90_000],
  ])("parses %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "abc", "10 minutes", "5d", "h", `${"0".repeat(DURATION_MAX_LENGTH)}1s`])(
    "rejects %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

const second = 1_000_000_000n;
const minute = 60n * second;
const hour = 60n * minute;

// Go's own table for time.ParseDuration (src/time/time_test.go), every form it accepts.
describe("parseGoDuration: every form Go's time.ParseDuration accepts", () => {
  it.each<[string, bigint]>([
    ["0", 0n],
    ["5s", 5n * second],
    ["30s", 30n * second],
    ["1478s", 1478n * second],
    ["-5s", -5n * second],
    ["+5s", 5n * second],
    ["-0", 0n],
    ["+0", 0n],
    ["5.0s", 5n * second],
    ["5.6s", 5n * second + 600_000_000n],
    ["5.s", 5n * second],
    [".5s", 500_000_000n],
    ["1.0s", second],
    ["1.00s", second],
    ["1.004s", second + 4_000_000n],
    ["1.0040s", second + 4_000_000n],
    ["100.00100s", 100n * second + 1_000_000n],
    ["10ns", 10n],
    ["11us", 11_000n],
    ["12\u00b5s", 12_000n],
    ["12\u03bcs", 12_000n],
    ["13ms", 13_000_000n],
    ["14s", 14n * second],
    ["15m", 15n * minute],
    ["16h", 16n * hour],
    ["3h30m", 3n * hour + 30n * minute],
    ["10.5s4m", 4n * minute + 10n * second + 500_000_000n],
    ["-2m3.4s", -(2n * minute + 3n * second + 400_000_000n)],
    ["1h2m3s4ms5us6ns", hour + 2n * minute + 3n * second + 4_000_000n + 5_000n + 6n],
    ["39h9m14.425s", 39n * hour + 9n * minute + 14n * second + 425_000_000n],
    ["52763797000ns", 52_763_797_000n],
    ["9007199254740993ns", 9_007_199_254_740_993n],
    ["9223372036854775807ns", (1n << 63n) - 1n],
    ["9223372036854775.807us", (1n << 63n) - 1n],
    ["9223372036.854775807s", (1n << 63n) - 1n],
    ["2562047h47m16.854775807s", (1n << 63n) - 1n],
    ["-9223372036854775808ns", -(1n << 63n)],
    ["0.100000000000000000000h", 6n * minute],
    ["0.830103483285477580700h", 49n * minute + 48n * second + 372_539_827n],
    // the forms a client of the original sends most
    ["1500ms", 1_500_000_000n],
    ["1.5s", 1_500_000_000n],
    ["1m30s", 90n * second],
    ["2h", 2n * hour],
    ["300us", 300_000n],
  ])("%j is %d ns", (text, nanos) => expect(parseGoDuration(text)).toBe(nanos));

  it.each([
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "00",
    "1s ",
    " 1s",
    "1 s",
    "1sm",
    "1ss",
    "1S",
    "9223372036854775810ns",
    "9223372036854775808ns",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
    "-9223372036854775809ns",
  ])("%j is refused as Go refuses it", (text) => expect(parseGoDuration(text)).toBeUndefined());

  it("reads nothing longer than DURATION_MAX_LENGTH, however close to a duration", () => {
    expect(parseGoDuration(`${"1".repeat(DURATION_MAX_LENGTH - 1)}s`)).toBeUndefined(); // out of range anyway
    expect(parseGoDuration(`${"0".repeat(DURATION_MAX_LENGTH - 2)}1s`)).toBe(second);
    expect(parseGoDuration(`${"0".repeat(DURATION_MAX_LENGTH - 1)}1s`)).toBeUndefined();
  });

  // Near-matches far beyond the limit: the answer must be right (and come at
  // once — a backtracking pattern took seconds on 40 characters of these).
  it.each([
    [`0.${"s000".repeat(25_000)}n`, "the pattern that made the old regex exponential"],
    [`${"1".repeat(100_000)}x`, "digits without a unit"],
    [`${"1s".repeat(50_000)}1`, "parts with a missing last unit"],
    [`${"1.".repeat(50_000)}s`, "dots"],
    [`${"9".repeat(100_000)}h`, "an enormous number"],
  ])("refuses a 100k-character near-match (%#: %s)", (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
    expect(parseDuration(text)).toBeUndefined();
  });

  // Property: any sum of Go duration parts, written the way Go writes them, reads back exactly.
  const units: Array<[string, bigint]> = [
    ["ns", 1n],
    ["us", 1_000n],
    ["\u00b5s", 1_000n],
    ["ms", 1_000_000n],
    ["s", second],
    ["m", minute],
    ["h", hour],
  ];
  it("reads back every composed duration exactly", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat({ max: 9999 }), fc.nat({ max: 999 }), fc.constantFrom(...units)), {
          minLength: 1,
          maxLength: 4,
        }),
        (negative, parts) => {
          let text = negative ? "-" : "";
          let total = 0n;
          for (const [whole, millis, [unit, nanos]] of parts) {
            const fraction = millis.toString().padStart(3, "0");
            text += `${whole}.${fraction}${unit}`;
            total += BigInt(whole) * nanos + (BigInt(millis) * nanos) / 1000n;
          }
          expect(parseGoDuration(text)).toBe(negative ? -total : total);
        },
      ),
    );
  });

  // Property: on any text over the duration alphabet, of any length up to far past the
  // limit, the parser answers (no exception) and agrees with Go's grammar as a reference
  // regular expression checks it on the short ones.
  const goGrammar = /^[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/;
  it("agrees with Go's grammar on arbitrary text over its alphabet", () => {
    const alphabet = fc.constantFrom(..."0123456789.+-smhnu\u00b5\u03bcx ");
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 30 }), (text) => {
        const nanos = parseGoDuration(text);
        const grammatical = text.replace(/^[-+]/, "") === "0" || goGrammar.test(text);
        if (!grammatical) expect(nanos).toBeUndefined();
        // Grammatical text is read unless its number is out of Go's range: with every
        // digit made 0 (same grammar, no magnitude) it always reads.
        else if (nanos === undefined) expect(parseGoDuration(text.replace(/[1-9]/g, "0"))).toBe(0n);
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, minLength: DURATION_MAX_LENGTH + 1, maxLength: 200_000 }),
        (text) => {
          expect(parseGoDuration(text)).toBeUndefined();
        },
      ),
      { numRuns: 20 },
    );
  });
});
