/**
 * The path and method table of the server, CORS, the headers every answer carries,
 * and the one place where a thrown error becomes a response.
 *
 * @module
 */
import type { AuthorizeEndpoint } from "../auth/endpoints/authorize.ts";
import type { BearerGate } from "../auth/bearer.ts";
import { jsonResponse, OAuthError, oauthErrorResponse } from "../auth/errors.ts";
import { originAllowed } from "../auth/redirects.ts";
import { jsonRpcError, type McpEndpoint } from "../transport/mcp.ts";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  clientAddress,
  CLOSE_CONNECTION,
  type ConnectionInfo,
  remoteAddressOf,
  setConnectionIdle,
  withBodyDeadline,
} from "./http.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "./options.ts";

export type { ConnectionInfo };

/** The endpoints the table routes to. */
export interface Endpoints {
  protectedResourceJson: string;
  authorizationServerJson: string;
  register(request: Request, address: string): Promise<Response>;
  token(request: Request): Promise<Response>;
  revoke(request: Request): Promise<Response>;
  authorize: AuthorizeEndpoint;
  gate: BearerGate;
  mcp: McpEndpoint;
}

const CORS_ALLOW_HEADERS =
  "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id";
const CORS_EXPOSE_HEADERS = "www-authenticate, mcp-session-id, mcp-protocol-version";
const OAUTH_PATHS = new Set([
  "/.well-known/oauth-protected-resource",
  "/.well-known/oauth-protected-resource/mcp",
  "/.well-known/oauth-authorization-server",
  "/register",
  "/token",
  "/revoke",
]);

function withHeaders(response: Response, headers: Record<string, string>): Response {
  // Responses from fetch() or the SDK may have immutable headers.
  let out = response;
  try {
    for (const [k, v] of Object.entries(headers)) out.headers.set(k, v);
  } catch {
    out = new Response(response.body, response);
    for (const [k, v] of Object.entries(headers)) out.headers.set(k, v);
  }
  return out;
}

function methodNotAllowed(allow: string): Response {
  return jsonResponse({ error: "invalid_request", error_description: "method not allowed" }, 405, {
    allow,
  });
}

function discovery(body: string): Response {
  return new Response(body, {
    headers: { "content-type": "application/json", "cache-control": "public, max-age=3600" },
  });
}

/** OAuth endpoints answer their errors as RFC 6749 5.2 JSON; anything else is a bug (500). */
async function oauth(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    if (error instanceof OAuthError) return oauthErrorResponse(error);
    if (error instanceof BodyTooLargeError) {
      return jsonResponse({ error: "invalid_request", error_description: error.message }, 413);
    }
    if (error instanceof BodyTimeoutError) {
      return jsonResponse(
        { error: "invalid_request", error_description: error.message },
        408,
        CLOSE_CONNECTION,
      );
    }
    throw error;
  }
}

const encoder = new TextEncoder();
const KEEPALIVE = encoder.encode(": keepalive\n\n");

/** Whether a chunk of an event stream ends an event (a blank line). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  return n >= 2 && chunk[n - 1] === 10 && (chunk[n - 2] === 10 || chunk[n - 3] === 10);
}

/**
 * An SSE answer that sends a comment line between events whenever it has been quiet
 * for `seconds`: tunnels and proxies keep a busy stream open, and a client that has
 * gone is found out (the write fails and the stream is cancelled).
 */
function withKeepalive(response: Response, seconds: number): Response {
  const body = response.body;
  if (!body) return response;
  const reader = body.getReader();
  let timer: ReturnType<typeof setInterval> | undefined;
  let between = true;
  let quiet = true;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        if (between && quiet) {
          try {
            controller.enqueue(KEEPALIVE);
          } catch { /* closed */ }
        }
        quiet = true;
      }, seconds * 1000);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          clearInterval(timer);
          controller.close();
          return;
        }
        between = endsEvent(value);
        quiet = false;
        controller.enqueue(value);
      } catch (error) {
        clearInterval(timer);
        controller.error(error);
      }
    },
    cancel(reason) {
      clearInterval(timer);
      return reader.cancel(reason);
    },
  });
  return new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Builds the fetch handler over the endpoints. */
export function createRoutes(
  opts: ResolvedOptions,
  endpoints: Endpoints,
  emit: (event: PersonalMcpEvent) => void,
): (request: Request, info?: ConnectionInfo) => Promise<Response> {
  const { authorize } = endpoints;
  let toldUnknown = false;
  const address = (request: Request, info: ConnectionInfo | undefined) => {
    const found = clientAddress(request, remoteAddressOf(request, info), opts.trustProxy);
    if (found !== undefined) return found;
    if (!toldUnknown) {
      toldUnknown = true;
      emit({
        type: "warning",
        message: "fetch() was called without the connection's address, so every caller " +
          "shares one password throttle: pass the runtime's second argument " +
          "(Deno.serve(app.fetch), Bun.serve({ fetch: app.fetch })) or { remoteAddress }",
      });
    }
    return "unknown";
  };
  /** A body that must arrive within the OAuth deadline; Bun's idle timer waits longer. */
  const bounded = (request: Request, info: ConnectionInfo | undefined) => {
    setConnectionIdle(request, info, opts.bodyTimeoutSeconds + 5);
    return withBodyDeadline(request, opts.bodyTimeoutSeconds);
  };

  async function serveMcp(request: Request, info: ConnectionInfo | undefined): Promise<Response> {
    const origin = request.headers.get("origin");
    // DNS rebinding / hostile pages: a browser origin we do not know gets nothing.
    if (origin !== null && !originAllowed(origin, opts.allowedOrigins, opts.origin)) {
      return jsonRpcError(403, -32600, "Forbidden: origin not allowed");
    }
    const auth = await endpoints.gate(request);
    if (auth instanceof Response) return auth;
    // A token holder's tool call or stream may be quiet for long: no idle cut (Bun);
    // its body still has a deadline and its stream sends keepalives.
    setConnectionIdle(request, info, 0);
    const response = await endpoints.mcp.fetch(request, auth);
    return response.headers.get("content-type")?.startsWith("text/event-stream")
      ? withKeepalive(response, opts.sseKeepaliveSeconds)
      : response;
  }

  async function route(
    request: Request,
    url: URL,
    info: ConnectionInfo | undefined,
  ): Promise<Response> {
    const method = request.method;
    switch (url.pathname) {
      case "/.well-known/oauth-protected-resource":
      case "/.well-known/oauth-protected-resource/mcp":
        return method === "GET" || method === "HEAD"
          ? discovery(endpoints.protectedResourceJson)
          : methodNotAllowed("GET");
      case "/.well-known/oauth-authorization-server":
        return method === "GET" || method === "HEAD"
          ? discovery(endpoints.authorizationServerJson)
          : methodNotAllowed("GET");
      case "/register":
        return method === "POST"
          ? await oauth(() => endpoints.register(bounded(request, info), address(request, info)))
          : methodNotAllowed("POST");
      case "/token":
        return method === "POST"
          ? await oauth(() => endpoints.token(bounded(request, info)))
          : methodNotAllowed("POST");
      case "/revoke":
        return method === "POST"
          ? await oauth(() => endpoints.revoke(bounded(request, info)))
          : methodNotAllowed("POST");
      case "/authorize":
        if (method === "GET" || method === "HEAD") return await authorize.get(request);
        if (method === "POST") {
          return await authorize.post(bounded(request, info), address(request, info));
        }
        return methodNotAllowed("GET, POST");
      case "/mcp":
        return await serveMcp(request, info);
      case "/":
        return new Response(
          `${opts.name}: a personal MCP server.\nMCP endpoint: ${opts.resource}\n`,
          { headers: { "content-type": "text/plain; charset=utf-8" } },
        );
      default:
        // Includes /.well-known/openid-configuration: a plain 404, so OIDC discovery stops.
        return new Response("Not found\n", {
          status: 404,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
    }
  }

  function corsHeaders(request: Request, path: string): Record<string, string> | undefined {
    const origin = request.headers.get("origin");
    if (!origin) return undefined;
    if (OAUTH_PATHS.has(path)) {
      // No cookies are used on these endpoints, so any origin may call them.
      return {
        "access-control-allow-origin": "*",
        "access-control-expose-headers": CORS_EXPOSE_HEADERS,
      };
    }
    if (path === "/mcp" && originAllowed(origin, opts.allowedOrigins, opts.origin)) {
      return {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": CORS_EXPOSE_HEADERS,
        vary: "Origin",
      };
    }
    return undefined;
  }

  return async (request, info) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return new Response("Bad request\n", { status: 400 });
    }
    const cors = corsHeaders(request, url.pathname);
    if (request.method === "OPTIONS") {
      if (!cors) return new Response(null, { status: url.pathname === "/mcp" ? 403 : 204 });
      return new Response(null, {
        status: 204,
        headers: {
          ...cors,
          "access-control-allow-methods": url.pathname === "/mcp"
            ? "GET, POST, DELETE, OPTIONS"
            : "GET, POST, OPTIONS",
          "access-control-allow-headers": CORS_ALLOW_HEADERS,
          "access-control-max-age": "86400",
        },
      });
    }
    let response: Response;
    try {
      response = await route(request, url, info);
    } catch (error) {
      emit({ type: "error", where: url.pathname, error });
      response = url.pathname === "/mcp"
        ? jsonRpcError(500, -32603, "Internal error")
        : jsonResponse({ error: "server_error", error_description: "internal error" }, 500);
    }
    return withHeaders(response, { "x-content-type-options": "nosniff", ...cors });
  };
}
