/**
 * The path and method table of the server, CORS, the headers every answer carries,
 * and the one place where a thrown error becomes a response.
 *
 * @module
 */
import type { AuthorizeEndpoint } from "../auth/endpoints/authorize.ts";
import type { BearerGate } from "../auth/bearer.ts";
import type { OwnerEndpoint } from "../auth/endpoints/owner.ts";
import { OWNER_PATH } from "../auth/owner_page.ts";
import { errorPage } from "../auth/consent_page.ts";
import { jsonResponse, OAuthError, oauthErrorResponse } from "../auth/errors.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { originAllowed } from "../auth/redirects.ts";
import { jsonRpcError, type McpEndpoint } from "../transport/mcp.ts";
import { BodyTooLargeError, clientAddress } from "./http.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "./options.ts";

/** What the serve adapter knows about a connection. */
export interface ConnectionInfo {
  /** The peer's IP address, for throttling. */
  remoteAddress?: string;
}

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
  if (path === "/authorize" || path.startsWith(OWNER_PATH)) {
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
    if (!(error instanceof OAuthError)) throw error;
    const title = error.status === 503 ? "Try again in a few minutes" : "Invalid request";
    return errorPage(error.status, title, `${error.message}.`, error.headers);
  }
}

/** Builds the fetch handler over the endpoints. */
export function createRoutes(
  opts: ResolvedOptions,
  endpoints: Endpoints,
  emit: (event: PersonalMcpEvent) => void,
): (request: Request, info?: ConnectionInfo) => Promise<Response> {
  const { authorize } = endpoints;
  const address = (request: Request, info: ConnectionInfo) =>
    clientAddress(request, info.remoteAddress ?? "unknown", opts.trustProxy);

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
      throw error;
    }
  }

  /** `from` is asked for only when needed: most calls never need the client's address now. */
  async function serveMcp(request: Request, from: () => string): Promise<Response> {
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
    return await endpoints.mcp.fetch(request, auth);
  }

  async function route(
    request: Request,
    url: { pathname: string },
    info: ConnectionInfo,
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
        return await oauth(
          path,
          from,
          () =>
            path === "/register"
              ? endpoints.register(request, from)
              : path === "/token"
              ? endpoints.token(request, from)
              : endpoints.revoke(request, from),
        );
      }
      case "/authorize":
        if (method === "GET" || method === "HEAD") {
          return await page(() => authorize.get(request, address(request, info)));
        }
        if (method === "POST") {
          return await page(() => authorize.post(request, address(request, info)));
        }
        return methodNotAllowed("GET, POST");
      case OWNER_PATH:
        if (method === "GET" || method === "HEAD") {
          return await endpoints.owner.get(request, address(request, info));
        }
        if (method === "POST") return await endpoints.owner.post(request, address(request, info));
        return methodNotAllowed("GET, POST");
      case "/mcp":
        return await serveMcp(request, () => address(request, info));
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

  return async (request, info = {}) => {
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
