/**
 * A store that keeps its records in memory and writes them, after every change, to
 * one JSON file: atomically (temp file, fsync, rename), readable by the owner only.
 * Works wherever `node:fs` does (Deno, Bun, Node).
 *
 * @module
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { chmod, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import { createMapCore, keyId, type Slot, type Undo } from "./memory.ts";
import { createKeyWatchers, type Store, StoreUnavailableError, type WriteOp } from "./store.ts";

/** The file's name inside the state folder. */
export const STATE_FILE = "state.json";
/** The lock that keeps a second process off the same folder. */
export const LOCK_FILE = "state.lock";
const FORMAT_VERSION = 1;

interface FileShape {
  version: number;
  records: { key: string[]; value: unknown; expiresAt?: number }[];
}

/** Raised when the state file exists but cannot be trusted. */
export class StateFileError extends Error {
  /** Builds the error; `message` names the file and how to recover. */
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}

/** Raised when another live process holds the state folder's lock (a running server). */
export class StateLockedError extends StateFileError {
  constructor(message: string, readonly pid: number) {
    super(message);
    this.name = "StateLockedError";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === "EPERM";
  }
}

/**
 * Locks held by stores open in this process. The pid in the lock file cannot tell them
 * apart from a stale lock that a previous run with the same pid left behind (pid 1 in a
 * container), so they are remembered here.
 */
const heldLocks = new Set<string>();

/** Takes the folder's lock, or explains who holds it. A lock left by a dead process is taken over. */
function acquireLock(path: string): void {
  if (heldLocks.has(path)) {
    throw new StateFileError(
      `state folder is already open in this process (lock ${path}); close that store first`,
    );
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldLocks.add(path);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, "utf8"), 10);
      } catch { /* unreadable: treat as stale */ }
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new StateLockedError(
          `state folder is in use by process ${holder} (lock ${path}); ` +
            `stop that server or give this one another --state-dir`,
          holder,
        );
      }
      try {
        unlinkSync(path);
      } catch { /* raced with another taker; try again */ }
    }
  }
  throw new StateFileError(`could not take the lock ${path}`);
}

function releaseLock(path: string): void {
  heldLocks.delete(path);
  try {
    unlinkSync(path);
  } catch { /* already gone */ }
}

function parseState(text: string, path: string): Slot[] {
  let data: FileShape;
  try {
    data = JSON.parse(text);
  } catch {
    throw new StateFileError(
      `state file ${path} is not valid JSON (truncated or corrupted). ` +
        `Refusing to start with empty state. Restore it from a backup, or move it aside ` +
        `to start fresh (every client will have to connect again).`,
    );
  }
  if (data?.version !== FORMAT_VERSION || !Array.isArray(data.records)) {
    throw new StateFileError(
      `state file ${path} has an unknown format (expected version ${FORMAT_VERSION}). ` +
        `Refusing to start; move it aside to start fresh.`,
    );
  }
  return data.records.map((r) => ({ key: r.key, value: r.value, expiresAt: r.expiresAt }));
}

/** Creates the state folder if needed and makes it readable by the owner only (0700). */
export async function prepareStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Options of {@linkcode openFileStore}. */
export interface FileStoreOptions {
  /** Clock in epoch milliseconds, for tests. @default Date.now */
  now?: () => number;
}

/**
 * Opens (creating if needed) the state folder `dir` with mode 0700 and its
 * `state.json` with mode 0600. Throws {@linkcode StateFileError} when the file is
 * corrupt or another live process holds the folder.
 *
 * @example Opening a file store
 * ```ts
 * import { openFileStore } from "./file.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await openFileStore(dir);
 * await store.write([{ op: "set", key: ["k"], value: 1 }]);
 * await store.close();
 * ```
 */
export async function openFileStore(dir: string, options: FileStoreOptions = {}): Promise<Store> {
  const now = options.now ?? Date.now;
  await prepareStateDir(dir);
  const path = join(dir, STATE_FILE);
  const lockPath = resolve(dir, LOCK_FILE);
  acquireLock(lockPath);

  const core = createMapCore(now);
  try {
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
    if (text !== undefined) {
      for (const slot of parseState(text, path)) core.slots.set(keyId(slot.key), slot);
      await chmod(path, 0o600);
    }
  } catch (error) {
    releaseLock(lockPath);
    throw error;
  }
  core.prune();

  let closed = false;
  const watchers = createKeyWatchers();
  let writing: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  // Changes applied in memory and not yet on disk, oldest first, with what undoes them.
  const journal: Undo[] = [];
  // Counts rollbacks: a write queued before one would save changes that no longer exist.
  let rollbacks = 0;

  /** Undoes every change not yet on disk, so that memory is what the file holds. */
  function rollback(): void {
    core.undo(journal);
    journal.length = 0;
    rollbacks++;
    queued = undefined;
  }

  async function writeSnapshot(): Promise<void> {
    const t = now();
    const records: FileShape["records"] = [];
    for (const slot of core.slots.values()) {
      if (slot.expiresAt !== undefined && slot.expiresAt <= t) continue;
      records.push({ key: [...slot.key], value: slot.value, expiresAt: slot.expiresAt });
    }
    const body = JSON.stringify({ version: FORMAT_VERSION, records } satisfies FileShape);
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    const handle = await open(tmp, "w", 0o600);
    try {
      try {
        await handle.writeFile(body, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (error) {
      // A full disk leaves no half-written temp file behind.
      await unlink(tmp).catch(() => {});
      throw error;
    }
    // The rename is durable only once the directory entry is. The new file is what a
    // restart reads from here on, so nothing below may fail the write.
    const dirHandle = await open(dir, "r").catch(() => undefined);
    if (dirHandle) {
      await dirHandle.sync().catch(() => {});
      await dirHandle.close().catch(() => {});
    }
  }

  /**
   * Group commit: changes made while a write is running are saved together by the
   * next write, and every caller waits for the write that contains its change.
   */
  function persist(): Promise<void> {
    if (queued) return queued;
    const epoch = rollbacks;
    // The body runs in a later microtask, so it may refer to `next` (an async IIFE would
    // run it synchronously, before `next` is assigned, when nothing is being written).
    const next: Promise<void> = (writing ?? Promise.resolve()).catch(() => {}).then(async () => {
      if (queued === next) queued = undefined;
      if (epoch !== rollbacks) {
        // Its changes were undone with a failed write they may have depended on.
        throw new StoreUnavailableError("the state file could not be written; nothing changed");
      }
      writing = next;
      // The snapshot is taken synchronously below: it holds exactly the first `saved` changes.
      const saved = journal.length;
      try {
        await writeSnapshot();
        journal.splice(0, saved);
      } catch (error) {
        // Fail closed: memory goes back to what the disk holds, every waiting caller fails.
        rollback();
        throw new StoreUnavailableError(
          `the state file ${path} could not be written (${
            (error as Error)?.message
          }); nothing changed`,
          { cause: error },
        );
      } finally {
        if (writing === next) writing = undefined;
      }
    });
    queued = next;
    return next;
  }

  function ensureOpen() {
    if (closed) throw new Error("file store is closed");
  }

  return {
    get(key) {
      return Promise.resolve(core.get(key));
    },
    list(prefix) {
      return Promise.resolve(core.list(prefix));
    },
    async transact(keys, plan) {
      ensureOpen();
      let ops: WriteOp[] = [];
      const { result, undo } = core.transact(keys, (values) => {
        const decided = plan(values);
        ops = decided.ops;
        return decided;
      });
      if (undo.length === 0) return result;
      journal.push(...undo);
      await persist();
      watchers.changed(ops);
      return result;
    },
    async write(ops) {
      ensureOpen();
      journal.push(...core.apply(ops));
      await persist();
      watchers.changed(ops);
    },
    // The lock keeps other processes out: every writer is in this one.
    watch: (key, onChange) => watchers.watch(key, onChange),
    async close() {
      if (closed) return;
      closed = true;
      watchers.clear();
      await (queued ?? writing)?.catch(() => {});
      releaseLock(lockPath);
    },
  };
}
