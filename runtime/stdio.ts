/**
 * The spawner of stdio upstreams: one process per configured server, in a process group
 * of its own so that stopping it stops what it started too (`npx` starts `node`, which
 * may start more). Its stderr is kept in a small ring for the owner to read; nothing
 * it writes grows memory without bound. `node:child_process` works the same on Deno
 * and Bun.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import type { StdioTarget } from "../transport/upstreams/config.ts";
import type { StdioExit, StdioProcess, StdioSpawner } from "../transport/upstreams/types.ts";
import type { ServerEdge } from "../server/create.ts";

/** The few variables an upstream inherits (the MCP SDK's list): never the server's secrets. */
const INHERITED_ENV = process.platform === "win32"
  ? [
    "APPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "PATH",
    "PROCESSOR_ARCHITECTURE",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "TEMP",
    "USERNAME",
    "USERPROFILE",
    "PROGRAMFILES",
  ]
  : ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR"];

/**
 * Process groups started and not yet stopped, by every spawner of this process: they
 * run detached, so if the server dies without stopping them (an uncaught error,
 * `process.exit()`), they are killed as it exits rather than left running.
 */
const LIVE_GROUPS = new Set<number>();
let exitHookInstalled = false;

function killLiveGroups(): void {
  for (const pid of LIVE_GROUPS) signalGroup(pid, "SIGKILL");
  LIVE_GROUPS.clear();
}

/**
 * Node and Bun emit `exit` even when an uncaught error ends the process; Deno emits it
 * for `process.exit()`, and dispatches `error` / `unhandledrejection` on the global
 * before it dies of one. (A handler that keeps a Deno process alive after such an
 * event costs its upstreams a restart, not their processes.)
 */
function installExitHook(): void {
  exitHookInstalled = true;
  process.once("exit", killLiveGroups);
  const global = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
  if ("Deno" in globalThis && global.addEventListener) {
    global.addEventListener("error", killLiveGroups);
    global.addEventListener("unhandledrejection", killLiveGroups);
  }
}

/** Options of {@linkcode createStdioSpawner}. */
export interface StdioSpawnerOptions {
  /** Where the inherited variables are read. @default process.env */
  env?: Record<string, string | undefined>;
  /** How many stderr lines are kept. @default 50 */
  stderrLines?: number;
  /** How many bytes of stderr are kept in all (and at most in one line). @default 16384 */
  stderrBytes?: number;
}

/**
 * A spawner for stdio upstreams.
 *
 * @example Start `node -e` and read what it writes
 * ```ts ignore
 * import { createStdioSpawner } from "./stdio.ts";
 * const spawn = createStdioSpawner();
 * const child = spawn({ type: "stdio", command: "node", args: ["-e", "console.log(1)"], env: {} });
 * child.onStdout((chunk) => console.log(new TextDecoder().decode(chunk)));
 * console.log(await child.exit);
 * ```
 */
export function createStdioSpawner(options: StdioSpawnerOptions = {}): StdioSpawner {
  const parentEnv = options.env ?? process.env;
  const maxLines = options.stderrLines ?? 50;
  const maxBytes = options.stderrBytes ?? 16 * 1024;
  return (target: StdioTarget): StdioProcess => {
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      const value = parentEnv[key];
      if (value !== undefined && !value.startsWith("()")) env[key] = value;
    }
    Object.assign(env, target.env);
    const child = spawn(target.command, target.args, {
      cwd: target.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      // A group of its own: stop() signals -pid, reaching every process it started.
      detached: process.platform !== "win32",
      windowsHide: true,
    });
    if (child.pid !== undefined && process.platform !== "win32") {
      LIVE_GROUPS.add(child.pid);
      if (!exitHookInstalled) installExitHook();
    }
    const ring = stderrRing(maxLines, maxBytes);
    const exit = new Promise<StdioExit>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", (error) => resolve({ code: null, signal: null, error: error.message }));
    });
    // A closed pipe (EPIPE) surfaces through write()'s callback and `exit`, not as a crash.
    child.stdin.on("error", () => {});
    child.stdout.on("error", () => {});
    child.stderr.on("data", (chunk: Uint8Array) => ring.push(chunk));
    let exited = false;
    exit.then(() => {
      exited = true;
      ring.flush();
    });
    return {
      get pid() {
        return child.pid;
      },
      exit,
      onStdout(listener) {
        child.stdout.on("data", listener);
      },
      onStderr(listener) {
        ring.listeners.push(listener);
      },
      write(data) {
        return new Promise((resolve, reject) => {
          if (exited || !child.stdin.writable) {
            return reject(new Error("the process's stdin is closed"));
          }
          child.stdin.write(data, (error) => error ? reject(error) : resolve());
        });
      },
      stderr: () => ring.lines(),
      async stop(graceMs = 2000) {
        await stopGroup(child.pid, exit, () => child.stdin.end(), graceMs);
        if (child.pid !== undefined) LIVE_GROUPS.delete(child.pid);
      },
    };
  };
}

/**
 * Ends a process and its group as the MCP stdio transport asks: close stdin, give it a
 * moment, SIGTERM, then SIGKILL after `graceMs`. The group is signalled even when the
 * leader is gone, since what it started may live on.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#stdio
 */
async function stopGroup(
  pid: number | undefined,
  exit: Promise<StdioExit>,
  closeStdin: () => void,
  graceMs: number,
): Promise<void> {
  closeStdin();
  if (pid === undefined) return void await exit;
  await Promise.race([exit, sleep(Math.min(300, graceMs))]);
  if (!signalGroup(pid, "SIGTERM")) return void await exit;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupAlive(pid)) await sleep(25);
  signalGroup(pid, "SIGKILL");
  const end = Date.now() + 1000;
  while (Date.now() < end && groupAlive(pid)) await sleep(25);
  await Promise.race([exit, sleep(1000)]);
}

/** Sends `signal` to the process group `pid` leads; false when no process is left in it. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(process.platform === "win32" ? pid : -pid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pid: number): boolean {
  return signalGroup(pid, 0 as unknown as NodeJS.Signals);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The last stderr lines: at most `maxLines` lines and `maxBytes` bytes in all; a line
 * longer than `maxBytes` is cut (and marked), and an unfinished line is held only up to
 * that size, so a process that writes without newlines cannot grow memory.
 */
function stderrRing(maxLines: number, maxBytes: number) {
  const decoder = new TextDecoder();
  const kept: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  let bytes = 0;
  let partial = "";
  const add = (line: string) => {
    if (line.length > maxBytes) line = `${line.slice(0, maxBytes)}... (cut)`;
    kept.push(line);
    bytes += line.length;
    while (kept.length > maxLines || (bytes > maxBytes && kept.length > 1)) {
      bytes -= kept.shift()!.length;
    }
    for (const listener of listeners) listener(line);
  };
  return {
    listeners,
    push(chunk: Uint8Array) {
      const parts = (partial + decoder.decode(chunk, { stream: true })).split(/\r?\n/);
      partial = parts.pop()!;
      for (const line of parts) add(line);
      if (partial.length > maxBytes) {
        add(partial);
        partial = "";
      }
    },
    flush() {
      partial += decoder.decode();
      if (partial !== "") add(partial);
      partial = "";
    },
    lines: () => [...kept],
  };
}

/** Whether this process runs on Deno Deploy (which starts no processes). */
export function onDeploy(): boolean {
  return Boolean(process.env.DENO_DEPLOYMENT_ID);
}

/** What the server may start stdio upstreams with: this spawner, except on Deno Deploy. */
export function serverEdge(): ServerEdge {
  if (onDeploy()) {
    return { env: process.env, noSpawnReason: "Deno Deploy cannot start (it runs no processes)" };
  }
  return { env: process.env, spawn: createStdioSpawner() };
}
