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
  type McpServer,
  type ServerContext,
  type ServerNotifier,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/server";
import {
  createMultiplexTransport,
  type ExchangeExtra,
  type MultiplexTransport,
} from "./multiplex.ts";
import { handlersOf, type ServerInstances } from "./servers.ts";
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

/** The first revision of the per-request envelope (2026-07-28), the SDK's `isModernProtocolVersion`. */
const FIRST_MODERN_VERSION = "2026-07-28";

/**
 * Whether an `MCP-Protocol-Version` header names a 2026-07-28-or-later revision, as the
 * SDK compares them: then the SDK's classifier never routes the message to its 2025-era
 * leg as a plain request or notification (tests/endpoints/mcp_shared_server_test.ts
 * holds it to that).
 */
export function isModernHeader(versionHeader: string | null): boolean {
  return versionHeader !== null && versionHeader >= FIRST_MODERN_VERSION;
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
  // A 2026-07-28 (or later) header is the handler's whatever the body: the classifier
  // answers modern or a refusal for a message, and a batch or a response goes there too.
  // The handler classifies again; once is enough (10 us of zod a request).
  if (isModernHeader(versionHeader)) return "handler";
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

/** What the direct lane serves: the calls an app makes most, each a pure request/answer. */
const DIRECT_METHODS = new Set(["tools/call", "tools/list"]);
/** The SDK's error code that 2025-era answers carry as InvalidParams (its `encodeErrorCode`). */
const RESOURCE_NOT_FOUND = -32002;

/** The parts of the SDK's low-level server the direct lane drives (all public in 2.4). */
interface LowLevelServer {
  buildContext(
    ctx: Record<string, unknown>,
    info: { request: Request; authInfo?: AuthInfo },
  ): object;
  notification(notification: unknown, options?: Record<string, unknown>): Promise<void>;
  request(request: unknown, schemaOrOptions?: unknown, options?: unknown): Promise<unknown>;
}

/** A `tools/list` answer the SDK's 2025-era encoder would change: a tool whose output schema's root is not an object. */
function needsLegacyWrap(result: unknown): boolean {
  const tools = (result as { tools?: unknown })?.tools;
  if (!Array.isArray(tools)) return true;
  return tools.some((t) => {
    const schema = (t as { outputSchema?: unknown })?.outputSchema;
    return !!schema && typeof schema === "object" && !Array.isArray(schema) &&
      (schema as { type?: unknown }).type !== "object";
  });
}

/** The JSON-RPC error the SDK's dispatch answers for a handler that threw `error`. */
function errorAnswer(error: unknown, id: unknown) {
  const thrown = error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
  const code = Number.isSafeInteger(thrown?.code) ? thrown!.code as number : -32603;
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: code === RESOURCE_NOT_FOUND ? -32602 : code,
      message: thrown?.message ?? "Internal error",
      ...(thrown?.data !== undefined ? { data: thrown.data } : {}),
    },
  };
}

/**
 * The direct lane (issue 23): a plain 2025-era `tools/call` or `tools/list` without a
 * session and without progress is handed straight to the shared server's own request
 * handler (the SDK's: its validation of the request, the arguments and the result, the
 * tool gate around it), with the request context the SDK's own `buildContext` makes,
 * and its answer is written as the SDK's dispatch writes it. What it leaves out is the
 * dispatch's bookkeeping around one exchange (the transport's pending table, the
 * message copies, the cancellation table), which such an exchange never uses: the
 * client can neither cancel it (its id is not the server's) nor receive anything but
 * the answer. tests/endpoints/direct_lane_test.ts holds it to the SDK's dispatch, byte
 * for byte. Undefined when the request is not one it serves.
 */
function createDirectLane(server: McpServer, mux: MultiplexTransport) {
  const handlers = handlersOf(server);
  const low = server.server as unknown as LowLevelServer;
  // Aborted when the server closes, as the SDK aborts every handler it runs then.
  const closing = new AbortController();
  const noState = () => undefined;

  async function serve(message: JSONRPCRequest, extra: ExchangeExtra) {
    const handler = handlers.get(message.method);
    const params = message.params as Record<string, unknown> | undefined;
    // Retried multi-round requests carry state the SDK lifts out first: its way.
    if (!handler || (params && ("inputResponses" in params || "requestState" in params))) {
      return undefined;
    }
    const id = await mux.admit(message, extra);
    if (id instanceof Response) return id;
    const related = { relatedRequestId: id };
    const ctx = low.buildContext({
      sessionId: undefined,
      mcpReq: {
        id,
        method: message.method,
        _meta: params?._meta,
        requestState: noState,
        signal: closing.signal,
        send: (r: unknown, schemaOrOptions?: unknown, options?: object) =>
          schemaOrOptions && typeof schemaOrOptions === "object" && "~standard" in schemaOrOptions
            ? low.request(r, schemaOrOptions, { ...options, ...related })
            : low.request(r, { ...(schemaOrOptions as object | undefined), ...related }),
        notify: (n: unknown, options?: object) => low.notification(n, { ...options, ...related }),
      },
      http: extra.authInfo ? { authInfo: extra.authInfo } : undefined,
    }, { request: extra.request, ...(extra.authInfo ? { authInfo: extra.authInfo } : {}) });
    let answer: object;
    try {
      const result = await handler({ ...message, id }, ctx as ServerContext);
      if (message.method === "tools/list" && needsLegacyWrap(result)) return undefined;
      answer = { result, jsonrpc: "2.0", id: message.id };
    } catch (error) {
      answer = errorAnswer(error, message.id);
    }
    return Response.json(answer, { status: 200 });
  }

  return { serve, close: () => closing.abort() };
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
  direct = true,
): Sessionless {
  const handler = createMcpHandler(servers.pool, { legacy: "stateless", onerror: onError });
  // The one server of every sessionless 2025-era request.
  const shared = servers.sessionless();
  const mux = createMultiplexTransport();
  mux.onerror = (error) => onError?.(error);
  const connected = shared.connect(mux);
  const lane = createDirectLane(shared, mux);

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
    if (leg === "notification") return mux.notify(parsedBody as JSONRPCNotification, extra);
    const message = parsedBody as JSONRPCRequest;
    if (direct && !extra.stream && DIRECT_METHODS.has(message.method)) {
      const answer = await lane.serve(message, extra);
      if (answer) return answer;
    }
    // A sessionless request that asked for no progress gets one JSON body: without a
    // session there is no channel for log messages or server requests anyway.
    return await mux.request(message, extra);
  }

  return {
    post,
    other: (request, authInfo) => handler.fetch(request, { authInfo }),
    notify: handler.notify,
    async close() {
      lane.close();
      await handler.close();
      await connected.catch(() => {});
      await shared.close();
    },
  };
}
