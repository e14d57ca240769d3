/**
 * store/README.md's schema table and store/keys.ts name the same keys: every key the
 * code builds has a row, and every row a builder.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { keys } from "../../store/keys.ts";
import { ROOT } from "../fixtures.ts";

const HOLE = "\u0000";

/** The literal head of a key: its parts up to the first one a caller fills in. */
function head(key: readonly unknown[]): string {
  const literal: string[] = [];
  for (const part of key) {
    if (typeof part !== "string" || part.includes(HOLE)) break;
    literal.push(part);
  }
  return JSON.stringify(literal);
}

function codeHeads(): Set<string> {
  const heads = new Set<string>();
  for (const value of Object.values(keys)) {
    const key = typeof value === "function"
      ? (value as (...a: unknown[]) => readonly unknown[])(HOLE, HOLE, HOLE)
      : value;
    heads.add(head(key));
  }
  return heads;
}

function readmeHeads(): Set<string> {
  const text = readFileSync(join(ROOT, "store/README.md"), "utf8");
  const heads = new Set<string>();
  for (const row of text.matchAll(/^\| `(\[[^`]+\])` \|/gm)) {
    const parts = row[1]!.slice(1, -1).split(",").map((p) => p.trim());
    const literal: string[] = [];
    for (const p of parts) {
      const m = /^"([^"]*)"$/.exec(p);
      if (!m) break;
      literal.push(m[1]!);
    }
    heads.add(JSON.stringify(literal));
  }
  return heads;
}

Deno.test("store/README.md's schema table names exactly the keys store/keys.ts builds", () => {
  const code = codeHeads(), readme = readmeHeads();
  assert.ok(readme.size >= 15, `only ${readme.size} rows read from the table`);
  const undocumented = [...code].filter((h) => !readme.has(h));
  const unbuilt = [...readme].filter((h) => !code.has(h));
  assert.deepEqual(undocumented, [], "keys built in store/keys.ts with no row in store/README.md");
  assert.deepEqual(unbuilt, [], "rows in store/README.md that no builder in store/keys.ts makes");
});
