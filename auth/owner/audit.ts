/**
 * The audit trail: one record per `tools/call` (who, which tool, how it ended, how
 * long it took, a hash of its arguments), kept in the store so that every process
 * sharing it sees every call, bounded in number and age. The arguments themselves are
 * kept only when the owner asks for it (`auditArguments`): they may hold what the tool
 * was given to work on.
 *
 * @module
 */
import type { Key, Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import { hashSecret, hashSecretSync, randomToken } from "../../core/crypto.ts";

/** Most audit records kept; the oldest go first. */
export const AUDIT_LIMIT = 10_000;
/** How long an audit record is kept, in ms. */
export const AUDIT_TTL_MS = 30 * 24 * 3600 * 1000;
/** Most characters of the arguments kept in a record (when they are kept at all). */
export const AUDIT_ARGUMENT_CHARS = 4096;
/**
 * How far past {@linkcode AUDIT_LIMIT} the stored trail may grow between two trims, so
 * that a trim (a listing, on a shared store) runs once per this many records.
 */
const TRIM_SLACK = 1_000;
/**
 * Most records one store write of the trail holds. A batch (up to a quarter second of
 * calls: thousands under load) is written a chunk at a time, with the requests that came
 * meanwhile served between two chunks: written at once, it held every request for 10-20
 * ms, four times a second (the p99 of issue 23).
 */
export const AUDIT_WRITE_CHUNK = 256;

/** Lets the event loop serve what waits (I/O, timers) before the next chunk. */
const requestsServed = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** How long a record waits to be written with others (a burst of calls is one write). */
export const AUDIT_FLUSH_MS = 250;

/**
 * How a call ended. `denied`: the policy refused it. A held call (`ask`) is recorded
 * once, when its wait ends: `confirmed` (and then as run), `declined`, `expired` (the
 * wait ended without an answer; the confirmation link stays good), `timeout`.
 */
export type AuditOutcome =
  | "ok"
  | "error"
  | "denied"
  | "confirmed"
  | "declined"
  | "expired"
  | "timeout";

/** One recorded tool call. */
export interface AuditRecord {
  /** Sorts by time (base-36 epoch ms first), unique across processes. */
  id: string;
  /** When the call arrived, epoch ms. */
  at: number;
  /** The app: a registered client id, or a metadata-document URL. */
  clientId: string;
  /** The name the client gave itself (not vouched for). */
  clientName?: string;
  /** The grant whose token made the call. */
  grantId: string;
  /** The tool's name as the client sent it (cut at 128 characters). */
  tool: string;
  /** The upstream server that owns the tool; absent for the owner's own tools. */
  server?: string;
  /** How the call ended. */
  outcome: AuditOutcome;
  /** The policy the call ran (or was refused) under. */
  policy: "allow" | "ask" | "deny";
  /** From the call's arrival to its answer (a held call's wait included), in ms. */
  durationMs: number;
  /** base64url(SHA-256(the arguments as canonical JSON)). */
  argumentsSha256: string;
  /** The arguments as canonical JSON (cut at {@linkcode AUDIT_ARGUMENT_CHARS}), when kept. */
  arguments?: string;
}

/** What the caller gives for one record; the log fills in the rest. */
export type AuditInput = Omit<AuditRecord, "id" | "argumentsSha256" | "arguments">;

/** A filter for reading the trail. */
export interface AuditQuery {
  /** Only this app (client id) or grant. */
  app?: string;
  /** Only records at or after this time, epoch ms. */
  since?: number;
  /** Most records returned, newest first. @default 100 */
  limit?: number;
}

/** The audit trail as the owner reads it. */
export interface AuditTrail {
  /** Records, newest first, filtered. */
  query(query?: AuditQuery): Promise<AuditRecord[]>;
}

/** The audit trail. */
export interface AuditLog extends AuditTrail {
  /** Records one call; stored with the next batch. Resolves with the record. */
  record(input: AuditInput, args: unknown): Promise<AuditRecord>;
  /** Writes what is not stored yet (called on close). */
  flush(): Promise<void>;
}

/**
 * JSON with object keys sorted at every depth: the same arguments always hash the same,
 * whatever order the client wrote them in.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value) ?? "null";
}

/** An array index as a property key: what JavaScript orders first, by number. */
const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;
const isIndexKey = (key: string) => INDEX_KEY.test(key) && Number(key) < 4294967295;

/**
 * An object's keys in the order the sorted copy of the original definition had them:
 * sorted, except that JavaScript puts array-index keys first, in numeric order.
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value).sort();
  const index = keys.filter(isIndexKey);
  if (index.length === 0) return keys;
  index.sort((a, b) => Number(a) - Number(b));
  return [...index, ...keys.filter((k) => !isIndexKey(k))];
}

/**
 * What `JSON.stringify` writes for `value`, objects with their keys sorted; undefined
 * where it writes nothing. Written out rather than through a replacer, which builds a
 * sorted copy of every object (this runs on every tool call).
 */
function canonical(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return canonical((value as { toJSON(key: string): unknown }).toJSON(""));
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += `${i ? "," : ""}${canonical(value[i]) ?? "null"}`;
    return `${out}]`;
  }
  let out = "";
  for (const key of sortedKeys(value)) {
    const item = canonical((value as Record<string, unknown>)[key]);
    if (item !== undefined) out += `${out ? "," : ""}${JSON.stringify(key)}:${item}`;
  }
  return `{${out}}`;
}

/** base64url(SHA-256(canonical JSON of `args`)): what binds a record or a confirmation. */
export async function argumentsHash(args: unknown): Promise<string> {
  return await hashSecret(canonicalJson(args ?? {}));
}

/** Builds the audit trail on a store; `keepArguments` is `auditArguments`. */
export function createAuditLog(store: Store, keepArguments: boolean): AuditLog {
  let pending: AuditRecord[] = [];
  // The batch being written, a chunk at a time: still read from here until it is stored.
  let writing: AuditRecord[] = [];
  let flushing: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The keys of the stored trail, oldest first, as this process knows them: learnt from
  // one listing (what earlier runs left), then kept up by its own writes. On a store no
  // other process writes, that is all of them, and a trim needs no listing.
  let known: Key[] | undefined;
  let sinceListing = 0;
  let count = 0;
  const processTag = randomToken(6);

  async function remove(extra: Key[]): Promise<void> {
    for (let i = 0; i < extra.length; i += AUDIT_WRITE_CHUNK) {
      if (i > 0) await requestsServed();
      const chunk = extra.slice(i, i + AUDIT_WRITE_CHUNK);
      await store.write(chunk.map((key) => ({ op: "delete" as const, key })));
    }
  }

  /** Lists the trail and deletes the oldest records beyond the limit. */
  async function trimListed(): Promise<void> {
    sinceListing = 0;
    const listed = await store.list<AuditRecord>(keys.audit);
    // Keys sort by time: the first ones are the oldest.
    const ids = listed.map((e) => e.key).sort((a, b) => (a[1]! < b[1]! ? -1 : 1));
    const extra = ids.slice(0, Math.max(0, ids.length - AUDIT_LIMIT));
    known = ids.slice(extra.length);
    await remove(extra);
  }

  /**
   * Brings the trail back to AUDIT_LIMIT records: from the keys known, or, where other
   * processes write too (a shared store), from a listing.
   */
  async function trim(): Promise<void> {
    if (known === undefined || store.shared) return await trimListed();
    await remove(known.splice(0, Math.max(0, known.length - AUDIT_LIMIT)));
  }

  async function writeBatch(): Promise<void> {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    writing = batch;
    try {
      for (let i = 0; i < batch.length; i += AUDIT_WRITE_CHUNK) {
        if (i > 0) await requestsServed();
        const ops = batch.slice(i, i + AUDIT_WRITE_CHUNK).map((r) => ({
          op: "set" as const,
          key: keys.auditRecord(r.id),
          value: r,
          expiresAt: r.at + AUDIT_TTL_MS,
        }));
        // A failed write loses these records from the store; the calls themselves went on.
        const written = await store.write(ops).then(() => true, () => false);
        if (written) known?.push(...ops.map((op) => op.key));
      }
    } finally {
      writing = [];
    }
    sinceListing += batch.length;
    const over = known === undefined || known.length > AUDIT_LIMIT + TRIM_SLACK ||
      (store.shared && sinceListing > TRIM_SLACK);
    if (over) await trim().catch(() => {});
  }

  /**
   * One write in flight at a time, off the call's path and at most every
   * AUDIT_FLUSH_MS: records arriving meanwhile go out together (group commit), so a
   * burst of calls costs one write, and a trim runs once per TRIM_SLACK records.
   */
  function startBatch(): Promise<void> {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    flushing ??= writeBatch().finally(() => {
      flushing = undefined;
      if (pending.length) schedule();
    });
    return flushing;
  }

  function schedule(): void {
    if (timer !== undefined || flushing) return;
    timer = setTimeout(() => void startBatch(), AUDIT_FLUSH_MS);
  }

  return {
    async record(input, args) {
      const canonical = canonicalJson(args ?? {});
      const id = `${input.at.toString(36).padStart(9, "0")}.${processTag}.${
        (count++).toString(36).padStart(6, "0")
      }`;
      const record: AuditRecord = {
        ...input,
        id,
        // The synchronous digest once loaded (the bearer gate loads it): no event-loop turn.
        argumentsSha256: hashSecretSync(canonical) ?? await hashSecret(canonical),
        ...(keepArguments
          ? {
            arguments: canonical.length > AUDIT_ARGUMENT_CHARS
              ? `${canonical.slice(0, AUDIT_ARGUMENT_CHARS)}…`
              : canonical,
          }
          : {}),
      };
      // Frozen, and flat: the store keeps it without a copy, and nobody changes it later.
      Object.freeze(record);
      pending.push(record);
      // A flood between two writes keeps the newest; the trail is bounded anyway.
      if (pending.length > AUDIT_LIMIT) pending.shift();
      schedule();
      return record;
    },
    async query(query = {}) {
      const stored = await store.list<AuditRecord>(keys.audit);
      const byId = new Map<string, AuditRecord>();
      for (const { value } of stored) {
        if (value && typeof value.id === "string") byId.set(value.id, value);
      }
      for (const r of writing) byId.set(r.id, r);
      for (const r of pending) byId.set(r.id, r);
      const since = query.since ?? -Infinity;
      return [...byId.values()]
        .filter((r) =>
          r.at >= since &&
          (query.app === undefined || r.clientId === query.app || r.grantId === query.app)
        )
        .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, Math.max(0, query.limit ?? 100));
    },
    async flush() {
      while (flushing || pending.length) await (flushing ?? startBatch());
      await trim().catch(() => {});
    },
  };
}
