/**
 * What importing a module costs in a fresh process: loading, compiling and evaluating it
 * and everything it imports (module caches warm, as on any start after the first).
 *
 * ```sh
 * deno run -A bench/import_cost.ts mod      # or: bun bench/import_cost.ts mod
 * ```
 * MODULE: `mod` (../mod.ts, the whole module), a package the server imports
 * (`@modelcontextprotocol/server` or its old name `sdk`, `@modelcontextprotocol/client`,
 * `zod`, `jose`, `@simplewebauthn/server`), or a path of the repository such as
 * `auth/pages/consent.ts` or `store/kv.ts`.
 * Prints one line: `kind=import runtime=deno module=mod ms=...`.
 *
 * @module
 */
import process from "node:process";

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

const which = process.argv[2] ?? "mod";
const name = ALIASES[which] ?? which;
const specifier = PACKAGES.has(name)
  ? name
  : /^[a-z_/]+\.ts$/.test(name)
  ? new URL(`../${name}`, import.meta.url).href
  : undefined;
if (!specifier) {
  console.error(
    `unknown module ${which}: use mod, sdk, ${[...PACKAGES].join(", ")} or a path like store/kv.ts`,
  );
  process.exit(2);
}
const started = performance.now();
await import(specifier);
const ms = performance.now() - started;
console.log(
  `kind=import runtime=${"Bun" in globalThis ? "bun" : "deno"} module=${which} ms=${ms.toFixed(1)}`,
);
process.exit(0);
