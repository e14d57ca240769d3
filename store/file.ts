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
import { chmod, type FileHandle, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import { createMapCore, type Slot, type Undo } from "./memory.ts";
import { createKeyWatchers, type Store, StoreUnavailableError, type WriteOp } from "./store.ts";

/** The file's name inside the state folder. */
export const STATE_FILE = "state.jsonl";
/** The file of the first format (one JSON document, rewritten on every change), migrated on open. */
export const LEGACY_STATE_FILE = "state.json";
/** The lock that keeps a second process off the same folder. */
export const LOCK_FILE = "state.lock";
/** The file grows to at least this much before a compaction, in bytes. */
export const COMPACT_MIN_BYTES = 4 * 1024 * 1024;
const FORMAT = "personal-mcp-state";
const FORMAT_VERSION = 2;
const HEADER = `${JSON.stringify({ format: FORMAT, version: FORMAT_VERSION })}\n`;
const LEGACY_FORMAT_VERSION = 1;
/** How much of the file is read at a time on open, in bytes. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** How much a compaction writes at a time before letting other work run, in bytes. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

interface LegacyShape {
  version: number;
  records: { key: string[]; value: unknown; expiresAt?: number }[];
}

/** One operation of a line: a set is stored as read, as the record itself. */
type LineOp = Slot | { key: string[]; deleted: true };

/**
 * Raised when the state file exists but cannot be trusted (or another server holds its
 * folder): the server refuses to start rather than serve from state it cannot read.
 *
 * @example Refusing to start on a corrupt state file
 * ```ts
 * import { openFileStore, StateFileError } from "../mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/state.jsonl`, "this is not JSON\n{}\n");
 * try {
 *   const store = await openFileStore(dir);
 *   await store.close?.();
 *   throw new Error("opened a corrupt file");
 * } catch (error) {
 *   if (!(error instanceof StateFileError)) throw error;
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
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

function parseLegacyState(text: string, path: string): Slot[] {
  let data: LegacyShape;
  try {
    data = JSON.parse(text);
  } catch {
    throw new StateFileError(
      `state file ${path} is not valid JSON (truncated or corrupted). ` +
        `Refusing to start with empty state. Restore it from a backup, or move it aside ` +
        `to start fresh (every client will have to connect again).`,
    );
  }
  if (data?.version !== LEGACY_FORMAT_VERSION || !Array.isArray(data.records)) {
    throw new StateFileError(
      `state file ${path} has an unknown format (expected version ${LEGACY_FORMAT_VERSION}). ` +
        `Refusing to start; move it aside to start fresh.`,
    );
  }
  return data.records.map((r) => ({ key: r.key, value: r.value, expiresAt: r.expiresAt }));
}

function corrupt(path: string, line: number, why: string): StateFileError {
  return new StateFileError(
    `state file ${path} is damaged at line ${line} (${why}). Refusing to start with ` +
      `partial state. Restore it from a backup, or move it aside to start fresh (every ` +
      `client will have to connect again).`,
  );
}

function isKey(value: unknown): value is string[] {
  return Array.isArray(value) && value.length > 0 && value.every((p) => typeof p === "string");
}

function isOp(op: unknown): op is LineOp {
  if (!op || typeof op !== "object") return false;
  const o = op as Record<string, unknown>;
  if (!isKey(o.key)) return false;
  if ("value" in o) return o.expiresAt === undefined || typeof o.expiresAt === "number";
  return o.deleted === true;
}

/** The operations of one line, or undefined when the line is not one. */
function parseLine(text: string): LineOp[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return isOp(parsed) ? [parsed] : undefined;
  for (const op of parsed) if (!isOp(op)) return undefined;
  return parsed as LineOp[];
}

/** What replaying a state file found. */
export interface Replay {
  /** Bytes of complete, valid lines: where the next change is appended. */
  goodBytes: number;
  /** Bytes after them: a last change whose write a crash cut short (0 normally). */
  tornBytes: number;
  /** Set operations replayed, live or not (to judge how much of the file is dead). */
  sets: number;
}

/**
 * Replays a state file, line by line, into `apply`: the first line must be the header;
 * after it, every line is one change. Damage at the very end (a last line cut short, or
 * garbage after the last complete line) is reported in `tornBytes`; damage followed by
 * a valid line is a corrupt file.
 */
function createReplayer(path: string, apply: (op: LineOp) => void) {
  const encoder = new TextEncoder();
  let lineNo = 0;
  let total = 0;
  let goodBytes = 0;
  let firstBad: { line: number; why: string } | undefined;
  let sets = 0;

  function header(text: string): void {
    let parsed: { format?: unknown; version?: unknown } | undefined;
    try {
      parsed = JSON.parse(text);
    } catch { /* below */ }
    if (parsed?.format !== FORMAT) {
      throw new StateFileError(
        `state file ${path} is not a personal-mcp state file (its first line is not the ` +
          `header). Refusing to start; move it aside to start fresh.`,
      );
    }
    if (parsed.version !== FORMAT_VERSION) {
      throw new StateFileError(
        `state file ${path} has an unknown format (version ${String(parsed.version)}, ` +
          `expected ${FORMAT_VERSION}). Refusing to start; move it aside to start fresh.`,
      );
    }
  }

  /** Complete lines (newlines removed) that took `bytes` bytes in the file, newlines included. */
  function lines(batch: string[], bytes: number): void {
    total += bytes;
    let goodInBatch = batch.length;
    for (let i = 0; i < batch.length; i++) {
      const text = batch[i]!;
      lineNo++;
      if (lineNo === 1) {
        header(text);
        continue;
      }
      // An empty line carries nothing (and is not damage).
      const ops = text === "" ? [] : parseLine(text);
      if (firstBad) {
        // Damage followed by a valid change is not a write cut short: the file is corrupt.
        if (ops && text !== "") throw corrupt(path, firstBad.line, firstBad.why);
        continue;
      }
      if (!ops) {
        firstBad = { line: lineNo, why: "not a change" };
        goodInBatch = i;
        continue;
      }
      for (const op of ops) {
        if ("value" in op) sets++;
        apply(op);
      }
    }
    goodBytes += goodInBatch === batch.length
      ? bytes
      : goodInBatch === 0
      ? 0
      : encoder.encode(`${batch.slice(0, goodInBatch).join("\n")}\n`).length;
  }

  return {
    lines,
    /** The bytes after the last newline: a line cut short. */
    tail(bytes: number): void {
      total += bytes;
      lineNo++;
      if (lineNo === 1) header("");
      firstBad ??= { line: lineNo, why: "cut short" };
    },
    finish(): Replay {
      if (lineNo === 0) {
        throw new StateFileError(
          `state file ${path} is empty. Refusing to start; move it aside to start fresh.`,
        );
      }
      return { goodBytes, tornBytes: total - goodBytes, sets };
    },
  };
}

/**
 * Reads a file in chunks: every run of complete lines is decoded at once and handed to
 * `replay.lines`; bytes after the last newline go to `replay.tail`.
 */
async function readLines(
  handle: FileHandle,
  replay: { lines(batch: string[], bytes: number): void; tail(bytes: number): void },
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = new Uint8Array(READ_CHUNK_BYTES);
  let filled = 0;
  for (;;) {
    if (filled === buffer.length) {
      // A line longer than the buffer: make room.
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    const end = filled + bytesRead;
    const last = buffer.subarray(0, end).lastIndexOf(10);
    if (last < 0) {
      filled = end;
      continue;
    }
    replay.lines(decoder.decode(buffer.subarray(0, last)).split("\n"), last + 1);
    // Keep the unfinished line for the next read.
    buffer.copyWithin(0, last + 1, end);
    filled = end - last - 1;
  }
  if (filled > 0) replay.tail(filled);
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
  const replay = createReplayer(path, (op) => applyLineOp(core, op));
  const handle = await open(path, "r");
  try {
    await readLines(handle, replay);
  } finally {
    await handle.close();
  }
  const result = replay.finish();
  core.prune();
  return { records: [...core.records()], ...result };
}

function applyLineOp(core: ReturnType<typeof createMapCore>, op: LineOp): void {
  if ("value" in op) core.load(op);
  else core.unload(op.key);
}

function opOf(op: WriteOp): LineOp {
  return op.op === "delete"
    ? { key: op.key as string[], deleted: true }
    : op.expiresAt === undefined
    ? { key: op.key as string[], value: op.value }
    : { key: op.key as string[], value: op.value, expiresAt: op.expiresAt };
}

/** One change as a line of the file. Throws (and nothing is applied) when a value is not JSON. */
function lineOf(ops: readonly WriteOp[]): string {
  return `${JSON.stringify(ops.length === 1 ? opOf(ops[0]!) : ops.map(opOf))}\n`;
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

/** Syncs a folder, so that a rename or an unlink in it is durable; best effort. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (handle) {
    await handle.sync().catch(() => {});
    await handle.close().catch(() => {});
  }
}

/**
 * Writes `records` as a fresh state file at `path`: a temporary file, written in chunks
 * (other work runs between them), synced, then renamed over `path`. Returns its size.
 */
async function writeCompacted(path: string, records: readonly Slot[]): Promise<number> {
  const encoder = new TextEncoder();
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  let size = 0;
  const handle = await open(tmp, "w", 0o600);
  try {
    try {
      let chunk = HEADER;
      const flush = async () => {
        const bytes = encoder.encode(chunk);
        chunk = "";
        let written = 0;
        while (written < bytes.length) {
          written +=
            (await handle.write(bytes, written, bytes.length - written, null)).bytesWritten;
        }
        size += bytes.length;
      };
      for (const slot of records) {
        chunk += lineOf([{
          op: "set",
          key: slot.key,
          value: slot.value,
          expiresAt: slot.expiresAt,
        }]);
        if (chunk.length >= WRITE_CHUNK_BYTES) await flush();
      }
      await flush();
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
  return size;
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
  const compactMinBytes = options.compactMinBytes ?? COMPACT_MIN_BYTES;
  const notice = options.onNotice ?? ((message: string) => console.warn(message));
  await prepareStateDir(dir);
  const path = join(dir, STATE_FILE);
  const legacyPath = join(dir, LEGACY_STATE_FILE);
  const lockPath = resolve(dir, LOCK_FILE);
  acquireLock(lockPath);

  const core = createMapCore(now);
  /** Bytes of the file that hold acknowledged changes: the next one goes after them. */
  let fileBytes = 0;
  /** Whether the file exists in the current format (it is created by the first write). */
  let exists = false;
  /** What the live records take in the file, as of the last compaction (or an estimate). */
  let liveBytes = 0;
  try {
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, "r");
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
    if (handle) {
      const replay = createReplayer(path, (op) => applyLineOp(core, op));
      try {
        await readLines(handle, replay);
      } finally {
        await handle.close();
      }
      const { goodBytes, tornBytes, sets } = replay.finish();
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
      fileBytes = goodBytes;
      exists = true;
      core.prune();
      // Dead lines (replaced, deleted, expired) count against the file's live share.
      liveBytes = sets === 0 ? 0 : Math.floor(goodBytes * Math.min(1, core.size / sets));
      if (existsSync(legacyPath)) {
        // A migration that crashed after the rename: the new file is the state.
        await unlink(legacyPath);
        await syncDir(dir);
      }
    } else {
      let legacy: string | undefined;
      try {
        legacy = await readFile(legacyPath, "utf8");
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOENT") throw error;
      }
      if (legacy !== undefined) {
        for (const slot of parseLegacyState(legacy, legacyPath)) core.load(slot);
        legacy = undefined;
        core.prune();
        fileBytes = liveBytes = await writeCompacted(path, [...core.records()]);
        exists = true;
        await syncDir(dir);
        await unlink(legacyPath);
        await syncDir(dir);
        notice(`state file ${legacyPath} was migrated to ${path} (one line per change)`);
      }
    }
  } catch (error) {
    releaseLock(lockPath);
    throw error;
  }

  let closed = false;
  const watchers = createKeyWatchers();
  let writing: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  // Changes applied in memory and not yet on disk, oldest first: what undoes each, and
  // its line.
  const unsaved: { undo: Undo[]; line: string }[] = [];
  // Counts rollbacks: a write queued before one would save changes that no longer exist.
  let rollbacks = 0;
  // Whether bytes may follow `fileBytes` in the file (a write failed and could not be cut
  // back): they are cut before anything else is appended.
  let dirty = false;
  const encoder = new TextEncoder();

  /** Undoes every change not yet on disk, so that memory is what the file holds. */
  function rollback(): void {
    for (let i = unsaved.length - 1; i >= 0; i--) core.undo(unsaved[i]!.undo);
    unsaved.length = 0;
    rollbacks++;
    queued = undefined;
  }

  /** Appends lines after `fileBytes` and syncs them; on failure, cuts the file back. */
  async function append(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    // "r+": a state file someone removed is not silently started afresh without its header.
    const handle = await open(path, "r+");
    try {
      if (dirty) {
        await handle.truncate(fileBytes);
        dirty = false;
      }
      let written = 0;
      while (written < bytes.length) {
        written += (await handle.write(bytes, written, bytes.length - written, fileBytes + written))
          .bytesWritten;
      }
      await handle.datasync();
    } catch (error) {
      dirty = true;
      try {
        await handle.truncate(fileBytes);
        await handle.datasync();
        dirty = false;
      } catch { /* cut before the next append */ }
      throw error;
    } finally {
      await handle.close().catch(() => {});
    }
    fileBytes += bytes.length;
  }

  /** Whether the file has grown to twice what its live records take. */
  function dueForCompaction(): boolean {
    return !exists || fileBytes >= 2 * Math.max(compactMinBytes, liveBytes);
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
      // Taken synchronously here: the first `saved` changes, and (for a compaction) the
      // records as they stand with exactly those changes applied.
      const saved = unsaved.length;
      try {
        if (dueForCompaction()) {
          if (saved > 0 || !exists) {
            const t = now();
            const records = [...core.records()].filter((s) =>
              s.expiresAt === undefined || s.expiresAt > t
            );
            fileBytes = liveBytes = await writeCompacted(path, records);
            dirty = false;
            if (!exists) await chmod(path, 0o600);
            exists = true;
            // The rename is durable only once the directory entry is. The new file is what
            // a restart reads from here on, so nothing below may fail the write.
            await syncDir(dir);
          }
        } else if (saved > 0) {
          let text = "";
          for (let i = 0; i < saved; i++) text += unsaved[i]!.line;
          await append(text);
        }
        unsaved.splice(0, saved);
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
      let line = "";
      const { result, undo } = core.transact(keys, (values) => {
        const decided = plan(values);
        ops = decided.ops;
        // Serialized before anything is applied: a value that is not JSON applies nothing.
        if (decided.ops.length > 0) line = lineOf(decided.ops);
        return decided;
      });
      if (undo.length === 0) return result;
      unsaved.push({ undo, line });
      await persist();
      watchers.changed(ops);
      return result;
    },
    async write(ops) {
      ensureOpen();
      if (ops.length === 0) {
        // Nothing to save: wait for what is being saved.
        await (queued ?? writing)?.catch(() => {});
        return;
      }
      const line = lineOf(ops);
      unsaved.push({ undo: core.apply(ops), line });
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
