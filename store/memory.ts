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
  previous: Slot | undefined;
}

/** The Map form of a key. */
export function keyId(key: Key): string {
  return JSON.stringify(key);
}

/**
 * The synchronous core shared by the memory and file stores. JavaScript runs one
 * task at a time and `plan` is synchronous, so read-plan-apply cannot interleave
 * with another transaction: atomicity comes for free.
 */
export function createMapCore(now: () => number = Date.now) {
  const slots = new Map<string, Slot>();

  function live(id: string): Slot | undefined {
    const slot = slots.get(id);
    if (slot?.expiresAt !== undefined && slot.expiresAt <= now()) {
      slots.delete(id);
      return undefined;
    }
    return slot;
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
      if (op.op === "delete") slots.delete(id);
      else slots.set(id, { key: [...op.key], value: values[i], expiresAt: op.expiresAt });
    });
    return undo;
  }

  /** Restores what `entries` (from {@linkcode apply}, oldest first) record, newest first. */
  function undo(entries: readonly Undo[]): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const { id, previous } = entries[i]!;
      if (previous) slots.set(id, previous);
      else slots.delete(id);
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
      for (const [id, slot] of slots) {
        // Like Deno KV, a prefix selects the keys below it, not the key equal to it.
        if (slot.key.length > prefix.length && hasPrefix(slot.key, prefix) && live(id)) {
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
    /** Drops every expired record; returns how many. */
    prune(): number {
      let n = 0;
      for (const id of [...slots.keys()]) if (!live(id)) n++;
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
        core.apply(ops); // nothing to persist: applied means stored
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
