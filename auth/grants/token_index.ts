/**
 * The access-token index: the `/mcp` hot path finds a token's record in memory, not in
 * the store. It wraps the store (a decorator), so that every deletion of an access
 * record, by any endpoint or owner action, also forgets it here: nobody has to
 * remember to.
 *
 * Other processes may share the store (servers on one Deno KV file, Deno Deploy's
 * isolates, an owner command). So every write that deletes an announced record (an
 * access token, a grant, and what the caller adds, such as MCP sessions) also writes,
 * in the same atomic write, an entry of the revocation log naming the deleted keys and
 * a new value of the revocation notice. Each process watches the notice (the store's
 * `watch`: `Deno.Kv.watch` on Deno Deploy, a read of one key every 250 ms on a local
 * KV file), or, where the store cannot be watched, reads it at most once a second on
 * the next lookup. When it changed, the process reads the log's new entries, forgets
 * those tokens and tells its listeners which grants and sessions ended, so that they
 * close what they hold. No store read per request; and an indexed token is read again
 * after 30 s in any case.
 *
 * @module
 */
import type { Key, Store, WriteOp } from "../../store/store.ts";
import { randomToken } from "../../core/crypto.ts";
import type { AccessRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";

/** Most access-token records kept in the in-memory index. */
export const ACCESS_INDEX_LIMIT = 10_000;
/**
 * How long an indexed token is trusted without reading the store again, in ms: the
 * longest a revocation made by another process sharing the store takes to apply here
 * should the revocation notice never be seen.
 */
export const ACCESS_INDEX_FRESH_MS = 30_000;
/**
 * How often the revocation notice is read when the store offers no watch, in ms: the
 * longest a revocation made by another process sharing the store takes to apply here.
 */
export const REVOCATION_NOTICE_POLL_MS = 1000;
/**
 * How long an entry of the revocation log is kept, in ms. A process whose last look
 * is older than half of this may have missed entries: it empties its index and has its
 * listeners check everything they hold.
 */
export const REVOCATION_LOG_TTL_MS = 10 * 60_000;
/** The record prefixes whose deletions are always announced: access tokens and grants. */
const ALWAYS_ANNOUNCED = ["access", "grant"];

/**
 * Deletions made by another process sharing the store: the deleted keys, or
 * `undefined` when some may have been missed (check whatever is held).
 */
export type RemoteDeletions = readonly Key[] | undefined;

/** A store whose access records are also indexed in memory. */
export interface IndexedStore extends Store {
  /** Looks up a live access token by hash: memory first, the store when stale or missing. */
  findAccess(hash: string): Promise<AccessRecord | undefined>;
  /**
   * Hears of the announced records (access tokens, grants, and the prefixes given to
   * {@linkcode withAccessIndex}) that another process sharing the store deleted, within
   * a second of the deletion; not of this process's own writes. Returns a function that
   * stops listening.
   */
  onRemoteDeletions(listener: (deleted: RemoteDeletions) => void): () => void;
}

/** One entry of the revocation log: what one write deleted. */
interface LogEntry {
  at: number;
  keys: string[][];
}

function isAccessKey(key: Key): boolean {
  return key[0] === "access" && key.length === 2;
}

/** Options of {@linkcode withAccessIndex}. */
export interface AccessIndexOptions {
  /**
   * Record prefixes, besides `access` and `grant`, whose deletions other processes
   * hear of (the MCP endpoint's session records).
   */
  announce?: readonly string[];
}

/**
 * Wraps `store` with the access index. Writes go to the store first; only once they
 * succeeded are deleted access records dropped from memory.
 *
 * @example Every deletion forgets the token
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { withAccessIndex } from "./token_index.ts";
 *
 * const store = withAccessIndex(createMemoryStore());
 * const record = { grantId: "g", clientId: "c", scope: "mcp", resource: "r", expiresAt: Date.now() + 60_000 };
 * await store.write([{ op: "set", key: ["access", "h"], value: record }]);
 * if (!(await store.findAccess("h"))) throw new Error("not indexed");
 * await store.write([{ op: "delete", key: ["access", "h"] }]);
 * if (await store.findAccess("h")) throw new Error("still indexed");
 * await store.close();
 * ```
 */
export function withAccessIndex(
  store: Store,
  now: () => number = Date.now,
  options: AccessIndexOptions = {},
): IndexedStore {
  const announced = new Set([...ALWAYS_ANNOUNCED, ...(options.announce ?? [])]);
  const index = new Map<string, { record: AccessRecord; checkedAt: number }>();
  const listeners = new Set<(deleted: RemoteDeletions) => void>();
  // Counts deletions: a store read that started before one may have returned a record
  // that no longer exists, and must not put it back into the index.
  let deletions = 0;
  // The log entries this process wrote (never announced back to itself), by id.
  const own = new Map<string, number>();
  // The log entries already handled, as listed at the last look.
  let seen = new Set<string>();
  let noticeSeen: unknown;
  let lookedAt = now();
  let triedAt = -Infinity;
  let looking: Promise<void> | undefined;
  let lookAgain = false;
  let started = false;
  let stopWatch: (() => void) | undefined;

  /** The writes plus, when they delete announced records, a log entry and a new notice. */
  function withNotice(ops: WriteOp[]): WriteOp[] {
    const deleted: string[][] = [];
    for (const op of ops) {
      if (op.op === "delete" && op.key.length >= 2 && announced.has(op.key[0]!)) {
        deleted.push([...op.key]);
      }
    }
    if (deleted.length === 0) return ops;
    const t = now();
    // Sortable by time; random so that concurrent writers never collide.
    const id = `${t.toString(36).padStart(9, "0")}-${randomToken(9)}`;
    // Known as this process's own before the write, which may be heard before it returns.
    own.set(id, t);
    return [
      ...ops,
      {
        op: "set",
        key: [...keys.revocationLog, id],
        value: { at: t, keys: deleted } satisfies LogEntry,
        expiresAt: t + REVOCATION_LOG_TTL_MS,
      },
      { op: "set", key: keys.revocationNotice, value: id },
    ];
  }

  function dispatch(deleted: RemoteDeletions): void {
    for (const listener of [...listeners]) {
      try {
        listener(deleted);
      } catch { /* a listener's failure is its own */ }
    }
  }

  /** Reads the notice and, when it changed, the log entries written since the last look. */
  function look(): Promise<void> {
    if (looking) {
      // A change that arrives during a look may have been written after its reads.
      lookAgain = true;
      return looking;
    }
    looking = (async () => {
      const t = now();
      const notice = await store.get(keys.revocationNotice);
      if (notice === noticeSeen && noticeSeen !== undefined) {
        lookedAt = t;
        return;
      }
      const entries = await store.list<LogEntry>(keys.revocationLog);
      const missed = t - lookedAt > REVOCATION_LOG_TTL_MS / 2;
      const fresh: Key[] = [];
      const ids = new Set<string>();
      for (const { key, value } of entries) {
        const id = key[key.length - 1]!;
        ids.add(id);
        if (seen.has(id) || own.has(id) || !Array.isArray(value?.keys)) continue;
        for (const k of value.keys) if (Array.isArray(k)) fresh.push(k);
      }
      seen = ids;
      noticeSeen = notice;
      lookedAt = t;
      for (const [id, at] of own) if (t - at > REVOCATION_LOG_TTL_MS) own.delete(id);
      if (missed) {
        // Entries may have expired unread: nothing in memory can be trusted.
        index.clear();
        deletions++;
        dispatch(undefined);
      } else if (fresh.length > 0) {
        for (const key of fresh) if (isAccessKey(key)) index.delete(key[1]!);
        deletions++;
        dispatch(fresh);
      }
    })().catch(() => {/* unreadable: the index's own freshness still applies */}).finally(() => {
      triedAt = now();
      looking = undefined;
      if (lookAgain) {
        lookAgain = false;
        void look();
      }
    });
    return looking;
  }

  /** Starts hearing of other processes' deletions: a watch where the store has one. */
  function start(): void {
    if (started) return;
    started = true;
    if (store.watch) stopWatch = store.watch(keys.revocationNotice, () => void look());
    void look();
  }

  function forgetDeleted(ops: readonly WriteOp[]): void {
    let any = false;
    for (const op of ops) {
      if (op.op === "delete" && isAccessKey(op.key)) {
        index.delete(op.key[1]!);
        any = true;
      }
    }
    if (any) deletions++;
  }

  function lookup(hash: string): Promise<AccessRecord | undefined> {
    const cached = index.get(hash);
    const t = now();
    if (cached && cached.checkedAt + ACCESS_INDEX_FRESH_MS > t) {
      if (cached.record.expiresAt > t) return Promise.resolve(cached.record);
      index.delete(hash);
      return Promise.resolve(undefined);
    }
    // Re-read after a while even when cached: another process sharing the store
    // (Deno Deploy isolates on one KV) may have revoked the token.
    return readThrough(hash);
  }

  async function readThrough(hash: string): Promise<AccessRecord | undefined> {
    // A revocation that lands during the read wins: read again (a few times at most).
    for (let attempt = 0; attempt < 3; attempt++) {
      const seenDeletions = deletions;
      const record = await store.get<AccessRecord>(["access", hash]);
      if (seenDeletions !== deletions) continue;
      const t = now();
      if (!record || record.expiresAt <= t) {
        index.delete(hash);
        return undefined;
      }
      if (index.size >= ACCESS_INDEX_LIMIT) index.clear();
      index.set(hash, { record, checkedAt: t });
      return record;
    }
    return undefined;
  }

  return {
    shared: store.shared,
    ...(store.watch
      ? { watch: (key: Key, onChange: () => void) => store.watch!(key, onChange) }
      : {}),
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    close() {
      stopWatch?.();
      listeners.clear();
      return store.close();
    },
    async write(ops) {
      await store.write(withNotice(ops));
      forgetDeleted(ops);
    },
    async transact(keys, plan) {
      // Plans may run more than once (optimistic stores retry); the last one is applied.
      let applied: readonly WriteOp[] = [];
      const result = await store.transact(keys, (values) => {
        const decided = plan(values);
        applied = decided.ops;
        return { ops: withNotice(decided.ops), result: decided.result };
      });
      forgetDeleted(applied);
      return result;
    },
    findAccess(hash) {
      start();
      if (!stopWatch && now() - triedAt >= REVOCATION_NOTICE_POLL_MS) {
        return look().then(() => lookup(hash));
      }
      return lookup(hash);
    },
    onRemoteDeletions(listener) {
      listeners.add(listener);
      start();
      return () => void listeners.delete(listener);
    },
  };
}
