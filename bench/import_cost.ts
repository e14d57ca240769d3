/**
 * What importing a module costs in a fresh process: loading, compiling and evaluating it
 * and everything it imports (module caches warm, as on any start after the first).
 *
 * ```sh
 * deno run -A bench/import_cost.ts mod      # or: bun bench/import_cost.ts mod
 * ```
 * MODULE: `mod` (../mod.ts), `sdk` (@modelcontextprotocol/server), `zod`, `jose`, or a
 * path of the repository such as `server/create.ts`.
 * Prints one line: `kind=import runtime=deno module=mod ms=...`.
 *
 * @module
 */
import process from "node:process";

const which = process.argv[2] ?? "mod";
const started = performance.now();
switch (which) {
  case "mod":
    await import("../mod.ts");
    break;
  case "sdk":
    await import("@modelcontextprotocol/server");
    break;
  case "zod":
    await import("zod");
    break;
  case "jose":
    await import("jose");
    break;
  default:
    if (!/^[a-z_/]+\.ts$/.test(which)) {
      console.error(
        `unknown module ${which}: use mod, sdk, zod, jose or a path like server/create.ts`,
      );
      process.exit(2);
    }
    await import(new URL(`../${which}`, import.meta.url).href);
}
const ms = performance.now() - started;
console.log(
  `kind=import runtime=${"Bun" in globalThis ? "bun" : "deno"} module=${which} ms=${ms.toFixed(1)}`,
);
process.exit(0);
