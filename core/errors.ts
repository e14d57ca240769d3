/**
 * The one OAuth error type and the one function that turns it into a response.
 *
 * @module
 */

/**
 * Error codes of RFC 6749 5.2 / 4.1.2.1, RFC 7591 3.2.2, RFC 8707 and RFC 6750 3.1.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-5.2 | RFC 6749 5.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc7591#section-3.2.2 | RFC 7591 3.2.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc6750#section-3.1 | RFC 6750 3.1}
 */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "unsupported_token_type"
  | "invalid_scope"
  | "access_denied"
  | "server_error"
  | "temporarily_unavailable"
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "invalid_target"
  | "invalid_token"
  | "slow_down";

const DEFAULT_STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  invalid_token: 401,
  server_error: 500,
  temporarily_unavailable: 503,
  slow_down: 429,
};

/** An error that is safe to show on the wire: an RFC code and a short description. */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    code: OAuthErrorCode,
    description: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(description);
    this.name = "OAuthError";
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code] ?? 400;
    this.headers = options.headers ?? {};
  }
}

/**
 * Headers every OAuth response carries: RFC 6749 5.1 forbids caching token responses.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-5.1 | RFC 6749 5.1}
 */
export const NO_STORE = { "cache-control": "no-store", "pragma": "no-cache" } as const;

/** A JSON response that must never be cached. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...NO_STORE, ...headers },
  });
}

/**
 * Renders an OAuthError as RFC 6749 5.2 error JSON.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-5.2 | RFC 6749 5.2}
 */
export function oauthErrorResponse(error: OAuthError): Response {
  return jsonResponse(
    { error: error.code, error_description: error.message },
    error.status,
    error.headers,
  );
}
