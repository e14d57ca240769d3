/**
 * The audit trail: one record per `tools/call` (who, which tool, how it ended, how
 * long it took, a hash of its arguments), kept in the store so that every process
 * sharing it sees every call, bounded in number and age. The arguments themselves are
 * kept only when the owner asks for it (`auditArguments`): they may hold what the tool
 * was given to work on.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import { hashSecret, hashSecretSync, randomToken } from "../../core/crypto.ts";

/** Most audit records kept; the oldest go first. */
export const AUDIT_LIMIT = 10_000;
/** How long an audit record is kept, in ms. */
export const AUDIT_TTL_MS = 30 * 24 * 3600 * 1000;
/** Most characters of the arguments kept in a record (when they are kept at all). */
export const AUDIT_ARGUMENT_CHARS = 4096;
/** Records written by this process between two trims of the stored trail. */
const TRIM_EVERY = 500;

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
  return JSON.stringify(value, (_key, v) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  }) ?? "null";
}

/** base64url(SHA-256(canonical JSON of `args`)): what binds a record or a confirmation. */
export async function argumentsHash(args: unknown): Promise<string> {
  return await hashSecret(canonicalJson(args ?? {}));
}

/** Builds the audit trail on a store; `keepArguments` is `auditArguments`. */
export function createAuditLog(store: Store, keepArguments: boolean): AuditLog {
  let pending: AuditRecord[] = [];
  let flushing: Promise<void> | undefined;
  let sinceTrim = TRIM_EVERY; // the first batch trims what earlier runs left
  let count = 0;
  const processTag = randomToken(6);

  /** Deletes the oldest stored records beyond the limit. */
  async function trim(): Promise<void> {
    sinceTrim = 0;
    const stored = await store.list<AuditRecord>(keys.audit);
    if (stored.length <= AUDIT_LIMIT) return;
    // Keys sort by time: the first ones are the oldest.
    const ids = stored.map((e) => e.key).sort((a, b) => (a[1]! < b[1]! ? -1 : 1));
    const extra = ids.slice(0, stored.length - AUDIT_LIMIT);
    for (let i = 0; i < extra.length; i += 500) {
      await store.write(extra.slice(i, i + 500).map((key) => ({ op: "delete" as const, key })));
    }
  }

  async function writeBatch(): Promise<void> {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const ops = batch.map((r) => ({
      op: "set" as const,
      key: keys.auditRecord(r.id),
      value: r,
      expiresAt: r.at + AUDIT_TTL_MS,
    }));
    // A failed write loses these records from the store; the calls themselves went on.
    await store.write(ops).catch(() => {});
    sinceTrim += batch.length;
    if (sinceTrim >= TRIM_EVERY) await trim().catch(() => {});
  }

  /**
   * One write in flight at a time, off the call's path: records arriving meanwhile go
   * out together with the next (group commit), so a burst of calls costs few writes.
   */
  function startBatch(): Promise<void> {
    flushing ??= writeBatch().finally(() => {
      flushing = undefined;
      if (pending.length) void startBatch();
    });
    return flushing;
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
      pending.push(record);
      // A flood between two writes keeps the newest; the trail is bounded anyway.
      if (pending.length > AUDIT_LIMIT) pending.shift();
      if (!flushing) void startBatch();
      return record;
    },
    async query(query = {}) {
      const stored = await store.list<AuditRecord>(keys.audit);
      const byId = new Map<string, AuditRecord>();
      for (const { value } of stored) {
        if (value && typeof value.id === "string") byId.set(value.id, value);
      }
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
      if (sinceTrim > 0) await trim().catch(() => {});
    },
  };
}
