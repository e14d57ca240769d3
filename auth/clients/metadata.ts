/**
 * Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document):
 * a `client_id` that is an https URL names a JSON document describing the client.
 * Fetched with SSRF guards (./fetch.ts), validated (./document.ts), cached. When the
 * fetch fails in a transport-shaped way (the host cannot be reached as it should), the
 * last good copy kept in the store stands in, then a built-in copy (./copies.ts); when
 * the publisher's answer refuses the client (404, 410, an invalid document), nothing
 * stands in.
 *
 * @module
 */
import { isLoopbackHost } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import type { ClientRecord } from "../records.ts";
import { createKeptCopies, type LiveDocument } from "./copies.ts";
import {
  DocumentError,
  documentErrorOf,
  type DocumentFailure,
  type DocumentSource,
  refused,
  type ResolvedDocument,
  unreachable,
  validateDocument,
  wireOf,
} from "./document.ts";
import { fetchJson, type OutboundDeps, OutboundError, printable } from "./fetch.ts";

export { MAX_KEPT_DOCUMENTS } from "./copies.ts";
export {
  DocumentError,
  type DocumentFailure,
  type DocumentSource,
  failureLine,
  type ResolvedDocument,
  validateDocument,
} from "./document.ts";
export { FETCH_TIMEOUT_MS, LOOKUP_TIMEOUT_MS, printable } from "./fetch.ts";

/** How the resolver reaches the network; replaceable in tests. */
export type MetadataFetchDeps = OutboundDeps;

/** Largest metadata document accepted, in bytes. */
export const MAX_DOCUMENT_BYTES = 16 * 1024;
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
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc5861#section-4 | RFC 5861 4}
 */
export const STALE_IF_ERROR_MS = 24 * 3600_000;
const MIN_CACHE_MS = 60_000;
const MAX_CACHE_MS = 24 * 3600_000;
const DEFAULT_CACHE_MS = 3600_000;
const CACHE_ENTRIES = 256;

function cacheMs(header: string | null): number | undefined {
  if (!header) return DEFAULT_CACHE_MS;
  if (/(^|,)\s*(no-store|no-cache|private)\b/i.test(header)) return undefined;
  const m = /max-age=(\d+)/i.exec(header);
  if (!m) return DEFAULT_CACHE_MS;
  return Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, Number(m[1]) * 1000));
}

/**
 * The URL a metadata `client_id` names, or a {@linkcode DocumentError} saying why it
 * names none: https (http or https on a loopback host in development), no credentials
 * or fragment, a path.
 */
function documentUrl(clientId: string, allowInsecureLoopback: boolean): URL {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw refused("client_id is not a URL");
  }
  if (url.href !== clientId) throw refused("client_id URL is not in normal form");
  // Development only: documents served from this machine, over http or https.
  const loopbackDev = allowInsecureLoopback && isLoopbackHost(url.hostname) &&
    (url.protocol === "http:" || url.protocol === "https:");
  if (url.protocol !== "https:" && !loopbackDev) throw refused("client_id URL must use https");
  if (url.username || url.password || url.hash) {
    throw refused("client_id URL must not carry credentials or a fragment");
  }
  if (url.pathname === "/") throw refused("client_id URL must have a path");
  return url;
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

/** What the metadata resolver is built from. */
export interface MetadataResolverOptions {
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
}

/** A document fetched here; `until` is set when Cache-Control allows reuse. */
interface LiveEntry extends LiveDocument {
  client: ClientRecord;
  until?: number;
}

/** Fetches, validates and caches metadata documents; keeps copies for outages. */
export function createMetadataResolver(options: MetadataResolverOptions) {
  const { now } = options;
  const live = new Map<string, LiveEntry>();
  const inflight = new Map<string, Promise<ResolvedDocument>>();
  const failures = createFailureCache(now);
  const budget = createAddressBudget(now);
  const copies = createKeptCopies({ ...options, onError: options.onError ?? (() => {}) });
  let fetching = 0;

  /** The document at `url`, fetched under the guards, validated and remembered. */
  async function fetchDocument(url: URL): Promise<ClientRecord> {
    let answer;
    try {
      answer = await fetchJson(url, {
        accept: "application/json",
        maxBytes: MAX_DOCUMENT_BYTES,
        allowLoopback: options.allowInsecureLoopback,
        subject: "client_id URL",
        deps: options.deps,
        lookupTimeoutMs: options.lookupTimeoutMs,
        // A bot challenge is not the publisher's document, whatever its status.
        usable: (r) => r.status === 200 && !r.headers.has("cf-mitigated"),
      });
    } catch (error) {
      throw error instanceof OutboundError ? documentErrorOf(error) : error;
    }
    let client: ClientRecord;
    try {
      client = validateDocument(url.href, answer.json, options.allowlist);
    } catch (error) {
      throw refused(printable((error as Error).message), wireOf(answer));
    }
    const ttl = cacheMs(answer.headers.get("cache-control"));
    const fetchedAt = now();
    if (live.size >= CACHE_ENTRIES && !live.has(url.href)) live.delete(live.keys().next().value!);
    const entry = { client, document: answer.json, fetchedAt };
    live.set(url.href, ttl === undefined ? entry : { ...entry, until: fetchedAt + ttl });
    await copies.refresh(url.href, entry);
    return client;
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
      const client = await fetchDocument(url);
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
    if (entry?.until === undefined || entry.until + STALE_IF_ERROR_MS <= now()) {
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
        await copies.forget(clientId);
        options.onFailure?.(clientId, failure);
        throw error;
      }
      // The publisher has not spoken: the last good document stands in, as fetched here,
      // as kept in the store for an approved client, or as built into this server.
      const copy = staleCopy(clientId, failure) ?? await copies.stored(clientId, failure) ??
        copies.builtin(clientId, failure);
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
        url = documentUrl(clientId, options.allowInsecureLoopback);
      } catch (error) {
        options.onFailure?.(clientId, (error as DocumentError).failure);
        throw error;
      }
      const hit = live.get(clientId);
      if (hit?.until !== undefined && hit.until > now()) {
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
      const entry = live.get(clientId);
      if (entry) await copies.keep(clientId, entry);
    },
  };
}

/** The resolver's type. */
export type MetadataResolver = ReturnType<typeof createMetadataResolver>;
