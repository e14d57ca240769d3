/**
 * How many bytes one authenticated `tools/call` allocates on the JavaScript heap: the
 * real fetch handler driven in process (as bench/hot_path.ts does), CALLS calls with 50
 * in flight after a warm-up, in a child process whose young generation is made large
 * enough that no collection runs while they are measured (`--min-semi-space-size`); the
 * growth of the used heap over the calls, divided by them, is what one call allocates.
 * The child checks that no collection ran (the heap never shrank between calls). Deno
 * only (the flags are V8's).
 *
 * ```sh
 * deno run -A bench/allocation.ts            # prints one kind=allocation line per case
 * ```
 * env: CALLS=400 CONC=50 ROUNDS=3 (the median of ROUNDS children per case)
 *
 * @module
 */
import process from "node:process";
import { demoServer, IN_PROCESS_URL, TOOLS_CALL_BODY, toolsCallHeaders } from "./token.ts";

const CALLS = Number(process.env.CALLS ?? 400);
const CONC = Number(process.env.CONC ?? 50);
const CASES = ["tools/call", "tools/list", "401"] as const;

/**
 * The child: warms up, then prints `@@ ok <bytes>` (the used heap's growth over CALLS
 * calls), or `@@ collected ...` when the heap shrank meanwhile (a collection ran).
 */
async function child(which: string): Promise<void> {
  const { app, token } = await demoServer();
  const headers = toolsCallHeaders(which === "401" ? "not-a-token-0123456789abcdefghijkl" : token);
  const body = which === "tools/list"
    ? JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" })
    : TOOLS_CALL_BODY;
  const call = async () => {
    const res = await app.fetch(
      new Request(`${IN_PROCESS_URL}/mcp`, { method: "POST", headers, body }),
    );
    await res.text();
  };
  const run = async (n: number, watch?: () => void) => {
    let left = n;
    await Promise.all(Array.from({ length: CONC }, async () => {
      while (left-- > 0) {
        await call();
        watch?.();
      }
    }));
  };
  await run(2_000); // warm-up: JIT, pools, the audit's first batches
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  await new Promise((r) => setTimeout(r, 300)); // the audit's batch written, then collected
  gc();
  const heap = () => process.memoryUsage().heapUsed;
  const before = heap();
  let last = before;
  let collected = false;
  await run(CALLS, () => {
    const now = heap();
    if (now < last) collected = true;
    last = now;
  });
  const grown = heap() - before;
  console.log(`@@ ${collected ? "collected" : "ok"} ${grown}`);
  await app.close();
}

if (process.argv[2] === "child") {
  await child(process.argv[3]!);
} else {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (!deno) throw new Error("bench/allocation.ts runs on Deno (it sets V8's flags)");
  const { spawnSync } = await import("node:child_process");
  const ROUNDS = Number(process.env.ROUNDS ?? 3);
  for (const which of CASES) {
    const kbs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const out = spawnSync(deno.execPath(), [
        "run",
        "-A",
        "--v8-flags=--expose-gc,--min-semi-space-size=512,--max-semi-space-size=512",
        new URL(import.meta.url).pathname,
        "child",
        which,
      ], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024, env: { ...process.env } });
      const line = /@@ (\w+) (\d+)/.exec(out.stdout);
      if (out.status !== 0 || !line) throw new Error(`${which}: ${out.stderr.slice(-500)}`);
      if (line[1] !== "ok") {
        throw new Error(`${which}: a collection ran while measuring (lower CALLS)`);
      }
      kbs.push(Number(line[2]) / 1024 / CALLS);
    }
    const kb = kbs.sort((a, b) => a - b)[Math.floor(kbs.length / 2)]!;
    console.log(
      `kind=allocation runtime=deno case=${which} calls=${CALLS} conc=${CONC} ` +
        `kb_per_call=${kb.toFixed(2)} rounds=${ROUNDS}`,
    );
  }
}
