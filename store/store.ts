/**
 * The one storage interface behind the authorization server, and what every adapter
 * (memory, JSON file, Deno KV) promises.
 *
 * @module
 */

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
  /** Releases files, locks and handles. */
  close(): Promise<void>;
}

/** Whether `key` starts with `prefix`. */
export function hasPrefix(key: Key, prefix: Key): boolean {
  if (prefix.length > key.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/**
 * A write that could not be stored (a full or failing disk, a database that refused the
 * commit). Nothing of it was kept; the caller may try again later (HTTP 503).
 */
export class StoreUnavailableError extends Error {
  /** Builds the error; `cause` is the adapter's own error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}
