/**
 * The sessionless leg: requests that name no session this process holds. A single
 * 2025-era request or notification goes to the one shared server through the
 * multiplexing transport (multiplex.ts); 2026-07-28 requests (per-request envelope),
 * batches, posted responses and the SDK's refusals go to the SDK's own
 * `createMcpHandler`, which binds the protocol revision and the client's identity to a
 * pooled instance for one exchange at a time.
 *
 * @module
 */
import {
  type AuthInfo,
  classifyInboundRequest,
  createMcpHandler,
  isJsonContentType,
  isJSONRPCRequest,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type ServerNotifier,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/server";
import { createMultiplexTransport } from "./multiplex.ts";
import type { ServerInstances } from "./servers.ts";
import { jsonRpcError } from "./wire.ts";

/** The 2025-era protocol versions the SDK speaks: a header naming one keeps a request legacy. */
const LEGACY_VERSIONS = new Set(SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v < "2026"));

/**
 * Whether the SDK's classification (`classifyInboundRequest`) would route this body to
 * its 2025-era stateless leg as a plain request, decided without running it: a valid
 * JSON-RPC request other than `initialize` whose `_meta` carries nothing but a progress
 * token (so no per-request envelope claim) and whose `MCP-Protocol-Version` header, if
 * any, names a 2025-era version. The classifier runs four schema checks, three of them
 * failing (with the garbage that makes) for every ordinary request; anything this test
 * does not recognise still goes through it. tests/endpoints/mcp_shared_server_test.ts
 * holds the two to the same answers.
 */
export function isPlainLegacyRequest(body: unknown, versionHeader: string | null): boolean {
  if (versionHeader !== null && !LEGACY_VERSIONS.has(versionHeader)) return false;
  if (!body || typeof body !== "object" || Array.isArray(body)) return false;
  const { method, params } = body as { method?: unknown; params?: unknown };
  if (typeof method !== "string" || method === "initialize") return false;
  if (params !== undefined) {
    if (!params || typeof params !== "object" || Array.isArray(params)) return false;
    const meta = (params as { _meta?: unknown })._meta;
    if (meta !== undefined) {
      if (!meta || typeof meta !== "object" || Array.isArray(meta)) return false;
      for (const key of Object.keys(meta)) if (key !== "progressToken") return false;
    }
  }
  return isJSONRPCRequest(body);
}

/** Whether a message (or batch) asks for progress notifications, which need SSE. */
function asksForProgress(body: unknown): boolean {
  if (Array.isArray(body)) return true; // batches keep the SDK's own streaming path
  const meta = (body as { params?: { _meta?: { progressToken?: unknown } } })?.params?._meta;
  return meta?.progressToken !== undefined;
}

/**
 * Which way a sessionless POST goes, by the SDK's own classification (what
 * `createMcpHandler` routes on): "request" or "notification" to the shared server,
 * "handler" to the SDK's handler.
 */
function legOf(request: Request, parsedBody: unknown): "request" | "notification" | "handler" {
  const versionHeader = request.headers.get("mcp-protocol-version");
  if (isPlainLegacyRequest(parsedBody, versionHeader)) return "request";
  const route = classifyInboundRequest({
    httpMethod: "POST",
    protocolVersionHeader: versionHeader ?? undefined,
    mcpMethodHeader: request.headers.get("mcp-method") ?? undefined,
    mcpNameHeader: request.headers.get("mcp-name") ?? undefined,
    body: parsedBody,
  });
  if (route.kind !== "legacy") return "handler";
  if (route.reason === "no-claim") return "request";
  return route.reason === "notification" ? "notification" : "handler";
}

/** The sessionless leg of the endpoint. */
export interface Sessionless {
  /** Serves a POST whose body was read and parsed once (the SDK never reads it again). */
  post(request: Request, parsedBody: unknown, authInfo: AuthInfo): Promise<Response>;
  /** Serves any other method: the SDK's handler answers. */
  other(request: Request, authInfo: AuthInfo): Promise<Response>;
  /** Publishes a change to every open 2026-07-28 `subscriptions/listen` stream. */
  notify: ServerNotifier;
  close(): Promise<void>;
}

/** Builds the shared server and the SDK's handler once. */
export function createSessionless(
  servers: ServerInstances,
  onError?: (error: Error) => void,
): Sessionless {
  const handler = createMcpHandler(servers.pool, { legacy: "stateless", onerror: onError });
  // The one server of every sessionless 2025-era request.
  const shared = servers.sessionless();
  const mux = createMultiplexTransport();
  mux.onerror = (error) => onError?.(error);
  const connected = shared.connect(mux);

  async function post(request: Request, parsedBody: unknown, authInfo: AuthInfo) {
    const leg = legOf(request, parsedBody);
    if (leg === "handler") return await handler.fetch(request, { authInfo, parsedBody });
    if (!isJsonContentType(request.headers.get("content-type"))) {
      const message = "Unsupported Media Type: Content-Type must be application/json";
      onError?.(new Error(message));
      return jsonRpcError(415, -32000, message);
    }
    await connected;
    const extra = { request, authInfo, stream: asksForProgress(parsedBody) };
    // A sessionless request that asked for no progress gets one JSON body: without a
    // session there is no channel for log messages or server requests anyway.
    return leg === "request"
      ? await mux.request(parsedBody as JSONRPCRequest, extra)
      : mux.notify(parsedBody as JSONRPCNotification, extra);
  }

  return {
    post,
    other: (request, authInfo) => handler.fetch(request, { authInfo }),
    notify: handler.notify,
    async close() {
      await handler.close();
      await connected.catch(() => {});
      await shared.close();
    },
  };
}
