#!/usr/bin/env node
/**
 * `npx personal-mcp [command] [flags]`: the CLI of mod.ts (the server, or an owner
 * command such as `grants`) under the Deno of node_modules/.bin, which is not on the
 * PATH after `npm install`. Same as `npm start -- [command] [flags]`, but run in the
 * folder it is called from, so a relative `--state-dir` or `--tools` means what it says
 * there (from the project folder, both use the same `.oauth-state`).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { checkRuntime, ROOT } from "./runtimes.mjs";

const advice = checkRuntime("deno");
if (advice !== undefined) {
  console.error(advice);
  process.exit(1);
}
const deno = join(ROOT, "node_modules", ".bin", process.platform === "win32" ? "deno.cmd" : "deno");
const child = spawn(deno, ["run", "-A", join(ROOT, "mod.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  shell: process.platform === "win32",
});
// Ctrl-C reaches the whole foreground group; a SIGTERM sent to this wrapper alone is passed
// on, so the server shuts down cleanly instead of being orphaned.
for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
process.on("SIGINT", () => {});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
