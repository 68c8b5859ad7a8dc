// Every regular expression in the code that serves requests (services/, src/,
// operator/) is linear-time: checked statically with recheck, a ReDoS checker
// that decides from the pattern's automaton whether matching can take more
// than linear time (nested or overlapping quantifiers such as (a+)+ or
// \d+\.?\d*), and answers "safe" only when it cannot. No clock is involved.
// A pattern built at run time (new RegExp with a non-literal) must be listed
// below with its expansion, which is checked the same way.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { checkSync } from "recheck";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const folders = ["services", "src", "operator"];

/** Patterns built at run time: "file: expression" → the pattern it builds. */
const dynamicPatterns: Record<string, { source: string; flags: string }> = {
  'services/notifications/domain.ts: new RegExp(`^/workflows/(${UUID_SOURCE})$`, "i")': {
    source: "^/workflows/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
    flags: "i",
  },
  'services/notifications/domain.ts: new RegExp(`^/workflows/(${UUID_SOURCE})/jobs/(${UUID_SOURCE})$`, "i")':
    {
      source:
        "^/workflows/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/jobs/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
      flags: "i",
    },
};

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

interface Found {
  where: string;
  source: string;
  flags: string;
}

function patternsIn(path: string): { found: Found[]; dynamic: string[] } {
  const file = relative(root, path);
  const text = readFileSync(path, "utf8");
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: Found[] = [];
  const dynamic: string[] = [];
  const visit = (node: ts.Node): void => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = node.getText(sf);
      const end = literal.lastIndexOf("/");
      found.push({ where: `${file}:${line}`, source: literal.slice(1, end), flags: literal.slice(end + 1) });
    } else if (
      (ts.isNewExpression(node) || ts.isCallExpression(node)) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "RegExp"
    ) {
      const [pattern, flags] = node.arguments ?? [];
      const flagText = flags && ts.isStringLiteralLike(flags) ? flags.text : "";
      if (pattern && ts.isStringLiteralLike(pattern)) {
        found.push({ where: `${file}:${line}`, source: pattern.text, flags: flagText });
      } else {
        dynamic.push(`${file}: ${node.getText(sf)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { found, dynamic };
}

const all = folders.flatMap((folder) => sourceFiles(join(root, folder))).map(patternsIn);
const literals = all.flatMap((entry) => entry.found);
const dynamic = all.flatMap((entry) => entry.dynamic);

describe("every regular expression in services/, src/ and operator/ is linear-time", () => {
  it("finds the patterns (the walk works)", () => {
    expect(literals.length).toBeGreaterThan(20);
  });

  it.each(literals.map((p) => [p.where, p.source, p.flags] as const))(
    "%s /%s/%s",
    (_where, source, flags) => {
      const result = checkSync(source, flags.replace(/[gy]/g, ""));
      expect(
        {
          status: result.status,
          complexity: result.status === "vulnerable" ? result.complexity.summary : "",
        },
        `recheck: ${JSON.stringify(result.status === "vulnerable" ? result.attack.pattern : result.status)}`,
      ).toEqual({ status: "safe", complexity: "" });
    },
  );

  it("knows every pattern built at run time", () => {
    expect(dynamic.sort()).toEqual(Object.keys(dynamicPatterns).sort());
  });

  it.each(Object.entries(dynamicPatterns))("%s", (_where, { source, flags }) => {
    expect(checkSync(source, flags).status).toBe("safe");
  });

  // The checker itself tells the classes this audit is for.
  it.each([
    ["^[+-]?((\\d+\\.?\\d*|\\.\\d+)(ns|us|ms|s|m|h))+$", "the duration pattern this replaced"],
    ["^(a+)+$", "nested quantifiers"],
    ["^\\d+\\d*x$", "overlapping adjacent quantifiers"],
    ["^(a|a)*$", "overlapping alternatives under a quantifier"],
  ])("refuses /%s/ (%s)", (source) => {
    expect(checkSync(source, "").status).toBe("vulnerable");
  });
});
