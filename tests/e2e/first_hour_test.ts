/**
 * The first hour, as a new user meets it right after `npm install` (Deno only in
 * node_modules/.bin): the commands the README and the start banner print run as
 * written, on the state folder the server uses; a port in use and a mistyped flag
 * each get one line that says what to do, under Deno and Bun.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { OWNER_COMMANDS } from "../../runtime/owner_commands.ts";
import { type CommandResult, freePort, ROOT, runMod, RUNTIMES, startServer } from "../fixtures.ts";

/** Runs a shell command line as a person types it, in the clone, bounded. */
function shell(line: string, env: Record<string, string> = {}): CommandResult {
  // npm's own variables of an outer `npm test` would steer the inner npx.
  const outer = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)),
  );
  const r = spawnSync("sh", ["-c", line], {
    cwd: ROOT,
    env: { ...outer, ...env },
    encoding: "utf8",
    input: "",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

async function withStateDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-first-hour-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

Deno.test("the banner's passkey command runs as written and reaches the state folder the server uses", async () => {
  await withStateDir(async (stateDir) => {
    const server = await startServer({ runtime: "deno", stateDir, baseHost: "localhost" });
    try {
      const deadline = Date.now() + 10_000;
      while (!/^Later: .+$/m.test(server.output()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const line = /^Later: (.+)$/m.exec(server.output())?.[1];
      assert.ok(line, `no passkey hint in the banner:\n${server.output()}`);
      assert.match(line, /^npx personal-mcp passkey add /);
      const run = shell(line);
      assert.equal(run.status, 0, run.stdout + run.stderr);
      // The running server minted the link (its control endpoint, in that state folder).
      assert.match(run.stdout, new RegExp(`${server.baseUrl}/owner/passkey\\?token=`));
    } finally {
      await server.stop();
    }
  });
});

Deno.test("every owner command the README prints starts as written with npx after npm install", async () => {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  // Lines that start with a command word (a line with flags only serves).
  const lines = [...readme.matchAll(/^npx personal-mcp ([a-z]\S*).*$/gm)];
  const commands = new Set(lines.map((m) => m[1]!));
  assert.deepEqual([...commands].sort(), [...OWNER_COMMANDS].sort());
  await withStateDir((stateDir) => {
    // The ones that need no argument of the reader's own and ask nothing.
    for (const line of ["npx personal-mcp grants", "npx personal-mcp passkey list"]) {
      assert.ok(lines.some((m) => m[0].startsWith(line)), `README lost ${line}`);
      const run = shell(line, { PERSONAL_MCP_STATE_DIR: stateDir });
      assert.equal(run.status, 0, `${line}:\n${run.stdout}${run.stderr}`);
    }
  });
});

for (const runtime of RUNTIMES) {
  Deno.test(`a port in use names the port and --port, in one line (${runtime})`, async () => {
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve));
    try {
      await withStateDir((stateDir) => {
        const r = runMod(runtime, ["--port", String(port), "--state-dir", stateDir]);
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.equal(
          r.stderr.trim(),
          `error: port ${port} on 127.0.0.1 is already in use (another server, or this one ` +
            `started earlier?): stop it, or choose another port with --port (0 picks a free one)`,
        );
      });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  Deno.test(`a mistyped flag or command gets one line with a "did you mean" (${runtime})`, async (t) => {
    const cases: Array<[string[], string]> = [
      [["--prot", "9000"], "unknown option --prot (did you mean --port?)"],
      [["--base", "https://me.example.com"], "unknown option --base (did you mean --base-url?)"],
      [["--trust-proxie"], "unknown option --trust-proxie (did you mean --trust-proxy?)"],
      [["grant"], 'unexpected argument "grant" (did you mean grants?)'],
      [["--zzz"], "unknown option --zzz"],
    ];
    for (const [argv, first] of cases) {
      await t.step(argv.join(" "), () => {
        const r = runMod(runtime, argv);
        assert.equal(r.status, 2);
        assert.equal(r.stderr, `error: ${first}; --help lists every option\n`);
        assert.equal(r.stdout, "");
      });
    }
  });

  Deno.test(`an owner command's mistyped flag gets one line too (${runtime})`, () => {
    const r = runMod(runtime, ["grants", "--jsn"]);
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      "error: unknown option --jsn (did you mean --json?); " +
        "grants --help lists every owner command and option\n",
    );
  });
}
