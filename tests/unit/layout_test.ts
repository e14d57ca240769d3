/**
 * The house rules, checked by reading the source (../shared/ARCHITECTURE.md):
 * - the root holds no source but mod.ts, and no module imports it;
 * - every import (type-only ones too) goes to the same room or a lower layer, by the
 *   table below: no import runs up, and none runs sideways between two rooms of one rank;
 * - no import cycle between files;
 * - no folder holds more than 10 source files, no file more than 450 lines;
 * - no function has more than 80 lines of its own body (its nested functions aside), and
 *   none, nested functions included, more than 200 (a factory of closures);
 * - `Deno.*`, `Bun.*` and `process` appear only at the edge (runtime/ and the store
 *   adapters that need them).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "../fixtures.ts";

const SOURCE_DIRS = ["core", "store", "auth", "transport", "server", "runtime"];
/** Where runtime globals may appear. */
const EDGE = [/^runtime\//, /^store\/(kv|file)\.ts$/];

/**
 * The rooms, lowest first, with their rank: a module may import its own room and any
 * room of a lower rank. Two rooms of one rank (auth/clients and auth/grants) may not
 * import each other. The longest matching prefix names a file's room.
 */
const ROOMS: Array<[prefix: string, rank: number]> = [
  ["core/", 0],
  ["store/", 1],
  ["auth/records.ts", 2],
  ["auth/limits/", 3],
  ["auth/clients/", 4],
  ["auth/grants/", 4],
  ["auth/owner/", 5],
  ["auth/pages/", 6],
  ["auth/endpoints/", 7],
  ["transport/", 2],
  ["transport/upstreams/", 3],
  ["transport/mcp/", 4],
  ["server/", 8],
  ["runtime/", 9],
];

/** auth/ and transport/ stand side by side: neither imports the other. */
const APART: Array<[string, string]> = [["auth/", "transport/"], ["transport/", "auth/"]];

const MAX_FILES_PER_FOLDER = 10;
const MAX_FILE_LINES = 450;
const MAX_OWN_LINES = 80;
const MAX_TOTAL_LINES = 200;

/**
 * Offenders still being mended, by the rule they break. The list only shrinks: a file
 * that keeps its rule is refused here, so an entry cannot outlive its fix.
 */
const PENDING: Record<string, string[]> = {
  layer: [],
  folder: [],
  fileLines: [],
  functionLines: [],
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The code of a module without its comments (doc examples may import mod.ts). */
function code(path: string): string {
  return readFileSync(join(ROOT, path), "utf8").replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
}

function localImports(path: string): string[] {
  const out: string[] = [];
  for (const m of code(path).matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    out.push(relative(ROOT, resolve(ROOT, dirname(path), m[1]!)));
  }
  return out;
}

function roomOf(path: string): [string, number] | undefined {
  let best: [string, number] | undefined;
  for (const room of ROOMS) {
    if (path.startsWith(room[0]) && (!best || room[0].length > best[0].length)) best = room;
  }
  return best;
}

/** Why `from` may not import `to`, or undefined when it may. */
export function layerBreach(from: string, to: string): string | undefined {
  const a = roomOf(from), b = roomOf(to);
  if (!a || !b) return `${from} imports ${to}, which is in no room`;
  if (APART.some(([x, y]) => from.startsWith(x) && to.startsWith(y))) {
    return `${from} imports ${to}: ${APART.find(([x]) => from.startsWith(x))![0]} stands apart`;
  }
  if (a[0] === b[0] || b[1] < a[1]) return undefined;
  return `${from} (${a[0]}, rank ${a[1]}) imports ${to} (${b[0]}, rank ${b[1]})`;
}

// deno-lint-ignore no-explicit-any
type Node = any;
const FUNCTIONS = ["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"];

/** Reports every function past the length rules, as "name: own N, total M". */
const lengthPlugin: Deno.lint.Plugin = {
  name: "house",
  rules: {
    "function-length": {
      create(context) {
        const text = context.sourceCode.text;
        const starts = [0];
        for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
        const lineOf = (offset: number) => {
          let lo = 0, hi = starts.length - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (starts[mid]! <= offset) lo = mid;
            else hi = mid - 1;
          }
          return lo + 1;
        };
        const stack: Array<{ node: Node; lines: number; nested: number }> = [];
        const enter = (node: Node) => {
          stack.push({ node, lines: lineOf(node.range[1]) - lineOf(node.range[0]) + 1, nested: 0 });
        };
        const exit = () => {
          const fn = stack.pop()!;
          const own = fn.lines - fn.nested;
          if (stack.length) stack[stack.length - 1]!.nested += fn.lines;
          if (own <= MAX_OWN_LINES && fn.lines <= MAX_TOTAL_LINES) return;
          const node = fn.node;
          const name = node.id?.name ?? node.parent?.id?.name ?? node.parent?.key?.name ??
            "(anonymous)";
          context.report({ node, message: `${name}: own ${own}, total ${fn.lines}` });
        };
        const visitors: Record<string, (node: Node) => void> = {};
        for (const kind of FUNCTIONS) {
          visitors[kind] = enter;
          visitors[`${kind}:exit`] = exit;
        }
        return visitors;
      },
    },
  },
};

const modules = SOURCE_DIRS.flatMap(sourceFiles);

/** Checks one rule: offenders must be exactly those still pending (none, once mended). */
function holdRule(rule: string, offenders: Map<string, string>) {
  const pending = new Set(PENDING[rule]);
  const fresh = [...offenders].filter(([file]) => !pending.has(file)).map(([, why]) => why);
  assert.deepEqual(fresh, [], `${rule}:\n${fresh.join("\n")}`);
  const mended = [...pending].filter((file) => !offenders.has(file));
  assert.deepEqual(mended, [], `${rule}: mended, take them off PENDING: ${mended.join(", ")}`);
}

Deno.test("the layout keeps its house rules", async (t) => {
  await t.step("the root holds no source file but mod.ts", () => {
    const roots = readdirSync(ROOT).filter((n) => /\.(ts|js|mjs)$/.test(n));
    assert.deepEqual(roots, ["mod.ts"]);
  });

  await t.step("no module imports a root file or mod.ts", () => {
    for (const path of modules) {
      for (const target of localImports(path)) {
        assert.ok(target.includes("/"), `${path} imports the root file ${target}`);
      }
    }
  });

  await t.step("every import goes to its own room or a lower layer", () => {
    const offenders = new Map<string, string>();
    for (const path of modules) {
      for (const target of localImports(path)) {
        const why = layerBreach(path, target);
        if (why) offenders.set(path, offenders.has(path) ? `${offenders.get(path)}\n${why}` : why);
      }
    }
    holdRule("layer", offenders);
  });

  await t.step("no import cycle between modules", () => {
    const graph = new Map(modules.map((m) => [m, localImports(m)]));
    const state = new Map<string, "visiting" | "done">();
    const visit = (m: string, path: string[]) => {
      if (state.get(m) === "done") return;
      assert.notEqual(state.get(m), "visiting", `import cycle: ${[...path, m].join(" -> ")}`);
      state.set(m, "visiting");
      for (const next of graph.get(m) ?? []) visit(next, [...path, m]);
      state.set(m, "done");
    };
    for (const m of modules) visit(m, []);
  });

  await t.step(`no folder holds more than ${MAX_FILES_PER_FOLDER} source files`, () => {
    const counts = new Map<string, number>();
    for (const m of modules) counts.set(dirname(m), (counts.get(dirname(m)) ?? 0) + 1);
    const offenders = new Map(
      [...counts].filter(([, n]) => n > MAX_FILES_PER_FOLDER).map((
        [dir, n],
      ) => [dir, `${dir} has ${n} source files`]),
    );
    holdRule("folder", offenders);
  });

  await t.step(`no source file is over ${MAX_FILE_LINES} lines`, () => {
    const offenders = new Map<string, string>();
    for (const m of modules) {
      const lines = readFileSync(join(ROOT, m), "utf8").split("\n").length - 1;
      if (lines > MAX_FILE_LINES) offenders.set(m, `${m} has ${lines} lines`);
    }
    holdRule("fileLines", offenders);
  });

  await t.step(
    `no function has over ${MAX_OWN_LINES} lines of its own, or ${MAX_TOTAL_LINES} in all`,
    () => {
      const offenders = new Map<string, string>();
      for (const m of modules) {
        const found = Deno.lint.runPlugin(lengthPlugin, m, readFileSync(join(ROOT, m), "utf8"));
        if (found.length) offenders.set(m, found.map((d) => `${m}: ${d.message}`).join("\n"));
      }
      holdRule("functionLines", offenders);
    },
  );

  await t.step("Deno.*, Bun.* and process appear only at the edge", () => {
    for (const path of modules) {
      if (EDGE.some((re) => re.test(path))) continue;
      // Text in string literals (a message naming Deno.serve) is not a use.
      const source = code(path).replace(/"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, '""');
      const found = /\b(Deno|Bun)\.[a-zA-Z]|\bprocess\./.exec(source) ??
        /from "node:process"/.exec(code(path));
      assert.equal(found, null, `${path} uses ${found?.[0]}`);
    }
  });

  await t.step("the layer rule refuses what it should", () => {
    const cases: Array<[string, string, boolean]> = [
      ["auth/grants/bearer.ts", "core/paths.ts", true],
      ["auth/grants/bearer.ts", "auth/endpoints/metadata.ts", false],
      ["auth/grants/bearer.ts", "auth/clients/registry.ts", false],
      ["auth/owner/controls.ts", "auth/grants/grants.ts", true],
      ["core/http.ts", "auth/records.ts", false],
      ["transport/mcp/endpoint.ts", "auth/records.ts", false],
      ["auth/records.ts", "transport/tools.ts", false],
      ["transport/mcp/endpoint.ts", "transport/tools.ts", true],
      ["transport/tools.ts", "transport/mcp/endpoint.ts", false],
      ["server/create.ts", "runtime/serve.ts", false],
    ];
    for (const [from, to, allowed] of cases) {
      assert.equal(layerBreach(from, to) === undefined, allowed, `${from} -> ${to}`);
    }
  });
});
