/**
 * The audit trail's canonical JSON (what binds a record or a held call's confirmation to
 * its arguments) is written out by hand for speed (issue 23): it must stay what
 * `JSON.stringify` writes with every object's keys sorted, or stored hashes and pending
 * confirmations would stop matching.
 */
import assert from "node:assert/strict";
import { canonicalJson } from "../../auth/owner/audit.ts";

/** The definition: JSON.stringify with a replacer that sorts every object's keys. */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  }) ?? "null";
}

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

const SCALARS = [
  null,
  true,
  false,
  0,
  -0,
  1.5,
  -42,
  1e21,
  1e-7,
  Number.MAX_SAFE_INTEGER,
  "",
  "text",
  'quote " and \\ backslash',
  "line\nbreak\u2028",
  "\u0000\u001f",
  "émoji 🗒️",
  "\ud800",
  undefined,
  NaN,
  Infinity,
];

function valueOf(next: () => number, depth: number): unknown {
  const pick = next();
  if (depth > 3 || pick < 0.45) return SCALARS[Math.floor(next() * SCALARS.length)];
  const size = Math.floor(next() * 5);
  if (pick < 0.7) return Array.from({ length: size }, () => valueOf(next, depth + 1));
  const object: Record<string, unknown> = {};
  const keys = [
    "b",
    "a",
    "ä",
    "A",
    "10",
    "2",
    "01",
    "4294967295",
    "4294967294",
    "-1",
    "z z",
    "",
    "k\u00e9",
  ];
  for (let i = 0; i < size; i++) {
    object[keys[Math.floor(next() * keys.length)]!] = valueOf(next, depth + 1);
  }
  return object;
}

Deno.test("canonicalJson writes what JSON.stringify with sorted keys writes", () => {
  const next = random(23);
  for (let i = 0; i < 2_000; i++) {
    const value = valueOf(next, 0);
    assert.equal(canonicalJson(value), reference(value), JSON.stringify(value));
  }
  for (const value of [undefined, { a: undefined }, [undefined], new Date(0), { d: new Date(1) }]) {
    assert.equal(canonicalJson(value), reference(value));
  }
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
});
