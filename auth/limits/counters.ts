/**
 * Where the rate limits keep their counts: in memory when only this process writes the
 * store (memory, file), in the store when other processes share it (Deno KV: several
 * servers on one file, Deno Deploy's isolates), so that N processes allow what one
 * allows. The limits' policy (limits.ts) is the same over either.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { hashSecret } from "../../core/crypto.ts";
import { keys } from "../../store/keys.ts";

/** Most counts kept in memory; past it, expired ones go, then all. */
export const MAX_COUNTED = 10_000;
/** Longest subject (a client address) used as a key as it is; longer ones are hashed. */
const MAX_SUBJECT_LENGTH = 128;

/** A new state and how long it is kept (epoch ms), or undefined to leave it as it is. */
export type CountChange<T> = { value: T; expiresAt: number } | undefined;

/**
 * Small states (counts, windows, backoffs) per name and subject, each with an expiry,
 * changed atomically.
 */
export interface Counters {
  /** The state of `subject` under `name`; undefined when absent or expired. */
  get<T>(name: string, subject: string): Promise<T | undefined>;
  /**
   * Replaces the state with what `change` makes of the current one, atomically (across
   * processes, for a shared store); resolves with the state after. `change` must be
   * synchronous and free of side effects: it may run more than once.
   */
  update<T>(
    name: string,
    subject: string,
    change: (current: T | undefined) => CountChange<T>,
  ): Promise<T | undefined>;
  /** Forgets the state of `subject` under `name`. */
  delete(name: string, subject: string): Promise<void>;
}

/**
 * Counts in memory, bounded: the fast path for a store no other process writes.
 *
 * @example A count that expires
 * ```ts
 * import { createMemoryCounters } from "./counters.ts";
 * let t = 0;
 * const counters = createMemoryCounters(() => t);
 * await counters.update<number>("n", "a", (n) => ({ value: (n ?? 0) + 1, expiresAt: 10 }));
 * if ((await counters.get<number>("n", "a")) !== 1) throw new Error("not counted");
 * t = 10;
 * if ((await counters.get<number>("n", "a")) !== undefined) throw new Error("not expired");
 * ```
 */
export function createMemoryCounters(now: () => number = Date.now): Counters {
  const states = new Map<string, { value: unknown; expiresAt: number }>();
  const id = (name: string, subject: string) => `${name}\n${subject}`;

  function live<T>(key: string): T | undefined {
    const state = states.get(key);
    if (!state) return undefined;
    if (state.expiresAt <= now()) {
      states.delete(key);
      return undefined;
    }
    return state.value as T;
  }

  return {
    get: (name, subject) => Promise.resolve(live(id(name, subject))),
    update<T>(name: string, subject: string, change: (current: T | undefined) => CountChange<T>) {
      const key = id(name, subject);
      const current = live<T>(key);
      const next = change(current);
      if (!next) return Promise.resolve(current);
      if (!states.has(key) && states.size >= MAX_COUNTED) {
        // Bounded memory: drop what expired, else start over.
        const t = now();
        for (const [k, s] of states) if (s.expiresAt <= t) states.delete(k);
        if (states.size >= MAX_COUNTED) states.clear();
      }
      states.set(key, { value: next.value, expiresAt: next.expiresAt });
      return Promise.resolve(next.value);
    },
    delete(name, subject) {
      states.delete(id(name, subject));
      return Promise.resolve();
    },
  };
}

/**
 * Counts in the store under `["limit", name, subject]`, each with its expiry, changed
 * by the store's atomic read-modify-write (on Deno KV a versionstamp-checked commit,
 * retried on conflict). Not KV's `sum`: a sum drops the key's expiry, and a count that
 * never expires would keep every address that ever failed.
 *
 * @example Two servers on one store count together
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { storeCounters } from "./counters.ts";
 * const store = createMemoryStore();
 * const a = storeCounters(store), b = storeCounters(store);
 * const add = (n: number | undefined) => ({ value: (n ?? 0) + 1, expiresAt: Date.now() + 60_000 });
 * await a.update<number>("n", "x", add);
 * if ((await b.update<number>("n", "x", add)) !== 2) throw new Error("not shared");
 * ```
 */
export function storeCounters(store: Store): Counters {
  async function key(name: string, subject: string) {
    // A client address from X-Forwarded-For could be long: keys stay bounded.
    const part = subject.length <= MAX_SUBJECT_LENGTH
      ? subject
      : `sha256:${await hashSecret(subject)}`;
    return keys.limit(name, part);
  }
  return {
    async get<T>(name: string, subject: string) {
      return await store.get<T>(await key(name, subject));
    },
    async update<T>(
      name: string,
      subject: string,
      change: (current: T | undefined) => CountChange<T>,
    ) {
      const k = await key(name, subject);
      return await store.transact([k], ([value]) => {
        const current = value as T | undefined;
        const next = change(current);
        if (!next) return { ops: [], result: current };
        return {
          ops: [{ op: "set", key: k, value: next.value, expiresAt: next.expiresAt }],
          result: next.value,
        };
      });
    },
    async delete(name, subject) {
      await store.write([{ op: "delete", key: await key(name, subject) }]);
    },
  };
}
