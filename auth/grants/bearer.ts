/**
 * The gate in front of /mcp: a bearer token (RFC 6750 2.1, header only) bound to this
 * resource (RFC 8707), or a 401 with the challenge MCP clients need to start OAuth.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6750#section-2.1 | RFC 6750 2.1}
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/server";
import type { ResolvedOptions } from "../../core/config.ts";
import { hashSecret, hashSecretSync, loadSyncHash } from "../../core/crypto.ts";
import type { IndexedStore } from "./token_index.ts";
import { PATHS } from "../../core/paths.ts";

/**
 * The 401 of RFC 6750 3 / RFC 9728 5.1, with no body worth parsing.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6750#section-3 | RFC 6750 3}
 * @see {@link https://www.rfc-editor.org/rfc/rfc9728#section-5.1 | RFC 9728 5.1}
 */
function challenge(
  opts: ResolvedOptions,
  error?: { code: "invalid_token" | "invalid_request" | "insufficient_scope"; description: string },
): Response {
  const parts = [
    `resource_metadata="${opts.baseUrl}${PATHS.resourceMetadata}"`,
    `scope="${opts.scopes.join(" ")}"`,
  ];
  if (error) parts.push(`error="${error.code}"`, `error_description="${error.description}"`);
  const status = error?.code === "invalid_request"
    ? 400
    : error?.code === "insufficient_scope"
    ? 403
    : 401;
  // RFC 6750 3.1: no error code when the request carried no credentials. The body is
  // ours to choose: clients that read words rather than the status (MCP Inspector 0.15
  // starts OAuth only when the message says "Unauthorized") find them there.
  const description = error?.description ?? "this server needs an OAuth access token";
  return new Response(
    JSON.stringify({
      error: error?.code ?? "unauthorized",
      error_description: status === 401 ? `Unauthorized: ${description}` : description,
    }),
    {
      status,
      headers: {
        "www-authenticate": `Bearer ${parts.join(", ")}`,
        "content-type": "application/json",
        "cache-control": "no-store",
      },
    },
  );
}

/**
 * Checks a request's bearer token: what the MCP handlers may know, or the 401.
 * `address` is the caller's (or how to find it), for the activity log and the grant's
 * last use; it is worked out only when one of them needs it.
 */
export type BearerGate = (
  request: Request,
  address?: string | (() => string),
) => Promise<AuthInfo | Response>;

/** What the gate reports, off the hot path's critical work. */
export interface BearerHooks {
  /** A request that presented a token was refused, and why. */
  refused?(reason: string, address: string, clientId?: string): void;
  /** A token was accepted (must return at once: it is called on every request). */
  used?(grantId: string, address: string | (() => string)): void;
}

/** Builds the gate in front of `/mcp` on the access-indexed store. */
export function createBearerGate(
  opts: ResolvedOptions,
  tokens: IndexedStore,
  hooks: BearerHooks = {},
): BearerGate {
  let loading = false;
  return async (request, addressOf = "unknown") => {
    const address = typeof addressOf === "function" ? addressOf : () => addressOf;
    const header = request.headers.get("authorization");
    // RFC 6750 3.1: a request without Bearer credentials gets the plain challenge.
    if (!header || !/^bearer\b/i.test(header)) return challenge(opts);
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (!match) {
      hooks.refused?.("malformed bearer token", address());
      return challenge(opts, { code: "invalid_token", description: "malformed bearer token" });
    }
    // Only the hash is kept in memory (the index is keyed by it), never the token.
    let hash = hashSecretSync(match[1]!);
    if (hash === undefined) {
      // Off the first request's path: the synchronous digest loads once it has been answered.
      if (!loading) {
        loading = true;
        setTimeout(() => void loadSyncHash().catch(() => {}), 0);
      }
      hash = await hashSecret(match[1]!);
    }
    const record = await tokens.findAccess(hash);
    // RFC 8707: a token for another audience is no token here.
    if (!record || record.resource !== opts.resource) {
      hooks.refused?.("token is invalid, expired or revoked", address(), record?.clientId);
      return challenge(opts, {
        code: "invalid_token",
        description: "token is invalid, expired or revoked",
      });
    }
    // RFC 6750 3.1: a token without the scope that opens /mcp is not enough.
    if (!record.scope.split(" ").includes(opts.scopes[0]!)) {
      hooks.refused?.("the token lacks the required scope", address(), record.clientId);
      return challenge(opts, {
        code: "insufficient_scope",
        description: "the token lacks the required scope",
      });
    }
    hooks.used?.(record.grantId, address);
    return {
      // Tools never see the bearer token: they must not pass it on (MCP security best practices).
      token: "",
      clientId: record.clientId,
      scopes: record.scope.split(" "),
      expiresAt: Math.floor(record.expiresAt / 1000),
      resource: new URL(record.resource),
      // Who calls, for tools (see transport/caller.ts): the grant and the name the client gave.
      extra: { grantId: record.grantId, clientName: record.clientName },
    };
  };
}
