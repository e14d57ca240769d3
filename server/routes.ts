/**
 * The path and method table of the server, CORS, the headers every answer carries,
 * and the one place where a thrown error becomes a response.
 *
 * @module
 */
import type { AuthorizeEndpoint } from "../auth/endpoints/authorize.ts";
import type { BearerGate } from "../auth/grants/bearer.ts";
import type { OwnerEndpoint } from "../auth/endpoints/owner.ts";
import type { PasskeyEndpoint } from "../auth/endpoints/passkey.ts";
import { errorPage } from "../auth/pages/consent.ts";
import { jsonResponse, OAuthError, oauthErrorResponse } from "../core/errors.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { originAllowed } from "../auth/clients/redirects.ts";
import { jsonRpcError, type McpEndpoint } from "../transport/mcp/endpoint.ts";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  clientAddress,
  CLOSE_CONNECTION,
  type ConnectionInfo,
  remoteAddressOf,
  setConnectionIdle,
  withBodyDeadline,
} from "../core/http.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "../core/config.ts";
import { PATHS } from "../core/paths.ts";

export type { ConnectionInfo };

/** The endpoints the table routes to. */
export interface Endpoints {
  /** RFC 9728 document of `/mcp`, at the path-suffixed well-known URL. */
  protectedResourceJson: string;
  /** RFC 9728 document of the origin, at the root well-known URL (3.3: names the origin). */
  rootResourceJson: string;
  authorizationServerJson: string;
  register(request: Request, address: string): Promise<Response>;
  token(request: Request, address: string): Promise<Response>;
  revoke(request: Request, address: string): Promise<Response>;
  authorize: AuthorizeEndpoint;
  owner: OwnerEndpoint;
  /** The passkey enrolment page (a one-time link opens it). */
  passkey: PasskeyEndpoint;
  gate: BearerGate;
  mcp: McpEndpoint;
  /** Whether the store answers a read (for `/healthz`). */
  healthy(): Promise<boolean>;
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

/**
 * The path of a request URL. A plain path (letters, digits and the few marks the URL
 * parser leaves alone: no dot, percent sign, backslash, space or non-ASCII) is cut out
 * of the string as it is; anything else goes through the URL parser, which resolves
 * `.`/`..` segments and encodes as it does. Undefined when the URL is not one.
 */
export function pathnameOf(url: string): string | undefined {
  const scheme = url.indexOf("://");
  if (scheme <= 0 || !PLAIN_SCHEME.test(url.slice(0, scheme))) return parsedPath(url);
  const slash = url.indexOf("/", scheme + 3);
  const head = slash < 0 ? url : url.slice(0, slash);
  if (!PLAIN_HOST.test(head.slice(scheme + 3))) return parsedPath(url);
  if (slash < 0) return "/";
  let end = url.indexOf("?", slash);
  const hash = url.indexOf("#", slash);
  if (end < 0 || (hash >= 0 && hash < end)) end = hash < 0 ? url.length : hash;
  const path = url.slice(slash, end);
  return PLAIN_PATH.test(path) ? path : parsedPath(url);
}

const PLAIN_SCHEME = /^https?$/;
const PLAIN_HOST = /^[a-z0-9.\-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/;
const PLAIN_PATH = /^\/[A-Za-z0-9\-_~!$&'()*+,;=:@/]*$/;

function parsedPath(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
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

/**
 * A change that could not be stored changed nothing: the caller may try again. RFC 7009
 * 2.2.1 names 503 for a revocation that cannot be made now; the other endpoints follow.
 */
function storeUnavailable(path: string): Response {
  const retry = { "retry-after": "5" };
  if (path === "/mcp") {
    const res = jsonRpcError(503, -32603, "Temporarily unavailable: try again");
    res.headers.set("retry-after", "5");
    return res;
  }
  if (path === "/authorize" || path.startsWith(PATHS.owner)) {
    return errorPage(
      503,
      "Try again in a moment",
      "This server could not save the change, so nothing changed. Try again.",
      retry,
    );
  }
  return oauthErrorResponse(
    new OAuthError("temporarily_unavailable", "the change could not be stored; try again", {
      status: 503,
      headers: retry,
    }),
  );
}

/** /authorize answers its errors as readable pages (RFC 6749 4.1.2.1: never a redirect here). */
async function page(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    if (error instanceof BodyTimeoutError) {
      return errorPage(
        408,
        "Too slow",
        "The form did not arrive in time. Go back and try again.",
        CLOSE_CONNECTION,
      );
    }
    if (!(error instanceof OAuthError)) throw error;
    const title = error.status === 503 ? "Try again in a few minutes" : "Invalid request";
    return errorPage(error.status, title, `${error.message}.`, error.headers);
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
        // Only into a stream someone reads: an unread one must not fill with keepalives.
        if (between && quiet && (controller.desiredSize ?? 0) > 0) {
          try {
            controller.enqueue(KEEPALIVE);
          } catch {
            clearInterval(timer); // closed
          }
        }
        quiet = true;
      }, seconds * 1000);
      // The stream below may end (a revoked grant, a closed session) with nobody reading.
      reader.closed.then(() => clearInterval(timer), () => clearInterval(timer));
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

  /**
   * OAuth endpoints answer their errors as RFC 6749 5.2 JSON, and the activity log
   * learns why; anything else is a bug (500).
   */
  async function oauth(
    path: string,
    from: string,
    handler: () => Promise<Response>,
  ): Promise<Response> {
    try {
      return await handler();
    } catch (error) {
      if (error instanceof OAuthError) {
        emit({
          type: "request_refused",
          path,
          reason: `${error.code}: ${error.message}`,
          clientAddress: from,
        });
        return oauthErrorResponse(error);
      }
      if (error instanceof BodyTooLargeError) {
        emit({ type: "request_refused", path, reason: error.message, clientAddress: from });
        return jsonResponse({ error: "invalid_request", error_description: error.message }, 413);
      }
      if (error instanceof BodyTimeoutError) {
        emit({ type: "request_refused", path, reason: error.message, clientAddress: from });
        return jsonResponse(
          { error: "invalid_request", error_description: error.message },
          408,
          CLOSE_CONNECTION,
        );
      }
      throw error;
    }
  }

  async function serveMcp(request: Request, info: ConnectionInfo | undefined): Promise<Response> {
    // Asked for only when needed: most calls never need the client's address now.
    const from = () => address(request, info);
    const origin = request.headers.get("origin");
    // DNS rebinding / hostile pages: a browser origin we do not know gets nothing.
    if (origin !== null && !originAllowed(origin, opts.allowedOrigins, opts.origin)) {
      emit({
        type: "request_refused",
        path: "/mcp",
        reason: "origin not allowed",
        clientAddress: from(),
      });
      return jsonRpcError(403, -32600, "Forbidden: origin not allowed");
    }
    const auth = await endpoints.gate(request, from);
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
    url: { pathname: string },
    info: ConnectionInfo | undefined,
  ): Promise<Response> {
    const method = request.method;
    switch (url.pathname) {
      case "/.well-known/oauth-protected-resource":
        return method === "GET" || method === "HEAD"
          ? discovery(endpoints.rootResourceJson)
          : methodNotAllowed("GET");
      case "/.well-known/oauth-protected-resource/mcp":
        return method === "GET" || method === "HEAD"
          ? discovery(endpoints.protectedResourceJson)
          : methodNotAllowed("GET");
      case "/.well-known/oauth-authorization-server":
        return method === "GET" || method === "HEAD"
          ? discovery(endpoints.authorizationServerJson)
          : methodNotAllowed("GET");
      case "/register":
      case "/token":
      case "/revoke": {
        if (method !== "POST") return methodNotAllowed("POST");
        const from = address(request, info);
        const path = url.pathname;
        const body = bounded(request, info);
        return await oauth(
          path,
          from,
          () =>
            path === "/register"
              ? endpoints.register(body, from)
              : path === "/token"
              ? endpoints.token(body, from)
              : endpoints.revoke(body, from),
        );
      }
      case "/authorize":
        if (method === "GET" || method === "HEAD") {
          return await page(() => authorize.get(request, address(request, info)));
        }
        if (method === "POST") {
          return await page(() => authorize.post(bounded(request, info), address(request, info)));
        }
        return methodNotAllowed("GET, POST");
      case PATHS.owner:
        if (method === "GET" || method === "HEAD") {
          return await endpoints.owner.get(request, address(request, info));
        }
        if (method === "POST") {
          return await page(() =>
            endpoints.owner.post(bounded(request, info), address(request, info))
          );
        }
        return methodNotAllowed("GET, POST");
      case PATHS.passkey:
        if (method === "GET" || method === "HEAD") {
          return await endpoints.passkey.get(request, address(request, info));
        }
        if (method === "POST") {
          return await page(() =>
            endpoints.passkey.post(bounded(request, info), address(request, info))
          );
        }
        return methodNotAllowed("GET, POST");
      case "/mcp":
        return await serveMcp(request, info);
      case "/healthz": {
        if (method !== "GET" && method !== "HEAD") return methodNotAllowed("GET");
        // For load balancers and Deno Deploy: up or not, and nothing else.
        const ok = await endpoints.healthy().catch(() => false);
        return new Response(ok ? "ok\n" : "unavailable\n", {
          status: ok ? 200 : 503,
          headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
        });
      }
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
    const pathname = pathnameOf(request.url);
    if (pathname === undefined) return new Response("Bad request\n", { status: 400 });
    const url = { pathname };
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
      response = error instanceof StoreUnavailableError
        ? storeUnavailable(url.pathname)
        : url.pathname === "/mcp"
        ? jsonRpcError(500, -32603, "Internal error")
        : jsonResponse({ error: "server_error", error_description: "internal error" }, 500);
    }
    return withHeaders(response, { "x-content-type-options": "nosniff", ...cors });
  };
}
