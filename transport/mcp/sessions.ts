/**
 * 2025-era session records in a store shared by several processes (servers on one Deno
 * KV file, Deno Deploy's isolates), so that any of them can answer a session's
 * requests: what the client said when it opened the session (its `initialize`
 * parameters: protocol version, capabilities, client info), under the grant that
 * opened it. A process that does not hold the session builds it again from this.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";

/** How long a session record is kept after it was last written, in ms. */
export const SESSION_RECORD_TTL_MS = 24 * 3600 * 1000;
/** Most session records one grant keeps; opening another drops the oldest. */
export const MAX_SESSION_RECORDS_PER_GRANT = 20;
/** Largest `initialize` parameters kept, in bytes of JSON; a larger session stays local. */
export const MAX_SESSION_RECORD_BYTES = 16 * 1024;
/** Longest session id looked up in the store (the SDK's are UUIDs). */
export const MAX_SESSION_ID_LENGTH = 128;

/** What another process needs to answer a session. */
export interface SessionRecord {
  /** The `initialize` request's params as the client sent them. */
  initialize: Record<string, unknown>;
  createdAt: number;
  /** Last write: the record is written again when half its lifetime has passed. */
  writtenAt: number;
}

/** The session records of a shared store. */
export interface SessionRecords {
  /** Keeps a new session's record; undefined when it is too large to keep. */
  save(grantId: string, id: string, initialize: unknown): Promise<SessionRecord | undefined>;
  /** The record of `id` opened by `grantId`, if there is one. */
  load(grantId: string, id: string): Promise<SessionRecord | undefined>;
  /** Writes the record again, so that a session in use does not expire. */
  touch(grantId: string, id: string, record: SessionRecord): Promise<SessionRecord>;
  /** Removes the record (the client ended the session). */
  end(grantId: string, id: string): Promise<void>;
}

const utf8 = new TextEncoder();

/**
 * Session records in `store`.
 *
 * @example A session saved by one process is found by another
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { createSessionRecords } from "./sessions.ts";
 * const store = createMemoryStore();
 * const params = { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "c", version: "1" } };
 * await createSessionRecords(store).save("grant", "session", params);
 * const record = await createSessionRecords(store).load("grant", "session");
 * if (record?.initialize.protocolVersion !== "2025-06-18") throw new Error("not found");
 * ```
 */
export function createSessionRecords(
  store: Store,
  now: () => number = Date.now,
): SessionRecords {
  const key = keys.mcpSession;
  return {
    async save(grantId, id, initialize) {
      if (!initialize || typeof initialize !== "object" || Array.isArray(initialize)) {
        return undefined;
      }
      if (utf8.encode(JSON.stringify(initialize)).length > MAX_SESSION_RECORD_BYTES) {
        return undefined;
      }
      const t = now();
      const record: SessionRecord = {
        initialize: initialize as Record<string, unknown>,
        createdAt: t,
        writtenAt: t,
      };
      // Bounded per grant: a token holder opening sessions in a loop keeps the newest.
      const existing = await store.list<SessionRecord>(keys.mcpSessionsOf(grantId));
      const oldest = existing.sort((a, b) => a.value.createdAt - b.value.createdAt)
        .slice(0, Math.max(0, existing.length - MAX_SESSION_RECORDS_PER_GRANT + 1));
      await store.write([
        ...oldest.map((e) => ({ op: "delete" as const, key: e.key })),
        { op: "set", key: key(grantId, id), value: record, expiresAt: t + SESSION_RECORD_TTL_MS },
      ]);
      return record;
    },
    async load(grantId, id) {
      if (id.length > MAX_SESSION_ID_LENGTH) return undefined;
      return await store.get<SessionRecord>(key(grantId, id));
    },
    async touch(grantId, id, record) {
      const t = now();
      const next = { ...record, writtenAt: t };
      const k = key(grantId, id);
      // Only while it exists: a session ended elsewhere meanwhile stays ended.
      await store.transact([k], ([current]) => ({
        ops: current === undefined
          ? []
          : [{ op: "set", key: k, value: next, expiresAt: t + SESSION_RECORD_TTL_MS }],
        result: undefined,
      }));
      return next;
    },
    async end(grantId, id) {
      await store.write([{ op: "delete", key: key(grantId, id) }]);
    },
  };
}
