/**
 * A store kept in a Map: for tests, and the in-memory half of the file store.
 *
 * @module
 */
import {
  createKeyWatchers,
  type Entry,
  hasPrefix,
  type Key,
  type Plan,
  type Store,
  type WriteOp,
} from "./store.ts";

/** A stored record with its key and optional expiry (epoch ms). */
export interface Slot {
  key: Key;
  value: unknown;
  expiresAt?: number;
}

/** What a key held before a change: enough to undo it. */
export interface Undo {
  id: string;
  key: Key;
  previous: Slot | undefined;
}

/** The Map form of a key. */
export function keyId(key: Key): string {
  return JSON.stringify(key);
}

/**
 * Whether a value is a frozen object whose fields are all primitives: nobody can change
 * it, so the store may keep it as it is instead of a copy (the audit trail writes one
 * per tool call: the copy was a twentieth of the hot path's time).
 */
export function isFrozenFlat(value: unknown): boolean {
  if (!value || typeof value !== "object" || !Object.isFrozen(value)) return false;
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== null && (typeof v === "object" || typeof v === "function")) return false;
  }
  return true;
}

/** How many records one sweep looks at: every write pays for at most this much. */
export const SWEEP_BATCH = 64;

/**
 * The synchronous core shared by the memory and file stores. JavaScript runs one
 * task at a time and `plan` is synchronous, so read-plan-apply cannot interleave
 * with another transaction: atomicity comes for free.
 *
 * Records are kept by the first part of their key (their kind: `client`, `grant`, ...),
 * so that listing one kind costs in proportion to that kind, not to the whole store.
 * Expired records are swept a few at a time as writes come in (each write looks at
 * {@linkcode SWEEP_BATCH} records, resuming where the last one stopped), so that a dead
 * refresh token does not stay in memory until the next restart.
 */
export function createMapCore(now: () => number = Date.now) {
  /** Records by kind, then by key id. */
  const kinds = new Map<string, Map<string, Slot>>();
  let count = 0;
  let cursor: Iterator<Slot> | undefined;

  function kindOf(key: Key): string {
    return key[0] ?? "";
  }

  function find(key: Key, id: string): Slot | undefined {
    return kinds.get(kindOf(key))?.get(id);
  }

  function put(id: string, slot: Slot): void {
    const kind = kindOf(slot.key);
    let map = kinds.get(kind);
    if (!map) kinds.set(kind, map = new Map());
    const size = map.size;
    map.set(id, slot);
    count += map.size - size;
  }

  function remove(key: Key, id: string): void {
    const kind = kindOf(key);
    const map = kinds.get(kind);
    if (map?.delete(id)) {
      count--;
      if (map.size === 0) kinds.delete(kind);
    }
  }

  function expired(slot: Slot, t: number): boolean {
    return slot.expiresAt !== undefined && slot.expiresAt <= t;
  }

  function live(key: Key, id: string): Slot | undefined {
    const slot = find(key, id);
    if (slot && expired(slot, now())) {
      remove(key, id);
      return undefined;
    }
    return slot;
  }

  function* everything(): Generator<Slot> {
    for (const map of kinds.values()) yield* map.values();
  }

  /** Drops expired records among the next `budget` records; returns how many it dropped. */
  function sweep(budget: number): number {
    const t = now();
    let dropped = 0;
    for (let seen = 0; seen < budget && count > 0; seen++) {
      cursor ??= everything();
      const next = cursor.next();
      if (next.done) {
        // A pass is over; the next one starts again at the first kind.
        cursor = undefined;
        continue;
      }
      const slot = next.value;
      if (expired(slot, t)) {
        const id = keyId(slot.key);
        // The iterator may hand back a record replaced since: only this one goes.
        if (find(slot.key, id) === slot) {
          remove(slot.key, id);
          dropped++;
        }
      }
    }
    return dropped;
  }

  /**
   * Applies writes; returns what undoes them (see {@linkcode undo}), unless told that
   * nobody will (the memory store: applied means stored).
   */
  function apply(ops: WriteOp[], keepUndo = true): Undo[] {
    // Values are copied so that a caller mutating its object cannot change the store, and
    // all of them before any is stored, so that one that cannot be copied applies nothing.
    const values = ops.map((op) =>
      op.op === "set" ? (isFrozenFlat(op.value) ? op.value : structuredClone(op.value)) : undefined
    );
    const undo: Undo[] = [];
    ops.forEach((op, i) => {
      const id = keyId(op.key);
      if (keepUndo) undo.push({ id, key: op.key, previous: find(op.key, id) });
      if (op.op === "delete") remove(op.key, id);
      else put(id, { key: [...op.key], value: values[i], expiresAt: op.expiresAt });
    });
    if (ops.length > 0) sweep(SWEEP_BATCH);
    return undo;
  }

  /** Restores what `entries` (from {@linkcode apply}, oldest first) record, newest first. */
  function undo(entries: readonly Undo[]): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const { id, key, previous } = entries[i]!;
      if (previous) put(id, previous);
      else remove(key, id);
    }
  }

  return {
    /** How many records are held, expired ones not yet swept included. */
    get size(): number {
      return count;
    },
    /** Every record held, kind by kind. */
    records: everything,
    get<T>(key: Key): T | undefined {
      const slot = live(key, keyId(key));
      return slot ? (structuredClone(slot.value) as T) : undefined;
    },
    list<T>(prefix: Key): Entry<T>[] {
      const out: Entry<T>[] = [];
      const t = now();
      const maps = prefix.length === 0 ? [...kinds.values()] : [kinds.get(prefix[0]!)];
      for (const map of maps) {
        if (!map) continue;
        for (const slot of [...map.values()]) {
          // Like Deno KV, a prefix selects the keys below it, not the key equal to it.
          if (slot.key.length <= prefix.length || !hasPrefix(slot.key, prefix)) continue;
          if (expired(slot, t)) remove(slot.key, keyId(slot.key));
          else out.push({ key: slot.key, value: structuredClone(slot.value) as T });
        }
      }
      return out;
    },
    transact<R>(
      keys: Key[],
      plan: (values: unknown[]) => Plan<R>,
    ): { result: R; undo: Undo[] } {
      const values = keys.map((k) => {
        const slot = live(k, keyId(k));
        return slot ? structuredClone(slot.value) : undefined;
      });
      const { ops, result } = plan(values);
      return { result, undo: apply(ops) };
    },
    apply,
    undo,
    /** Puts a record as read from disk (no copy, no undo). */
    load(slot: Slot): void {
      put(keyId(slot.key), slot);
    },
    /** Removes a record as read from disk. */
    unload(key: Key): void {
      remove(key, keyId(key));
    },
    sweep,
    /** Drops every expired record; returns how many. */
    prune(): number {
      const t = now();
      let n = 0;
      for (const slot of [...everything()]) {
        if (expired(slot, t)) {
          remove(slot.key, keyId(slot.key));
          n++;
        }
      }
      return n;
    },
  };
}

/**
 * A store that keeps everything in memory: state is lost when the process ends.
 *
 * @example Using the memory store in a test
 * ```ts
 * import { createMemoryStore } from "./memory.ts";
 * const store = createMemoryStore();
 * await store.write([{ op: "set", key: ["a", "1"], value: { n: 1 } }]);
 * const value = await store.get<{ n: number }>(["a", "1"]);
 * if (value?.n !== 1) throw new Error("not stored");
 * ```
 */
export function createMemoryStore(options: { now?: () => number } = {}): Store {
  const core = createMapCore(options.now);
  // Every writer is in this process (two servers in one test may share the store).
  const watchers = createKeyWatchers();
  return {
    get: (key) => Promise.resolve(core.get(key)),
    list: (prefix) => Promise.resolve(core.list(prefix)),
    transact: (keys, plan) => {
      try {
        let ops: WriteOp[] = [];
        const { result } = core.transact(keys, (values) => {
          const decided = plan(values);
          ops = decided.ops;
          return decided;
        });
        watchers.changed(ops);
        return Promise.resolve(result);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    write: (ops) => {
      try {
        core.apply(ops, false); // nothing to persist: applied means stored
        watchers.changed(ops);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    watch: watchers.watch,
    close: () => {
      watchers.clear();
      return Promise.resolve();
    },
  };
}
