/**
 * What importing a module costs in a fresh process: loading, compiling and evaluating it
 * and everything it imports (module caches warm, as on any start after the first).
 *
 * ```sh
 * deno run -A bench/import_cost.ts mod      # or: bun bench/import_cost.ts mod
 * deno run -A --config ../old/deno.json bench/import_cost.ts --root ../old mod
 * ```
 * MODULE: `mod` (../mod.ts, the whole module), a package the server imports
 * (`@modelcontextprotocol/server` or its old name `sdk`, `@modelcontextprotocol/client`,
 * `zod`, `jose`, `@simplewebauthn/server`), or a path of the repository such as
 * `auth/pages/consent.ts` or `store/kv.ts`.
 * `--root DIR`: measure another checkout (a baseline) with this same instrument: its paths
 * and its packages (on Bun resolved from DIR; on Deno through the `--config` given to
 * `deno run`, which is `DIR/deno.json` for a baseline).
 * Prints one line: `kind=import runtime=deno module=mod ms=...`.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

// Specifiers built at run time: Deno loads (reads, resolves, transpiles) the graph of a
// literal dynamic import before the program starts, which would move that work out of the
// timing and charge every module named in this file to whichever one is measured.
const PACKAGES = new Set([
  "@modelcontextprotocol/server",
  "@modelcontextprotocol/client",
  "zod",
  "jose",
  "@simplewebauthn/server",
]);
const ALIASES: Record<string, string> = { sdk: "@modelcontextprotocol/server", mod: "mod.ts" };

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: { root: { type: "string" } },
  allowPositionals: true,
});
const root = values.root ? pathToFileURL(`${values.root}/`) : new URL("../", import.meta.url);
const bun = (globalThis as { Bun?: { resolveSync(name: string, from: string): string } }).Bun;
const which = positionals[0] ?? "mod";
const name = ALIASES[which] ?? which;
const resolve = PACKAGES.has(name)
  ? () => bun ? bun.resolveSync(name, decodeURIComponent(root.pathname)) : name
  : /^[a-z_/]+\.ts$/.test(name)
  ? () => new URL(name, root).href
  : undefined;
if (!resolve) {
  console.error(
    `unknown module ${which}: use mod, sdk, ${[...PACKAGES].join(", ")} or a path like store/kv.ts`,
  );
  process.exit(2);
}
const started = performance.now();
await import(resolve());
const ms = performance.now() - started;
console.log(
  `kind=import runtime=${bun ? "bun" : "deno"} module=${which} ms=${ms.toFixed(1)}`,
);
process.exit(0);
