/**
 * Writes the state file: every change is appended and synced before it is acknowledged,
 * with group commit (changes made while a sync runs share the next one); once the file
 * has grown to twice what the live records take, the next write compacts it instead (the
 * live records written to a temporary file, synced, renamed over it). A write that fails
 * fails closed: memory goes back to what the file holds.
 *
 * @module
 */
import { chmod, open, rename, unlink } from "node:fs/promises";
import { HEADER, lineOf, type MapCore } from "./journal.ts";
import type { Slot, Undo } from "./memory.ts";
import { StoreUnavailableError } from "./store.ts";

/** How much a compaction writes at a time before letting other work run, in bytes. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/** Syncs a folder, so that a rename or an unlink in it is durable; best effort. */
export async function syncDir(dir: string): Promise<void> {
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
export async function writeCompacted(path: string, records: readonly Slot[]): Promise<number> {
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

/** Where the file stands when the writer takes it over. */
export interface JournalState {
  /** Bytes of the file that hold acknowledged changes: the next one goes after them. */
  fileBytes: number;
  /** Whether the file exists in the current format (it is created by the first write). */
  exists: boolean;
  /** What the live records take in the file, as of the last compaction (or an estimate). */
  liveBytes: number;
}

/** What the writer needs: the file, the memory it mirrors, the clock, the threshold. */
export interface JournalWriterOptions {
  dir: string;
  path: string;
  core: MapCore;
  now: () => number;
  compactMinBytes: number;
  state: JournalState;
}

/** Saves changes applied in memory to the state file. */
export interface JournalWriter {
  /**
   * Saves a change already applied in memory (`undo` reverts it, `line` is how the file
   * holds it); resolves once it is on disk, rejects with StoreUnavailableError (and the
   * change undone) when it could not be.
   */
  save(undo: Undo[], line: string): Promise<void>;
  /** Resolves once what is being saved is saved, or has failed. */
  settled(): Promise<void>;
}

/** The state file's writer, from where opening left it. */
export function createJournalWriter(options: JournalWriterOptions): JournalWriter {
  const { dir, path, core, now, compactMinBytes, state } = options;
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
        await handle.truncate(state.fileBytes);
        dirty = false;
      }
      let written = 0;
      while (written < bytes.length) {
        written +=
          (await handle.write(bytes, written, bytes.length - written, state.fileBytes + written))
            .bytesWritten;
      }
      await handle.datasync();
    } catch (error) {
      dirty = true;
      try {
        await handle.truncate(state.fileBytes);
        await handle.datasync();
        dirty = false;
      } catch { /* cut before the next append */ }
      throw error;
    } finally {
      await handle.close().catch(() => {});
    }
    state.fileBytes += bytes.length;
  }

  /** Whether the file has grown to twice what its live records take. */
  function dueForCompaction(): boolean {
    return !state.exists || state.fileBytes >= 2 * Math.max(compactMinBytes, state.liveBytes);
  }

  /** Writes the live records afresh: the file is what memory holds with `saved` changes. */
  async function compact(): Promise<void> {
    const t = now();
    const records = [...core.records()].filter((s) => s.expiresAt === undefined || s.expiresAt > t);
    state.fileBytes = state.liveBytes = await writeCompacted(path, records);
    dirty = false;
    if (!state.exists) await chmod(path, 0o600);
    state.exists = true;
    // The rename is durable only once the directory entry is. The new file is what
    // a restart reads from here on, so nothing below may fail the write.
    await syncDir(dir);
  }

  /** Saves the first `saved` unsaved changes, by an append or a compaction. */
  async function writeOut(saved: number): Promise<void> {
    try {
      if (dueForCompaction()) {
        if (saved > 0 || !state.exists) await compact();
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
      try {
        // Taken synchronously here: the first `saved` changes, and (for a compaction) the
        // records as they stand with exactly those changes applied.
        await writeOut(unsaved.length);
      } finally {
        if (writing === next) writing = undefined;
      }
    });
    queued = next;
    return next;
  }

  return {
    save(undo, line) {
      unsaved.push({ undo, line });
      return persist();
    },
    async settled() {
      await (queued ?? writing)?.catch(() => {});
    },
  };
}
