/**
 * The stdio spawner (runtime/stdio.ts): a process group of its own that stop() ends
 * whole, a bounded stderr ring, the environment it hands down. Node APIs only, so that
 * tests/upstreams/bun_test.ts runs this file under Bun too.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { ROOT } from "../fixtures.ts";

const FAULT = `${ROOT}tests/upstreams/fault_server.mjs`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

Deno.test("stop() ends the whole process group, grandchildren too", async () => {
  const spawn = createStdioSpawner();
  const child = spawn({ type: "stdio", command: "node", args: [FAULT, "family"], env: {} });
  let pids: number[] = [];
  try {
    assert.ok(await until(() => child.stderr().some((l) => l.startsWith("pids ")), 10_000));
    pids = child.stderr().find((l) => l.startsWith("pids "))!.slice(5).split(" ").map(Number);
    assert.equal(pids[0], child.pid);
    assert.ok(pids.every(alive), "both processes run");
    const started = Date.now();
    await child.stop(1000);
    assert.ok(Date.now() - started < 3000, "stopped within the grace period");
    assert.ok(await until(() => !pids.some(alive), 2000), `left running: ${pids.filter(alive)}`);
    assert.notEqual(await child.exit, undefined);
  } finally {
    for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
  }
});

Deno.test("a process that ignores stdin's end is still stopped, by signal", async () => {
  const spawn = createStdioSpawner();
  const child = spawn({
    type: "stdio",
    command: "node",
    args: [
      "-e",
      "process.on('SIGTERM', () => {}); process.stdin.resume(); setInterval(() => {}, 1000)",
    ],
    env: {},
  });
  await until(() => child.pid !== undefined, 2000);
  const pid = child.pid!;
  try {
    await new Promise((r) => setTimeout(r, 300));
    await child.stop(500);
    const exit = await child.exit;
    assert.equal(exit.signal, "SIGKILL", "SIGTERM was ignored, so SIGKILL ended it");
    assert.equal(alive(pid), false);
  } finally {
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
});

Deno.test("a program that does not exist ends with its error, not a throw", async () => {
  const spawn = createStdioSpawner();
  const child = spawn({ type: "stdio", command: "no-such-program-here", args: [], env: {} });
  const exit = await child.exit;
  assert.match(exit.error ?? "", /ENOENT|not found/);
  await assert.rejects(child.write("{}\n"), /closed/);
  await child.stop(100);
});

Deno.test("stderr is kept bounded in lines and bytes, and passed on line by line", async () => {
  const spawn = createStdioSpawner({ stderrLines: 5, stderrBytes: 4096 });
  const child = spawn({ type: "stdio", command: "node", args: [FAULT, "noisy"], env: {} });
  const seen: string[] = [];
  child.onStderr((line) => seen.push(line));
  try {
    assert.ok(await until(() => seen.length >= 20, 10_000));
    const kept = child.stderr();
    assert.ok(kept.length <= 5, `${kept.length} lines kept`);
    assert.ok(kept.join("").length <= 4096 + 20, `${kept.join("").length} characters kept`);
    assert.ok(seen.every((l) => l.length <= 4096 + 20));
    assert.ok(kept.at(-1)!.endsWith("(cut)"), "a line over the bound is cut and marked");
  } finally {
    await child.stop(500);
  }
});

Deno.test("an upstream inherits PATH and HOME, its configured env, and not the server's secrets", async () => {
  const spawn = createStdioSpawner({
    env: { PATH: process.env.PATH, HOME: "/home/x", PERSONAL_MCP_PASSWORD: "secret" },
  });
  const child = spawn({
    type: "stdio",
    command: "node",
    args: ["-e", "process.stdout.write(JSON.stringify(process.env))"],
    env: { MEMORY_FILE_PATH: "/tmp/m.jsonl" },
  });
  let out = "";
  child.onStdout((chunk) => out += new TextDecoder().decode(chunk));
  await child.exit;
  await until(() => out.endsWith("}"), 2000);
  const env = JSON.parse(out);
  assert.equal(env.HOME, "/home/x");
  assert.equal(env.MEMORY_FILE_PATH, "/tmp/m.jsonl");
  assert.equal(env.PERSONAL_MCP_PASSWORD, undefined);
});

Deno.test("a server that dies without stopping its upstreams takes their groups with it", async () => {
  // A process that spawns an upstream with a grandchild, prints their pids, then dies
  // of an uncaught error: what it started must not outlive it.
  const script = `
    import { createStdioSpawner } from "${ROOT}runtime/stdio.ts";
    const child = createStdioSpawner()({ type: "stdio", command: "node", args: ["${FAULT}", "family"], env: {} });
    child.onStderr((line) => {
      if (!line.startsWith("pids ")) return;
      console.log(line);
      setTimeout(() => { throw new Error("the server crashed"); }, 50);
    });
  `;
  const { spawnSync } = await import("node:child_process");
  const { DENO_BIN, BUN_BIN } = await import("../fixtures.ts");
  for (const [bin, args] of [[DENO_BIN, ["eval", script]], [BUN_BIN, ["-e", script]]] as const) {
    const r = spawnSync(bin, [...args], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    const pids = (/pids (\d+) (\d+)/.exec(r.stdout) ?? []).slice(1).map(Number);
    try {
      assert.equal(pids.length, 2, `${bin}: ${r.stdout}${r.stderr}`);
      assert.notEqual(r.status, 0, "it crashed");
      assert.ok(await until(() => !pids.some(alive), 2000), `${bin} left ${pids.filter(alive)}`);
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
    }
  }
});

Deno.test("an upstream runs in its configured cwd", async () => {
  const { mkdtemp, realpath, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await realpath(await mkdtemp(`${tmpdir()}/pmcp-cwd-`));
  try {
    const child = createStdioSpawner()({
      type: "stdio",
      command: "node",
      args: ["-e", "process.stdout.write(process.cwd())"],
      env: {},
      cwd: dir,
    });
    let out = "";
    child.onStdout((chunk) => out += new TextDecoder().decode(chunk));
    await child.exit;
    assert.ok(await until(() => out === dir, 2000), `ran in ${out}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
