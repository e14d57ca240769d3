/**
 * The gateway from the command line, on Deno and Bun: `--servers <file>` starts the
 * upstreams with the server, `servers [--json]` shows them (state, pid, restarts,
 * tools, last stderr lines, escaped), stopping the server stops their processes, and a
 * file with a mistake stops the start with a message naming file, server and key.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { PASSWORD, ROOT, runMod, RUNTIMES, startServer } from "../fixtures.ts";

const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const FAULT = `${ROOT}tests/upstreams/fault_server.mjs`;

interface Row {
  name: string;
  type: string;
  state: string;
  pid: number | null;
  restarts: number;
  tools: number;
  lastError: string | null;
  stderr: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const runtime of RUNTIMES) {
  Deno.test(`${runtime}: --servers starts the upstreams, servers --json shows them, stop stops them`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-servers-"));
    const file = join(dir, "claude_desktop_config.json");
    await writeFile(
      file,
      JSON.stringify({
        preferences: { quickEntryShortcut: "off" },
        mcpServers: {
          everything: { command: "node", args: [EVERYTHING, "stdio"] },
          broken: { command: "node", args: [FAULT, "exit"] },
        },
      }),
    );
    const stateDir = join(dir, "state");
    const server = await startServer({
      runtime,
      stateDir,
      password: PASSWORD,
      extraArgs: ["--servers", file],
    });
    let pid: number | undefined;
    try {
      let rows: Row[] = [];
      let out = "";
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = runMod(runtime, ["servers", "--json", "--state-dir", stateDir]);
        assert.equal(r.status, 0, r.stderr);
        out = r.stdout;
        rows = JSON.parse(out);
        const byName = Object.fromEntries(rows.map((row) => [row.name, row]));
        if (byName.everything?.state === "running" && byName.broken?.state === "failed") break;
        if (Date.now() > deadline) throw new Error(`not settled: ${out}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      const [everything, broken] = [rows[0]!, rows[1]!];
      assert.deepEqual(Object.keys(everything), [
        "name",
        "type",
        "state",
        "pid",
        "restarts",
        "tools",
        "lastError",
        "stderr",
      ]);
      assert.equal(everything.name, "everything");
      assert.equal(everything.type, "stdio");
      assert.equal(everything.restarts, 0);
      assert.ok(everything.tools >= 5);
      assert.ok(typeof everything.pid === "number" && alive(everything.pid));
      pid = everything.pid;
      assert.equal(broken.pid, null);
      assert.ok(broken.restarts >= 2);
      assert.match(broken.lastError ?? "", /exited with code 3/);
      assert.ok(broken.stderr.includes("fault_server: exiting at start on purpose"));
      // What the upstream wrote reaches the terminal escaped, never raw.
      // deno-lint-ignore no-control-regex -- ESC is what must not pass
      assert.doesNotMatch(out, /[\u202e\x1b]/);
      assert.match(out, /\\u202edetaehrevo\\u001b\[31m red/);

      const table = runMod(runtime, ["servers", "--state-dir", stateDir]);
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /^SERVER\s+TYPE\s+STATE\s+PID\s+RESTARTS\s+TOOLS$/m);
      assert.match(
        table.stdout,
        new RegExp(`^everything\\s+stdio\\s+running\\s+${pid}\\s+0\\s+\\d+$`, "m"),
      );
      assert.match(table.stdout, /^broken\s+stdio\s+failed\s+\d+\s+0$/m);
      assert.match(table.stdout, /^ {2}last error: "exited with code 3"$/m);
      assert.match(table.stdout, /^ {2}stderr: "\\u\{202e\}detaehrevo\\x1b\[31m red"$/m);
      // deno-lint-ignore no-control-regex -- ESC is what must not pass
      assert.doesNotMatch(table.stdout, /[\u202e\x1b]/);
      // The console log: each state change, and the stderr lines, escaped.
      const log = server.output();
      assert.match(log, /upstream_state server=everything state=running restarts=0 pid=\d+/);
      assert.match(
        log,
        /upstream_state server=broken state=restarting restarts=0 reason="exited with code 3"/,
      );
      assert.match(log, /upstream_stderr server=broken line="\\u\{202e\}detaehrevo\\x1b\[31m red"/);
      // deno-lint-ignore no-control-regex -- ESC is what must not pass
      assert.doesNotMatch(log, /[\u202e\x1b]/);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
    assert.ok(pid !== undefined && !alive(pid), "the server's stop stopped its upstream");
  });

  Deno.test(`${runtime}: a servers file with a mistake stops the start, naming file, server and key`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-servers-"));
    const file = join(dir, "servers.json");
    await writeFile(file, '{ "mcpServers": { "memory": { "comand": "npx" } } }');
    try {
      const r = runMod(runtime, [
        "--servers",
        file,
        "--state-dir",
        join(dir, "state"),
        "--port",
        "0",
      ]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.equal(
        r.stderr.trim(),
        `error: ${file}: server "memory": unknown key "comand" (did you mean "command"?)`,
      );
      const unset = runMod(runtime, ["--port", "0", "--state-dir", join(dir, "state")], {
        env: { PERSONAL_MCP_SERVERS: join(dir, "missing.json") },
      });
      assert.equal(unset.status, 2);
      assert.match(unset.stderr, /missing\.json: cannot be read \(ENOENT\)/);
      const none = runMod(runtime, ["servers", "--state-dir", join(dir, "state")]);
      assert.equal(none.status, 1);
      assert.match(none.stderr, /no server is running on/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

Deno.test("deno on Deno KV: servers asks the running server too (the KV store has no lock)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-servers-kv-"));
  const file = join(dir, "mcp.json");
  await writeFile(
    file,
    JSON.stringify({
      servers: { everything: { type: "stdio", command: "node", args: [EVERYTHING, "stdio"] } },
    }),
  );
  const stateDir = join(dir, "state");
  const server = await startServer({
    runtime: "deno",
    stateDir,
    password: PASSWORD,
    runtimeFlags: ["--unstable-kv"],
    extraArgs: ["--servers", file],
  });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = runMod("deno", ["servers", "--json", "--state-dir", stateDir], {
        runtimeFlags: ["--unstable-kv"],
      });
      assert.equal(r.status, 0, r.stderr);
      const [row] = JSON.parse(r.stdout) as Row[];
      if (row?.state === "running") break;
      if (Date.now() > deadline) throw new Error(`not running: ${r.stdout}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
