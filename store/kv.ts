/**
 * A store on Deno KV: the default on Deno Deploy and under `--unstable-kv`.
 *
 * @module
 */
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { type Entry, type Store, StoreUnavailableError, type WriteOp } from "./store.ts";

interface Wrapped {
  v: unknown;
  /** Expiry, epoch ms. KV's own `expireIn` is lazy, so reads check this too. */
  e?: number;
}

// Minimal structural types, so this file type-checks without Deno's unstable lib.
interface KvEntryMaybe {
  key: readonly unknown[];
  value: unknown;
  versionstamp: string | null;
}
interface KvAtomic {
  check(...entries: { key: readonly unknown[]; versionstamp: string | null }[]): KvAtomic;
  set(key: unknown[], value: unknown, options?: { expireIn?: number }): KvAtomic;
  delete(key: unknown[]): KvAtomic;
  commit(): Promise<{ ok: boolean }>;
}
interface Kv {
  watch(keys: unknown[][]): ReadableStream<KvEntryMaybe[]>;
  get(key: unknown[]): Promise<KvEntryMaybe>;
  getMany(keys: unknown[][]): Promise<KvEntryMaybe[]>;
  list(selector: { prefix: unknown[] }): AsyncIterable<KvEntryMaybe>;
  atomic(): KvAtomic;
  close(): void;
}

/**
 * How often a watched key of a local database file is read, in ms. Deno KV on a file
 * notifies the watchers of this process only (another process's writes to the same
 * file are not announced), so several servers on one file poll: a read of one key.
 */
export const KV_WATCH_POLL_MS = 250;
/** How long a broken `Deno.Kv.watch` waits before it is opened again, in ms. */
const KV_WATCH_RETRY_MS = 1000;

/** How a KV store hears of changes made by other processes. */
export type KvWatchMode = "native" | "poll";

/** Options of {@linkcode openKvStore}. */
export interface KvStoreOptions {
  /** Clock in epoch milliseconds, for tests. @default Date.now */
  now?: () => number;
  /**
   * `"native"`: `Deno.Kv.watch` (Deno Deploy and remote databases announce every
   * writer's changes); `"poll"`: read the watched key every {@linkcode KV_WATCH_POLL_MS}.
   * @default "poll" for a local file, else "native"
   */
  watch?: KvWatchMode;
}

/** Keeps a timer from holding the process open (Deno), where the runtime allows it. */
function unref(timer: ReturnType<typeof setTimeout>): void {
  // Deno 2 returns Node-style timer objects (with unref); older Deno returns ids.
  if (typeof (timer as { unref?: unknown })?.unref === "function") {
    (timer as unknown as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
}

/** Deno KV's key limit for writes, in encoded bytes (reads allow one more). */
const MAX_KEY_BYTES = 2048;
const utf8 = new TextEncoder();

/** A key's size as Deno KV encodes it: per string a tag, the UTF-8 bytes (NUL escaped), an end. */
function keyBytes(key: readonly string[]): number {
  let n = 0;
  for (const part of key) {
    const bytes = utf8.encode(part);
    n += 2 + bytes.length + bytes.filter((b) => b === 0).length;
  }
  return n;
}

/** Whether this process runs on Deno Deploy (which sets DENO_DEPLOYMENT_ID). */
function onDeploy(): boolean {
  try {
    const deno = (globalThis as { Deno?: { env?: { get(name: string): string | undefined } } })
      .Deno;
    return deno?.env?.get("DENO_DEPLOYMENT_ID") !== undefined;
  } catch {
    return false; // no permission to read the environment: not Deploy's own setting
  }
}

/** Whether this runtime offers Deno KV (`Deno.openKv`). */
export function kvAvailable(): boolean {
  const deno = (globalThis as { Deno?: { openKv?: unknown } }).Deno;
  return typeof deno?.openKv === "function";
}

function unwrap(raw: unknown, now: number): unknown {
  const w = raw as Wrapped | null;
  if (!w || typeof w !== "object" || !("v" in w)) return undefined;
  if (w.e !== undefined && w.e <= now) return undefined;
  return w.v;
}

/** A random delay in [0, maxMs). */
function jitterMs(maxMs: number): number {
  return (crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32) * maxMs;
}

function addOp(atomic: KvAtomic, op: WriteOp, now: number): void {
  if (op.op === "delete") atomic.delete([...op.key]);
  else {
    const wrapped: Wrapped = op.expiresAt === undefined
      ? { v: op.value }
      : { v: op.value, e: op.expiresAt };
    const expireIn = op.expiresAt === undefined ? undefined : Math.max(1, op.expiresAt - now);
    atomic.set([...op.key], wrapped, expireIn === undefined ? undefined : { expireIn });
  }
}

/** Most attempts of a read or commit that found the database file locked. */
const BUSY_ATTEMPTS = 32;

/**
 * Whether Deno KV gave up because another connection held the database file's lock:
 * several processes on one file (servers, an owner command) writing at once. Deno
 * reports it as a TypeError ("database is locked"); nothing was read or stored.
 */
function isBusy(error: unknown): boolean {
  return error instanceof Error && /database (table )?is (locked|busy)/i.test(error.message);
}

/** Runs a read again while the database file is locked by another process. */
async function whileBusy<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!isBusy(error) || attempt >= BUSY_ATTEMPTS) throw busyOr(error);
      await new Promise((resolve) => setTimeout(resolve, jitterMs(2 ** Math.min(attempt, 6))));
    }
  }
}

/** A lock that never cleared is the store being unavailable, not a bug. */
function busyOr(error: unknown): unknown {
  return isBusy(error)
    ? new StoreUnavailableError("Deno KV stayed locked by another process", { cause: error })
    : error;
}

/**
 * Commits atomically; `ok: false` when a check failed or the file was locked by another
 * process (the caller tries again). A commit that fails (disk full, I/O error) stored
 * nothing; another TypeError (a key or value over KV's limits) is a bug and stays one.
 */
async function commit(atomic: KvAtomic): Promise<{ ok: boolean }> {
  try {
    return await atomic.commit();
  } catch (error) {
    if (isBusy(error)) return { ok: false };
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    throw new StoreUnavailableError(
      `Deno KV could not commit (${(error as Error)?.message}); nothing changed`,
      { cause: error },
    );
  }
}

/**
 * Makes a local database file readable by the owner only (0600), before Deno KV opens
 * it: SQLite creates its -wal and -shm files with the database file's mode, so they
 * follow. Files left 0644 by an earlier version are tightened too.
 */
function ownerOnly(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

/**
 * Opens a Deno KV database (`path` for a local file, created with mode 0600; none on
 * Deno Deploy).
 *
 * @example Opening a KV store in memory
 * ```ts
 * import { openKvStore } from "./kv.ts";
 * const store = await openKvStore(":memory:");
 * await store.write([{ op: "set", key: ["k"], value: 1 }]);
 * await store.close();
 * ```
 */
export async function openKvStore(
  path?: string,
  options: KvStoreOptions = {},
): Promise<Store> {
  const now = options.now ?? Date.now;
  const local = path !== undefined && path !== ":memory:" && !/^https?:/i.test(path);
  // A native watch is a pending operation that keeps the process alive (a local
  // `deno serve` would not end on SIGTERM): used on Deno Deploy and for remote
  // databases, where other isolates' writes reach it; polled (unref'd) elsewhere.
  const mode = options.watch ?? (local || (path === undefined && !onDeploy()) ? "poll" : "native");
  const deno = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<Kv> } }).Deno;
  if (!deno?.openKv) {
    throw new Error("Deno KV is not available in this runtime (run Deno with --unstable-kv)");
  }
  // Tokens are stored hashed, but grants and clients are the owner's business alone.
  if (local) ownerOnly(path);
  const kv = await deno.openKv(path);
  const stops = new Set<() => void>();

  /** Reads the key every {@linkcode KV_WATCH_POLL_MS} and calls `onChange` when its versionstamp moved. */
  function pollWatch(key: readonly string[], onChange: () => void): () => void {
    let seen: string | null | undefined;
    let busy = false;
    const read = async () => {
      if (busy) return;
      busy = true;
      try {
        const { versionstamp } = await kv.get([...key]);
        // The first read reports a record that exists: it may have been written just
        // before the watch began.
        if (seen === undefined ? versionstamp !== null : versionstamp !== seen) onChange();
        seen = versionstamp;
      } catch {
        /* closed, or a passing error: the next tick reads again */
      } finally {
        busy = false;
      }
    };
    void read();
    const timer = setInterval(read, KV_WATCH_POLL_MS);
    unref(timer);
    return () => clearInterval(timer);
  }

  /** `Deno.Kv.watch`, opened again after a break; each (re)opening also calls `onChange`. */
  function nativeWatch(key: readonly string[], onChange: () => void): () => void {
    let stopped = false;
    let reader: ReadableStreamDefaultReader<unknown> | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    void (async () => {
      while (!stopped) {
        try {
          reader = kv.watch([[...key]]).getReader();
          // The first emission is the current value: the caller reads it as a change.
          for (;;) {
            const { done } = await reader.read();
            if (done || stopped) break;
            onChange();
          }
        } catch { /* the watch broke (a network error on Deploy): open it again */ }
        if (stopped) break;
        // Whatever changed while no watch was open is read by the caller now.
        onChange();
        await new Promise<void>((resolve) => {
          wake = resolve;
          retry = setTimeout(resolve, KV_WATCH_RETRY_MS);
          unref(retry);
        });
      }
    })();
    return () => {
      stopped = true;
      clearTimeout(retry);
      wake();
      reader?.cancel().catch(() => {});
    };
  }

  return {
    // A local file may be opened by other processes (several servers, owner commands);
    // Deno Deploy's database by every isolate. Only an in-memory database is private.
    shared: path !== ":memory:",
    watch(key, onChange) {
      const stop = mode === "native" ? nativeWatch(key, onChange) : pollWatch(key, onChange);
      const stopOnce = () => {
        if (stops.delete(stopOnce)) stop();
      };
      stops.add(stopOnce);
      return stopOnce;
    },
    async get<T>(key: readonly string[]) {
      // A key KV could never have stored is absent, not an error (callers bound theirs too).
      if (keyBytes(key) > MAX_KEY_BYTES) return undefined;
      const entry = await whileBusy(() => kv.get([...key]));
      return unwrap(entry.value, now()) as T | undefined;
    },
    async list<T>(prefix: readonly string[]) {
      if (keyBytes(prefix) > MAX_KEY_BYTES) return [];
      const t = now();
      return await whileBusy(async () => {
        const out: Entry<T>[] = [];
        for await (const entry of kv.list({ prefix: [...prefix] })) {
          const value = unwrap(entry.value, t);
          if (value !== undefined) out.push({ key: entry.key as string[], value: value as T });
        }
        return out;
      });
    },
    async transact(keys, plan) {
      // Optimistic concurrency: retry when another writer changed a key we read.
      for (let attempt = 0; attempt < 32; attempt++) {
        const entries = keys.length
          ? await whileBusy(() => kv.getMany(keys.map((k) => [...k])))
          : [];
        const t = now();
        const { ops, result } = plan(entries.map((e) => unwrap(e.value, t)));
        if (ops.length === 0) return result;
        const atomic = kv.atomic();
        for (const e of entries) atomic.check({ key: e.key, versionstamp: e.versionstamp });
        for (const op of ops) addOp(atomic, op, t);
        if ((await commit(atomic)).ok) return result;
        // Writers that collided would collide again if they all retried at once.
        await new Promise((resolve) => setTimeout(resolve, jitterMs(2 ** Math.min(attempt, 6))));
      }
      throw new StoreUnavailableError("Deno KV transaction kept conflicting; nothing changed");
    },
    async write(ops) {
      if (ops.length === 0) return;
      for (let attempt = 0; attempt < BUSY_ATTEMPTS; attempt++) {
        const atomic = kv.atomic();
        const t = now();
        for (const op of ops) addOp(atomic, op, t);
        // Without checks, only a lock held by another process refuses it: try again.
        if ((await commit(atomic)).ok) return;
        await new Promise((resolve) => setTimeout(resolve, jitterMs(2 ** Math.min(attempt, 6))));
      }
      throw new StoreUnavailableError("Deno KV stayed locked by another process; nothing changed");
    },
    close() {
      for (const stop of [...stops]) stop();
      kv.close();
      return Promise.resolve();
    },
  };
}
