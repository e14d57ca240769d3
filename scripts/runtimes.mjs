#!/usr/bin/env node
/**
 * Checks that the Deno and Bun binaries the npm packages `deno` and `bun` put in
 * node_modules/.bin really run, and says what to run when one does not.
 *
 * Each package ships a placeholder that its install script replaces with the real binary
 * (Bun's prints "Bun's postinstall script was not run"). npm 12 skips the install script
 * of any dependency that package.json's `allowScripts` does not approve, and
 * `npm install --ignore-scripts`, `deno install` and pnpm skip them all: the placeholder
 * then fails with a stack trace from deep inside npm's script runner. This check runs
 * first in the npm scripts and turns that into a few lines that end with the command to run.
 *
 * Usage: node scripts/runtimes.mjs deno [bun] [--warn bun]
 * Exits 1 when a runtime named before `--warn` does not run; one named after it only gets
 * the advice (`npm start` serves under Deno and needs Bun only for `bun run`).
 *
 * Plain Node (no TypeScript, no dependency): it must work before anything else does.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The project folder: the parent of scripts/. */
export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** What each runtime's `--version` prints first when it is the real binary. */
const VERSION_LINE = { deno: /^deno \d+\.\d+\.\d+/, bun: /^\d+\.\d+\.\d+/ };

/**
 * Runs `<root>/node_modules/.bin/<name> --version` (bounded) and returns undefined when
 * it is the real runtime, or the advice to print when it is not.
 *
 * @param {"deno" | "bun"} name
 * @param {string} [root] the project folder
 * @returns {string | undefined}
 */
export function checkRuntime(name, root = ROOT) {
  const bin = join(
    root,
    "node_modules",
    ".bin",
    process.platform === "win32" ? `${name}.cmd` : name,
  );
  if (!existsSync(bin)) {
    return `personal-mcp: ${name} is not installed (no node_modules/.bin/${name}).\n` +
      `Run: npm install`;
  }
  const run = spawnSync(bin, ["--version"], {
    cwd: root,
    encoding: "utf8",
    timeout: 30_000,
    shell: process.platform === "win32",
  });
  if (run.status === 0 && VERSION_LINE[name].test(run.stdout)) return undefined;
  // The placeholder's own first line ("Error: Bun's postinstall script was not run."),
  // without control characters: it is shown, not trusted.
  const said = [...`${run.stdout ?? ""}\n${run.stderr ?? ""}`].filter((char) => {
    const code = char.codePointAt(0) ?? 0;
    return char === "\n" || (code >= 0x20 && (code < 0x7f || code > 0x9f));
  }).join("").split("\n").map((line) => line.trim()).find((line) => line !== "")?.slice(0, 200);
  const why = run.error
    ? run.error.message
    : said
    ? `it said: ${said.replace(/\.$/, "")}`
    : `exit code ${run.status}`;
  return [
    `personal-mcp: node_modules/.bin/${name} does not run (${why}).`,
    `The ${name} package puts the real binary there with an install script, which has not run:`,
    `npm 12 runs only the install scripts that package.json's "allowScripts" approves, and`,
    `--ignore-scripts, \`deno install\` and pnpm run none.`,
    `Run: npm rebuild ${name}`,
    `(if npm says its script is not approved: npm approve-scripts ${name}, then npm rebuild ${name})`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const warnFrom = args.includes("--warn") ? args.indexOf("--warn") : args.length;
  const names = args.filter((arg) => arg !== "--warn");
  if (names.length === 0 || names.some((name) => !(name in VERSION_LINE))) {
    console.error("usage: node scripts/runtimes.mjs deno [bun] [--warn bun]");
    process.exit(2);
  }
  let failed = false;
  for (const [index, name] of args.entries()) {
    if (name === "--warn") continue;
    const advice = checkRuntime(name);
    if (advice === undefined) continue;
    console.error(advice);
    failed ||= index < warnFrom;
  }
  process.exit(failed ? 1 : 0);
}
