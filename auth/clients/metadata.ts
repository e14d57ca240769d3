/**
 * Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document):
 * a `client_id` that is an https URL names a JSON document describing the client.
 * Fetched with SSRF guards, validated, cached. When the fetch fails in a
 * transport-shaped way (the host cannot be reached as it should), the last good copy
 * kept in the store stands in, then a built-in copy; when the publisher's answer
 * refuses the client (404, 410, an invalid document), nothing stands in.
 *
 * @module
 */
import { BodyTooLargeError, readLimited } from "../../core/http.ts";
import { isLoopbackHost } from "../../core/config.ts";
import type { Store, WriteOp } from "../../store/store.ts";
import { BUILTIN_DOCUMENTS } from "./builtin_documents.ts";
import type {
  AssertionAlg,
  ClientAuthMethod,
  ClientMetadataCopy,
  ClientRecord,
} from "../records.ts";
import { keys } from "../../store/keys.ts";
import { redirectAllowed } from "./redirects.ts";
import { anyBlocked } from "./ssrf.ts";

/** Largest metadata document accepted, in bytes. */
export const MAX_DOCUMENT_BYTES = 16 * 1024;
/** How long one fetch may take, in ms. */
export const FETCH_TIMEOUT_MS = 5000;
/** Most documents kept in the store for outages (one per approved metadata URL). */
export const MAX_KEPT_DOCUMENTS = 100;
/** How long the DNS lookup before a fetch may take, in ms. */
export const LOOKUP_TIMEOUT_MS = 2000;
/** How long a document the publisher refused is not asked for again, in ms. */
export const FAILURE_CACHE_MS = 5 * 60_000;
/** The same for a host that could not be reached (it may be back soon), in ms. */
export const UNAVAILABLE_CACHE_MS = 60_000;
/** Documents one client address may have fetched (cache misses) per minute. */
export const FETCHES_PER_ADDRESS_PER_MINUTE = 10;
/** Document fetches in flight at once, for all addresses together. */
export const MAX_CONCURRENT_FETCHES = 8;
/**
 * How long after its cache expired a document fetched here is still used while its
 * host cannot be reached (RFC 5861 stale-if-error), in ms: a host's short outage must
 * not log out every client it describes.
 */
export const STALE_IF_ERROR_MS = 24 * 3600_000;
const MIN_CACHE_MS = 60_000;
const MAX_CACHE_MS = 24 * 3600_000;
const DEFAULT_CACHE_MS = 3600_000;
const CACHE_ENTRIES = 256;
// Longer URLs are served but not kept: a Deno KV key holds at most 2 KiB.
const MAX_KEPT_URL_LENGTH = 1024;
// A kept copy is rewritten when the live document changed, or at most this often.
const COPY_REFRESH_MS = 24 * 3600_000;
const DEFAULT_COPY_TTL_MS = 365 * 24 * 3600_000;

/** How the resolver reaches the network; replaceable in tests. */
export interface MetadataFetchDeps {
  lookup(hostname: string): Promise<string[]>;
  fetch(url: string, init: RequestInit): Promise<Response>;
}

const defaultDeps: MetadataFetchDeps = {
  async lookup(hostname) {
    // Loaded with the first document fetched, not when the server starts.
    const { lookup } = await import("node:dns/promises");
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

/**
 * Text from the wire made safe for a log line or a page: bounded, and everything
 * outside printable ASCII, and `"` and `\`, written as a `\uXXXX` escape (so a
 * quoted value cannot end early or fake another field).
 *
 * @example
 * ```ts
 * import { printable } from "./metadata.ts";
 * if (printable('a"b\nc') !== "a\\u0022b\\u000ac") throw new Error(printable('a"b\nc'));
 * ```
 */
export function printable(text: string, max = 200): string {
  return text.slice(0, max).replace(
    /[^\x20\x21\x23-\x5b\x5d-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

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
 * import { failureLine } from "./metadata.ts";
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

function unreachable(reason: string, extra: Partial<DocumentFailure> = {}): DocumentError {
  return new DocumentError({ kind: "unreachable", reason, ...extra });
}

function refused(reason: string, extra: Partial<DocumentFailure> = {}): DocumentError {
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

/** A DNS lookup that gives up after `timeoutMs`: a slow resolver must not hold requests. */
async function lookupWithin(
  lookup: MetadataFetchDeps["lookup"],
  host: string,
  timeoutMs: number,
): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(unreachable(`looking up the name took longer than ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([lookup(host), timeout]);
  } catch (error) {
    if (error instanceof DocumentError) throw error;
    const code = (error as { code?: unknown }).code;
    throw unreachable(
      `the name did not resolve${typeof code === "string" ? ` (${printable(code, 40)})` : ""}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Remembers recent failures per document URL (a negative cache), so that a stranger
 * naming an unknown URL again and again costs one outbound fetch per few minutes.
 */
function createFailureCache(now: () => number) {
  const failures = new Map<string, { error: DocumentError; until: number }>();
  return {
    get(url: string): DocumentError | undefined {
      const hit = failures.get(url);
      if (hit && hit.until > now()) return hit.error;
      failures.delete(url);
      return undefined;
    },
    remember(url: string, error: DocumentError): void {
      if (failures.size >= CACHE_ENTRIES) failures.delete(failures.keys().next().value!);
      const ms = error.failure.kind === "unreachable" ? UNAVAILABLE_CACHE_MS : FAILURE_CACHE_MS;
      failures.set(url, { error, until: now() + ms });
    },
    forget(url: string): void {
      failures.delete(url);
    },
  };
}

/** Fetches per client address in a sliding minute: a bounded map of recent fetch times. */
function createAddressBudget(now: () => number) {
  const recent = new Map<string, number[]>();
  return {
    /** Counts one fetch for `address`; false when it has had its share this minute. */
    take(address: string): boolean {
      const t = now();
      const times = (recent.get(address) ?? []).filter((x) => t - x < 60_000);
      if (times.length >= FETCHES_PER_ADDRESS_PER_MINUTE) return false;
      times.push(t);
      recent.delete(address);
      if (recent.size >= 10_000) recent.delete(recent.keys().next().value!);
      recent.set(address, times);
      return true;
    },
  };
}

/** Fetches, validates and caches metadata documents; keeps copies for outages. */
export function createMetadataResolver(
  options: {
    allowInsecureLoopback: boolean;
    allowlist: readonly string[];
    now: () => number;
    /** Where the last good documents of approved clients are kept. */
    store: Store;
    /** How long a kept copy lives after its fetch, in ms. @default 365 days */
    copyTtlMs?: number;
    /** Told of every document that could not be used as fetched, and what stood in. */
    onFailure?: (clientId: string, failure: DocumentFailure, fallback?: DocumentSource) => void;
    /** Told of a store error while keeping or reading a copy (the request goes on). */
    onError?: (error: unknown) => void;
    deps?: MetadataFetchDeps;
    /** For tests. @default LOOKUP_TIMEOUT_MS */
    lookupTimeoutMs?: number;
  },
) {
  const deps = options.deps ?? defaultDeps;
  const { store } = options;
  const copyTtlMs = options.copyTtlMs ?? DEFAULT_COPY_TTL_MS;
  const onError = options.onError ?? (() => {});
  /** The last live document per URL; `until` is set when Cache-Control allows reuse. */
  const live = new Map<
    string,
    { client: ClientRecord; document: unknown; fetchedAt: number; until?: number }
  >();
  const inflight = new Map<string, Promise<ResolvedDocument>>();
  const failures = createFailureCache(options.now);
  const budget = createAddressBudget(options.now);
  let fetching = 0;

  function checkUrl(url: URL): void {
    // Development only: documents served from this machine, over http or https.
    const loopbackDev = options.allowInsecureLoopback && isLoopbackHost(url.hostname) &&
      (url.protocol === "http:" || url.protocol === "https:");
    if (url.protocol !== "https:" && !loopbackDev) throw refused("client_id URL must use https");
    if (url.username || url.password || url.hash) {
      throw refused("client_id URL must not carry credentials or a fragment");
    }
    if (url.pathname === "/") throw refused("client_id URL must have a path");
  }

  async function guardedFetch(url: URL): Promise<ClientRecord> {
    const loopbackDev = options.allowInsecureLoopback && isLoopbackHost(url.hostname);
    if (!loopbackDev) {
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const addresses = await lookupWithin(
        deps.lookup,
        host,
        options.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS,
      );
      // Every address the name resolves to must be public (no DNS tricks to internal hosts).
      if (addresses.length === 0 || await anyBlocked(addresses)) {
        throw unreachable("client_id URL resolves to a forbidden address");
      }
    }
    let response: Response;
    try {
      response = await deps.fetch(url.href, {
        redirect: "manual", // a redirect could lead anywhere; documents must be served directly
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        headers: { accept: "application/json" },
      });
    } catch (error) {
      const e = error as Error;
      throw unreachable(
        e?.name === "TimeoutError"
          ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
          : `could not connect (${printable(String(e?.message ?? e), 160)})`,
      );
    }
    const status = response.status;
    const header = (name: string) => {
      const value = response.headers.get(name);
      return value === null ? undefined : printable(value, 100);
    };
    const wire: Partial<DocumentFailure> = { status };
    const cfMitigated = header("cf-mitigated");
    const cfRay = header("cf-ray");
    if (cfMitigated !== undefined) wire.cfMitigated = cfMitigated;
    if (cfRay !== undefined) wire.cfRay = cfRay;
    const type = header("content-type")?.split(";")[0]?.trim() || "no content type";
    if (status !== 200 || cfMitigated !== undefined) {
      await response.body?.cancel().catch(() => {});
      // The publisher's word: the document is not there (RFC 9110 15.5.5, 15.5.11).
      if (status === 404 || status === 410) throw refused(`answered ${status}`, wire);
      throw unreachable(
        cfMitigated !== undefined
          ? `answered ${status} with a ${cfMitigated} page (${type})`
          : status >= 300 && status < 400
          ? `answered ${status}, a redirect (not followed)`
          : `answered ${status} (${type})`,
        wire,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await readLimited(
        response.body,
        MAX_DOCUMENT_BYTES,
        response.headers.get("content-length"),
      );
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) {
        throw unreachable(`the answer broke off (${printable(String(error), 160)})`, wire);
      }
      if (/json/i.test(type)) throw refused("document too large", wire);
      throw unreachable(`answered ${status} with a large body that is not JSON (${type})`, wire);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw unreachable(`answered ${status} with a document that is not JSON (${type})`, wire);
    }
    let client: ClientRecord;
    try {
      client = validateDocument(url.href, doc, options.allowlist);
    } catch (error) {
      throw refused(printable((error as Error).message), wire);
    }
    const ttl = cacheMs(response.headers.get("cache-control"));
    const fetchedAt = options.now();
    if (live.size >= CACHE_ENTRIES && !live.has(url.href)) live.delete(live.keys().next().value!);
    live.set(url.href, {
      client,
      document: doc,
      fetchedAt,
      until: ttl === undefined ? undefined : fetchedAt + ttl,
    });
    await refreshCopy(url.href);
    return client;
  }

  function copyOp(clientId: string): WriteOp | undefined {
    const entry = live.get(clientId);
    if (!entry) return undefined;
    const value: ClientMetadataCopy = { document: entry.document, fetchedAt: entry.fetchedAt };
    return {
      op: "set",
      key: keys.clientMetadata(clientId),
      value,
      expiresAt: entry.fetchedAt + copyTtlMs,
    };
  }

  /** Whether a kept copy already says what the live document says, recently enough. */
  function copyCurrent(clientId: string, kept: ClientMetadataCopy): boolean {
    const entry = live.get(clientId)!;
    return options.now() - kept.fetchedAt < COPY_REFRESH_MS &&
      JSON.stringify(kept.document) === JSON.stringify(entry.document);
  }

  /** A live fetch updates the copy of a URL that has one (its client was approved). */
  async function refreshCopy(clientId: string): Promise<void> {
    if (clientId.length > MAX_KEPT_URL_LENGTH) return;
    try {
      const kept = await store.get<ClientMetadataCopy>(keys.clientMetadata(clientId));
      if (kept && !copyCurrent(clientId, kept)) await store.write([copyOp(clientId)!]);
    } catch (error) {
      onError(error);
    }
  }

  async function storedCopy(
    clientId: string,
    failure: DocumentFailure,
  ): Promise<ResolvedDocument | undefined> {
    if (clientId.length > MAX_KEPT_URL_LENGTH) return undefined;
    let kept: ClientMetadataCopy | undefined;
    try {
      kept = await store.get<ClientMetadataCopy>(keys.clientMetadata(clientId));
    } catch (error) {
      onError(error);
      return undefined;
    }
    if (!kept) return undefined;
    try {
      // The same validation as a fetched document, against today's allowlist.
      const client = validateDocument(clientId, kept.document, options.allowlist);
      return { client, source: { kind: "stored", fetchedAt: kept.fetchedAt, failure } };
    } catch {
      return undefined;
    }
  }

  function builtinCopy(clientId: string, failure: DocumentFailure): ResolvedDocument | undefined {
    const doc = BUILTIN_DOCUMENTS.get(clientId);
    if (!doc) return undefined;
    try {
      const client = validateDocument(clientId, structuredClone(doc), options.allowlist);
      return { client, source: { kind: "builtin", failure } };
    } catch {
      return undefined; // e.g. the owner's allowlist no longer admits its redirects
    }
  }

  /** The publisher said no: its last good copy must not stand in later. */
  async function forget(clientId: string): Promise<void> {
    if (clientId.length > MAX_KEPT_URL_LENGTH) return;
    try {
      const key = keys.clientMetadata(clientId);
      if (await store.get(key)) await store.write([{ op: "delete", key }]);
    } catch (error) {
      onError(error);
    }
  }

  /**
   * One live fetch, bounded per caller address and in total; a failure is remembered
   * for a while (a negative cache), so a URL that fails is not fetched per request.
   */
  async function fetchOnce(url: URL, address: string | undefined): Promise<ClientRecord> {
    const remembered = failures.get(url.href);
    if (remembered) throw remembered;
    if (address !== undefined && !budget.take(address)) {
      throw unreachable("too many document fetches from one address; not fetched");
    }
    if (fetching >= MAX_CONCURRENT_FETCHES) {
      throw unreachable("too many document fetches at once; not fetched");
    }
    fetching++;
    try {
      const client = await guardedFetch(url);
      failures.forget(url.href);
      return client;
    } catch (error) {
      if (error instanceof DocumentError) failures.remember(url.href, error);
      throw error;
    } finally {
      fetching--;
    }
  }

  /** The last document fetched here, while RFC 5861 stale-if-error allows it. */
  function staleCopy(clientId: string, failure: DocumentFailure): ResolvedDocument | undefined {
    const entry = live.get(clientId);
    // A document its publisher marked no-store (no `until`) is not kept for outages.
    if (entry?.until === undefined || entry.until + STALE_IF_ERROR_MS <= options.now()) {
      return undefined;
    }
    return {
      client: entry.client,
      source: { kind: "stored", fetchedAt: entry.fetchedAt, failure },
    };
  }

  async function resolveFresh(url: URL, address: string | undefined): Promise<ResolvedDocument> {
    const clientId = url.href;
    try {
      return { client: await fetchOnce(url, address), source: { kind: "publisher" } };
    } catch (error) {
      if (!(error instanceof DocumentError)) throw error;
      const { failure } = error;
      if (failure.kind === "refused") {
        live.delete(clientId);
        await forget(clientId);
        options.onFailure?.(clientId, failure);
        throw error;
      }
      // The publisher has not spoken: the last good document stands in, as fetched here,
      // as kept in the store for an approved client, or as built into this server.
      const copy = staleCopy(clientId, failure) ?? await storedCopy(clientId, failure) ??
        builtinCopy(clientId, failure);
      options.onFailure?.(clientId, failure, copy?.source);
      if (!copy) throw error;
      return copy;
    }
  }

  return {
    /**
     * The client a metadata URL describes, and where its document came from; throws
     * a {@linkcode DocumentError} saying why when nothing can be used. `address` is the
     * caller's, for the per-address fetch budget.
     */
    async resolve(clientId: string, address?: string): Promise<ResolvedDocument> {
      let url: URL;
      try {
        url = new URL(clientId);
        if (url.href !== clientId) throw refused("client_id URL is not in normal form");
        checkUrl(url);
      } catch (error) {
        const failure = error instanceof DocumentError
          ? error.failure
          : { kind: "refused" as const, reason: "client_id is not a URL" };
        options.onFailure?.(clientId, failure);
        throw new DocumentError(failure);
      }
      const hit = live.get(clientId);
      if (hit?.until !== undefined && hit.until > options.now()) {
        return { client: hit.client, source: { kind: "publisher" } };
      }
      let pending = inflight.get(clientId);
      if (!pending) {
        pending = resolveFresh(url, address).finally(() => inflight.delete(clientId));
        inflight.set(clientId, pending);
      }
      return await pending;
    },

    /**
     * The owner approved this client: keep its last live document in the store, so it
     * keeps working while its host cannot be reached. At most
     * {@linkcode MAX_KEPT_DOCUMENTS} are kept; the least recently fetched goes first.
     */
    async keep(clientId: string): Promise<void> {
      const op = copyOp(clientId);
      if (!op || clientId.length > MAX_KEPT_URL_LENGTH) return;
      try {
        const kept = await store.get<ClientMetadataCopy>(op.key);
        if (kept && copyCurrent(clientId, kept)) return;
        const ops: WriteOp[] = [];
        if (!kept) {
          const all = await store.list<ClientMetadataCopy>(keys.clientMetadataCopies);
          all.sort((a, b) => a.value.fetchedAt - b.value.fetchedAt);
          for (const old of all.slice(0, Math.max(0, all.length - MAX_KEPT_DOCUMENTS + 1))) {
            ops.push({ op: "delete", key: old.key });
          }
        }
        ops.push(op);
        await store.write(ops);
      } catch (error) {
        onError(error);
      }
    },
  };
}

/** The resolver's type. */
export type MetadataResolver = ReturnType<typeof createMetadataResolver>;
