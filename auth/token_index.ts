/**
 * The access-token index: the `/mcp` hot path finds a token's record in memory, not in
 * the store. It wraps the store (a decorator), so that every deletion of an access
 * record, by any endpoint or owner action, also forgets it here: nobody has to
 * remember to. The same decorator writes a change notice with every such deletion,
 * and reads it at most once a second, so that a revocation made by another process
 * sharing the store (an owner command on Deno KV, another isolate) empties this
 * index within a second.
 *
 * @module
 */
import type { Key, Store, WriteOp } from "../store/store.ts";
import { randomToken } from "./crypto.ts";
import { type AccessRecord, keys } from "./records.ts";

/** Most access-token records kept in the in-memory index. */
export const ACCESS_INDEX_LIMIT = 10_000;
/**
 * How long an indexed token is trusted without reading the store again, in ms: the
 * longest a revocation made by another process sharing the store takes to apply here.
 */
export const ACCESS_INDEX_FRESH_MS = 30_000;
/**
 * How often the revocation notice is read, in ms: the longest a revocation made by
 * another process sharing the store takes to apply here.
 */
export const REVOCATION_NOTICE_POLL_MS = 1000;

/** A store whose access records are also indexed in memory. */
export interface IndexedStore extends Store {
  /** Looks up a live access token by hash: memory first, the store when stale or missing. */
  findAccess(hash: string): Promise<AccessRecord | undefined>;
}

function isAccessKey(key: Key): boolean {
  return key[0] === "access" && key.length === 2;
}

/** The writes plus, when they delete an access token, a fresh revocation notice. */
function withNotice(ops: WriteOp[]): WriteOp[] {
  if (!ops.some((op) => op.op === "delete" && isAccessKey(op.key))) return ops;
  return [...ops, { op: "set", key: keys.revocationNotice, value: randomToken(12) }];
}

/**
 * Wraps `store` with the access index. Writes go to the store first; only once they
 * succeeded are deleted access records dropped from memory.
 *
 * @example Every deletion forgets the token
 * ```ts
 * import { createMemoryStore } from "../store/memory.ts";
 * import { withAccessIndex } from "./token_index.ts";
 *
 * const store = withAccessIndex(createMemoryStore());
 * const record = { grantId: "g", clientId: "c", scope: "mcp", resource: "r", expiresAt: Date.now() + 60_000 };
 * await store.write([{ op: "set", key: ["access", "h"], value: record }]);
 * if (!(await store.findAccess("h"))) throw new Error("not indexed");
 * await store.write([{ op: "delete", key: ["access", "h"] }]);
 * if (await store.findAccess("h")) throw new Error("still indexed");
 * ```
 */
export function withAccessIndex(store: Store, now: () => number = Date.now): IndexedStore {
  const index = new Map<string, { record: AccessRecord; checkedAt: number }>();
  // Counts deletions: a store read that started before one may have returned a record
  // that no longer exists, and must not put it back into the index.
  let deletions = 0;
  let noticeSeen: unknown;
  let noticeReadAt = -Infinity;
  let noticeRead: Promise<void> | undefined;

  /** Empties the index when another writer has deleted access tokens since the last look. */
  function readNotice(): Promise<void> {
    noticeRead ??= store.get(keys.revocationNotice).then((notice) => {
      if (notice !== noticeSeen) {
        noticeSeen = notice;
        index.clear();
        deletions++;
      }
    }, () => {/* unreadable: the index's own freshness still applies */}).finally(() => {
      noticeReadAt = now();
      noticeRead = undefined;
    });
    return noticeRead;
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
      const seen = deletions;
      const record = await store.get<AccessRecord>(["access", hash]);
      if (seen !== deletions) continue;
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
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    close: () => store.close(),
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
      if (now() - noticeReadAt >= REVOCATION_NOTICE_POLL_MS) {
        return readNotice().then(() => lookup(hash));
      }
      return lookup(hash);
    },
  };
}
