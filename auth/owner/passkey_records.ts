/**
 * The rules over the owner's passkeys record (`["owner", "passkeys"]`), as pure
 * functions from what the store holds to a plan: use a passkey (its counter must grow),
 * enrol one through a link, remove one. The service in ./passkeys.ts reads, calls the
 * rule inside one transaction, and writes; the rules are tested by tables.
 *
 * @module
 */
import type { Plan, WriteOp } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import type { PasskeyLinkRecord, PasskeyRecord, PasskeysRecord } from "../records.ts";

/** Most passkeys kept at once. */
export const MAX_PASSKEYS = 20;

/** A passkey as the owner sees it (no key material). */
export interface PasskeySummary {
  /** What `removePasskey` takes. */
  id: string;
  /** The name the owner gave it when enrolling (e.g. "MacBook"). */
  name: string;
  /** When it was enrolled (milliseconds since the epoch). */
  createdAt: number;
  /** The address that enrolled it (or "command line"). */
  createdFrom: string;
  /** When it last signed the owner in. */
  lastUsedAt?: number;
  /** The address it was last used from. */
  lastAddress?: string;
  /** Whether the authenticator reports the passkey as synced (backed up). */
  backedUp: boolean;
}

/** Why a removal was refused, or that it happened. */
export type RemovalResult = "removed" | "unknown" | "last";

/** A stored passkey as the owner sees it. */
export function summary(p: PasskeyRecord): PasskeySummary {
  return {
    id: p.id,
    name: p.name,
    createdAt: p.createdAt,
    createdFrom: p.createdFrom,
    ...(p.lastUsedAt !== undefined ? { lastUsedAt: p.lastUsedAt } : {}),
    ...(p.lastAddress !== undefined ? { lastAddress: p.lastAddress } : {}),
    backedUp: p.backedUp,
  };
}

/** Whether a stored value is the passkeys record. */
export function isPasskeys(value: unknown): value is PasskeysRecord {
  return typeof value === "object" && value !== null &&
    typeof (value as PasskeysRecord).userId === "string" &&
    Array.isArray((value as PasskeysRecord).passkeys);
}

function setPasskeys(value: PasskeysRecord): WriteOp {
  return { op: "set", key: keys.ownerPasskeys, value };
}

/**
 * A verified assertion's new signature counter, kept with the passkey's last use. The
 * counter is checked again against the stored one as it is replaced: two assertions
 * racing with the same counter cannot both pass. Undefined (nothing written) when the
 * passkey is gone or its counter did not grow (unless both are 0).
 *
 * @see {@link https://www.w3.org/TR/webauthn-3/#sctn-sign-counter | W3C WebAuthn 6.1.1}
 *
 * @example A counter that does not grow is refused
 * ```ts
 * import { usePlan } from "./passkey_records.ts";
 * const passkey = { id: "p", credentialId: "c", publicKey: "k", counter: 5, name: "n", backedUp: false, createdAt: 0, createdFrom: "x" };
 * const plan = usePlan({ userId: "u", passkeys: [passkey] }, "p", 5, 1, "127.0.0.1");
 * if (plan.result !== undefined || plan.ops.length !== 0) throw new Error("replay accepted");
 * ```
 */
export function usePlan(
  value: unknown,
  passkeyId: string,
  counter: number,
  t: number,
  address: string,
): Plan<PasskeyRecord | undefined> {
  if (!isPasskeys(value)) return { ops: [], result: undefined };
  const current = value.passkeys.find((p) => p.id === passkeyId);
  if (!current || ((counter > 0 || current.counter > 0) && counter <= current.counter)) {
    return { ops: [], result: undefined };
  }
  const next: PasskeyRecord = { ...current, counter, lastUsedAt: t, lastAddress: address };
  const passkeys = value.passkeys.map((p) => (p.id === current.id ? next : p));
  return { ops: [setPasskeys({ ...value, passkeys })], result: next };
}

/** What enrolling through a link came to: "ok", or why not. */
export const LINK_SPENT = "link used or expired";

/**
 * Keeps a newly registered passkey and spends the link, in one write: one passkey per
 * link. `userId` is the user handle of a first passkey. The result is "ok" or why not
 * ({@linkcode LINK_SPENT}, a duplicate, too many).
 *
 * @example A spent link enrols nothing
 * ```ts
 * import { enrolPlan, LINK_SPENT } from "./passkey_records.ts";
 * const fresh = { id: "p", credentialId: "c", publicKey: "k", counter: 0, name: "n", backedUp: false, createdAt: 0, createdFrom: "x" };
 * const plan = enrolPlan({ link: undefined, value: undefined, linkHash: "h" }, fresh, 0, "u");
 * if (plan.result !== LINK_SPENT || plan.ops.length !== 0) throw new Error(plan.result);
 * ```
 */
export function enrolPlan(
  stored: { link: unknown; value: unknown; linkHash: string },
  fresh: PasskeyRecord,
  t: number,
  userId: string,
): Plan<string> {
  const live = stored.link as PasskeyLinkRecord | undefined;
  if (!live || !(live.expiresAt > t)) return { ops: [], result: LINK_SPENT };
  const current: PasskeysRecord = isPasskeys(stored.value)
    ? stored.value
    : { userId, passkeys: [] };
  if (current.passkeys.some((p) => p.credentialId === fresh.credentialId)) {
    return { ops: [], result: "this passkey is already enrolled" };
  }
  if (current.passkeys.length >= MAX_PASSKEYS) {
    return { ops: [], result: `at most ${MAX_PASSKEYS} passkeys; remove one first` };
  }
  return {
    ops: [
      { op: "delete", key: keys.passkeyLink(stored.linkHash) },
      setPasskeys({ ...current, passkeys: [...current.passkeys, fresh] }),
    ],
    result: "ok",
  };
}

/**
 * Removes passkey `id`, unless it is the last one and no password is kept: some way to
 * approve always remains.
 *
 * @example The last passkey stays when no password is kept
 * ```ts
 * import { removalPlan } from "./passkey_records.ts";
 * const passkey = { id: "p", credentialId: "c", publicKey: "k", counter: 0, name: "n", backedUp: false, createdAt: 0, createdFrom: "x" };
 * if (removalPlan({ userId: "u", passkeys: [passkey] }, undefined, "p").result !== "last") throw new Error("removed");
 * ```
 */
export function removalPlan(value: unknown, password: unknown, id: string): Plan<RemovalResult> {
  if (!isPasskeys(value) || !value.passkeys.some((p) => p.id === id)) {
    return { ops: [], result: "unknown" };
  }
  const rest = value.passkeys.filter((p) => p.id !== id);
  // Without a password, the last passkey is the owner's only way to approve.
  if (rest.length === 0 && password === undefined) return { ops: [], result: "last" };
  return { ops: [setPasskeys({ ...value, passkeys: rest })], result: "removed" };
}
