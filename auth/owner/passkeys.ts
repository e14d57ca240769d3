/**
 * The owner's passkeys (W3C WebAuthn Level 3): enrolment through a one-time link the
 * owner mints on the machine, and verification of an assertion bound to one page's
 * challenge. The ceremonies are in ./webauthn.ts (every check of the signed data is
 * `@simplewebauthn/server`'s), the rules over the stored record in
 * ./passkey_records.ts; this module decides what to expect and keeps the records.
 *
 * The rule that spans the password and the passkeys, "some way to approve always
 * remains", lives here: the passkeys are one record (`["owner", "passkeys"]`), so
 * removing the last passkey and removing the password are each one transaction over
 * both keys.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { base64url, hashSecret, isRandomToken, randomToken } from "../../core/crypto.ts";
import type {
  PasskeyChallengeRecord,
  PasskeyLinkRecord,
  PasskeyRecord,
  PasskeysRecord,
} from "../records.ts";
import { keys } from "../../store/keys.ts";
import {
  enrolPlan,
  isPasskeys,
  LINK_SPENT,
  type PasskeySummary,
  removalPlan,
  type RemovalResult,
  summary,
  usePlan,
} from "./passkey_records.ts";
import {
  authenticationOptions,
  parseCredential,
  type Registered,
  registrationOptions,
  type RelyingParty,
  verifyAuthentication,
  verifyRegistration,
} from "./webauthn.ts";

export { MAX_PASSKEYS, type PasskeySummary, type RemovalResult } from "./passkey_records.ts";

/** How long an enrolment link stays valid, in ms. */
export const PASSKEY_LINK_TTL_MS = 15 * 60 * 1000;
/** Longest passkey name kept, in characters. */
export const MAX_PASSKEY_NAME_CHARS = 60;
const NO_RP_ID = "passkeys need a host name, not an IP address";

/** The outcome of an assertion: the passkey that signed, or why it was refused (for the log). */
export type AssertionVerdict =
  | { ok: true; passkey: PasskeySummary }
  | { ok: false; reason: string };

/** The outcome of an enrolment. */
export type EnrolmentVerdict =
  | { ok: true; passkey: PasskeySummary }
  | { ok: false; reason: string; linkSpent: boolean };

/**
 * The WebAuthn relying party id of a base URL: its host name. Undefined when the host is
 * an IP address, which WebAuthn does not accept as an RP ID (W3C WebAuthn 5.1.3 step 8:
 * a valid domain).
 *
 * @example
 * ```ts
 * import { passkeyRpId } from "./passkeys.ts";
 * if (passkeyRpId("https://me.example.com") !== "me.example.com") throw new Error("rpId");
 * if (passkeyRpId("http://127.0.0.1:8787") !== undefined) throw new Error("an IP is no rpId");
 * ```
 */
export function passkeyRpId(baseUrl: string): string | undefined {
  const host = new URL(baseUrl).hostname;
  if (host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host)) return undefined;
  return host;
}

/** A passkey name as kept: printable, one line, at most {@linkcode MAX_PASSKEY_NAME_CHARS}. */
export function cleanPasskeyName(name: string | undefined, fallback: string): string {
  const cleaned = (name ?? "").replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "").replace(/\s+/gu, " ")
    .trim().slice(0, MAX_PASSKEY_NAME_CHARS);
  return cleaned || fallback;
}

/** What the passkeys service is built from. */
export interface PasskeysDeps {
  store: Store;
  /**
   * The server's base URL: its origin is the one expected, its host the RP ID. Without
   * it (an owner command on a stopped server's state) the service lists, mints links
   * and removes, but verifies nothing.
   */
  baseUrl?: string;
  /** The relying party's name shown by the authenticator. @default "personal-mcp" */
  serverName?: string;
  now: () => number;
}

/** The owner's passkeys. */
export interface Passkeys {
  /** The RP ID (the base URL's host), or undefined when the host is an IP address. */
  readonly rpId: string | undefined;
  /** The enrolled passkeys, oldest first. */
  list(): Promise<PasskeySummary[]>;
  /**
   * The `navigator.credentials.get()` options (JSON) for `challenge` (base64url of 32
   * random bytes), or undefined when no passkey is enrolled.
   */
  assertionOptions(challenge: string): Promise<string | undefined>;
  /**
   * Verifies an assertion (the page's JSON) against `challenge`, which the caller kept
   * in a signed form; the challenge is spent here whatever the outcome (single use,
   * remembered until `challengeExpiresAt`). On success the counter and last use are kept.
   */
  verifyAssertion(
    credential: string | undefined,
    challenge: string,
    challengeExpiresAt: number,
    address: string,
  ): Promise<AssertionVerdict>;
  /** Mints a one-time enrolment link token; only its hash is stored. */
  mintLink(name?: string): Promise<{ token: string; expiresAt: number }>;
  /** The link of a token, when it is live. */
  openLink(token: string): Promise<(PasskeyLinkRecord & { hash: string }) | undefined>;
  /** The `navigator.credentials.create()` options (JSON) for `challenge`. */
  registrationOptions(challenge: string): Promise<string>;
  /**
   * Verifies a registration against `challenge` and, in one transaction, spends the link
   * (by its hash) and keeps the passkey.
   */
  register(
    credential: string | undefined,
    challenge: string,
    linkHash: string,
    name: string | undefined,
    address: string,
  ): Promise<EnrolmentVerdict>;
  /** Removes a passkey; refused ("last") when it is the only way left to approve. */
  remove(id: string): Promise<RemovalResult>;
}

/** The passkey to keep from a verified registration. */
function freshPasskey(
  registered: Registered,
  name: string | undefined,
  t: number,
  address: string,
): PasskeyRecord {
  return {
    id: randomToken(9),
    credentialId: registered.credentialId,
    publicKey: base64url(registered.publicKey),
    counter: registered.counter,
    ...(registered.transports ? { transports: registered.transports } : {}),
    name: cleanPasskeyName(name, `Passkey ${new Date(t).toISOString().slice(0, 10)}`),
    backedUp: registered.backedUp,
    createdAt: t,
    createdFrom: address,
  };
}

/** Builds the passkeys service. */
export function createPasskeys(deps: PasskeysDeps): Passkeys {
  const { store, now } = deps;
  const origin = deps.baseUrl ? new URL(deps.baseUrl).origin : "";
  const rpId = deps.baseUrl ? passkeyRpId(deps.baseUrl) : undefined;
  const serverName = deps.serverName ?? "personal-mcp";

  async function record(): Promise<PasskeysRecord | undefined> {
    const value = await store.get<PasskeysRecord>(keys.ownerPasskeys);
    return isPasskeys(value) ? value : undefined;
  }

  /** The owner's WebAuthn user handle, created once. */
  async function userId(): Promise<string> {
    const fresh = randomToken(16);
    return await store.transact(
      [keys.ownerPasskeys],
      ([value]) =>
        isPasskeys(value) ? { ops: [], result: value.userId } : {
          ops: [{
            op: "set",
            key: keys.ownerPasskeys,
            value: { userId: fresh, passkeys: [] } satisfies PasskeysRecord,
          }],
          result: fresh,
        },
    );
  }

  /** W3C WebAuthn 13.4.3: a challenge is used once; a replayed assertion finds it spent. */
  async function spendChallenge(challenge: string, expiresAt: number): Promise<boolean> {
    const key = keys.passkeyChallenge(await hashSecret(challenge));
    const value: PasskeyChallengeRecord = { usedAt: now(), expiresAt };
    return await store.transact(
      [key],
      ([used]) =>
        used !== undefined
          ? { ops: [], result: false }
          : { ops: [{ op: "set", key, value, expiresAt }], result: true },
    );
  }

  async function verifyAssertion(
    text: string | undefined,
    challenge: string,
    challengeExpiresAt: number,
    address: string,
  ): Promise<AssertionVerdict> {
    if (!rpId) return { ok: false, reason: NO_RP_ID };
    const credential = parseCredential(text);
    if (!credential) return { ok: false, reason: "no readable passkey answer" };
    if (!(await spendChallenge(challenge, challengeExpiresAt))) {
      return { ok: false, reason: "challenge already used (replayed assertion)" };
    }
    const stored = await record();
    const passkey = stored?.passkeys.find((p) => p.credentialId === credential.id);
    if (!stored || !passkey) return { ok: false, reason: "unknown passkey" };
    // W3C WebAuthn 7.2 step 6: a user handle, when given, must be the owner's.
    const handle = (credential.response as { userHandle?: unknown }).userHandle;
    if (handle !== undefined && handle !== null && handle !== "" && handle !== stored.userId) {
      return { ok: false, reason: "the passkey belongs to another user" };
    }
    const rp: RelyingParty = { origin, rpId };
    const verified = await verifyAuthentication(rp, credential, challenge, passkey);
    if (!verified.ok) return verified;
    const t = now();
    const updated = await store.transact(
      [keys.ownerPasskeys],
      ([value]) => usePlan(value, passkey.id, verified.counter, t, address),
    );
    if (!updated) return { ok: false, reason: "passkey removed or counter went backwards" };
    return { ok: true, passkey: summary(updated) };
  }

  async function register(
    text: string | undefined,
    challenge: string,
    linkHash: string,
    name: string | undefined,
    address: string,
  ): Promise<EnrolmentVerdict> {
    if (!rpId) return { ok: false, reason: NO_RP_ID, linkSpent: false };
    const credential = parseCredential(text);
    if (!credential) return { ok: false, reason: "no readable passkey answer", linkSpent: false };
    const verified = await verifyRegistration({ origin, rpId }, credential, challenge);
    if (!verified.ok) return { ...verified, linkSpent: false };
    const t = now();
    const fresh = freshPasskey(verified.registered, name, t, address);
    const userHandle = randomToken(16);
    const outcome = await store.transact(
      [keys.passkeyLink(linkHash), keys.ownerPasskeys],
      ([link, value]) => enrolPlan({ link, value, linkHash }, fresh, t, userHandle),
    );
    if (outcome !== "ok") return { ok: false, reason: outcome, linkSpent: outcome === LINK_SPENT };
    return { ok: true, passkey: summary(fresh) };
  }

  return {
    rpId,
    async list() {
      return ((await record())?.passkeys ?? []).map(summary);
    },
    async assertionOptions(challenge) {
      const passkeys = (await record())?.passkeys ?? [];
      if (!rpId || passkeys.length === 0) return undefined;
      return await authenticationOptions(rpId, challenge, passkeys);
    },
    verifyAssertion,
    async mintLink(name) {
      const token = randomToken();
      const t = now();
      const label = cleanPasskeyName(name, "");
      const link: PasskeyLinkRecord = {
        ...(label ? { name: label } : {}),
        createdAt: t,
        expiresAt: t + PASSKEY_LINK_TTL_MS,
      };
      await store.write([{
        op: "set",
        key: keys.passkeyLink(await hashSecret(token)),
        value: link,
        expiresAt: link.expiresAt,
      }]);
      return { token, expiresAt: link.expiresAt };
    },
    async openLink(token) {
      // A token is 43 base64url characters; anything else names no link.
      if (!isRandomToken(token)) return undefined;
      const hash = await hashSecret(token);
      const link = await store.get<PasskeyLinkRecord>(keys.passkeyLink(hash));
      return link && link.expiresAt > now() ? { ...link, hash } : undefined;
    },
    async registrationOptions(challenge) {
      if (!rpId) throw new RangeError(NO_RP_ID);
      const user = await userId();
      const existing = (await record())?.passkeys ?? [];
      return await registrationOptions({ rpId, name: serverName }, user, challenge, existing);
    },
    register,
    async remove(id) {
      return await store.transact(
        [keys.ownerPasskeys, keys.ownerPassword],
        ([value, password]) => removalPlan(value, password, id),
      );
    },
  };
}

/**
 * Removes the stored owner password, in one transaction with the check that at least
 * one passkey is enrolled (else nobody could approve), and signs out every owner page
 * (a session opened with the password must not outlive it). Returns false, changing
 * nothing, when no passkey is enrolled.
 */
export async function removeOwnerPassword(store: Store): Promise<boolean> {
  const sessions = await store.list(keys.ownerSessions);
  return await store.transact([keys.ownerPasskeys, keys.ownerPassword], ([value]) => {
    if (!isPasskeys(value) || value.passkeys.length === 0) return { ops: [], result: false };
    return {
      ops: [
        { op: "delete", key: keys.ownerPassword },
        ...sessions.map(({ key }) => ({ op: "delete" as const, key })),
      ],
      result: true,
    };
  });
}
