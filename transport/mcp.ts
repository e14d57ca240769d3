/**
 * The MCP endpoint: the official SDK's Web-standard handler, stateless (Claude.ai
 * never echoes `Mcp-Session-Id`), serving the 2025 revisions and 2026-07-28.
 * It knows nothing of OAuth beyond the `authInfo` the bearer gate hands it.
 *
 * @module
 */
import { type AuthInfo, createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { registerTools, type Tools } from "./tools.ts";

/** What the MCP endpoint is built from. */
export interface McpEndpointOptions {
  name: string;
  version: string;
  instructions?: string;
  configureServer?: (server: McpServer) => void;
  onError?: (error: Error) => void;
}

/** The MCP endpoint as a fetch handler. */
export interface McpEndpoint {
  fetch(request: Request, authInfo: AuthInfo): Promise<Response>;
  close(): Promise<void>;
}

/** Builds the endpoint once; each request gets a fresh, cheap SDK server instance. */
export function createMcpEndpoint(tools: Tools, options: McpEndpointOptions): McpEndpoint {
  const serverInfo = { name: options.name, version: options.version };
  const serverOptions = options.instructions ? { instructions: options.instructions } : {};
  const handler = createMcpHandler(() => {
    const server = new McpServer(serverInfo, serverOptions);
    registerTools(server, tools);
    options.configureServer?.(server);
    return server;
  }, { legacy: "stateless", onerror: options.onError });
  return {
    async fetch(request, authInfo) {
      if (request.method !== "POST") return await handler.fetch(request, { authInfo });
      // Streamable HTTP asks POSTs to accept both JSON and SSE, and the SDK answers 406
      // otherwise; real clients differ, so accept either and answer in a form they read.
      const accept = request.headers.get("accept") ?? "";
      const json = /application\/json|\*\/\*/i.test(accept);
      const sse = /text\/event-stream/i.test(accept);
      if (json && sse) return await handler.fetch(request, { authInfo });
      const headers = new Headers(request.headers);
      headers.set("accept", "application/json, text/event-stream");
      const response = await handler.fetch(new Request(request, { headers }), { authInfo });
      if (sse || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
        return response;
      }
      return await sseToJson(response);
    },
    close: () => handler.close(),
  };
}

/**
 * Collapses a finished SSE answer into the JSON answer a client that accepts only
 * JSON expects: the JSON-RPC response(s) it carried; notifications are dropped.
 */
async function sseToJson(response: Response): Promise<Response> {
  const text = await response.text();
  const replies: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) =>
      l.slice(5).trimStart()
    ).join("\n");
    if (!data) continue;
    try {
      const message = JSON.parse(data);
      if (
        message && typeof message === "object" && "id" in message &&
        ("result" in message || "error" in message)
      ) {
        replies.push(message);
      }
    } catch { /* not JSON: skip */ }
  }
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  if (replies.length === 0) return new Response(null, { status: 202, headers });
  return new Response(JSON.stringify(replies.length === 1 ? replies[0] : replies), {
    status: response.status,
    headers,
  });
}
