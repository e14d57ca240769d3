/**
 * Copies of metadata documents that stand in while a publisher cannot be reached: the
 * last good document of each client the owner approved, kept in the store, and the
 * copies built into this server. A copy is validated as a fetched document is, against
 * today's allowlist; one that no longer passes does not stand in.
 *
 * @module
 */
import type { Store, WriteOp } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import type { ClientMetadataCopy } from "../records.ts";
import { BUILTIN_DOCUMENTS } from "./builtin_documents.ts";
import { type DocumentFailure, type ResolvedDocument, validateDocument } from "./document.ts";

/** Most documents kept in the store for outages (one per approved metadata URL). */
export const MAX_KEPT_DOCUMENTS = 100;
// Longer URLs are served but not kept: a Deno KV key holds at most 2 KiB.
const MAX_KEPT_URL_LENGTH = 1024;
// A kept copy is rewritten when the live document changed, or at most this often.
const COPY_REFRESH_MS = 24 * 3600_000;
const DEFAULT_COPY_TTL_MS = 365 * 24 * 3600_000;

/** A document as fetched live: what a kept copy is made of. */
export interface LiveDocument {
  document: unknown;
  fetchedAt: number;
}

/** What the kept copies are built from. */
export interface KeptCopiesOptions {
  store: Store;
  allowlist: readonly string[];
  now: () => number;
  /** How long a kept copy lives after its fetch, in ms. @default 365 days */
  copyTtlMs?: number;
  /** Told of a store error while keeping or reading a copy (the request goes on). */
  onError: (error: unknown) => void;
}

/** The copies that stand in for a document; see {@linkcode createKeptCopies}. */
export interface KeptCopies {
  /** A live fetch updates the copy of a URL that has one (its client was approved). */
  refresh(clientId: string, live: LiveDocument): Promise<void>;
  /** The copy kept in the store, when it still passes validation. */
  stored(clientId: string, failure: DocumentFailure): Promise<ResolvedDocument | undefined>;
  /** The copy built into this server, when it still passes validation. */
  builtin(clientId: string, failure: DocumentFailure): ResolvedDocument | undefined;
  /** The publisher said no: its last good copy must not stand in later. */
  forget(clientId: string): Promise<void>;
  /**
   * The owner approved this client: keep its live document. At most
   * {@linkcode MAX_KEPT_DOCUMENTS} are kept; the least recently fetched goes first.
   */
  keep(clientId: string, live: LiveDocument): Promise<void>;
}

/** Builds the kept copies over `store`. */
export function createKeptCopies(options: KeptCopiesOptions): KeptCopies {
  const { store, allowlist, now, onError } = options;
  const copyTtlMs = options.copyTtlMs ?? DEFAULT_COPY_TTL_MS;
  const keepable = (clientId: string) => clientId.length <= MAX_KEPT_URL_LENGTH;

  function copyOp(clientId: string, live: LiveDocument): WriteOp {
    const value: ClientMetadataCopy = { document: live.document, fetchedAt: live.fetchedAt };
    return {
      op: "set",
      key: keys.clientMetadata(clientId),
      value,
      expiresAt: live.fetchedAt + copyTtlMs,
    };
  }

  /** Whether a kept copy already says what the live document says, recently enough. */
  function current(kept: ClientMetadataCopy, live: LiveDocument): boolean {
    return now() - kept.fetchedAt < COPY_REFRESH_MS &&
      JSON.stringify(kept.document) === JSON.stringify(live.document);
  }

  /** The oldest copies that make room for one more. */
  async function evictions(): Promise<WriteOp[]> {
    const all = await store.list<ClientMetadataCopy>(keys.clientMetadataCopies);
    all.sort((a, b) => a.value.fetchedAt - b.value.fetchedAt);
    return all.slice(0, Math.max(0, all.length - MAX_KEPT_DOCUMENTS + 1))
      .map((old) => ({ op: "delete", key: old.key }));
  }

  return {
    async refresh(clientId, live) {
      if (!keepable(clientId)) return;
      try {
        const kept = await store.get<ClientMetadataCopy>(keys.clientMetadata(clientId));
        if (kept && !current(kept, live)) await store.write([copyOp(clientId, live)]);
      } catch (error) {
        onError(error);
      }
    },

    async stored(clientId, failure) {
      if (!keepable(clientId)) return undefined;
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
        const client = validateDocument(clientId, kept.document, allowlist);
        return { client, source: { kind: "stored", fetchedAt: kept.fetchedAt, failure } };
      } catch {
        return undefined;
      }
    },

    builtin(clientId, failure) {
      const doc = BUILTIN_DOCUMENTS.get(clientId);
      if (!doc) return undefined;
      try {
        const client = validateDocument(clientId, structuredClone(doc), allowlist);
        return { client, source: { kind: "builtin", failure } };
      } catch {
        return undefined; // e.g. the owner's allowlist no longer admits its redirects
      }
    },

    async forget(clientId) {
      if (!keepable(clientId)) return;
      try {
        const key = keys.clientMetadata(clientId);
        if (await store.get(key)) await store.write([{ op: "delete", key }]);
      } catch (error) {
        onError(error);
      }
    },

    async keep(clientId, live) {
      if (!keepable(clientId)) return;
      const op = copyOp(clientId, live);
      try {
        const kept = await store.get<ClientMetadataCopy>(op.key);
        if (kept && current(kept, live)) return;
        await store.write([...kept ? [] : await evictions(), op]);
      } catch (error) {
        onError(error);
      }
    },
  };
}
