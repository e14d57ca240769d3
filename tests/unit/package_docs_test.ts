/**
 * The package is ready for JSR's documentation checks: `deno doc --lint mod.ts` reports
 * nothing (no undocumented export, no public type that names a type the package does
 * not export, no warning), and every exported function, class and constant has a
 * titled example that `deno test --doc` runs (not one marked `ignore`); the README's
 * TypeScript blocks type-check against the module as it is.
 */
import assert from "node:assert/strict";
import { DENO_BIN, ROOT } from "../fixtures.ts";

async function deno(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(DENO_BIN, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("deno doc --lint mod.ts reports nothing", async () => {
  const { code, stdout, stderr } = await deno("doc", "--lint", "mod.ts");
  const out = stdout + stderr;
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /\b(error|warning)\b/i, out);
});

interface DocTag {
  kind: string;
  doc?: string;
}
interface DocSymbol {
  name: string;
  declarations: { kind: string; jsDoc?: { tags?: DocTag[] } }[];
}

Deno.test("every exported function, class and constant has a titled example that runs", async () => {
  const { code, stdout, stderr } = await deno("doc", "--json", "mod.ts");
  assert.equal(code, 0, stderr);
  const doc = JSON.parse(stdout) as {
    nodes: Record<string, { symbols: DocSymbol[]; module_doc?: { tags?: DocTag[] } }>;
  };
  const mod = Object.entries(doc.nodes).find(([url]) => url.endsWith("/mod.ts"))?.[1];
  assert.ok(mod, "mod.ts in the doc output");
  const missing: string[] = [];
  const values = mod.symbols.filter((s) =>
    s.declarations.some((d) => ["function", "class", "variable"].includes(d.kind))
  );
  assert.ok(values.length >= 15, `exports found: ${values.map((s) => s.name)}`);
  const examplesOf = (tags: DocTag[] = []) =>
    tags.filter((t) => t.kind === "example").map((t) => t.doc ?? "");
  const runnable = (example: string) => {
    const [title = "", fence = ""] = example.split("\n");
    return title.trim() !== "" && /^```(ts|typescript)\s*$/.test(fence.trim());
  };
  for (const symbol of values) {
    const examples = symbol.declarations.flatMap((d) => examplesOf(d.jsDoc?.tags));
    if (!examples.some(runnable)) missing.push(symbol.name);
  }
  if (!examplesOf(mod.module_doc?.tags).some(runnable)) missing.push("(module)");
  assert.deepEqual(missing, [], "exports without a titled, runnable example");
});

Deno.test("the README's TypeScript blocks type-check against the module", async () => {
  const { code, stdout, stderr } = await deno("check", "--doc-only", "README.md");
  assert.equal(code, 0, stdout + stderr);
});
