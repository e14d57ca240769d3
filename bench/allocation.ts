/**
 * How many bytes one authenticated `tools/call` allocates on the JavaScript heap: the
 * real fetch handler driven in process (as bench/hot_path.ts does), CALLS calls with 50
 * in flight, under V8's `--trace-gc`; the bytes every scavenge freed, divided by the
 * calls, are what a call leaves behind (what survives a scavenge is counted when the
 * next mark-compact frees it). Deno only (Bun's heap is JavaScriptCore's).
 *
 * ```sh
 * deno run -A bench/allocation.ts            # prints one kind=allocation line per case
 * ```
 * env: CALLS=40000 CONC=50
 *
 * @module
 */
import process from "node:process";
import { createMemoryStore, createPersonalMcp, demoTools } from "../mod.ts";
import { issueToken, TOOLS_CALL_BODY, toolsCallHeaders } from "./token.ts";

const CALLS = Number(process.env.CALLS ?? 40_000);
const CONC = Number(process.env.CONC ?? 50);
const CASES = ["tools/call", "tools/list", "401"] as const;

/** The child: runs one case and prints a marker line before and after, around the GC trace. */
async function child(which: string): Promise<void> {
  const BASE_URL = "http://127.0.0.1:8199";
  const PASSWORD = "bench-owner-password-0123";
  const app = createPersonalMcp(demoTools, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
  });
  const token = await issueToken(app, PASSWORD);
  const headers = toolsCallHeaders(which === "401" ? "not-a-token-0123456789abcdefghijkl" : token);
  const body = which === "tools/list"
    ? JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" })
    : TOOLS_CALL_BODY;
  const call = async () => {
    const res = await app.fetch(new Request(`${BASE_URL}/mcp`, { method: "POST", headers, body }));
    await res.text();
  };
  const run = async (n: number) => {
    let left = n;
    await Promise.all(Array.from({ length: CONC }, async () => {
      while (left-- > 0) await call();
    }));
  };
  await run(CALLS / 4); // warm-up: JIT, pools, the audit's first batch
  console.log("@@start");
  await run(CALLS);
  console.log("@@end");
  await app.close();
}

/** Sums what scavenges and mark-compacts freed between the markers, in MB. */
function freedMb(trace: string): { freed: number; scavenges: number } {
  const inside = trace.split("@@start")[1]?.split("@@end")[0] ?? "";
  let freed = 0;
  let scavenges = 0;
  // e.g. "[123:0x5555]   1234 ms: Scavenge 12.3 (14.1) -> 4.2 (14.1) MB, ..."
  for (
    const m of inside.matchAll(
      /: (Scavenge|Mark-Compact|Mark-sweep)[^\d]*([\d.]+) \([\d.]+\) -> ([\d.]+)/g,
    )
  ) {
    freed += Number(m[2]) - Number(m[3]);
    if (m[1] === "Scavenge") scavenges++;
  }
  return { freed, scavenges };
}

if (process.argv[2] === "child") {
  await child(process.argv[3]!);
} else {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (!deno) throw new Error("bench/allocation.ts runs on Deno (it reads V8's --trace-gc)");
  const { spawnSync } = await import("node:child_process");
  for (const which of CASES) {
    const out = spawnSync(deno.execPath(), [
      "run",
      "-A",
      "--v8-flags=--trace-gc",
      new URL(import.meta.url).pathname,
      "child",
      which,
    ], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env } });
    if (out.status !== 0) throw new Error(`${which}: ${out.stderr.slice(-500)}`);
    const { freed, scavenges } = freedMb(out.stdout);
    console.log(
      `kind=allocation runtime=deno case=${which} calls=${CALLS} conc=${CONC} ` +
        `kb_per_call=${(freed * 1024 / CALLS).toFixed(2)} scavenges=${scavenges}`,
    );
  }
}
