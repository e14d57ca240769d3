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
import type { ClientRecord } from "./records.ts";
import { redirectAllowed } from "./redirects.ts";
import { addressBlocked } from "./ssrf.ts";

/** Largest metadata document accepted, in bytes. */
export const MAX_DOCUMENT_BYTES = 16 * 1024;
/** How long one fetch may take, in ms. */
export const FETCH_TIMEOUT_MS = 5000;
/** How long the DNS lookup before a fetch may take, in ms. */
export const LOOKUP_TIMEOUT_MS = 2000;
/** How long a document that could not be used is not asked for again, in ms. */
export const FAILURE_CACHE_MS = 5 * 60_000;
/** The same for a host that did not answer (it may be back soon), in ms. */
export const UNAVAILABLE_CACHE_MS = 60_000;
/** Documents one client address may have fetched (cache misses) per minute. */
export const FETCHES_PER_ADDRESS_PER_MINUTE = 10;
/** Document fetches in flight at once, for all addresses together. */
export const MAX_CONCURRENT_FETCHES = 8;
/**
 * How long after its cache expired a document is still used while its host cannot be
 * reached (RFC 5861 stale-if-error), in ms: a host's short outage must not log out
 * every client it describes.
 */
export const STALE_IF_ERROR_MS = 24 * 3600_000;
const MIN_CACHE_MS = 60_000;
const MAX_CACHE_MS = 24 * 3600_000;
const DEFAULT_CACHE_MS = 3600_000;
const CACHE_ENTRIES = 256;

/**
 * The document could not be had just now (its host did not answer or answered 5xx,
 * the lookup timed out, or this server is already fetching enough): nothing is known
 * against the client, so it is asked to try again later (503), never told it is invalid.
 */
export class MetadataUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetadataUnavailableError";
  }
}

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
  const method = d.token_endpoint_auth_method ?? "none";
  // A document cannot carry a shared secret; private_key_jwt is not offered here.
  if (method !== "none") throw new Error("token_endpoint_auth_method must be none");
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
    authMethod: "none",
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
      () => reject(new MetadataUnavailableError(`looking up ${host} timed out`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([lookup(host), timeout]);
  } catch (error) {
    if (error instanceof MetadataUnavailableError) throw error;
    throw new MetadataUnavailableError(`looking up ${host} failed`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Remembers recent failures per document URL (a negative cache), so that a stranger
 * naming an unknown URL again and again costs one outbound fetch per few minutes.
 */
function createFailureCache(now: () => number) {
  const failures = new Map<string, { error: Error; until: number }>();
  return {
    get(url: string): Error | undefined {
      const hit = failures.get(url);
      if (hit && hit.until > now()) return hit.error;
      failures.delete(url);
      return undefined;
    },
    remember(url: string, error: Error): void {
      if (failures.size >= CACHE_ENTRIES) failures.delete(failures.keys().next().value!);
      const ms = error instanceof MetadataUnavailableError
        ? UNAVAILABLE_CACHE_MS
        : FAILURE_CACHE_MS;
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

/** Options of {@linkcode createMetadataResolver}. */
export interface MetadataResolverOptions {
  allowInsecureLoopback: boolean;
  allowlist: readonly string[];
  now: () => number;
  deps?: MetadataFetchDeps;
  /** For tests. @default LOOKUP_TIMEOUT_MS */
  lookupTimeoutMs?: number;
}

/** Fetches, validates and caches metadata documents. */
export function createMetadataResolver(options: MetadataResolverOptions) {
  const deps = options.deps ?? defaultDeps;
  const cache = new Map<string, { client: ClientRecord; until: number }>();
  const inflight = new Map<string, Promise<ClientRecord>>();
  const failures = createFailureCache(options.now);
  const budget = createAddressBudget(options.now);

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
      const addresses = await lookupWithin(
        deps.lookup,
        host,
        options.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS,
      );
      // Every address the name resolves to must be public (no DNS tricks to internal hosts).
      if (addresses.length === 0 || addresses.some(addressBlocked)) {
        throw new Error("client_id URL resolves to a forbidden address");
      }
    }
    let response: Response;
    try {
      response = await deps.fetch(url.href, {
        redirect: "manual", // a redirect could lead anywhere; documents must be served directly
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        headers: { accept: "application/json" },
      });
    } catch {
      throw new MetadataUnavailableError(`${url.host} did not answer`);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      const message = `fetching the document answered ${response.status}`;
      // A server error or "slow down" says nothing about the document itself.
      throw [408, 429].includes(response.status) || response.status >= 500
        ? new MetadataUnavailableError(message)
        : new Error(message);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readLimited(
        response.body,
        MAX_DOCUMENT_BYTES,
        response.headers.get("content-length"),
      );
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new Error("document too large");
      throw new MetadataUnavailableError(`${url.host} broke off the document`);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new Error("document is not UTF-8");
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

  /** Starts one fetch of `url`, remembering how it ended. */
  function startFetch(url: URL): Promise<ClientRecord> {
    const pending = guardedFetch(url).then(
      (client) => {
        failures.forget(url.href);
        return client;
      },
      (error) => {
        failures.remember(url.href, error);
        throw error;
      },
    ).finally(() => inflight.delete(url.href));
    inflight.set(url.href, pending);
    return pending;
  }

  return {
    /**
     * The client a metadata URL describes; throws with a reason safe to log, a
     * {@linkcode MetadataUnavailableError} when the document cannot be had just now.
     * `address` is the caller's, for the per-address fetch budget.
     */
    async resolve(clientId: string, address?: string): Promise<ClientRecord> {
      let url: URL;
      try {
        url = new URL(clientId);
      } catch {
        throw new Error("client_id is not a URL");
      }
      if (url.href !== clientId) throw new Error("client_id URL is not in normal form");
      const t = options.now();
      const hit = cache.get(clientId);
      if (hit && hit.until > t) return hit.client;
      // RFC 5861 stale-if-error: a known document outlives a short outage of its host.
      const stale = hit && hit.until + STALE_IF_ERROR_MS > t ? hit.client : undefined;
      const orStale = (error: unknown): ClientRecord => {
        if (stale && error instanceof MetadataUnavailableError) return stale;
        throw error;
      };
      const failed = failures.get(clientId);
      if (failed) return orStale(failed);
      let pending = inflight.get(clientId);
      if (!pending) {
        if (address !== undefined && !budget.take(address)) {
          return orStale(
            new MetadataUnavailableError("too many document fetches from one address"),
          );
        }
        if (inflight.size >= MAX_CONCURRENT_FETCHES) {
          return orStale(new MetadataUnavailableError("too many document fetches at once"));
        }
        pending = startFetch(url);
      }
      try {
        return await pending;
      } catch (error) {
        return orStale(error);
      }
    },
  };
}

/** The resolver's type. */
export type MetadataResolver = ReturnType<typeof createMetadataResolver>;
