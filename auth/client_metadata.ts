/**
 * Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document):
 * a `client_id` that is an https URL names a JSON document describing the client.
 * Fetched with SSRF guards, validated, cached.
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import { BodyTooLargeError, readLimited } from "../server/http.ts";
import { isLoopbackHost } from "../server/options.ts";
import type { AssertionAlg, ClientAuthMethod, ClientRecord } from "./records.ts";
import { redirectAllowed } from "./redirects.ts";
import { addressBlocked } from "./ssrf.ts";

/** Largest metadata document accepted, in bytes. */
export const MAX_DOCUMENT_BYTES = 16 * 1024;
/** How long one fetch may take, in ms. */
export const FETCH_TIMEOUT_MS = 5000;
const MIN_CACHE_MS = 60_000;
const MAX_CACHE_MS = 24 * 3600_000;
const DEFAULT_CACHE_MS = 3600_000;
const CACHE_ENTRIES = 256;

/** How the resolver reaches the network; replaceable in tests. */
export interface MetadataFetchDeps {
  lookup(hostname: string): Promise<string[]>;
  fetch(url: string, init: RequestInit): Promise<Response>;
}

const defaultDeps: MetadataFetchDeps = {
  async lookup(hostname) {
    const found = await lookup(hostname, { all: true, verbatim: true });
    return found.map((a) => a.address);
  },
  fetch: (url, init) => fetch(url, init),
};

function cacheMs(header: string | null): number | undefined {
  if (!header) return DEFAULT_CACHE_MS;
  if (/(^|,)\s*(no-store|no-cache|private)\b/i.test(header)) return undefined;
  const m = /max-age=(\d+)/i.exec(header);
  if (!m) return DEFAULT_CACHE_MS;
  return Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, Number(m[1]) * 1000));
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
 * document lists), else `private_key_jwt` (RFC 7523 2.2) with the document's keys.
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

/** Fetches, validates and caches metadata documents. */
export function createMetadataResolver(
  options: {
    allowInsecureLoopback: boolean;
    allowlist: readonly string[];
    now: () => number;
    deps?: MetadataFetchDeps;
  },
) {
  const deps = options.deps ?? defaultDeps;
  const cache = new Map<string, { client: ClientRecord; until: number }>();
  const inflight = new Map<string, Promise<ClientRecord>>();

  async function guardedFetch(url: URL): Promise<ClientRecord> {
    // Development only: documents served from this machine, over http or https.
    const loopbackDev = options.allowInsecureLoopback && isLoopbackHost(url.hostname) &&
      (url.protocol === "http:" || url.protocol === "https:");
    if (url.protocol !== "https:" && !loopbackDev) throw new Error("client_id URL must use https");
    if (url.username || url.password || url.hash) {
      throw new Error("client_id URL must not carry credentials or a fragment");
    }
    if (url.pathname === "/") throw new Error("client_id URL must have a path");
    if (!loopbackDev) {
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const addresses = await deps.lookup(host);
      // Every address the name resolves to must be public (no DNS tricks to internal hosts).
      if (addresses.length === 0 || addresses.some(addressBlocked)) {
        throw new Error("client_id URL resolves to a forbidden address");
      }
    }
    const response = await deps.fetch(url.href, {
      redirect: "manual", // a redirect could lead anywhere; documents must be served directly
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`fetching the document answered ${response.status}`);
    }
    let text: string;
    try {
      const bytes = await readLimited(
        response.body,
        MAX_DOCUMENT_BYTES,
        response.headers.get("content-length"),
      );
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      throw new Error(
        error instanceof BodyTooLargeError ? "document too large" : "document is not UTF-8",
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error("document is not JSON");
    }
    const client = validateDocument(url.href, doc, options.allowlist);
    const ttl = cacheMs(response.headers.get("cache-control"));
    if (ttl !== undefined) {
      if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
      cache.set(url.href, { client, until: options.now() + ttl });
    }
    return client;
  }

  return {
    /** The client a metadata URL describes; throws with a reason safe to log. */
    async resolve(clientId: string): Promise<ClientRecord> {
      let url: URL;
      try {
        url = new URL(clientId);
      } catch {
        throw new Error("client_id is not a URL");
      }
      if (url.href !== clientId) throw new Error("client_id URL is not in normal form");
      const hit = cache.get(clientId);
      if (hit && hit.until > options.now()) return hit.client;
      let pending = inflight.get(clientId);
      if (!pending) {
        pending = guardedFetch(url).finally(() => inflight.delete(clientId));
        inflight.set(clientId, pending);
      }
      return await pending;
    },
  };
}

/** The resolver's type. */
export type MetadataResolver = ReturnType<typeof createMetadataResolver>;
