/**
 * A store that keeps its records in memory and their changes in one file of JSON lines,
 * readable by the owner only: every change is appended and synced before it is
 * acknowledged (group commit: changes made while a sync runs share the next one), so
 * a write costs the same whatever the size of the state. Now and then the file is
 * compacted (the live records written to a temporary file, synced, renamed over it),
 * once it has grown to twice what the live records take. A crash can leave the last
 * line half-written: it was never acknowledged, so it is dropped, and reported, at the
 * next start. Damage anywhere else refuses to start and names the file.
 * Works wherever `node:fs` does (Deno, Bun, Node).
 *
 * File format (`state.jsonl`): a first line `{"format":"personal-mcp-state","version":2}`,
 * then one line per atomic change: one operation, or a JSON array of them.
 * `{"key":[...],"value":...}` (with `"expiresAt"` in epoch ms when it expires) sets a
 * record, `{"key":[...],"deleted":true}` deletes one. A `state.json` of the first format
 * is migrated on open.
 *
 * @module
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { chmod, type FileHandle, mkdir, open, readFile, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  lineOf,
  type MapCore,
  openIfExists,
  parseLegacyState,
  type Replay,
  replayFile,
  StateFileError,
} from "./journal.ts";
import {
  createJournalWriter,
  type JournalState,
  syncDir,
  writeCompacted,
} from "./journal_writer.ts";
import { createMapCore, type Slot } from "./memory.ts";
import { createKeyWatchers, type Store, type WriteOp } from "./store.ts";

export { type Replay, StateFileError };

/** The file's name inside the state folder. */
export const STATE_FILE = "state.jsonl";
/** The file of the first format (one JSON document, rewritten on every change), migrated on open. */
export const LEGACY_STATE_FILE = "state.json";
/** The lock that keeps a second process off the same folder. */
export const LOCK_FILE = "state.lock";
/** The file grows to at least this much before a compaction, in bytes. */
export const COMPACT_MIN_BYTES = 4 * 1024 * 1024;
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

/**
 * The records a state file holds: what a restart would read. For tests and tools; the
 * store replays the file itself. Throws {@linkcode StateFileError} as opening would.
 *
 * @example Reading a state file
 * ```ts
 * import { openFileStore, readStateFile } from "./file.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await openFileStore(dir);
 * await store.write([{ op: "set", key: ["k"], value: 1 }]);
 * await store.close();
 * const { records } = await readStateFile(dir);
 * if (records[0]?.value !== 1) throw new Error("not on disk");
 * ```
 */
export async function readStateFile(
  dir: string,
  now: () => number = Date.now,
): Promise<{ records: Slot[] } & Replay> {
  const path = join(dir, STATE_FILE);
  const core = createMapCore(now);
  const result = await replayFile(path, await open(path, "r"), core);
  core.prune();
  return { records: [...core.records()], ...result };
}

/** Whether a state folder holds file-store state (either format). */
export function hasFileState(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE)) || existsSync(join(dir, LEGACY_STATE_FILE));
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
  /**
   * The file is compacted once it holds this many bytes and twice what the live records
   * take. @default COMPACT_MIN_BYTES (4 MiB)
   */
  compactMinBytes?: number;
  /**
   * Told what opening repaired or changed: a last write cut short by a crash (dropped),
   * a first-format `state.json` migrated. @default console.warn
   */
  onNotice?: (message: string) => void;
}

/** Options of {@linkcode openFileStore}. */
export interface FileStoreOptions {
  /** Clock in epoch milliseconds, for tests. @default Date.now */
  now?: () => number;
  /**
   * The file is compacted once it holds this many bytes and twice what the live records
   * take. @default COMPACT_MIN_BYTES (4 MiB)
   */
  compactMinBytes?: number;
  /**
   * Told what opening repaired or changed: a last write cut short by a crash (dropped),
   * a first-format `state.json` migrated. @default console.warn
   */
  onNotice?: (message: string) => void;
}

/**
 * Loads the state file into `core`: drops a last change a crash cut short, finishes a
 * migration that crashed after its rename.
 */
async function loadStateFile(
  dir: string,
  path: string,
  handle: FileHandle,
  core: MapCore,
  notice: (message: string) => void,
): Promise<JournalState> {
  const { goodBytes, tornBytes, sets } = await replayFile(path, handle, core);
  await chmod(path, 0o600);
  if (tornBytes > 0) {
    // The last change was cut short by a crash before it was synced, so it was never
    // acknowledged: drop it, so that the next change starts on a line of its own.
    const cut = await open(path, "r+");
    try {
      await cut.truncate(goodBytes);
      await cut.sync();
    } finally {
      await cut.close();
    }
    notice(
      `state file ${path}: dropped ${tornBytes} bytes of a last change that a crash cut ` +
        `short (it had not been acknowledged to anyone)`,
    );
  }
  core.prune();
  const legacyPath = join(dir, LEGACY_STATE_FILE);
  if (existsSync(legacyPath)) {
    // A migration that crashed after the rename: the new file is the state.
    await unlink(legacyPath);
    await syncDir(dir);
  }
  // Dead lines (replaced, deleted, expired) count against the file's live share.
  const liveBytes = sets === 0 ? 0 : Math.floor(goodBytes * Math.min(1, core.size / sets));
  return { fileBytes: goodBytes, exists: true, liveBytes };
}

/** Migrates a first-format `state.json`, if there is one, into a fresh state file. */
async function migrateLegacy(
  dir: string,
  path: string,
  core: MapCore,
  notice: (message: string) => void,
): Promise<JournalState> {
  const legacyPath = join(dir, LEGACY_STATE_FILE);
  let legacy: string | undefined;
  try {
    legacy = await readFile(legacyPath, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error;
    return { fileBytes: 0, exists: false, liveBytes: 0 };
  }
  for (const slot of parseLegacyState(legacy, legacyPath)) core.load(slot);
  legacy = undefined; // the text may be large: not kept while the new file is written
  core.prune();
  const fileBytes = await writeCompacted(path, [...core.records()]);
  await syncDir(dir);
  await unlink(legacyPath);
  await syncDir(dir);
  notice(`state file ${legacyPath} was migrated to ${path} (one line per change)`);
  return { fileBytes, exists: true, liveBytes: fileBytes };
}

/**
 * Opens (creating if needed) the state folder `dir` with mode 0700 and its
 * `state.jsonl` with mode 0600, migrating a first-format `state.json`. Throws
 * {@linkcode StateFileError} when the file is corrupt or another live process holds
 * the folder.
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
  const notice = options.onNotice ?? ((message: string) => console.warn(message));
  await prepareStateDir(dir);
  const path = join(dir, STATE_FILE);
  const lockPath = resolve(dir, LOCK_FILE);
  acquireLock(lockPath);
  const core = createMapCore(now);
  let state: JournalState;
  try {
    const handle = await openIfExists(path);
    state = handle
      ? await loadStateFile(dir, path, handle, core, notice)
      : await migrateLegacy(dir, path, core, notice);
  } catch (error) {
    releaseLock(lockPath);
    throw error;
  }
  const compactMinBytes = options.compactMinBytes ?? COMPACT_MIN_BYTES;
  const journal = createJournalWriter({ dir, path, core, now, compactMinBytes, state });
  const watchers = createKeyWatchers();
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error("file store is closed");
  };

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
      let line = "";
      const { result, undo } = core.transact(keys, (values) => {
        const decided = plan(values);
        ops = decided.ops;
        // Serialized before anything is applied: a value that is not JSON applies nothing.
        if (decided.ops.length > 0) line = lineOf(decided.ops);
        return decided;
      });
      if (undo.length === 0) return result;
      await journal.save(undo, line);
      watchers.changed(ops);
      return result;
    },
    async write(ops) {
      ensureOpen();
      // Nothing to save: wait for what is being saved.
      if (ops.length === 0) return await journal.settled();
      const line = lineOf(ops);
      await journal.save(core.apply(ops), line);
      watchers.changed(ops);
    },
    // The lock keeps other processes out: every writer is in this one.
    watch: (key, onChange) => watchers.watch(key, onChange),
    async close() {
      if (closed) return;
      closed = true;
      watchers.clear();
      await journal.settled();
      releaseLock(lockPath);
    },
  };
}
