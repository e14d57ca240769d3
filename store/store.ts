/**
 * The one storage interface behind the authorization server, and what every adapter
 * (memory, JSON file, Deno KV) promises.
 *
 * @module
 */

// A store throws it and the router answers it (503), so it lives in core/ with the
// other refusals; a store of one's own finds it here.
export { StoreUnavailableError } from "../core/errors.ts";

/** A key is a path of strings, like Deno KV keys: `["client", clientId]`. */
export type Key = readonly string[];

/** One stored record and its key. */
export interface Entry<T = unknown> {
  /** The record's key. */
  key: Key;
  /** The record. */
  value: T;
}

/** One write of an atomic batch. `expiresAt` is epoch milliseconds; absent means forever. */
export type WriteOp =
  | { op: "set"; key: Key; value: unknown; expiresAt?: number }
  | { op: "delete"; key: Key };

/** What a transaction plan decides: the writes to apply and the value to hand back. */
export interface Plan<R> {
  /** The writes to apply atomically (none: nothing changes). */
  ops: WriteOp[];
  /** What `transact` resolves to. */
  result: R;
}

/**
 * Key-value storage with expiry and atomic read-modify-write.
 *
 * Every adapter guarantees:
 * - an expired record reads as absent and is eventually removed;
 * - `transact` reads `keys`, calls `plan` with their current values (undefined when
 *   absent) and applies its writes only if none of those keys changed meanwhile,
 *   retrying otherwise; `plan` must therefore be synchronous and free of side effects;
 * - when `transact` or `write` resolves, the writes are durable (for adapters that
 *   persist at all);
 * - when they reject, nothing of theirs is stored, in memory or on disk: memory and
 *   disk never disagree. A write that could not be made durable rejects with
 *   {@linkcode StoreUnavailableError}, and so do writes that were applied after it and
 *   had to be undone with it.
 */
export interface Store {
  /** Reads one record; undefined when absent or expired. */
  get<T>(key: Key): Promise<T | undefined>;
  /** All live records whose key starts with `prefix` and is longer than it (as in Deno KV). */
  list<T>(prefix: Key): Promise<Entry<T>[]>;
  /** Atomic read-modify-write over `keys`; see the interface documentation. */
  transact<R>(keys: Key[], plan: (values: unknown[]) => Plan<R>): Promise<R>;
  /** Applies writes atomically without reading. */
  write(ops: WriteOp[]): Promise<void>;
  /** Releases files, locks and handles (and stops every watch). */
  close(): Promise<void>;
  /**
   * True when other processes read and write the same records at the same time (Deno
   * KV: several servers on one database file, or Deno Deploy's isolates). Rate-limit
   * counts and MCP session records then live in the store instead of in memory.
   */
  readonly shared?: boolean;
  /**
   * Calls `onChange` soon after the record at `key` changed, whoever changed it (for a
   * shared store, other processes too); returns a function that stops watching. A call
   * may come without a change (a reconnect): the caller reads the record to know.
   * Absent: the caller reads the record itself when it needs to know.
   */
  watch?(key: Key, onChange: () => void): () => void;
}

/**
 * In-process watchers of keys, for the adapters whose every writer lives in this
 * process (memory, file): a write that touched a watched key calls its watchers.
 *
 * @example A write of the watched key calls the watcher
 * ```ts
 * import { createKeyWatchers } from "./store.ts";
 * const watchers = createKeyWatchers();
 * let calls = 0;
 * const stop = watchers.watch(["server", "notice"], () => calls++);
 * watchers.changed([{ op: "set", key: ["server", "notice"], value: 1 }]);
 * await Promise.resolve();
 * stop();
 * if (calls !== 1) throw new Error(`called ${calls} times`);
 * ```
 */
export function createKeyWatchers() {
  const byKey = new Map<string, Set<() => void>>();
  // How many watched keys each kind (first part) has: a write of a kind nobody watches
  // (an audit record, on every tool call) is passed over without serializing its key.
  const kinds = new Map<string, number>();
  return {
    watch(key: Key, onChange: () => void): () => void {
      const id = JSON.stringify(key);
      const kind = key[0] ?? "";
      let set = byKey.get(id);
      if (!set) {
        byKey.set(id, set = new Set());
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      // A wrapper per call, so that watching twice with one function needs two stops.
      const call = () => onChange();
      set.add(call);
      return () => {
        set.delete(call);
        if (set.size === 0 && byKey.get(id) === set) {
          byKey.delete(id);
          const left = (kinds.get(kind) ?? 1) - 1;
          if (left > 0) kinds.set(kind, left);
          else kinds.delete(kind);
        }
      };
    },
    /** Tells the watchers of every key in `ops` (after the writes are stored). */
    changed(ops: readonly WriteOp[]): void {
      if (byKey.size === 0) return;
      for (const op of ops) {
        if (!kinds.has(op.key[0] ?? "")) continue;
        for (const call of byKey.get(JSON.stringify(op.key)) ?? []) queueMicrotask(call);
      }
    },
    /** Stops every watch. */
    clear(): void {
      byKey.clear();
      kinds.clear();
    },
  };
}

/** Whether `key` starts with `prefix`. */
export function hasPrefix(key: Key, prefix: Key): boolean {
  if (prefix.length > key.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}
