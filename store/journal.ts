/**
 * The state file's format: a header line, then one line of JSON per atomic change
 * (one operation, or an array of them). Reading it back (a replay that tells a last
 * line cut short by a crash from damage) and writing a line; the first format's
 * `state.json` is read here too, for its migration.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import type { createMapCore, Slot } from "./memory.ts";
import type { WriteOp } from "./store.ts";

const FORMAT = "personal-mcp-state";
const FORMAT_VERSION = 2;
/** The first line of every state file. */
export const HEADER = `${JSON.stringify({ format: FORMAT, version: FORMAT_VERSION })}\n`;
const LEGACY_FORMAT_VERSION = 1;
/** How much of the file is read at a time on open, in bytes. */
const READ_CHUNK_BYTES = 1024 * 1024;

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

export function parseLegacyState(text: string, path: string): Slot[] {
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

/** The memory a replay loads into. */
export type MapCore = ReturnType<typeof createMapCore>;

/**
 * Replays the state file at `path` into `core`, and says what it found. Throws
 * {@linkcode StateFileError} when the file cannot be trusted.
 */
export async function replayFile(path: string, handle: FileHandle, core: MapCore): Promise<Replay> {
  const replay = createReplayer(path, (op) => applyLineOp(core, op));
  try {
    await readLines(handle, replay);
  } finally {
    await handle.close();
  }
  return replay.finish();
}

/** Opens `path` for reading, or undefined when there is no such file. */
export async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, "r");
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error;
    return undefined;
  }
}

function applyLineOp(core: MapCore, op: LineOp): void {
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
export function lineOf(ops: readonly WriteOp[]): string {
  return `${JSON.stringify(ops.length === 1 ? opOf(ops[0]!) : ops.map(opOf))}\n`;
}
