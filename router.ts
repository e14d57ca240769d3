/**
 * `createPersonalMcp()`: the whole server as one `(Request) => Promise<Response>`.
 * Routing, CORS, security headers and error rendering live here; it never touches a
 * socket, so tests and Deno Deploy call `fetch` directly.
 *
 * @module
 */
import { handleAuthorizeGet, handleAuthorizePost } from "./auth/authorize.ts";
import { authenticateBearer } from "./auth/bearer.ts";
import { type AuthContext, createAuthContext } from "./auth/context.ts";
import { jsonResponse, OAuthError, oauthErrorResponse } from "./auth/errors.ts";
import { BodyTooLargeError, clientAddress } from "./auth/http.ts";
import { authorizationServerMetadata, protectedResourceMetadata } from "./auth/metadata.ts";
import { createPasswordOwner } from "./auth/owner.ts";
import { originAllowed } from "./auth/redirects.ts";
import { handleRegister } from "./auth/register.ts";
import { handleRevoke } from "./auth/revoke.ts";
import { handleToken } from "./auth/token.ts";
import { type PersonalMcpOptions, resolveOptions } from "./options.ts";
import { createMemoryStore } from "./store/memory.ts";
import type { Store } from "./store/store.ts";
import { createMcpEndpoint, jsonRpcError } from "./transport/mcp.ts";
import { type Tools, validateTools } from "./transport/tools.ts";

/** What the serve adapter knows about a connection. */
export interface ConnectionInfo {
  /** The peer's IP address, for throttling. */
  remoteAddress?: string;
}

/** A personal MCP server as a fetch handler. */
export interface PersonalMcp {
  /** Answers one HTTP request. */
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>;
  /** The validated base URL (issuer). */
  readonly baseUrl: string;
  /** The store in use. */
  readonly store: Store;
  /** Ends in-flight MCP exchanges and closes the store. */
  close(): Promise<void>;
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

/**
 * Creates the server: authorization server, consent page and MCP endpoint behind one
 * fetch handler. Options are validated here, once.
 *
 * @example Calling the server without a socket
 * ```ts
 * import { createPersonalMcp, tool } from "./mod.ts";
 * import { z } from "zod";
 *
 * const app = createPersonalMcp({
 *   hello: tool({ description: "Say hello", input: { name: z.string() }, run: ({ name }) => `Hello, ${name}!` }),
 * }, { baseUrl: "http://127.0.0.1:8787", password: "correct horse battery" });
 * const res = await app.fetch(new Request("http://127.0.0.1:8787/.well-known/oauth-authorization-server"));
 * const meta = await res.json();
 * if (meta.issuer !== "http://127.0.0.1:8787") throw new Error("wrong issuer");
 * await app.close();
 * ```
 */
export function createPersonalMcp(tools: Tools, options: PersonalMcpOptions): PersonalMcp {
  const opts = resolveOptions(options);
  const checkedTools = validateTools(tools);
  const store = options.store === undefined || options.store === "memory"
    ? createMemoryStore()
    : options.store;
  const ctx: AuthContext = createAuthContext(
    opts,
    store,
    createPasswordOwner(store, options.password),
    options.onEvent,
  );
  const mcp = createMcpEndpoint(checkedTools, {
    name: opts.name,
    version: opts.version,
    instructions: opts.instructions,
    configureServer: options.configureServer,
    onError: (error) => ctx.emit({ type: "mcp_rejected", error }),
  });
  const prmJson = JSON.stringify(protectedResourceMetadata(opts));
  const asmJson = JSON.stringify(authorizationServerMetadata(opts));
  const discovery = (body: string) =>
    new Response(body, {
      headers: { "content-type": "application/json", "cache-control": "public, max-age=3600" },
    });

  const address = (request: Request, info: ConnectionInfo) =>
    clientAddress(request, info.remoteAddress ?? "unknown", opts.trustProxy);

  async function oauth(handler: () => Promise<Response>): Promise<Response> {
    try {
      return await handler();
    } catch (error) {
      if (error instanceof OAuthError) return oauthErrorResponse(error);
      if (error instanceof BodyTooLargeError) {
        return jsonResponse({ error: "invalid_request", error_description: error.message }, 413);
      }
      throw error;
    }
  }

  async function serveMcp(request: Request): Promise<Response> {
    const origin = request.headers.get("origin");
    // DNS rebinding / hostile pages: a browser origin we do not know gets nothing.
    if (origin !== null && !originAllowed(origin, opts.allowedOrigins, opts.origin)) {
      return jsonRpcError(403, -32600, "Forbidden: origin not allowed");
    }
    const auth = await authenticateBearer(ctx, request);
    if (auth instanceof Response) return auth;
    return await mcp.fetch(request, auth);
  }

  async function route(request: Request, url: URL, info: ConnectionInfo): Promise<Response> {
    const path = url.pathname;
    const method = request.method;
    switch (path) {
      case "/.well-known/oauth-protected-resource":
      case "/.well-known/oauth-protected-resource/mcp":
        return method === "GET" || method === "HEAD" ? discovery(prmJson) : methodNotAllowed("GET");
      case "/.well-known/oauth-authorization-server":
        return method === "GET" || method === "HEAD" ? discovery(asmJson) : methodNotAllowed("GET");
      case "/register":
        return method === "POST"
          ? await oauth(() => handleRegister(ctx, request, address(request, info)))
          : methodNotAllowed("POST");
      case "/token":
        return method === "POST"
          ? await oauth(() => handleToken(ctx, request))
          : methodNotAllowed("POST");
      case "/revoke":
        return method === "POST"
          ? await oauth(() => handleRevoke(ctx, request))
          : methodNotAllowed("POST");
      case "/authorize":
        if (method === "GET" || method === "HEAD") return await handleAuthorizeGet(ctx, request);
        if (method === "POST") {
          return await handleAuthorizePost(ctx, request, address(request, info));
        }
        return methodNotAllowed("GET, POST");
      case "/mcp":
        return await serveMcp(request);
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

  return {
    baseUrl: opts.baseUrl,
    store,
    async fetch(request, info = {}) {
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
        ctx.emit({ type: "error", where: url.pathname, error });
        response = url.pathname === "/mcp"
          ? jsonRpcError(500, -32603, "Internal error")
          : jsonResponse({ error: "server_error", error_description: "internal error" }, 500);
      }
      return withHeaders(response, { "x-content-type-options": "nosniff", ...cors });
    },
    async close() {
      await mcp.close();
      await store.close();
    },
  };
}
