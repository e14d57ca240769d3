/**
 * Metadata documents of well-known clients whose published content is known, kept
 * here so that the server can fall back on them when the live document cannot be
 * fetched.
 *
 * @module
 */

/** The `client_id` (and URL) of ChatGPT's stable metadata document. */
export const CHATGPT_CLIENT_ID = "https://chatgpt.com/oauth/client.json";

/**
 * ChatGPT's stable Client ID Metadata Document, as `https://chatgpt.com/oauth/client.json`
 * served it in autumn 2026 (quoted in django-oauth/django-oauth-toolkit#1845 and #1857).
 * It prefers `private_key_jwt` (RS256, keys at `jwks_uri`) and also offers `none`.
 * ChatGPT's per-connector documents (`https://chatgpt.com/oauth/<id>/client.json`,
 * redirect `https://chatgpt.com/connector/oauth/<id>`) offer only `private_key_jwt`.
 *
 * Not wired in yet: it is meant for the built-in copies of known documents (issue 14),
 * which are used only when the live fetch fails and go through the same validation as
 * a fetched document (`validateDocument`, which accepts it as a public client that may
 * also sign).
 *
 * @example It passes the validation a fetched document gets
 * ```ts
 * import { CHATGPT_CLIENT_DOCUMENT, CHATGPT_CLIENT_ID } from "./known_clients.ts";
 * import { validateDocument } from "./client_metadata.ts";
 * import { DEFAULT_REDIRECT_ALLOWLIST } from "../server/options.ts";
 * const client = validateDocument(CHATGPT_CLIENT_ID, CHATGPT_CLIENT_DOCUMENT, DEFAULT_REDIRECT_ALLOWLIST);
 * if (client.authMethod !== "none" || !client.jwksUri) throw new Error("not as expected");
 * ```
 */
export const CHATGPT_CLIENT_DOCUMENT = {
  client_id: CHATGPT_CLIENT_ID,
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
} as const;
