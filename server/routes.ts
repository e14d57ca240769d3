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
import { type FormPageEndpoint, refusalPage } from "../auth/pages/page.ts";
import {
  jsonResponse,
  jsonRpcError,
  jsonRpcRefusal,
  oauthErrorResponse,
  type Refusal,
  refusalOf,
} from "../core/errors.ts";
import { originAllowed } from "../auth/clients/redirects.ts";
import type { McpEndpoint } from "../transport/mcp/endpoint.ts";
import {
  clientAddress,
  type ConnectionInfo,
  remoteAddressOf,
  setConnectionIdle,
  withBodyDeadline,
} from "../core/http.ts";
import { withKeepalive } from "../core/sse.ts";
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
  /** The page of a call held for the owner's confirmation. */
  confirm: FormPageEndpoint;
  gate: BearerGate;
  mcp: McpEndpoint;
  /** Whether the store answers a read (for `/healthz`). */
  healthy(): Promise<boolean>;
}

const CORS_ALLOW_HEADERS =
  "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id";
const CORS_EXPOSE_HEADERS = "www-authenticate, mcp-session-id, mcp-protocol-version";

/** Who reads a path's answers, and so how its refusals are written. */
type Surface = "oauth" | "page" | "mcp";

/** One renderer per surface: RFC 6749 5.2 JSON, a readable page, a JSON-RPC error. */
const RENDER: Record<Surface, (refusal: Refusal) => Response> = {
  oauth: oauthErrorResponse,
  // RFC 6749 4.1.2.1: /authorize answers its errors as pages, never as a redirect.
  page: refusalPage,
  mcp: jsonRpcRefusal,
};

type Handler = (request: Request, info: ConnectionInfo | undefined) => Promise<Response>;

/** One path of the table: who reads it, who may call it from a page, its methods. */
interface Route {
  surface: Surface;
  /** Cross-origin callers: any origin (no cookies are used there), or the allowed ones. */
  cors?: "any" | "allowed";
  /** GET, and HEAD (the runtime drops the body). */
  get?: Handler;
  post?: Handler;
  /** Every method: the handler tells them apart itself. */
  any?: Handler;
}

function withHeaders(response: Response, cors: Record<string, string> | undefined): Response {
  // Responses from fetch() or the SDK may have immutable headers.
  let out = response;
  try {
    setHeaders(out.headers, cors);
  } catch {
    out = new Response(response.body, response);
    setHeaders(out.headers, cors);
  }
  return out;
}

/** nosniff on every answer, and the CORS headers when there are any. */
function setHeaders(headers: Headers, cors: Record<string, string> | undefined): void {
  headers.set("x-content-type-options", "nosniff");
  if (cors) { for (const key in cors) headers.set(key, cors[key]!); }
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

function plainText(text: string, status = 200, cache?: string): Response {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
  if (cache) headers["cache-control"] = cache;
  return new Response(text, { status, headers });
}

/** Calls the route's handler for the request's method, or answers 405. */
function dispatch(route: Route, request: Request, info: ConnectionInfo | undefined) {
  if (route.any) return route.any(request, info);
  const method = request.method;
  if ((method === "GET" || method === "HEAD") && route.get) return route.get(request, info);
  if (method === "POST" && route.post) return route.post(request, info);
  const allow = [route.get && "GET", route.post && "POST"].filter(Boolean).join(", ");
  return Promise.resolve(methodNotAllowed(allow));
}

/** The answer to a CORS preflight (OPTIONS) for `path`, with the headers `cors` allows. */
function preflight(path: string, cors: Record<string, string> | undefined): Response {
  const mcp = path === PATHS.mcp;
  // A page whose origin /mcp does not know gets no permission (DNS rebinding).
  if (!cors) return new Response(null, { status: mcp ? 403 : 204 });
  return new Response(null, {
    status: 204,
    headers: {
      ...cors,
      "access-control-allow-methods": mcp ? "GET, POST, DELETE, OPTIONS" : "GET, POST, OPTIONS",
      "access-control-allow-headers": CORS_ALLOW_HEADERS,
      "access-control-max-age": "86400",
    },
  });
}

/** The CORS headers of an answer to a cross-origin call, by the route's rule. */
function corsHeaders(
  request: Request,
  route: Route | undefined,
  opts: ResolvedOptions,
): Record<string, string> | undefined {
  const origin = request.headers.get("origin");
  if (!origin || !route?.cors) return undefined;
  if (route.cors === "any") {
    return {
      "access-control-allow-origin": "*",
      "access-control-expose-headers": CORS_EXPOSE_HEADERS,
    };
  }
  if (!originAllowed(origin, opts.allowedOrigins, opts.origin)) return undefined;
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": CORS_EXPOSE_HEADERS,
    vary: "Origin",
  };
}

type AddressOf = (request: Request, info: ConnectionInfo | undefined) => string;

/**
 * The caller's address as the throttles key it; without one (fetch() called with no
 * connection info), "unknown", and a warning the first time.
 */
function createAddressOf(opts: ResolvedOptions, emit: (event: PersonalMcpEvent) => void) {
  let toldUnknown = false;
  return (request: Request, info: ConnectionInfo | undefined): string => {
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
}

/** The path table, built once. */
function routeTable(
  opts: ResolvedOptions,
  endpoints: Endpoints,
  addressOf: AddressOf,
  emit: (event: PersonalMcpEvent) => void,
): Map<string, Route> {
  /** A body that must arrive within the OAuth deadline; Bun's idle timer waits longer. */
  const bounded = (request: Request, info: ConnectionInfo | undefined) => {
    setConnectionIdle(request, info, opts.bodyTimeoutSeconds + 5);
    return withBodyDeadline(request, opts.bodyTimeoutSeconds);
  };
  const document = (json: string): Route => ({
    surface: "oauth",
    cors: "any",
    get: () => Promise.resolve(discovery(json)),
  });
  const oauthPost = (handle: (request: Request, address: string) => Promise<Response>): Route => ({
    surface: "oauth",
    cors: "any",
    post: (request, info) => {
      const from = addressOf(request, info);
      return handle(bounded(request, info), from);
    },
  });
  const formPage = (page: FormPageEndpoint): Route => ({
    surface: "page",
    get: (request, info) => page.get(request, addressOf(request, info)),
    post: (request, info) => page.post(bounded(request, info), addressOf(request, info)),
  });
  const home = `${opts.name}: a personal MCP server.\nMCP endpoint: ${opts.resource}\n`;
  return new Map<string, Route>([
    [PATHS.resourceMetadataRoot, document(endpoints.rootResourceJson)],
    [PATHS.resourceMetadata, document(endpoints.protectedResourceJson)],
    [PATHS.authorizationServerMetadata, document(endpoints.authorizationServerJson)],
    [PATHS.register, oauthPost(endpoints.register)],
    [PATHS.token, oauthPost(endpoints.token)],
    [PATHS.revoke, oauthPost(endpoints.revoke)],
    [PATHS.authorize, formPage(endpoints.authorize)],
    [PATHS.owner, formPage(endpoints.owner)],
    [PATHS.passkey, formPage(endpoints.passkey)],
    [PATHS.confirm, formPage(endpoints.confirm)],
    [PATHS.mcp, {
      surface: "mcp",
      cors: "allowed",
      any: mcpHandler(opts, endpoints, addressOf, emit),
    }],
    [PATHS.healthz, { surface: "oauth", get: () => health(endpoints) }],
    ["/", { surface: "oauth", any: () => Promise.resolve(plainText(home)) }],
  ]);
}

/** For load balancers and Deno Deploy: up or not, and nothing else. */
async function health(endpoints: Endpoints): Promise<Response> {
  const ok = await endpoints.healthy().catch(() => false);
  return plainText(ok ? "ok\n" : "unavailable\n", ok ? 200 : 503, "no-store");
}

/** /mcp: the origin check, the bearer gate, then the MCP endpoint; streams kept alive. */
function mcpHandler(
  opts: ResolvedOptions,
  endpoints: Endpoints,
  addressOf: AddressOf,
  emit: (event: PersonalMcpEvent) => void,
): Handler {
  return async (request, info) => {
    // Asked for only when needed: most calls never need the client's address now.
    const from = () => addressOf(request, info);
    const origin = request.headers.get("origin");
    // DNS rebinding / hostile pages: a browser origin we do not know gets nothing.
    if (origin !== null && !originAllowed(origin, opts.allowedOrigins, opts.origin)) {
      emit({
        type: "request_refused",
        path: PATHS.mcp,
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
  };
}

/** Builds the fetch handler over the endpoints. */
export function createRoutes(
  opts: ResolvedOptions,
  endpoints: Endpoints,
  emit: (event: PersonalMcpEvent) => void,
): (request: Request, info?: ConnectionInfo) => Promise<Response> {
  const addressOf = createAddressOf(opts, emit);
  const table = routeTable(opts, endpoints, addressOf, emit);

  /**
   * The one place where a thrown error becomes an answer, in the words of the path's
   * surface. A refusal on an OAuth endpoint tells the activity log why; an outage or a
   * bug goes to the log, and nothing of its cause onto the wire.
   */
  function refuse(
    error: unknown,
    path: string,
    route: Route,
    request: Request,
    info?: ConnectionInfo,
  ) {
    const refusal = refusalOf(error);
    if (refusal.kind === "internal" || refusal.kind === "unavailable") {
      emit({ type: "error", where: path, error });
    } else if (route.surface !== "page") {
      const reason = refusal.kind === "refused"
        ? `${refusal.code}: ${refusal.description}`
        : refusal.description;
      emit({ type: "request_refused", path, reason, clientAddress: addressOf(request, info) });
    }
    return RENDER[route.surface](refusal);
  }

  return async (request, info) => {
    const pathname = pathnameOf(request.url);
    if (pathname === undefined) return new Response("Bad request\n", { status: 400 });
    const route = table.get(pathname);
    const cors = corsHeaders(request, route, opts);
    if (request.method === "OPTIONS") return preflight(pathname, cors);
    let response: Response;
    if (!route) {
      // Includes /.well-known/openid-configuration: a plain 404, so OIDC discovery stops.
      response = plainText("Not found\n", 404);
    } else {
      try {
        response = await dispatch(route, request, info);
      } catch (error) {
        response = refuse(error, pathname, route, request, info);
      }
    }
    return withHeaders(response, cors);
  };
}
