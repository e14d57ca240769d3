/**
 * What a request can be refused for, and how a refusal reads: {@linkcode refusalOf} maps
 * anything thrown to one shape, and each surface has one renderer (OAuth JSON and
 * JSON-RPC here, the HTML page in auth/pages/page.ts, which needs the page layout).
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

/** Raised when a body does not arrive in time; answered with 408 and a closed connection. */
export class BodyTimeoutError extends Error {
  constructor(readonly seconds: number) {
    super(`the request body did not arrive within ${seconds} s`);
    this.name = "BodyTimeoutError";
  }
}

/** Raised when a body exceeds the limit; answered with 413. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * A write that could not be stored (a full or failing disk, a database that refused the
 * commit). Nothing of it was kept; the caller may try again later (HTTP 503). A store
 * of your own throws it so that clients get a 503 and a retry, not a 500.
 *
 * @example Telling an outage from a bug
 * ```ts
 * import { StoreUnavailableError } from "../mod.ts";
 *
 * const error = new StoreUnavailableError("disk full", { cause: new Error("ENOSPC") });
 * if (!(error instanceof StoreUnavailableError) || error.name !== "StoreUnavailableError") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export class StoreUnavailableError extends Error {
  /** Builds the error; `cause` is the adapter's own error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/**
 * The headers of a 408 answer: the connection is not reused, since the body never ended
 * (RFC 9110 15.5.9: a 408 SHOULD carry the "close" connection option).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9 | RFC 9110 15.5.9}
 */
export const CLOSE_CONNECTION: Readonly<Record<string, string>> = { connection: "close" };

/**
 * Why a request was refused, in words each surface (OAuth JSON, JSON-RPC, an HTML page)
 * chooses for its reader: `refused` is an {@linkcode OAuthError} whose description is
 * meant for the wire; the other kinds carry no detail of their cause.
 */
export type RefusalKind = "refused" | "too_large" | "too_slow" | "unavailable" | "internal";

/** Anything thrown, as one shape every renderer reads. */
export interface Refusal {
  kind: RefusalKind;
  /** The HTTP status. */
  status: number;
  /** The RFC 6749 5.2 error code. */
  code: OAuthErrorCode;
  /** Safe to show on the wire: never a stack, a path or an internal reason. */
  description: string;
  /** Headers the answer must carry (`www-authenticate`, `retry-after`). */
  headers: Record<string, string>;
  /** The body never ended, so the connection may not be reused (RFC 9110 15.5.9). */
  closeConnection: boolean;
}

/** How long a client waits before retrying a change the store could not keep. */
const RETRY_AFTER_SECONDS = "5";

/**
 * Maps anything thrown to the one refusal shape. An {@linkcode OAuthError} keeps its
 * code, words and headers; a body too large is 413, one too slow 408 with the connection
 * closed; a store that could not keep a change 503 with a retry (RFC 7009 2.2.1 names
 * 503 for a revocation that cannot be made now; the other endpoints follow); anything
 * else is a bug: 500, and its reason goes to the log, never to the wire.
 *
 * @example A bug tells the client nothing
 * ```ts
 * import { refusalOf } from "./errors.ts";
 * const refusal = refusalOf(new Error("/var/state: EACCES"));
 * if (refusal.status !== 500 || refusal.description.includes("EACCES")) throw new Error("leaked");
 * ```
 */
export function refusalOf(error: unknown): Refusal {
  const refusal = (
    kind: RefusalKind,
    status: number,
    code: OAuthErrorCode,
    description: string,
    headers: Record<string, string> = {},
  ): Refusal => ({
    kind,
    status,
    code,
    description,
    headers,
    closeConnection: kind === "too_slow",
  });
  if (error instanceof OAuthError) {
    return refusal("refused", error.status, error.code, error.message, error.headers);
  }
  if (error instanceof BodyTooLargeError) {
    return refusal("too_large", 413, "invalid_request", error.message);
  }
  if (error instanceof BodyTimeoutError) {
    return refusal("too_slow", 408, "invalid_request", error.message);
  }
  if (error instanceof StoreUnavailableError) {
    return refusal(
      "unavailable",
      503,
      "temporarily_unavailable",
      "the change could not be stored; try again",
      { "retry-after": RETRY_AFTER_SECONDS },
    );
  }
  return refusal("internal", 500, "server_error", "internal error");
}

/** The headers a refusal's answer carries: its own, and `connection: close` when asked. */
export function refusalHeaders(refusal: Refusal): Record<string, string> {
  return refusal.closeConnection ? { ...refusal.headers, ...CLOSE_CONNECTION } : refusal.headers;
}

/**
 * A refusal as RFC 6749 5.2 error JSON, never cached.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-5.2 | RFC 6749 5.2}
 */
export function oauthErrorResponse(refusal: Refusal): Response {
  return jsonResponse(
    { error: refusal.code, error_description: refusal.description },
    refusal.status,
    refusalHeaders(refusal),
  );
}

/** A JSON-RPC error answer that belongs to no request (`id: null`). */
export function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** JSON-RPC 2.0 5.1: the request is not a valid one, and an internal error. */
const INVALID_REQUEST = -32600;
const INTERNAL_ERROR = -32603;

/**
 * A refusal as a JSON-RPC error (`id: null`), in the words an MCP client shows.
 *
 * @see {@link https://www.jsonrpc.org/specification#error_object | JSON-RPC 2.0 5.1}
 */
export function jsonRpcRefusal(refusal: Refusal): Response {
  const headers = refusalHeaders(refusal);
  switch (refusal.kind) {
    case "too_large":
      return jsonRpcError(413, INVALID_REQUEST, "Request body too large", headers);
    case "too_slow":
      return jsonRpcError(408, INVALID_REQUEST, "Request body did not arrive in time", headers);
    case "unavailable":
      return jsonRpcError(503, INTERNAL_ERROR, "Temporarily unavailable: try again", headers);
    case "internal":
      return jsonRpcError(500, INTERNAL_ERROR, "Internal error", headers);
    case "refused":
      return jsonRpcError(refusal.status, INVALID_REQUEST, refusal.description, headers);
  }
}
