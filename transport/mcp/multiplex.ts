/**
 * One MCP server for every sessionless 2025-era request: a transport on the SDK's public
 * `Transport` interface that carries many HTTP exchanges at once to one connected
 * `McpServer`. Each request is handed to the server under a fresh internal id (clients
 * reuse ids such as `1`, and the SDK tracks in-flight requests by id), the server's
 * answer is routed back to its exchange by that id and given the client's id again,
 * and `authInfo` travels in the message's extra, as the SDK's own HTTP transports pass
 * it. The SDK still validates and dispatches every message; this file only carries them.
 *
 * What no single exchange may reach is kept away from the shared server: a client's
 * `notifications/cancelled` or `notifications/progress` names an id of this server's
 * (another client's request), so it is dropped, as a fresh per-request server would in
 * effect have ignored it; a posted JSON-RPC response never comes here (sessionless.ts).
 *
 * @module
 */
import {
  type AuthInfo,
  bearerAuthChallengeResponse,
  getOAuthProtectedResourceMetadataUrl,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  OAuthError,
  OAuthErrorCode,
  type ScopeChallengeHandler,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Transport,
  type TransportSendOptions,
} from "@modelcontextprotocol/server";

/** How often an open event stream gets a comment line, in ms (the SDK's default). */
export const SSE_KEEP_ALIVE_MS = 15_000;

/** What one exchange brings besides its message. */
export interface ExchangeExtra {
  /** The HTTP request, for tools (`ctx.http.req`). */
  request: Request;
  /** What the bearer gate established. */
  authInfo?: AuthInfo;
  /**
   * Answer as an event stream that carries the messages the server relates to this
   * request (progress, log messages) before its result; otherwise one JSON body.
   */
  stream: boolean;
}

/** The multiplexing transport: connect one server to it, then hand it exchanges. */
export interface MultiplexTransport extends Transport {
  /** Serves one JSON-RPC request; resolves with its HTTP response. */
  request(message: JSONRPCRequest, extra: ExchangeExtra): Promise<Response>;
  /**
   * What an exchange passes before its request reaches the server (the server is
   * running, the protocol version header, the scope challenge): the refusal, or the id
   * the request is to carry inside the server. For a caller that dispatches the request
   * itself (the direct lane, sessionless.ts): the id is never pending here, so what the
   * server relates to it (progress, log messages) goes nowhere, as for a JSON answer.
   */
  admit(message: JSONRPCRequest, extra: ExchangeExtra): Promise<Response | number>;
  /** Delivers one JSON-RPC notification; resolves with the 202 (or an error answer). */
  notify(message: JSONRPCNotification, extra: ExchangeExtra): Response;
  /** The SDK's scope-challenge hook (an `McpServer` sets it when it connects). */
  setScopeChallengeResolver(resolver: ScopeChallengeHandler): void;
  /** In-flight exchanges (for tests and diagnostics). */
  readonly inFlight: number;
}

interface Exchange {
  /** The id the client gave. */
  clientId: string | number;
  resolve(response: Response): void;
  /** When streaming: the stream's controller, until it is closed. */
  stream?: ReadableStreamDefaultController<Uint8Array>;
  keepAlive?: ReturnType<typeof setInterval>;
}

const encoder = new TextEncoder();
const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

function jsonError(status: number, code: number, message: string, id: unknown = null): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id }, { status });
}

/** Whether an outbound message is an answer (our own server's message: a cheap test will do). */
function isAnswer(message: JSONRPCMessage): message is JSONRPCMessage & { id: number } {
  return !("method" in message) && ("result" in message || "error" in message);
}

/**
 * Creates the transport. Connect exactly one server to it (`server.connect(transport)`),
 * then call {@linkcode MultiplexTransport.request} once per HTTP exchange, concurrently.
 *
 * @example One server answers two requests that carry the same client id
 * ```ts
 * import { McpServer } from "@modelcontextprotocol/server";
 * import { createMultiplexTransport } from "./multiplex.ts";
 *
 * const server = new McpServer({ name: "demo", version: "1.0.0" });
 * server.registerTool("hi", { description: "Says hi" }, () => ({ content: [{ type: "text", text: "hi" }] }));
 * const transport = createMultiplexTransport();
 * await server.connect(transport);
 * const call = () =>
 *   transport.request(
 *     { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "hi", arguments: {} } },
 *     { request: new Request("http://localhost/mcp", { method: "POST" }), stream: false },
 *   ).then((r) => r.json());
 * const [a, b] = await Promise.all([call(), call()]);
 * if (a.id !== 1 || b.id !== 1 || a.result.content[0].text !== "hi") throw new Error("unexpected");
 * await server.close();
 * ```
 */
export function createMultiplexTransport(): MultiplexTransport {
  const pending = new Map<number, Exchange>();
  let nextId = 1;
  let supported: readonly string[] = SUPPORTED_PROTOCOL_VERSIONS;
  let scopeChallenge: ScopeChallengeHandler | undefined;
  let closed = false;

  /** The SDK transport's check: a header naming a version this server does not speak is refused. */
  function versionError(request: Request): Response | undefined {
    const version = request.headers.get("mcp-protocol-version");
    if (version === null || supported.includes(version)) return undefined;
    return jsonError(
      400,
      -32000,
      `Bad Request: Unsupported protocol version: ${version} (supported versions: ${
        supported.join(", ")
      })`,
    );
  }

  function write(exchange: Exchange, message: unknown): void {
    try {
      exchange.stream?.enqueue(
        encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`),
      );
    } catch { /* the client went away; cancel() cleans up */ }
  }

  function finish(id: number, exchange: Exchange): void {
    pending.delete(id);
    if (exchange.keepAlive !== undefined) clearInterval(exchange.keepAlive);
    const stream = exchange.stream;
    exchange.stream = undefined;
    try {
      stream?.close();
    } catch { /* already closed */ }
  }

  /** Ends an exchange the client abandoned: the server's handler is cancelled the SDK's way. */
  function abandon(id: number): void {
    const exchange = pending.get(id);
    if (!exchange) return;
    finish(id, exchange);
    exchange.resolve(new Response(null, { status: 499 }));
    transport.onmessage?.({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason: "The client closed the connection" },
    });
  }

  async function challengeFor(
    message: JSONRPCRequest,
    authInfo: AuthInfo | undefined,
  ): Promise<Response | undefined> {
    const challenge = await scopeChallenge?.({
      request: message,
      ...(authInfo !== undefined ? { authInfo } : {}),
    });
    if (challenge === undefined) return undefined;
    if (!Array.isArray(challenge.scopes) || challenge.scopes.length === 0) {
      throw new TypeError("scope challenge must contain at least one scope");
    }
    // RFC 6750 3.1: insufficient_scope names the scopes the request needs.
    return bearerAuthChallengeResponse(
      new OAuthError(
        OAuthErrorCode.InsufficientScope,
        challenge.errorDescription ?? "Insufficient scope",
      ),
      {
        requiredScopes: [...challenge.scopes],
        resourceMetadataUrl: authInfo?.resource
          ? getOAuthProtectedResourceMetadataUrl(authInfo.resource)
          : undefined,
      },
    );
  }

  const transport: MultiplexTransport = {
    onclose: undefined,
    onerror: undefined,
    onmessage: undefined,
    sessionId: undefined,
    get inFlight() {
      return pending.size;
    },
    start() {
      return Promise.resolve();
    },
    setSupportedProtocolVersions(versions) {
      supported = versions;
    },
    setScopeChallengeResolver(resolver) {
      scopeChallenge = resolver;
    },

    async admit(message, extra) {
      if (closed || !transport.onmessage) {
        return jsonError(503, -32000, "The MCP server is not running", message.id);
      }
      const refused = versionError(extra.request);
      if (refused) return refused;
      if (scopeChallenge) {
        try {
          const challenge = await challengeFor(message, extra.authInfo);
          if (challenge) return challenge;
        } catch (error) {
          transport.onerror?.(error instanceof Error ? error : new Error(String(error)));
          return jsonError(500, -32603, "Internal server error", message.id);
        }
      }
      return nextId++;
    },

    async request(message, extra) {
      const id = await transport.admit(message, extra);
      if (id instanceof Response) return id;
      return await new Promise<Response>((resolve) => {
        const exchange: Exchange = { clientId: message.id, resolve };
        pending.set(id, exchange);
        if (extra.stream) {
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              exchange.stream = controller;
            },
            cancel() {
              abandon(id);
            },
          });
          exchange.keepAlive = setInterval(() => {
            try {
              exchange.stream?.enqueue(encoder.encode(": keepalive\n\n"));
            } catch { /* closed */ }
          }, SSE_KEEP_ALIVE_MS);
          resolve(new Response(body, { status: 200, headers: SSE_HEADERS }));
        }
        transport.onmessage!({ ...message, id }, {
          request: extra.request,
          ...(extra.authInfo !== undefined ? { authInfo: extra.authInfo } : {}),
        });
      });
    },

    notify(message, extra) {
      if (closed || !transport.onmessage) {
        return jsonError(503, -32000, "The MCP server is not running");
      }
      const refused = versionError(extra.request);
      if (refused) return refused;
      // These name request ids of the shared server: another client's, never the sender's.
      if (
        message.method !== "notifications/cancelled" && message.method !== "notifications/progress"
      ) {
        transport.onmessage(message, {
          request: extra.request,
          ...(extra.authInfo !== undefined ? { authInfo: extra.authInfo } : {}),
        });
      }
      return new Response(null, { status: 202 });
    },

    send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
      if (isAnswer(message)) {
        const id = message.id;
        const exchange = pending.get(id);
        if (!exchange) return Promise.resolve(); // abandoned, or never ours
        const answer = { ...message, id: exchange.clientId };
        if (exchange.stream) {
          write(exchange, answer);
          finish(id, exchange);
        } else {
          finish(id, exchange);
          exchange.resolve(Response.json(answer, { status: 200 }));
        }
        return Promise.resolve();
      }
      // Progress, log messages, server requests: only on the stream of the request they
      // belong to; a JSON answer (and a message related to nothing) has nowhere to put them.
      const related = options?.relatedRequestId;
      const exchange = typeof related === "number" ? pending.get(related) : undefined;
      if (exchange?.stream) write(exchange, message);
      return Promise.resolve();
    },

    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const [id, exchange] of [...pending]) {
        finish(id, exchange);
        exchange.resolve(
          jsonError(503, -32000, "The MCP server is shutting down", exchange.clientId),
        );
      }
      transport.onclose?.();
      return Promise.resolve();
    },
  };
  return transport;
}
