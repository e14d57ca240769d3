/**
 * The one table of the server's paths. Every layer that names a path (the router, the
 * bearer gate's challenge, links on pages, the owner commands' messages) reads it here.
 *
 * @module
 */

/** Every path the server answers, relative to `baseUrl`'s origin. */
export const PATHS = {
  /** The MCP endpoint (streamable HTTP). */
  mcp: "/mcp",
  /**
   * RFC 9728 3.3: the protected-resource metadata at the root, for clients that look there.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc9728#section-3.3 | RFC 9728 3.3}
   */
  resourceMetadataRoot: "/.well-known/oauth-protected-resource",
  /**
   * RFC 9728 3.1: the protected-resource metadata of `/mcp`.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc9728#section-3.1 | RFC 9728 3.1}
   */
  resourceMetadata: "/.well-known/oauth-protected-resource/mcp",
  /**
   * RFC 8414 3: the authorization server's metadata.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc8414#section-3 | RFC 8414 3}
   */
  authorizationServerMetadata: "/.well-known/oauth-authorization-server",
  /** RFC 7591: Dynamic Client Registration. */
  register: "/register",
  /**
   * RFC 6749 3.2: the token endpoint.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-3.2 | RFC 6749 3.2}
   */
  token: "/token",
  /** RFC 7009: token revocation. */
  revoke: "/revoke",
  /**
   * RFC 6749 3.1: the authorization endpoint (the consent page).
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-3.1 | RFC 6749 3.1}
   */
  authorize: "/authorize",
  /** The owner page. */
  owner: "/owner",
  /** Passkey enrolment, under the owner page. */
  passkey: "/owner/passkey",
  /** A call held for the owner's confirmation: `/owner/confirm/<id>`, under the owner page. */
  confirm: "/owner/confirm",
  /** Liveness. */
  healthz: "/healthz",
} as const;
