/**
 * The install as npm 12 will do it: only the install scripts that package.json's
 * `allowScripts` approves run. One `npm ci --strict-allow-scripts` of a fresh copy of
 * package.json and the lock file (the registry, or npm's cache when it holds the
 * tarballs), with Bun's script denied in the copy as a user's policy or
 * `--ignore-scripts` would leave it: Deno's approved script runs, Bun is the placeholder,
 * and the npm scripts say what to run instead of failing with a stack trace. The advice
 * is then followed, under the project's own policy, and Bun works.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type CommandResult, ROOT } from "../fixtures.ts";

/** What the copy needs to install, check its runtimes and run `mod.ts --help`. */
const COPIED = [
  "package.json",
  "package-lock.json",
  ".npmrc",
  "deno.json",
  "deno.lock",
  "mod.ts",
  "scripts",
  "core",
  "store",
  "auth",
  "transport",
  "server",
  "runtime",
];

const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

/** Runs a command in `cwd` to its end, bounded; npm's own variables of an outer `npm test` left out. */
function run(cwd: string, command: string, args: string[], timeoutMs = 60_000): CommandResult {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)),
  );
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** A Node or npm stack frame ("    at Object.<anonymous> (/…/bin.js:12:3)"). */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

Deno.test("a fresh install runs only the approved install scripts, and the npm scripts say what to run when a runtime is a placeholder", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "personal-mcp-install-"));
  try {
    for (const name of COPIED) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
    const policy = PACKAGE.allowScripts as Record<string, boolean>;
    const deno = PACKAGE.devDependencies.deno as string;
    const bun = PACKAGE.devDependencies.bun as string;

    await t.step(
      "package.json approves exactly deno and bun, each pinned to the version installed",
      () => {
        assert.deepEqual(policy, { [`bun@${bun}`]: true, [`deno@${deno}`]: true });
      },
    );

    // Bun denied in the copy: its script is skipped silently, as npm 12 skips an
    // unapproved one, and strict mode does not fail on an explicit denial.
    const copy = { ...PACKAGE, allowScripts: { bun: false, [`deno@${deno}`]: true } };
    writeFileSync(join(dir, "package.json"), JSON.stringify(copy, null, 2));
    const install = run(dir, "npm", [
      "ci",
      "--strict-allow-scripts",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
    ], 300_000);
    assert.equal(install.status, 0, `npm ci failed:\n${install.stdout}\n${install.stderr}`);

    await t.step("Deno's approved script ran: the real binary is in place and runs", () => {
      assert.ok(existsSync(join(dir, "node_modules", "deno", "deno")), "install.cjs did not run");
      const version = run(dir, "./node_modules/.bin/deno", ["--version"]);
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, new RegExp(`^deno ${deno.replaceAll(".", "\\.")} `));
    });

    await t.step("Bun's denied script did not run: the placeholder is left", () => {
      const version = run(dir, "./node_modules/.bin/bun", ["--version"]);
      assert.notEqual(version.status, 0);
      assert.match(version.stderr, /postinstall script was not run/);
    });

    await t.step(
      "npm test stops before the suite with the command that fixes it, not a stack trace",
      () => {
        const test = run(dir, "npm", ["test"]);
        assert.equal(test.status, 1, test.stdout + test.stderr);
        assert.match(test.stderr, /^personal-mcp: node_modules\/\.bin\/bun does not run /m);
        assert.match(test.stderr, /it said: Error: Bun's postinstall script was not run\)/);
        assert.match(test.stderr, /^Run: npm rebuild bun$/m);
        assert.doesNotMatch(test.stderr, STACK_FRAME);
        // `deno task` announces "Task test ...": the suite never started.
        assert.doesNotMatch(test.stdout + test.stderr, /^Task test/m);
      },
    );

    await t.step("npm start says the same about Bun and still serves under Deno", () => {
      const start = run(dir, "npm", ["start", "--", "--help"]);
      assert.equal(start.status, 0, start.stdout + start.stderr);
      assert.match(start.stderr, /^Run: npm rebuild bun$/m);
      assert.doesNotMatch(start.stderr, STACK_FRAME);
      assert.match(start.stdout, /^Usage: /m);
    });

    await t.step("npx personal-mcp runs the CLI with the Deno of node_modules", () => {
      const help = run(dir, "npx", ["--no-install", "personal-mcp", "--help"]);
      assert.equal(help.status, 0, help.stdout + help.stderr);
      assert.match(help.stdout, /^Usage: /m);
    });

    await t.step(
      "under the project's own policy, the advice works and nothing is left unreviewed",
      () => {
        cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
        const rebuild = run(dir, "npm", ["rebuild", "bun", "--strict-allow-scripts"], 120_000);
        assert.equal(rebuild.status, 0, rebuild.stdout + rebuild.stderr);
        const version = run(dir, "./node_modules/.bin/bun", ["--version"]);
        assert.equal(version.status, 0, version.stderr);
        assert.equal(version.stdout.trim(), bun);
        // What npm 12 would block: nothing with this lock file.
        const pending = run(dir, "npm", ["install-scripts", "ls"]);
        assert.equal(pending.status, 0, pending.stderr);
        assert.match(pending.stdout, /No packages with unreviewed install scripts/);
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
