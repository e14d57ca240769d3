/**
 * The activity log: every authorization event with its time and address, kept in a
 * bounded ring in memory and in the store (bounded, with expiry), shown on the owner
 * page and printed on the console, one line per event. Values a client sent are
 * escaped on every line; no event carries a secret.
 *
 * @module
 */
import { quoteForLog } from "../../core/log.ts";
import type { AuthEvent, PersonalMcpEvent } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import { randomToken } from "../../core/crypto.ts";
import { keys } from "../../store/keys.ts";

/** How many events the ring keeps, in memory and in the store. */
export const ACTIVITY_LIMIT = 300;
/** How long a stored event is kept, in ms. */
export const ACTIVITY_TTL_MS = 7 * 24 * 3600 * 1000;
/** Stored events are written in batches, at most once per this many ms. */
export const ACTIVITY_FLUSH_MS = 1000;

/**
 * One recorded event: the event, when it happened (epoch ms) and a unique id (which
 * also orders the events one process recorded within the same millisecond).
 */
export type ActivityEntry = AuthEvent & { id: string; at: number };

const AUTH_EVENT_TYPES: ReadonlySet<string> = new Set<AuthEvent["type"]>([
  "client_registered",
  "consent_shown",
  "consent_approved",
  "consent_denied",
  "owner_login_failed",
  "owner_signed_in",
  "token_issued",
  "token_refreshed",
  "refresh_reuse_detected",
  "grant_revoked",
  "client_forgotten",
  "request_refused",
  "passkey_added",
  "passkey_removed",
  "passkey_link_created",
  "owner_password_removed",
]);

/** Whether an event belongs in the activity log. */
export function isAuthEvent(event: PersonalMcpEvent): event is AuthEvent {
  return AUTH_EVENT_TYPES.has(event.type);
}

/** The activity log. */
export interface ActivityLog {
  /** Records an event now; it is stored with the next batch. */
  record(event: AuthEvent): ActivityEntry;
  /**
   * The most recent events, newest first: this process's and, from the store, those
   * of earlier runs and of other processes sharing it.
   */
  recent(limit?: number): Promise<ActivityEntry[]>;
  /** Writes what is not stored yet (called on close). */
  flush(): Promise<void>;
}

/**
 * Builds the activity log on a store. Storage is a ring of {@linkcode ACTIVITY_LIMIT}
 * slots (`["activity", slot]`, each expiring after a week), written at most once a
 * second, so that a flood of refused requests cannot turn into a flood of writes; no
 * timer is kept: a batch goes out with the next event after the second, or on close.
 *
 * @example Recording and reading back
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { createActivityLog } from "./activity.ts";
 * const log = createActivityLog(createMemoryStore());
 * log.record({ type: "consent_denied", clientId: "c", clientAddress: "192.0.2.1" });
 * const [last] = await log.recent(1);
 * if (last?.type !== "consent_denied") throw new Error("not recorded");
 * ```
 */
export function createActivityLog(store: Store, now: () => number = Date.now): ActivityLog {
  const ring: ActivityEntry[] = [];
  let pending: ActivityEntry[] = [];
  let lastFlush = -Infinity;
  let flushing: Promise<void> | undefined;
  let nextSlot: Promise<number> | undefined;
  let count = 0;
  const processTag = randomToken(6);

  /** Continues the stored ring after its newest entry (from an earlier run or process). */
  async function firstSlot(): Promise<number> {
    const stored = await store.list<ActivityEntry>(keys.activity).catch(() => []);
    let newest: { slot: number; at: number } | undefined;
    for (const { key, value } of stored) {
      const slot = Number(key[1]);
      if (Number.isInteger(slot) && (!newest || value.at > newest.at)) {
        newest = { slot, at: value.at };
      }
    }
    return newest ? (newest.slot + 1) % ACTIVITY_LIMIT : 0;
  }

  async function writeBatch(): Promise<void> {
    lastFlush = now();
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    nextSlot ??= firstSlot();
    let slot = await nextSlot;
    const ops = batch.map((entry) => {
      const key = keys.activitySlot(slot);
      slot = (slot + 1) % ACTIVITY_LIMIT;
      return { op: "set" as const, key, value: entry, expiresAt: entry.at + ACTIVITY_TTL_MS };
    });
    nextSlot = Promise.resolve(slot);
    // A failed write loses these events from the store only; the ring still has them.
    await store.write(ops).catch(() => {});
  }

  function startBatch(): Promise<void> {
    flushing ??= writeBatch().finally(() => (flushing = undefined));
    return flushing;
  }

  return {
    record(event) {
      const id = `${(count++).toString(36).padStart(9, "0")}.${processTag}`;
      const entry = { ...event, id, at: now() } as ActivityEntry;
      ring.push(entry);
      if (ring.length > ACTIVITY_LIMIT) ring.shift();
      pending.push(entry);
      if (pending.length > ACTIVITY_LIMIT) pending.shift();
      if (!flushing && now() - lastFlush >= ACTIVITY_FLUSH_MS) void startBatch();
      return entry;
    },
    async recent(limit = ACTIVITY_LIMIT) {
      const stored = await store.list<ActivityEntry>(keys.activity).catch(() => []);
      const byId = new Map<string, ActivityEntry>();
      for (const { value } of stored) {
        if (value && typeof value.id === "string") byId.set(value.id, value);
      }
      for (const entry of ring) byId.set(entry.id, entry);
      return [...byId.values()]
        .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, limit);
    },
    async flush() {
      await flushing;
      if (pending.length) await startBatch();
    },
  };
}

/** How an event reads to a person: a few words, and whether it went well. */
export function describeEvent(event: AuthEvent): { label: string; ok: boolean } {
  switch (event.type) {
    case "client_registered":
      return { label: "app registered", ok: true };
    case "consent_shown":
      return { label: "consent page shown", ok: true };
    case "consent_approved":
      return { label: "approved", ok: true };
    case "consent_denied":
      return { label: "denied", ok: false };
    case "owner_login_failed": {
      const what = event.method === "passkey" ? "passkey refused" : "wrong password";
      return { label: event.page === "owner" ? `${what} (owner page)` : what, ok: false };
    }
    case "owner_signed_in":
      return { label: "owner signed in", ok: true };
    case "passkey_added":
      return { label: "passkey added", ok: true };
    case "passkey_removed":
      return { label: "passkey removed", ok: false };
    case "passkey_link_created":
      return { label: "passkey enrolment link created", ok: true };
    case "owner_password_removed":
      return { label: "owner password removed", ok: true };
    case "token_issued":
      return { label: "token issued", ok: true };
    case "token_refreshed":
      return { label: "token refreshed", ok: true };
    case "refresh_reuse_detected":
      return { label: "refresh token reuse detected", ok: false };
    case "grant_revoked":
      return { label: "access revoked", ok: false };
    case "client_forgotten":
      return { label: "app forgotten", ok: false };
    case "request_refused":
      return { label: "request refused", ok: false };
  }
}

const MAX_VALUE_CHARS = 300;
// For JSON lines: C0 and C1 controls, DEL, the Unicode line and paragraph separators,
// and the invisible format characters that reorder or hide text (bidi overrides and
// isolates, zero widths, BOM), all written as \uXXXX (text lines use escapeForLog).
const CONTROL =
  // deno-lint-ignore no-control-regex -- these are exactly the characters escaped
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

function hex4(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * A value for a text log line: bare when it is plainly safe, else quoted and escaped
 * ({@linkcode quoteForLog}), so that a client's text can never start a line of its own,
 * move the cursor, hide itself or pass for another field. Long values are cut.
 *
 * @example A name that tries to forge a second line
 * ```ts
 * import { logValue } from "./activity.ts";
 * if (logValue("Evil\n2026-01-01T00:00:00Z approved") !== '"Evil\\x0a2026-01-01T00:00:00Z approved"') {
 *   throw new Error("not escaped");
 * }
 * ```
 */
export function logValue(value: string): string {
  const cut = value.length > MAX_VALUE_CHARS ? `${value.slice(0, MAX_VALUE_CHARS)}…` : value;
  return /^[A-Za-z0-9._:/@+\-[\]]+$/.test(cut) ? cut : quoteForLog(cut);
}

/** The fields of an event other than its type, in a stable order. */
function fields(event: PersonalMcpEvent): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(event)) {
    if (k === "type" || k === "id" || k === "at" || v === undefined) continue;
    if (k === "error") {
      out.push([k, v instanceof Error ? `${v.name}: ${v.message}` : String(v)]);
    } else out.push([k, String(v)]);
  }
  return out;
}

/**
 * One log line for an event (no line break): `text` reads as
 * `<time> <what> key=value ...`, `json` is one JSON object. Either way, values a
 * client sent are escaped (control characters and line breaks never pass through).
 *
 * @example The two formats
 * ```ts
 * import { formatEvent } from "./activity.ts";
 * const event = { type: "consent_denied", clientId: "c1", clientAddress: "192.0.2.1" } as const;
 * const text = formatEvent(event, 0, "text");
 * if (text !== "1970-01-01T00:00:00.000Z denied clientId=c1 clientAddress=192.0.2.1") throw new Error(text);
 * const json = JSON.parse(formatEvent(event, 0, "json"));
 * if (json.event !== "consent_denied" || json.clientId !== "c1") throw new Error("bad JSON line");
 * ```
 */
export function formatEvent(event: PersonalMcpEvent, at: number, format: "text" | "json"): string {
  const time = new Date(at).toISOString();
  const pairs = fields(event).map(([k, v]) =>
    [k, v.length > MAX_VALUE_CHARS ? `${v.slice(0, MAX_VALUE_CHARS)}…` : v] as const
  );
  if (format === "json") {
    // JSON.stringify escapes C0 controls; C1 controls and U+2028/9 are escaped here too.
    return JSON.stringify({ time, event: event.type, ...Object.fromEntries(pairs) })
      .replace(CONTROL, hex4);
  }
  const label = isAuthEvent(event) ? describeEvent(event).label : event.type;
  return [time, label, ...pairs.map(([k, v]) => `${k}=${logValue(v)}`)].join(" ");
}
