/**
 * Discovery documents: RFC 9728 protected-resource metadata and RFC 8414
 * authorization-server metadata. Built once per server; they never depend on the request.
 *
 * @module
 */
import type { ResolvedOptions } from "../../core/config.ts";

/**
 * RFC 9728 2: what a resource is and who issues tokens for it. RFC 9728 3.3: the
 * `resource` must equal the identifier the document's well-known URL was derived
 * from, so the path-suffixed document names `/mcp` and the root document names the
 * server's origin (the base URL, which /authorize and /token take to mean `/mcp`).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc9728#section-2 | RFC 9728 2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc9728#section-3.3 | RFC 9728 3.3}
 */
export function protectedResourceMetadata(opts: ResolvedOptions, resource = opts.resource) {
  return {
    resource,
    authorization_servers: [opts.issuer],
    scopes_supported: opts.scopes,
    bearer_methods_supported: ["header"],
    resource_name: opts.name,
  };
}

const AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"];
const ASSERTION_ALGS = ["RS256", "ES256"];

/**
 * RFC 8414 2: the authorization server's endpoints and capabilities.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8414#section-2 | RFC 8414 2}
 */
export function authorizationServerMetadata(opts: ResolvedOptions) {
  const base = opts.baseUrl;
  return {
    issuer: opts.issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    scopes_supported: opts.scopes,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    // private_key_jwt (RFC 7523 2.2) only for metadata-document clients, whose
    // documents name their keys; ChatGPT prefers it when it is offered.
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    // RFC 7636 4.6 / OAuth 2.1: S256 only.
    code_challenge_methods_supported: ["S256"],
    // RFC 9207 3: `iss` is returned on every authorization response.
    authorization_response_iss_parameter_supported: true,
    // draft-ietf-oauth-client-id-metadata-document 5: absent when turned off, so clients register.
    ...(opts.clientMetadataDocuments ? { client_id_metadata_document_supported: true } : {}),
  };
}
