/**
 * The rules of an authorization request, apart from the endpoint that reads and writes:
 * which parameters make a request (pure, table-tested), where a redirect URI leads as a
 * person reads it, and how the answer carries the result back to the client.
 *
 * @module
 */
import { isLoopbackHost, type ResolvedOptions } from "../../core/config.ts";
import type { OAuthError } from "../../core/errors.ts";
import type { DocumentSource } from "../clients/metadata.ts";
import { checkResource, grantScope } from "../grants/scope.ts";
import { continuePage } from "../pages/consent.ts";

// RFC 7636 4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** Longest `state` carried, in characters. */
export const MAX_STATE_LENGTH = 2000;

/** The authorization request, as carried (signed) through the consent page. */
export interface PendingRequest {
  clientId: string;
  redirectUri: string;
  redirectUriSent: boolean;
  state?: string;
  codeChallenge: string;
  scope: string;
  resource: string;
  /**
   * The browser's consent cookie (SameSite=Strict: a cross-site form post lacks it).
   * One value per browser, so that two consent pages open at once both work.
   */
  nonce: string;
  expiresAt: number;
  /** The WebAuthn challenge this page's passkey button signs, when one is enrolled. */
  passkeyChallenge?: string;
}

/** What a well-formed request asks for, or the error the client's redirect URI gets. */
export type RequestCheck =
  | { ok: true; codeChallenge: string; scope: string; resource: string }
  | { ok: false; error: string; description: string };

/**
 * Checks the parameters of an authorization request once its client and redirect URI
 * are known (errors before that are pages, not redirects).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 | RFC 6749 4.1.2.1}
 * @see {@link https://www.rfc-editor.org/rfc/rfc7636#section-4.4.1 | RFC 7636 4.4.1}
 * @see {@link https://www.rfc-editor.org/rfc/rfc8707#section-2 | RFC 8707 2}
 *
 * @example PKCE plain is refused
 * ```ts
 * import { checkAuthorizeParams } from "./authorize_request.ts";
 * const opts = { resource: "https://me.example/mcp", baseUrl: "https://me.example", scopes: ["mcp"] };
 * const check = checkAuthorizeParams(
 *   { response_type: "code", code_challenge: "x".repeat(43), code_challenge_method: "plain" },
 *   opts,
 * );
 * if (check.ok || check.description !== "code_challenge_method must be S256") throw new Error("accepted");
 * ```
 */
export function checkAuthorizeParams(
  params: Record<string, string>,
  opts: Pick<ResolvedOptions, "resource" | "baseUrl" | "scopes">,
): RequestCheck {
  const fail = (error: string, description: string) => ({ ok: false as const, error, description });
  if (params.state !== undefined && params.state.length > MAX_STATE_LENGTH) {
    return fail("invalid_request", "state is too long");
  }
  // RFC 6749 4.1.2.1: a missing parameter is invalid_request; a wrong one unsupported.
  if (params.response_type === undefined) {
    return fail("invalid_request", "response_type is required");
  }
  if (params.response_type !== "code") {
    return fail("unsupported_response_type", "response_type must be code");
  }
  // OAuth 2.1 4.1.1 / RFC 7636 4.4.1: PKCE with S256 is required; plain is refused.
  if (!params.code_challenge) return fail("invalid_request", "code_challenge is required (PKCE)");
  if (params.code_challenge_method !== "S256") {
    return fail("invalid_request", "code_challenge_method must be S256");
  }
  if (!S256_CHALLENGE.test(params.code_challenge)) {
    return fail("invalid_request", "code_challenge is malformed");
  }
  let resource: string;
  try {
    resource = checkResource(params.resource, opts);
  } catch (error) {
    return fail("invalid_target", (error as OAuthError).message);
  }
  const scope = grantScope(params.scope, opts.scopes);
  return { ok: true, codeChallenge: params.code_challenge, scope, resource };
}

/**
 * Where a redirect URI leads, as a person reads it; `scheme` is set for a custom
 * scheme (an app), which the decision reaches by a 303 rather than a page.
 */
export function redirectDisplay(uri: string): { display: string; scheme?: string } {
  const url = new URL(uri);
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) {
    return { display: `an app on this computer (${url.host})` };
  }
  if (url.protocol === "https:") return { display: url.host };
  return {
    display: `the ${url.protocol.slice(0, -1)} app (${uri.split("?")[0]!.slice(0, 80)})`,
    scheme: url.protocol,
  };
}

/** The sentence on the consent page when a copy stood in for a metadata document. */
export function copyNote(host: string, source: DocumentSource): string | undefined {
  if (source.kind === "publisher") return undefined;
  const copy = source.kind === "stored"
    ? `the copy from ${new Date(source.fetchedAt).toISOString().slice(0, 16).replace("T", " ")} UTC`
    : "the built-in copy";
  return `${host} could not be reached; using ${copy} of this app's document. Reason: ${source.failure.reason}.`;
}

/**
 * The client's redirect URI with the result parameters and this server's `iss`.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 | RFC 6749 4.1.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc9207#section-2 | RFC 9207 2}
 */
export function callbackUrl(
  redirectUri: string,
  params: Record<string, string | undefined>,
  issuer: string,
): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  url.searchParams.set("iss", issuer);
  return url.href;
}

/** A 303 to the client's redirect URI with the parameters. */
export function redirectWith(
  redirectUri: string,
  params: Record<string, string | undefined>,
  issuer: string,
  headers: Record<string, string> = {},
): Response {
  // 303: the browser follows a POST's answer with a GET.
  return new Response(null, {
    status: 303,
    headers: {
      location: callbackUrl(redirectUri, params, issuer),
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      ...headers,
    },
  });
}

/**
 * The answer to the owner's decision. An app's custom scheme leaves the browser, so
 * a 303 (allowed by the consent page's form-action) does; an http(s) callback may
 * redirect again (claude.ai's goes on to claude://), which Chrome's form-action would
 * block on a redirect of the post, so the browser is sent on by a page instead.
 */
export function decisionAnswer(
  redirectUri: string,
  params: Record<string, string | undefined>,
  issuer: string,
  approved: boolean,
  headers: Record<string, string> = {},
): Response {
  const { display, scheme } = redirectDisplay(redirectUri);
  if (scheme) return redirectWith(redirectUri, params, issuer, headers);
  const page = continuePage(
    callbackUrl(redirectUri, params, issuer),
    approved ? "Approved" : "Denied",
    display,
  );
  for (const [k, v] of Object.entries(headers)) page.headers.set(k, v);
  return page;
}
