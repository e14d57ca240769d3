/**
 * Held calls: a `tools/call` whose policy is `ask` waits here until the owner confirms
 * or declines it, outside the chat (owner page, its own link, `confirm`/`decline`).
 *
 * A confirmation is bound to the app, the tool and the hash of the arguments, lives
 * 10 minutes and is used once: when the call's own wait ended first (the client's
 * timeout), the same call made again within those minutes runs on it. An answer is
 * given once (a replayed or late answer changes nothing), and at most
 * {@linkcode MAX_WAITING_PER_APP} calls of one app wait at a time.
 *
 * The records live in the store, so that an owner answering on one process releases a
 * call held by another sharing it (watched when the store can watch, else read again
 * every second while a call waits).
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import { randomToken } from "../../core/crypto.ts";

/** How long a held call's confirmation may be given, and then used, in ms. */
export const CONFIRMATION_TTL_MS = 10 * 60 * 1000;
/** Most calls of one app waiting for the owner at once; more are refused at once. */
export const MAX_WAITING_PER_APP = 20;
/** Most characters of the arguments shown to the owner. */
export const PREVIEW_CHARS = 2048;
/** How often a waiting call reads its record again when the store cannot be watched, in ms. */
const POLL_MS = 1000;

/** Where a held call stands. */
export type ConfirmationState = "waiting" | "confirmed" | "declined" | "used";

/** One held call, as stored (`["confirmation", id]`) and shown to the owner. */
export interface ConfirmationRecord {
  /** Random; names the call in its link and in `confirm <id>`. */
  id: string;
  /** The app that made the call. */
  clientId: string;
  /** The name the client gave itself (not vouched for). */
  clientName?: string;
  /** The grant whose token made the call. */
  grantId: string;
  /** The tool called. */
  tool: string;
  /** The upstream server that owns it; absent for the owner's own tools. */
  server?: string;
  /** base64url(SHA-256(canonical JSON of the arguments)): what the answer is bound to. */
  argumentsSha256: string;
  /** The arguments as canonical JSON, cut at {@linkcode PREVIEW_CHARS}, for the owner. */
  preview: string;
  /** When the call arrived, epoch ms. */
  createdAt: number;
  /** When the answer (or its use) is no longer possible, epoch ms. */
  expiresAt: number;
  /** Where it stands. */
  state: ConfirmationState;
  /** When the owner answered, epoch ms. */
  decidedAt?: number;
  /** How the owner answered: `password`, `passkey` or `command line`. */
  decidedBy?: string;
}

/** What a held call is made of. */
export type HoldInput = Pick<
  ConfirmationRecord,
  "clientId" | "clientName" | "grantId" | "tool" | "server" | "argumentsSha256" | "preview"
>;

/** How a call asking to be held starts. */
export type HoldStart =
  /** An earlier confirmation of the same call was waiting to be used: it is now used. */
  | { kind: "confirmed"; record: ConfirmationRecord }
  /** Too many of the app's calls wait already. */
  | { kind: "full" }
  | { kind: "held"; record: ConfirmationRecord };

/** How a wait ended; `record` (as answered) when the owner answered. */
export interface WaitEnd {
  end: "confirmed" | "declined" | "timeout" | "expired";
  record?: ConfirmationRecord;
}

/** The result of an owner's answer. */
export type DecideResult =
  /** Answered: the record as it now stands. */
  | { ok: true; record: ConfirmationRecord }
  /** `unknown`: no such call (or it expired); `answered`: it was answered already. */
  | { ok: false; reason: "unknown" | "answered" };

/** Held calls as the owner sees and answers them. */
export interface HeldCalls {
  /** Confirms or declines a waiting call, once. */
  decide(id: string, answer: "confirm" | "decline", by: string): Promise<DecideResult>;
  /** One held call (any state), while it lives. */
  get(id: string): Promise<ConfirmationRecord | undefined>;
  /** The calls waiting for the owner, oldest first. */
  pending(): Promise<ConfirmationRecord[]>;
}

/** Held calls. */
export interface Confirmations extends HeldCalls {
  /** Uses an earlier confirmation of this call, or holds it (written before it waits). */
  hold(input: HoldInput): Promise<HoldStart>;
  /** Waits for the owner's answer; a confirmation is used (once) as it is seen. */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitEnd>;
}

/** Whether `id` can be a confirmation id (what a link or a command may carry). */
export function isConfirmationId(id: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(id);
}

/** Builds the held-call service on a store. */
export function createConfirmations(store: Store, now: () => number): Confirmations {
  // In this process: the waits to wake when an answer is written here.
  const waiters = new Map<string, Set<() => void>>();
  const live = (r: ConfirmationRecord | undefined, t = now()) =>
    r !== undefined && r.expiresAt > t ? r : undefined;

  /** Marks a confirmed record used; true when this call is the one that used it. */
  function use(id: string): Promise<boolean> {
    return store.transact([keys.confirmation(id)], ([value]) => {
      const record = live(value as ConfirmationRecord | undefined);
      if (record?.state !== "confirmed") return { ops: [], result: false };
      const used: ConfirmationRecord = { ...record, state: "used" };
      return {
        ops: [{ op: "set", key: keys.confirmation(id), value: used, expiresAt: record.expiresAt }],
        result: true,
      };
    });
  }

  async function all(): Promise<ConfirmationRecord[]> {
    const t = now();
    const stored = await store.list<ConfirmationRecord>(keys.confirmations);
    return stored.map((e) => live(e.value, t)).filter((r) => r !== undefined);
  }

  // One hold at a time per app in this process, so that counting the waiting calls and
  // adding one cannot interleave (1,000 calls at once hold 20, not 1,000). Processes
  // sharing a store count each other's waiting calls but may race by a few.
  const holding = new Map<string, Promise<unknown>>();
  function hold(input: HoldInput): Promise<HoldStart> {
    const before = holding.get(input.clientId) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(() => holdNow(input));
    const tail = mine.catch(() => {});
    holding.set(input.clientId, tail);
    void tail.then(() => {
      if (holding.get(input.clientId) === tail) holding.delete(input.clientId);
    });
    return mine;
  }

  async function holdNow(input: HoldInput): Promise<HoldStart> {
    const records = await all();
    const earlier = records.find((r) =>
      r.state === "confirmed" && r.clientId === input.clientId && r.tool === input.tool &&
      r.argumentsSha256 === input.argumentsSha256
    );
    if (earlier && await use(earlier.id)) return { kind: "confirmed", record: earlier };
    const waiting = records.filter((r) => r.state === "waiting" && r.clientId === input.clientId);
    if (waiting.length >= MAX_WAITING_PER_APP) return { kind: "full" };
    const t = now();
    const record: ConfirmationRecord = {
      ...input,
      id: randomToken(16),
      createdAt: t,
      expiresAt: t + CONFIRMATION_TTL_MS,
      state: "waiting",
    };
    // Durable before the call waits: an answer must find it, on any process.
    await store.write([{
      op: "set",
      key: keys.confirmation(record.id),
      value: record,
      expiresAt: record.expiresAt,
    }]);
    return { kind: "held", record };
  }

  function wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitEnd> {
    return new Promise<WaitEnd>((resolve) => {
      let done = false;
      const stops: (() => void)[] = [];
      const end = (how: WaitEnd["end"], record?: ConfirmationRecord) => {
        if (done) return;
        done = true;
        for (const stop of stops) stop();
        resolve(record ? { end: how, record } : { end: how });
      };
      let checking = false;
      const check = async () => {
        if (done || checking) return;
        checking = true;
        try {
          const record = live(await store.get<ConfirmationRecord>(keys.confirmation(id)));
          if (!record) end("expired");
          else if (record.state === "declined") end("declined", record);
          else if (record.state === "confirmed") {
            if (await use(id)) end("confirmed", record);
            else end("expired");
          }
        } catch { /* the store could not be read: the next check tries again */ }
        checking = false;
      };
      let set = waiters.get(id);
      if (!set) waiters.set(id, set = new Set());
      set.add(check);
      stops.push(() => {
        set.delete(check);
        if (set.size === 0) waiters.delete(id);
      });
      if (store.shared && store.watch) stops.push(store.watch(keys.confirmation(id), check));
      else if (store.shared) {
        const poll = setInterval(check, POLL_MS);
        stops.push(() => clearInterval(poll));
      }
      const timer = setTimeout(() => end("timeout"), timeoutMs);
      stops.push(() => clearTimeout(timer));
      if (signal) {
        const abort = () => end("timeout");
        if (signal.aborted) abort();
        signal.addEventListener("abort", abort, { once: true });
        stops.push(() => signal.removeEventListener("abort", abort));
      }
      void check();
    });
  }

  async function decide(
    id: string,
    answer: "confirm" | "decline",
    by: string,
  ): Promise<DecideResult> {
    if (!isConfirmationId(id)) return { ok: false, reason: "unknown" };
    const result = await store.transact<DecideResult>([keys.confirmation(id)], ([value]) => {
      const record = live(value as ConfirmationRecord | undefined);
      if (!record) return { ops: [], result: { ok: false, reason: "unknown" } };
      // Once: a replayed or second answer (another tab, another process) changes nothing.
      if (record.state !== "waiting") return { ops: [], result: { ok: false, reason: "answered" } };
      const decided: ConfirmationRecord = {
        ...record,
        state: answer === "confirm" ? "confirmed" : "declined",
        decidedAt: now(),
        decidedBy: by,
      };
      return {
        ops: [{
          op: "set",
          key: keys.confirmation(id),
          value: decided,
          expiresAt: record.expiresAt,
        }],
        result: { ok: true, record: decided },
      };
    });
    if (result.ok) { for (const wake of waiters.get(id) ?? []) void wake(); }
    return result;
  }

  return {
    hold,
    wait,
    decide,
    async get(id) {
      if (!isConfirmationId(id)) return undefined;
      return live(await store.get<ConfirmationRecord>(keys.confirmation(id)));
    },
    async pending() {
      return (await all()).filter((r) => r.state === "waiting")
        .sort((a, b) => a.createdAt - b.createdAt);
    },
  };
}
