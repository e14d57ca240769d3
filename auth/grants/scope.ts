/**
 * Scope and resource (RFC 8707) decisions shared by /authorize and /token.
 *
 * @module
 */
import type { ResolvedOptions } from "../../core/config.ts";
import { OAuthError } from "../../core/errors.ts";

/**
 * What to grant for a requested scope string: the offered scopes it names, always
 * with the first (the one that opens `/mcp`). A missing scope, or one naming nothing
 * offered, gets every offered scope (clients differ: ChatGPT omits scope on
 * reconnect, Claude Code asks `offline_access`); asking beyond the offer is not an
 * error, the intersection is granted.
 */
export function grantScope(requested: string | undefined, offered: readonly string[]): string {
  const asked = (requested ?? "").split(" ").filter(Boolean);
  const granted = offered.filter((s, i) => i === 0 || asked.includes(s));
  return (asked.some((s) => offered.includes(s)) ? granted : offered).join(" ");
}

/**
 * On refresh, a scope may narrow the grant's but never widen it; the scope that
 * opens `/mcp` (`base`) is never narrowed away.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-6 | RFC 6749 6}
 */
export function narrowScope(
  requested: string | undefined,
  grantScopeValue: string,
  base: string,
): string {
  if (requested === undefined || requested.trim() === "") return grantScopeValue;
  const held = grantScopeValue.split(" ");
  const asked = requested.split(" ");
  const kept = held.filter((s) => s === base || asked.includes(s));
  return (kept.length ? kept : held).join(" ");
}

/**
 * RFC 8707 2: the resource a token is for. Only this server's MCP endpoint is served;
 * its origin (what a user may have typed) is taken to mean the same resource.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8707#section-2 | RFC 8707 2}
 */
export function checkResource(
  requested: string | undefined,
  opts: Pick<ResolvedOptions, "resource" | "baseUrl">,
): string {
  if (requested === undefined) return opts.resource;
  const accepted = [opts.resource, `${opts.resource}/`, opts.baseUrl, `${opts.baseUrl}/`];
  if (accepted.includes(requested)) return opts.resource;
  throw new OAuthError("invalid_target", "this server only issues tokens for its own MCP endpoint");
}
