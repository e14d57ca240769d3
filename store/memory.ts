/**
 * A store kept in a Map: for tests, and the in-memory half of the file store.
 *
 * @module
 */
import { type Entry, hasPrefix, type Key, type Plan, type Store, type WriteOp } from "./store.ts";

/** A stored record with its key and optional expiry (epoch ms). */
export interface Slot {
  key: Key;
  value: unknown;
  expiresAt?: number;
}

/** What a key held before a change: enough to undo it. */
export interface Undo {
  id: string;
  previous: Slot | undefined;
}

/** The Map form of a key. */
export function keyId(key: Key): string {
  return JSON.stringify(key);
}

/** How many records one sweep looks at: every write pays for at most this much. */
export const SWEEP_BATCH = 64;

/**
 * The synchronous core shared by the memory and file stores. JavaScript runs one
 * task at a time and `plan` is synchronous, so read-plan-apply cannot interleave
 * with another transaction: atomicity comes for free.
 *
 * Records are also indexed by the first part of their key, so that listing one kind
 * (`["client"]`, `["grant"]`) costs in proportion to that kind, not to the whole store.
 * Expired records are swept a few at a time as writes come in (each write looks at
 * {@linkcode SWEEP_BATCH} records, resuming where the last one stopped), so that a dead
 * refresh token does not stay in memory until the next restart.
 */
export function createMapCore(now: () => number = Date.now) {
  const slots = new Map<string, Slot>();
  /** Ids by the first part of their key. */
  const byKind = new Map<string, Set<string>>();
  let cursor: Iterator<[string, Slot]> | undefined;

  function put(id: string, slot: Slot): void {
    if (!slots.has(id)) {
      const kind = slot.key[0] ?? "";
      let ids = byKind.get(kind);
      if (!ids) byKind.set(kind, ids = new Set());
      ids.add(id);
    }
    slots.set(id, slot);
  }

  function remove(id: string): void {
    const slot = slots.get(id);
    if (!slot) return;
    slots.delete(id);
    const kind = slot.key[0] ?? "";
    const ids = byKind.get(kind);
    ids?.delete(id);
    if (ids?.size === 0) byKind.delete(kind);
  }

  function expired(slot: Slot, t: number): boolean {
    return slot.expiresAt !== undefined && slot.expiresAt <= t;
  }

  function live(id: string): Slot | undefined {
    const slot = slots.get(id);
    if (slot && expired(slot, now())) {
      remove(id);
      return undefined;
    }
    return slot;
  }

  /** Drops expired records among the next `budget` records; returns how many it dropped. */
  function sweep(budget: number): number {
    const t = now();
    let dropped = 0;
    for (let seen = 0; seen < budget && slots.size > 0; seen++) {
      cursor ??= slots.entries();
      const next = cursor.next();
      if (next.done) {
        // A pass is over; the next one starts at the oldest record.
        cursor = undefined;
        continue;
      }
      const [id, slot] = next.value;
      // The live map's iterator may hand back a record replaced since: read it afresh.
      if (slots.get(id) === slot && expired(slot, t)) {
        remove(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Applies writes; returns what undoes them (see {@linkcode undo}). */
  function apply(ops: WriteOp[]): Undo[] {
    // Values are copied so that a caller mutating its object cannot change the store, and
    // all of them before any is stored, so that one that cannot be copied applies nothing.
    const values = ops.map((op) => op.op === "set" ? structuredClone(op.value) : undefined);
    const undo: Undo[] = [];
    ops.forEach((op, i) => {
      const id = keyId(op.key);
      undo.push({ id, previous: slots.get(id) });
      if (op.op === "delete") remove(id);
      else put(id, { key: [...op.key], value: values[i], expiresAt: op.expiresAt });
    });
    if (ops.length > 0) sweep(SWEEP_BATCH);
    return undo;
  }

  /** Restores what `entries` (from {@linkcode apply}, oldest first) record, newest first. */
  function undo(entries: readonly Undo[]): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const { id, previous } = entries[i]!;
      if (previous) put(id, previous);
      else remove(id);
    }
  }

  return {
    slots,
    get<T>(key: Key): T | undefined {
      const slot = live(keyId(key));
      return slot ? (structuredClone(slot.value) as T) : undefined;
    },
    list<T>(prefix: Key): Entry<T>[] {
      const out: Entry<T>[] = [];
      const ids = prefix.length === 0 ? slots.keys() : byKind.get(prefix[0]!)?.values();
      if (!ids) return out;
      for (const id of [...ids]) {
        const slot = slots.get(id);
        // Like Deno KV, a prefix selects the keys below it, not the key equal to it.
        if (slot && slot.key.length > prefix.length && hasPrefix(slot.key, prefix) && live(id)) {
          out.push({ key: slot.key, value: structuredClone(slot.value) as T });
        }
      }
      return out;
    },
    transact<R>(
      keys: Key[],
      plan: (values: unknown[]) => Plan<R>,
    ): { result: R; undo: Undo[] } {
      const values = keys.map((k) => {
        const slot = live(keyId(k));
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
      remove(keyId(key));
    },
    sweep,
    /** Drops every expired record; returns how many. */
    prune(): number {
      const t = now();
      let n = 0;
      for (const [id, slot] of [...slots]) {
        if (expired(slot, t)) {
          remove(id);
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
  return {
    get: (key) => Promise.resolve(core.get(key)),
    list: (prefix) => Promise.resolve(core.list(prefix)),
    transact: (keys, plan) => {
      try {
        return Promise.resolve(core.transact(keys, plan).result);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    write: (ops) => {
      try {
        core.apply(ops); // nothing to persist: applied means stored
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    close: () => Promise.resolve(),
  };
}
