/**
 * Experiment, not our server: the /mcp hot path with the MCP wiring swapped, over a real
 * socket, to price the suggestions in bench/README.md before anyone edits transport/.
 * The bearer check is the same work as ours (SHA-256 of the token, then a Map lookup by
 * hash) against the shared harness token, like the peers' hand-written check; the OAuth
 * server is not involved.
 *
 * ```sh
 * VARIANT=json PORT=8120 deno run -A bench/variants.ts     # or: bun bench/variants.ts
 * ```
 * VARIANT:
 * - `endpoint`: transport/mcp/endpoint.ts as it is in the working tree
 * - `parsed`:   the SDK's createMcpHandler (stateless legacy fallback: SSE reply), given the
 *               body parsed with `request.json()` and the original request (no replay)
 * - `pooled`:   `parsed`, with McpServer instances reused from a pool
 * - `json`:     hand-wired WebStandardStreamableHTTPServerTransport with a JSON reply, given
 *               the body parsed with `request.json()` and the original request
 *
 * @module
 */
import process from "node:process";
import {
  type AuthInfo,
  createMcpHandler,
  McpServer,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { demoTools } from "../mod.ts";
import { hashSecret } from "../core/crypto.ts";
import { createMcpEndpoint } from "../transport/mcp/endpoint.ts";
import { registerTools } from "../transport/tools.ts";

const port = Number(process.env.PORT ?? 8120);
const variant = process.env.VARIANT ?? "endpoint";
const token = process.env.TOKEN ?? "bench-token-0123456789abcdef";
const serverInfo = { name: "personal-mcp", version: "0.1.0" };
const records = new Map([[await hashSecret(token), { clientId: "bench", scopes: ["mcp"] }]]);

function factory(): McpServer {
  const server = new McpServer(serverInfo, {});
  registerTools(server, demoTools);
  return server;
}

const endpoint = createMcpEndpoint(demoTools, { ...serverInfo, bodyTimeoutSeconds: 60 });
const handler = createMcpHandler(factory, { legacy: "stateless" });
const pool: McpServer[] = [];
const pooled = createMcpHandler(() => {
  const server = pool.pop() ?? factory();
  server.server.onclose = () => pool.push(server);
  return server;
}, { legacy: "stateless" });

async function mcp(request: Request, authInfo: AuthInfo): Promise<Response> {
  switch (variant) {
    case "endpoint":
      return await endpoint.fetch(request, authInfo);
    case "parsed":
      return await handler.fetch(request, { authInfo, parsedBody: await request.json() });
    case "pooled":
      return await pooled.fetch(request, { authInfo, parsedBody: await request.json() });
    case "json": {
      const parsedBody = await request.json();
      const server = factory();
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      const response = await transport.handleRequest(request, { authInfo, parsedBody });
      void server.close();
      return response;
    }
    default:
      throw new TypeError(`unknown VARIANT ${variant}`);
  }
}

async function fetchHandler(request: Request): Promise<Response> {
  if (new URL(request.url).pathname !== "/mcp") return new Response("Not found\n", { status: 404 });
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(request.headers.get("authorization") ?? "");
  const record = m ? records.get(await hashSecret(m[1]!)) : undefined;
  if (!record) return new Response('{"error":"invalid_token"}', { status: 401 });
  return await mcp(request, {
    token: m![1]!,
    clientId: record.clientId,
    scopes: record.scopes,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
  });
}

const g = globalThis as {
  Bun?: { serve(o: { hostname: string; port: number; fetch: typeof fetchHandler }): unknown };
  Deno?: {
    serve(
      o: { hostname: string; port: number; onListen(): void },
      h: typeof fetchHandler,
    ): unknown;
  };
};
if (g.Bun) g.Bun.serve({ hostname: "127.0.0.1", port, fetch: fetchHandler });
else g.Deno!.serve({ hostname: "127.0.0.1", port, onListen() {} }, fetchHandler);
console.log(`variants: ${variant} on 127.0.0.1:${port}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(0));
