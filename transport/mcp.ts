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
    fetch: (request, authInfo) => handler.fetch(request, { authInfo }),
    close: () => handler.close(),
  };
}
