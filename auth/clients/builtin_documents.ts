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

/**
 * Claude Code; its loopback redirects match any port.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8252#section-7.3 | RFC 8252 7.3}
 */
export const CLAUDE_CODE_DOCUMENT = Object.freeze({
  client_id: "https://claude.ai/oauth/claude-code-client-metadata",
  client_name: "Claude Code",
  redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
});

/**
 * ChatGPT's stable document, as `https://chatgpt.com/oauth/client.json` served it in
 * autumn 2026 (quoted in django-oauth/django-oauth-toolkit#1845 and #1857). It prefers
 * `private_key_jwt` (RS256, keys at `jwks_uri`) and also offers `none`, so it validates
 * as a public client that may also sign. ChatGPT's per-connector documents
 * (`https://chatgpt.com/oauth/<id>/client.json`) offer only `private_key_jwt` and have
 * no built-in copy.
 */
export const CHATGPT_DOCUMENT = Object.freeze({
  client_id: "https://chatgpt.com/oauth/client.json",
  client_uri: "https://chatgpt.com/",
  redirect_uris: ["https://chatgpt.com/connector_platform_oauth_redirect"],
  token_endpoint_auth_method: "private_key_jwt",
  token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  client_name: "ChatGPT",
  logo_uri: "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
  token_endpoint_auth_signing_alg: "RS256",
  jwks_uri: "https://chatgpt.com/oauth/jwks.json",
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
  [CLAUDE_CONNECTOR_DOCUMENT, CLAUDE_CODE_DOCUMENT, CHATGPT_DOCUMENT].map((
    doc,
  ) => [doc.client_id, doc]),
);
