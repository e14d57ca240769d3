/**
 * Built-in copies of the Client ID Metadata Documents of the clients this server
 * allows by default and whose published content is known. claude.ai's edge answers
 * some datacenter and cloud addresses (Deno Deploy among them) with a bot challenge
 * instead of the document; these copies stand in only when the live fetch fails in a
 * transport-shaped way, and pass the same `validateDocument` as a fetched document.
 *
 * @module
 */

/** Claude's connectors (web, mobile, Desktop), as served in autumn 2026. */
export const CLAUDE_CONNECTOR_DOCUMENT = Object.freeze({
  client_id: "https://claude.ai/oauth/mcp-oauth-client-metadata",
  client_name: "Claude",
  client_uri: "https://claude.ai",
  redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
  grant_types: [
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
  ],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
});

/** Claude Code; its loopback redirects match any port (RFC 8252 7.3). */
export const CLAUDE_CODE_DOCUMENT = Object.freeze({
  client_id: "https://claude.ai/oauth/claude-code-client-metadata",
  client_name: "Claude Code",
  redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
});

/**
 * The built-in copies by metadata URL.
 *
 * @example Looking up Claude's connector
 * ```ts
 * import { BUILTIN_DOCUMENTS } from "./builtin_documents.ts";
 * const doc = BUILTIN_DOCUMENTS.get("https://claude.ai/oauth/mcp-oauth-client-metadata");
 * if (doc?.client_name !== "Claude") throw new Error("no copy of Claude's document");
 * ```
 */
export const BUILTIN_DOCUMENTS: ReadonlyMap<string, Readonly<Record<string, unknown>>> = new Map(
  [CLAUDE_CONNECTOR_DOCUMENT, CLAUDE_CODE_DOCUMENT].map((doc) => [doc.client_id, doc]),
);
