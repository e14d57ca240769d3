/**
 * What the gateway adds to a `tools/call` (issue 21): server-everything's `echo` called
 * by the official SDK client over its own stdio connection (`direct`), against the same
 * call made through our server (`gateway`: bearer gate, MCP server, relay, our stdio
 * transport, the same upstream program), driven in process through the server's fetch
 * handler as a sessionless 2025-era request (what Claude.ai sends). The socket in front
 * of the server is left out: it is the same with or without the gateway.
 *
 * Each path runs with 1 call in flight and with CONC in flight, ROUNDS rounds
 * alternating direct and gateway; every answer is checked. Prints one line per path,
 * concurrency and round, then one `kind=gateway-added` line per concurrency with the
 * medians and what the gateway adds at p50 and p99.
 *
 * ```sh
 * taskset -c 0 deno run -A bench/gateway.ts       # or: taskset -c 0 bun bench/gateway.ts
 * ```
 * env: ROUNDS=3 CALLS=2000 CONC=50
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { createMemoryStore, demoTools } from "../mod.ts";
import { createPersonalMcpOn } from "../server/create.ts";
import { createStdioSpawner } from "../runtime/stdio.ts";
import { issueToken, toolsCallHeaders } from "./token.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CALLS = Number(process.env.CALLS ?? 2000);
const CONC = Number(process.env.CONC ?? 50);
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const EVERYTHING = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url),
);
const BASE_URL = "http://127.0.0.1:8198";
const PASSWORD = "bench-owner-password-0123";
const EXPECTED = "Echo: bench";

// The SDK client on its own stdio connection, as an MCP host calls a local server.
const direct = new Client({ name: "bench-direct", version: "1" });
await direct.connect(
  new StdioClientTransport({ command: "node", args: [EVERYTHING, "stdio"], stderr: "ignore" }),
);
async function callDirect(): Promise<void> {
  const result = await direct.callTool({ name: "echo", arguments: { message: "bench" } });
  if ((result.content as Array<{ text?: string }>)[0]?.text !== EXPECTED) {
    throw new Error(`direct: unexpected answer ${JSON.stringify(result)}`);
  }
}

// Our server with the same program as its upstream.
// As servePersonalMcp() builds it: the runtime's spawner starts the stdio upstream.
const app = createPersonalMcpOn(demoTools, {
  baseUrl: BASE_URL,
  password: PASSWORD,
  store: createMemoryStore(),
  servers: { everything: { command: "node", args: [EVERYTHING, "stdio"] } },
}, { spawn: createStdioSpawner() });
await app.ready();
const headers = toolsCallHeaders(await issueToken(app, PASSWORD));
const body = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "everything_echo", arguments: { message: "bench" } },
});
async function callGateway(): Promise<void> {
  const res = await app.fetch(
    new Request(`${BASE_URL}/mcp`, { method: "POST", headers, body }),
    { remoteAddress: "127.0.0.1" },
  );
  const text = await res.text();
  if (res.status !== 200 || !text.includes(EXPECTED)) {
    throw new Error(`gateway: HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
}

/** Latencies in ms of `calls` calls with `conc` in flight. */
async function measure(call: () => Promise<void>, calls: number, conc: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const start = performance.now();
      await call();
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return latencies.sort((a, b) => a - b);
}

const at = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => value.toFixed(3);

const paths = { direct: callDirect, gateway: callGateway };
const results: Record<string, { p50: number[]; p99: number[] }> = {};
// Warm-up: JIT, the upstreams' own first calls.
for (const call of Object.values(paths)) await measure(call, 500, 10);
for (let round = 1; round <= ROUNDS; round++) {
  for (const conc of [1, CONC]) {
    for (const [path, call] of Object.entries(paths)) {
      const sorted = await measure(call, CALLS, conc);
      const key = `${path} ${conc}`;
      results[key] ??= { p50: [], p99: [] };
      results[key].p50.push(at(sorted, 0.5));
      results[key].p99.push(at(sorted, 0.99));
      console.log(
        `round=${round} kind=gateway runtime=${RUNTIME} path=${path} conc=${conc} calls=${CALLS} ` +
          `p50_ms=${ms(at(sorted, 0.5))} p99_ms=${ms(at(sorted, 0.99))}`,
      );
    }
  }
}
for (const conc of [1, CONC]) {
  const d = results[`direct ${conc}`]!;
  const g = results[`gateway ${conc}`]!;
  console.log(
    `kind=gateway-added runtime=${RUNTIME} conc=${conc} direct_p50_ms=${ms(median(d.p50))} ` +
      `gateway_p50_ms=${ms(median(g.p50))} added_p50_ms=${ms(median(g.p50) - median(d.p50))} ` +
      `direct_p99_ms=${ms(median(d.p99))} gateway_p99_ms=${ms(median(g.p99))} ` +
      `added_p99_ms=${ms(median(g.p99) - median(d.p99))}`,
  );
}
await direct.close();
await app.close();
