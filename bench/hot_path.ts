/**
 * Where one `/mcp` tools/call spends its time: the real fetch handler and its parts,
 * driven in process (no socket) with CONC requests in flight, as wrk keeps 50. Each case
 * reports microseconds of one core per request (elapsed / requests; pin the process to
 * one core). Cases alternate over ROUNDS rounds; the median is printed.
 *
 * ```sh
 * taskset -c 0 deno run -A bench/hot_path.ts        # or: taskset -c 0 bun bench/hot_path.ts
 * ```
 * env: ROUNDS=5 CASE_SECONDS=2 CONC=50 ONLY=<regex of case names>
 *
 * Every case builds its `Request` and reads the whole response body, as wrk does.
 *
 * @module
 */
import process from "node:process";
import {
  type AuthInfo,
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  McpServer,
  PROTOCOL_VERSION_META_KEY,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { demoTools } from "../mod.ts";
import { hashSecret, hashSecretSync, loadSyncHash } from "../core/crypto.ts";
import { createMultiplexTransport } from "../transport/mcp/multiplex.ts";
import { readLimited } from "../core/http.ts";
import { createMcpEndpoint } from "../transport/mcp/endpoint.ts";
import { registerTools } from "../transport/tools.ts";
import { demoServer, IN_PROCESS_URL, TOOLS_CALL_BODY, toolsCallHeaders } from "./token.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECONDS = Number(process.env.CASE_SECONDS ?? 2);
const CONC = Number(process.env.CONC ?? 50);

const BASE_URL = IN_PROCESS_URL;
const { app, token } = await demoServer();
const headers = toolsCallHeaders(token);
const badHeaders = toolsCallHeaders("not-a-token-0123456789abcdefghijklmnopqrs");
const parsedBody: unknown = JSON.parse(TOOLS_CALL_BODY);
const authInfo: AuthInfo = {
  token,
  clientId: "bench",
  scopes: ["mcp"],
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  resource: new URL(`${BASE_URL}/mcp`),
};
const serverInfo = { name: "personal-mcp", version: "0.1.0" };
const replyBody = JSON.stringify({
  result: { content: [{ type: "text", text: "Hello, bench!" }] },
  jsonrpc: "2.0",
  id: 1,
});

/** The same call as a 2026-07-28 client sends it: the revision in a header and in `_meta`. */
const MODERN_BODY = JSON.stringify({
  ...JSON.parse(TOOLS_CALL_BODY),
  params: {
    ...JSON.parse(TOOLS_CALL_BODY).params,
    _meta: {
      [PROTOCOL_VERSION_META_KEY]: "2026-07-28",
      [CLIENT_INFO_META_KEY]: { name: "bench", version: "1.0.0" },
      [CLIENT_CAPABILITIES_META_KEY]: {},
    },
  },
});
const modernHeaders = {
  ...headers,
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": "tools/call",
  "mcp-name": "hello",
};
const modernCall = () =>
  new Request(`${BASE_URL}/mcp`, { method: "POST", headers: modernHeaders, body: MODERN_BODY });
const TOOLS_LIST_BODY = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });

const toolsCall = (h: Record<string, string> = headers) =>
  new Request(`${BASE_URL}/mcp`, { method: "POST", headers: h, body: TOOLS_CALL_BODY });

async function expectHello(res: Response): Promise<void> {
  const text = await res.text();
  if (!text.includes('"Hello, bench!"')) throw new Error(`unexpected: ${text.slice(0, 200)}`);
}

/** What transport/mcp/endpoint.ts's factory does for every request. */
function factory(): McpServer {
  const server = new McpServer(serverInfo, {});
  registerTools(server, demoTools);
  return server;
}

// transport/mcp/endpoint.ts as the router calls it, without the router and the bearer gate.
const endpoint = createMcpEndpoint(demoTools, {
  name: "personal-mcp",
  version: "0.1.0",
  bodyTimeoutSeconds: 60,
});
const handler = createMcpHandler(factory, { legacy: "stateless" });

// Experiment: instances are reused instead of built per request. One goes back to the
// pool when its exchange closes; requests in flight each hold their own.
const pool: McpServer[] = [];
const pooledHandler = createMcpHandler(() => {
  const server = pool.pop() ?? factory();
  server.server.onclose = () => pool.push(server);
  return server;
}, { legacy: "stateless" });

// The shared server of transport/mcp/endpoint.ts, driven directly through its transport.
await loadSyncHash();
const shared = factory();
const mux = createMultiplexTransport();
await shared.connect(mux);

const CASES: [string, () => Promise<void> | void][] = [
  ["ceiling: build Request, read it, fixed Response", async () => {
    await toolsCall().text();
    await expectHello(new Response(replyBody, { headers: { "content-type": "application/json" } }));
  }],
  ["OURS: app.fetch tools/call (whole hot path)", async () => {
    await expectHello(await app.fetch(toolsCall()));
  }],
  ["OURS: app.fetch tools/call, 2026-07-28 (per-request envelope)", async () => {
    await expectHello(await app.fetch(modernCall()));
  }],
  ["OURS: app.fetch tools/list, 2025-era", async () => {
    const res = await app.fetch(
      new Request(`${BASE_URL}/mcp`, { method: "POST", headers, body: TOOLS_LIST_BODY }),
    );
    if (!(await res.text()).includes('"hello"')) throw new Error("no hello in the list");
  }],
  ["part: app.fetch, unknown token -> 401 (router+bearer)", async () => {
    const res = await app.fetch(toolsCall(badHeaders));
    if (res.status !== 401) throw new Error(`status ${res.status}`);
    await res.text();
  }],
  ["part: hashSecret(token) (WebCrypto SHA-256)", async () => {
    await hashSecret(token);
  }],
  ["part: hashSecretSync(token) (node:crypto SHA-256)", () => {
    hashSecretSync(token);
  }],
  ["part: classifyInboundRequest(parsedBody) (SDK routing)", () => {
    const route = classifyInboundRequest({
      httpMethod: "POST",
      protocolVersionHeader: "2025-11-25",
      body: parsedBody,
    });
    if (route.kind !== "legacy") throw new Error("not legacy");
  }],
  ["part: shared McpServer through the multiplexing transport", async () => {
    const req = toolsCall();
    const parsed = await req.json();
    await expectHello(
      await mux.request(parsed as never, { request: req, authInfo, stream: false }),
    );
  }],
  ["part: factory (new McpServer + registerTools)", () => {
    factory();
  }],
  ["part: new McpServer only", () => {
    new McpServer(serverInfo, {});
  }],
  ["part: body as transport/mcp/endpoint.ts reads it (bounded, replayed)", async () => {
    const req = toolsCall();
    const bytes = await readLimited(req.body, 4 * 1024 * 1024, req.headers.get("content-length"));
    const text = new TextDecoder().decode(bytes);
    JSON.parse(text);
    new Request(req.url, { method: "POST", headers: req.headers, body: text });
  }],
  ["part: body read with request.json()", async () => {
    await toolsCall().json();
  }],
  ["part: isLegacyRequest(request, parsedBody) (SDK routing)", async () => {
    const req = toolsCall();
    if (!await isLegacyRequest(req, await req.json())) throw new Error("not legacy");
  }],
  ["part: isInitializeRequest(parsedBody) (a zod parse)", () => {
    if (isInitializeRequest(parsedBody)) throw new Error("not initialize");
  }],
  ["part: SDK endpoint.fetch (transport/mcp/endpoint.ts)", async () => {
    await expectHello(await endpoint.fetch(toolsCall(), authInfo));
  }],
  ["alt: SDK handler, parsedBody given", async () => {
    const req = toolsCall();
    const parsed = await req.json();
    await expectHello(await handler.fetch(req, { authInfo, parsedBody: parsed }));
  }],
  ["alt: SDK handler, parsedBody given, pooled McpServer", async () => {
    const req = toolsCall();
    const parsed = await req.json();
    await expectHello(await pooledHandler.fetch(req, { authInfo, parsedBody: parsed }));
  }],
  ["alt: hand-wired transport, JSON reply", async () => {
    const req = toolsCall();
    const parsed = await req.json();
    const server = factory();
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    await expectHello(await transport.handleRequest(req, { authInfo, parsedBody: parsed }));
    await server.close();
  }],
];

/** Microseconds per request with CONC in flight, for SECONDS. */
async function measure(fn: () => Promise<void> | void): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (performance.now() < deadline) {
      await fn();
      done++;
    }
  }));
  return (performance.now() - t0) * 1000 / done;
}

// ONLY=<regex>: the cases whose name matches (the whole hot path is always kept).
const only = process.env.ONLY ? new RegExp(process.env.ONLY) : undefined;
if (only) {
  const kept = CASES.filter(([name], i) => i <= 1 || only.test(name));
  CASES.splice(0, CASES.length, ...kept);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, number[]>(CASES.map(([name]) => [name, []]));
for (const [, fn] of CASES) await measure(fn); // warm-up: JIT, pools
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of CASES) results.get(name)!.push(await measure(fn));
}
const runtime = "Bun" in globalThis
  ? `bun ${process.versions.bun}`
  : `deno ${process.versions.deno}`;
const full = median(results.get(CASES[1]![0])!);
console.log(
  `${runtime}: us of CPU per request, median of ${ROUNDS} x ${SECONDS} s, ${CONC} in flight`,
);
console.log(
  `${"case".padEnd(60)}${"us/req".padStart(8)}${"req/s".padStart(9)}${"of ours".padStart(9)}`,
);
for (const [name, xs] of results) {
  const m = median(xs);
  console.log(
    `${name.padEnd(60)}${m.toFixed(1).padStart(8)}${(1e6 / m).toFixed(0).padStart(9)}${
      `${(100 * m / full).toFixed(0)}%`.padStart(9)
    }`,
  );
}
