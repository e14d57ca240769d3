/**
 * Spawn to first correct authenticated call: starts a server command, then sends the
 * bench's authenticated `tools/call` until one answers `Hello, bench!`, and prints the
 * time from just before the spawn to that answer. The server is then stopped by PID.
 *
 * ```sh
 * taskset -c 1 deno run -A bench/cold_start.ts --name ours-deno --port 8141 --token T \
 *   --cpu 0 -- deno run -A bench/server.ts serve --port 8141 --state-dir /tmp/st --password PW
 * ```
 *
 * Prints one line: `kind=cold name=NAME ms=...` (or `kind=cold name=NAME ERROR ...`).
 * With `--import MODULE`, instead runs `bench/import_cost.ts` for that module (see there).
 *
 * @module
 */
import process from "node:process";
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { TOOLS_CALL_BODY, toolsCallHeaders } from "./token.ts";

const dash = process.argv.indexOf("--");
const { values } = parseArgs({
  args: process.argv.slice(2, dash < 0 ? undefined : dash),
  options: {
    name: { type: "string" },
    port: { type: "string" },
    token: { type: "string" },
    cpu: { type: "string" },
    "timeout-ms": { type: "string" },
  },
});
const command = dash < 0 ? [] : process.argv.slice(dash + 1);
if (!values.name || !values.port || !values.token || command.length === 0) {
  console.error("usage: cold_start.ts --name N --port P --token T [--cpu 0] -- CMD ARGS...");
  process.exit(2);
}
const url = `http://127.0.0.1:${values.port}/mcp`;
const headers = toolsCallHeaders(values.token);
const limitMs = Number(values["timeout-ms"] ?? 20_000);
const argv = values.cpu ? ["taskset", "-c", values.cpu, ...command] : command;

const started = performance.now();
const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
let stderr = "";
child.stderr?.on(
  "data",
  (d) => (stderr += String(d)).length > 4000 && (stderr = stderr.slice(-4000)),
);
let exited = false;
child.on("exit", () => (exited = true));

let result = "";
for (;;) {
  if (exited) {
    result = `ERROR server exited: ${stderr.trim().split("\n").at(-1) ?? ""}`;
    break;
  }
  if (performance.now() - started > limitMs) {
    result = "ERROR timeout";
    break;
  }
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: TOOLS_CALL_BODY,
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (res.status === 200 && text.includes('"Hello, bench!"') && text.includes('"result"')) {
      result = `ms=${(performance.now() - started).toFixed(1)}`;
      break;
    }
    if (res.status !== 503) {
      result = `ERROR status ${res.status}: ${text.slice(0, 120).replaceAll(/\s+/g, " ")}`;
      break;
    }
  } catch { /* not listening yet */ }
  await new Promise((r) => setTimeout(r, 1));
}

// Stop by PID: TERM, then KILL.
if (!exited) {
  child.kill("SIGTERM");
  const stopped = await Promise.race([
    new Promise((r) => child.once("exit", () => r(true))),
    new Promise((r) => setTimeout(() => r(false), 3000)),
  ]);
  if (!stopped) child.kill("SIGKILL");
}
console.log(`kind=cold name=${values.name} ${result}`);
process.exit(0);
