/**
 * What a Client ID Metadata Document is (draft-ietf-oauth-client-id-metadata-document):
 * the rules a fetched or kept document must pass, and why one could not be used. Pure
 * functions, tested by tables.
 *
 * @module
 */
import { isLoopbackHost } from "../../core/config.ts";
import type { AssertionAlg, ClientAuthMethod, ClientRecord } from "../records.ts";
import { type OutboundError, printable } from "./fetch.ts";
import { redirectAllowed } from "./redirects.ts";

/**
 * Why a metadata document could not be used as fetched.
 *
 * `unreachable` is transport-shaped: DNS, connection, TLS, timeout, a 5xx, a redirect,
 * a bot challenge or any other answer that is not a JSON document. The publisher has
 * not spoken, so a kept or built-in copy may stand in. `refused` is the publisher's
 * word (404 or 410) or a document that fails validation: final.
 */
export interface DocumentFailure {
  kind: "unreachable" | "refused";
  /** What happened, in words safe to log and to show (values from the wire escaped). */
  reason: string;
  /** The HTTP status, when the host answered. */
  status?: number;
  /** The answer's `cf-mitigated` header (Cloudflare's bot challenge says `challenge`), escaped. */
  cfMitigated?: string;
  /** The answer's `cf-ray` header (the request's id at Cloudflare), escaped. */
  cfRay?: string;
}

/** A metadata document that could not be used, and nothing stood in for it. */
export class DocumentError extends Error {
  /** Builds the error; its message is the failure's reason. */
  constructor(readonly failure: DocumentFailure) {
    super(failure.reason);
    this.name = "DocumentError";
  }
}

/** Where the document describing a client came from. */
export type DocumentSource =
  /** Fetched from its publisher (now, or within its cache lifetime). */
  | { kind: "publisher" }
  /** The last good copy kept in the store, fetched at `fetchedAt`. */
  | { kind: "stored"; fetchedAt: number; failure: DocumentFailure }
  /** The copy built into this server. */
  | { kind: "builtin"; failure: DocumentFailure };

/** A client described by a metadata document, and where the document came from. */
export interface ResolvedDocument {
  client: ClientRecord;
  source: DocumentSource;
}

/**
 * One log line for a document that could not be used as fetched: which kind of
 * failure, why (with `cf-mitigated` and `cf-ray` when present), and what stood in.
 *
 * @example A challenge answered, the built-in copy used
 * ```ts
 * import { failureLine } from "./document.ts";
 * const line = failureLine(
 *   "https://claude.ai/oauth/mcp-oauth-client-metadata",
 *   { kind: "unreachable", reason: "answered 403 with a challenge page", status: 403, cfMitigated: "challenge" },
 *   { kind: "builtin" },
 * );
 * if (!line.includes('cf-mitigated="challenge"') || !line.endsWith("using the built-in copy")) throw new Error(line);
 * ```
 */
export function failureLine(
  clientId: string,
  failure: DocumentFailure,
  fallback: { kind: "stored"; fetchedAt: number } | { kind: "builtin" } | undefined,
): string {
  const wire = [
    failure.cfMitigated === undefined ? "" : ` cf-mitigated="${failure.cfMitigated}"`,
    failure.cfRay === undefined ? "" : ` cf-ray="${failure.cfRay}"`,
  ].join("");
  const outcome = failure.kind === "refused"
    ? "client refused"
    : fallback?.kind === "stored"
    ? `using the stored copy fetched ${new Date(fallback.fetchedAt).toISOString()}`
    : fallback?.kind === "builtin"
    ? "using the built-in copy"
    : "no copy, client refused";
  const kind = failure.kind === "refused" ? "final" : "transport";
  return `client metadata document ${printable(clientId)}: ${kind} failure: ${failure.reason}${
    wire ? `;${wire}` : ""
  }; ${outcome}`;
}

/** A transport-shaped failure: the publisher has not spoken. */
export function unreachable(
  reason: string,
  extra: Partial<DocumentFailure> = {},
): DocumentError {
  return new DocumentError({ kind: "unreachable", reason, ...extra });
}

/** The publisher's word, or a document that fails validation: final. */
export function refused(reason: string, extra: Partial<DocumentFailure> = {}): DocumentError {
  return new DocumentError({ kind: "refused", reason, ...extra });
}

// draft-ietf-oauth-client-id-metadata-document 4.1: no method based on a shared secret.
const SHARED_SECRET_METHODS = new Set([
  "client_secret_post",
  "client_secret_basic",
  "client_secret_jwt",
]);
const ASSERTION_ALGS: readonly AssertionAlg[] = ["RS256", "ES256"];

/** A `jwks_uri` as a document may name it: https, or http on a loopback host (development). */
function jwksUriOf(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > 2000) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const loopback = url.protocol === "http:" && isLoopbackHost(url.hostname);
  if ((url.protocol !== "https:" && !loopback) || url.username || url.password || url.hash) {
    return undefined;
  }
  return url.href;
}

/**
 * How a document's client authenticates: `none` where the document offers it (its
 * method, or one of `token_endpoint_auth_methods_supported`, as ChatGPT's stable
 * document lists), else `private_key_jwt` with the document's keys.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-2.2 | RFC 7523 2.2}
 */
function authOf(d: Record<string, unknown>): {
  authMethod: ClientAuthMethod;
  jwksUri?: string;
  assertionAlgs?: AssertionAlg[];
} {
  const declared = d.token_endpoint_auth_method ?? "none";
  if (typeof declared !== "string" || SHARED_SECRET_METHODS.has(declared)) {
    throw new Error("token_endpoint_auth_method must not use a shared secret");
  }
  if (declared !== "none" && declared !== "private_key_jwt") {
    throw new Error("token_endpoint_auth_method must be none or private_key_jwt");
  }
  const offered = Array.isArray(d.token_endpoint_auth_methods_supported)
    ? d.token_endpoint_auth_methods_supported.filter((m) => typeof m === "string")
    : [];
  const offersNone = declared === "none" || offered.includes("none");
  const offersJwt = declared === "private_key_jwt" || offered.includes("private_key_jwt");
  const alg = d.token_endpoint_auth_signing_alg;
  const algs = alg === undefined ? [...ASSERTION_ALGS] : ASSERTION_ALGS.filter((a) => a === alg);
  const jwksUri = jwksUriOf(d.jwks_uri);
  if (offersJwt && jwksUri && algs.length > 0) {
    return { authMethod: offersNone ? "none" : "private_key_jwt", jwksUri, assertionAlgs: algs };
  }
  if (offersNone) return { authMethod: "none" };
  // RFC 7523 2.2 needs the client's public keys, and a signature we can check.
  throw new Error(
    jwksUri
      ? "token_endpoint_auth_signing_alg must be RS256 or ES256"
      : "private_key_jwt needs an https jwks_uri",
  );
}

/** Checks a fetched document against its URL and the redirect allowlist. */
export function validateDocument(
  url: string,
  doc: unknown,
  allowlist: readonly string[],
): ClientRecord {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error("document is not a JSON object");
  }
  const d = doc as Record<string, unknown>;
  if (d.client_id !== url) throw new Error("document client_id does not equal its URL");
  const redirects = d.redirect_uris;
  if (
    !Array.isArray(redirects) || redirects.length === 0 || redirects.length > 10 ||
    !redirects.every((r) => typeof r === "string")
  ) {
    throw new Error("redirect_uris must be a non-empty array of strings");
  }
  for (const r of redirects as string[]) {
    if (!redirectAllowed(r, allowlist)) {
      throw new Error(`redirect URI not allowed: ${r.slice(0, 200)}`);
    }
  }
  const auth = authOf(d);
  if (d.client_secret !== undefined) {
    throw new Error("a metadata document must not contain a client_secret");
  }
  const name = typeof d.client_name === "string" && d.client_name.length <= 200
    ? d.client_name
    : undefined;
  const grantTypes = Array.isArray(d.grant_types)
    ? d.grant_types.filter((g) => g === "authorization_code" || g === "refresh_token")
    : [];
  return {
    clientId: url,
    ...auth,
    redirectUris: redirects as string[],
    grantTypes: [...new Set(["authorization_code", "refresh_token", ...grantTypes])],
    clientName: name,
    metadata: {},
    createdAt: 0,
  };
}

/** What a host's answer says about itself, escaped: its status and Cloudflare's headers. */
export function wireOf(answer: { status: number; headers: Headers }): Partial<DocumentFailure> {
  const wire: Partial<DocumentFailure> = { status: answer.status };
  const cfMitigated = answer.headers.get("cf-mitigated");
  const cfRay = answer.headers.get("cf-ray");
  if (cfMitigated !== null) wire.cfMitigated = printable(cfMitigated, 100);
  if (cfRay !== null) wire.cfRay = printable(cfRay, 100);
  return wire;
}

/**
 * What a failed guarded fetch of a document means: `refused` when the publisher has
 * spoken (404 or 410, a JSON document past the size bound), `unreachable` for
 * everything transport-shaped (no name, no connection, a 5xx, a redirect, a bot
 * challenge, a body that is not JSON).
 *
 * @example A bot challenge is transport-shaped
 * ```ts
 * import { documentErrorOf } from "./document.ts";
 * import { OutboundError } from "./fetch.ts";
 * const headers = new Headers({ "cf-mitigated": "challenge", "content-type": "text/html" });
 * const { failure } = documentErrorOf(new OutboundError("status", "answered 403", { status: 403, headers }));
 * if (failure.kind !== "unreachable" || failure.reason !== "answered 403 with a challenge page (text/html)") {
 *   throw new Error(failure.reason);
 * }
 * ```
 */
export function documentErrorOf(error: OutboundError): DocumentError {
  if (!error.answer) {
    return error.step === "scheme" ? refused(error.message) : unreachable(error.message);
  }
  const { status, headers } = error.answer;
  const wire = wireOf(error.answer);
  const { cfMitigated } = wire;
  const type = printable(headers.get("content-type") ?? "", 100).split(";")[0]?.trim() ||
    "no content type";
  switch (error.step) {
    case "status":
      // The publisher's word: the document is not there (RFC 9110 15.5.5, 15.5.11).
      if (status === 404 || status === 410) return refused(`answered ${status}`, wire);
      return unreachable(
        cfMitigated !== undefined
          ? `answered ${status} with a ${cfMitigated} page (${type})`
          : status >= 300 && status < 400
          ? `answered ${status}, a redirect (not followed)`
          : `answered ${status} (${type})`,
        wire,
      );
    case "size":
      if (/json/i.test(type)) return refused("document too large", wire);
      return unreachable(`answered ${status} with a large body that is not JSON (${type})`, wire);
    case "json":
      return unreachable(`answered ${status} with a document that is not JSON (${type})`, wire);
    default:
      return unreachable(error.message, wire);
  }
}
