/**
 * The house rules, checked by reading the source: the root holds no source but mod.ts,
 * no module imports a root file or mod.ts, no two modules import each other in a loop,
 * and `Deno.*`, `Bun.*` and `process` appear only at the edge (runtime/ and the store
 * adapters that need them).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "../fixtures.ts";

const SOURCE_DIRS = ["server", "runtime", "auth", "transport", "store"];
/** Where runtime globals may appear. */
const EDGE = [/^runtime\//, /^store\/(kv|file)\.ts$/];

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

const modules = SOURCE_DIRS.flatMap(sourceFiles);

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
});
