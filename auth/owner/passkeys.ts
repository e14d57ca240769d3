/**
 * The owner's passkeys (W3C WebAuthn Level 3): enrolment through a one-time link the
 * owner mints on the machine, and verification of an assertion bound to one page's
 * challenge. Every check of the signed data (origin, relying party, challenge,
 * signature, user verification, signature counter) is done by `@simplewebauthn/server`;
 * this module decides what to expect and keeps the records.
 *
 * The rule that spans the password and the passkeys, "some way to approve always
 * remains", lives here: the passkeys are one record (`["owner", "passkeys"]`), so
 * removing the last passkey and removing the password are each one transaction over
 * both keys.
 *
 * @module
 */
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { Plan, Store } from "../../store/store.ts";
import { base64url, fromBase64url, hashSecret, randomToken } from "../../core/crypto.ts";
import type {
  PasskeyChallengeRecord,
  PasskeyLinkRecord,
  PasskeyRecord,
  PasskeysRecord,
} from "../records.ts";
import { keys } from "../../store/keys.ts";

/** How long an enrolment link stays valid, in ms. */
export const PASSKEY_LINK_TTL_MS = 15 * 60 * 1000;
/** Most passkeys kept at once. */
export const MAX_PASSKEYS = 20;
/** Longest passkey name kept, in characters. */
export const MAX_PASSKEY_NAME_CHARS = 60;
/** How long a browser may take to answer a WebAuthn prompt, in ms. */
const CEREMONY_TIMEOUT_MS = 5 * 60 * 1000;
/** COSE algorithms accepted: EdDSA, ES256, RS256 (the same on every runtime). */
const ALGORITHMS = [-8, -7, -257];
/** Longest credential id accepted, in base64url characters (W3C WebAuthn 5.1: 1023 bytes). */
const MAX_CREDENTIAL_ID_CHARS = 1364;

type WebAuthnLibrary = typeof import("@simplewebauthn/server");
let library: Promise<WebAuthnLibrary> | undefined;

/**
 * The verifier, loaded on first use: its import costs 100-250 ms of start-up, which a
 * server (or a Deno Deploy isolate) that never shows a passkey button does not pay.
 */
function webauthn(): Promise<WebAuthnLibrary> {
  library ??= import("@simplewebauthn/server").catch((error) => {
    library = undefined;
    throw error;
  });
  return library;
}

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

/** The outcome of an assertion: the passkey that signed, or why it was refused (for the log). */
export type AssertionVerdict =
  | { ok: true; passkey: PasskeySummary }
  | { ok: false; reason: string };

/** The outcome of an enrolment. */
export type EnrolmentVerdict =
  | { ok: true; passkey: PasskeySummary }
  | { ok: false; reason: string; linkSpent: boolean };

/** Why a removal was refused, or that it happened. */
export type RemovalResult = "removed" | "unknown" | "last";

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

function summary(p: PasskeyRecord): PasskeySummary {
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

function isPasskeys(value: unknown): value is PasskeysRecord {
  return typeof value === "object" && value !== null &&
    typeof (value as PasskeysRecord).userId === "string" &&
    Array.isArray((value as PasskeysRecord).passkeys);
}

/** Parses a credential the page posted: JSON of a PublicKeyCredential (W3C WebAuthn 5.1). */
function parseCredential(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { id, rawId, response } = value as Record<string, unknown>;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_CREDENTIAL_ID_CHARS) {
    return undefined;
  }
  if (rawId !== id || typeof response !== "object" || response === null) return undefined;
  return value as Record<string, unknown>;
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

  async function spendChallenge(challenge: string, expiresAt: number): Promise<boolean> {
    const key = keys.passkeyChallenge(await hashSecret(challenge));
    const t = now();
    return await store.transact(
      [key],
      ([used]) =>
        used !== undefined ? { ops: [], result: false } : {
          ops: [{
            op: "set",
            key,
            value: { usedAt: t, expiresAt } satisfies PasskeyChallengeRecord,
            expiresAt,
          }],
          result: true,
        },
    );
  }

  return {
    rpId,

    async list() {
      return ((await record())?.passkeys ?? []).map(summary);
    },

    async assertionOptions(challenge) {
      const passkeys = (await record())?.passkeys ?? [];
      if (!rpId || passkeys.length === 0) return undefined;
      const options = await (await webauthn()).generateAuthenticationOptions({
        rpID: rpId,
        challenge: fromBase64url(challenge)! as Uint8Array<ArrayBuffer>,
        // W3C WebAuthn 5.4.6: the owner proves who they are, not only presence.
        userVerification: "required",
        timeout: CEREMONY_TIMEOUT_MS,
        allowCredentials: passkeys.map((p) => ({
          id: p.credentialId,
          ...(p.transports ? { transports: p.transports as AuthenticatorTransport[] } : {}),
        })),
      });
      return JSON.stringify(options);
    },

    async verifyAssertion(text, challenge, challengeExpiresAt, address) {
      if (!rpId) return { ok: false, reason: "passkeys need a host name, not an IP address" };
      const credential = parseCredential(text);
      if (!credential) return { ok: false, reason: "no readable passkey answer" };
      // W3C WebAuthn 13.4.3: a challenge is used once; a replayed assertion finds it spent.
      if (!(await spendChallenge(challenge, challengeExpiresAt))) {
        return { ok: false, reason: "challenge already used (replayed assertion)" };
      }
      const stored = await record();
      const passkey = stored?.passkeys.find((p) => p.credentialId === credential.id);
      if (!stored || !passkey) return { ok: false, reason: "unknown passkey" };
      const response = credential as unknown as AuthenticationResponseJSON;
      // W3C WebAuthn 7.2 step 6: a user handle, when given, must be the owner's.
      const handle = response.response?.userHandle;
      if (handle !== undefined && handle !== null && handle !== "" && handle !== stored.userId) {
        return { ok: false, reason: "the passkey belongs to another user" };
      }
      // Loaded outside the try: a library that cannot load is a fault, not a refusal.
      const lib = await webauthn();
      let result;
      try {
        // W3C WebAuthn 7.2: type, challenge, origin, RP ID hash, UP and UV flags,
        // signature, and the counter (17: one that does not grow is refused unless both are 0).
        result = await lib.verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpId,
          expectedType: "webauthn.get",
          requireUserVerification: true,
          credential: {
            id: passkey.credentialId,
            publicKey: fromBase64url(passkey.publicKey)! as Uint8Array<ArrayBuffer>,
            counter: passkey.counter,
          },
        });
      } catch (error) {
        return { ok: false, reason: error instanceof Error ? error.message : "not verified" };
      }
      if (!result.verified) return { ok: false, reason: "signature not valid" };
      if (!result.authenticationInfo.userVerified) {
        return { ok: false, reason: "user verification required" };
      }
      const counter = result.authenticationInfo.newCounter;
      const t = now();
      // The counter is checked again against the stored one as it is replaced: two
      // assertions racing with the same counter cannot both pass.
      const updated = await store.transact([keys.ownerPasskeys], ([value]) => {
        if (!isPasskeys(value)) return { ops: [], result: undefined };
        const current = value.passkeys.find((p) => p.id === passkey.id);
        if (!current || ((counter > 0 || current.counter > 0) && counter <= current.counter)) {
          return { ops: [], result: undefined };
        }
        const next: PasskeyRecord = { ...current, counter, lastUsedAt: t, lastAddress: address };
        return {
          ops: [{
            op: "set",
            key: keys.ownerPasskeys,
            value: {
              ...value,
              passkeys: value.passkeys.map((p) => (p.id === current.id ? next : p)),
            } satisfies PasskeysRecord,
          }],
          result: next,
        };
      });
      if (!updated) return { ok: false, reason: "passkey removed or counter went backwards" };
      return { ok: true, passkey: summary(updated) };
    },

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
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
      const hash = await hashSecret(token);
      const link = await store.get<PasskeyLinkRecord>(keys.passkeyLink(hash));
      return link && link.expiresAt > now() ? { ...link, hash } : undefined;
    },

    async registrationOptions(challenge) {
      if (!rpId) throw new RangeError("passkeys need a host name, not an IP address");
      const user = fromBase64url(await userId())! as Uint8Array<ArrayBuffer>;
      const existing = (await record())?.passkeys ?? [];
      const options = await (await webauthn()).generateRegistrationOptions({
        rpName: serverName,
        rpID: rpId,
        userName: "owner",
        userDisplayName: `Owner of ${serverName}`,
        userID: user,
        challenge: fromBase64url(challenge)! as Uint8Array<ArrayBuffer>,
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: "none",
        // The same authenticator is not enrolled twice.
        excludeCredentials: existing.map((p) => ({
          id: p.credentialId,
          ...(p.transports ? { transports: p.transports } : {}),
        })),
        // W3C WebAuthn 5.4.4: a discoverable credential when the authenticator can;
        // user verification always (the passkey replaces a password, not adds to one).
        authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
        supportedAlgorithmIDs: ALGORITHMS,
      });
      return JSON.stringify(options);
    },

    async register(text, challenge, linkHash, name, address) {
      if (!rpId) {
        return {
          ok: false,
          reason: "passkeys need a host name, not an IP address",
          linkSpent: false,
        };
      }
      const credential = parseCredential(text);
      if (!credential) return { ok: false, reason: "no readable passkey answer", linkSpent: false };
      const lib = await webauthn();
      let result;
      try {
        // W3C WebAuthn 7.1: type, challenge, origin, RP ID hash, UP and UV flags, algorithm.
        result = await lib.verifyRegistrationResponse({
          response: credential as unknown as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpId,
          expectedType: "webauthn.create",
          requireUserVerification: true,
          supportedAlgorithmIDs: ALGORITHMS,
        });
      } catch (error) {
        return {
          ok: false,
          reason: error instanceof Error ? error.message : "not verified",
          linkSpent: false,
        };
      }
      if (!result.verified) return { ok: false, reason: "not verified", linkSpent: false };
      const info = result.registrationInfo;
      const t = now();
      const linkKey = keys.passkeyLink(linkHash);
      const fresh: PasskeyRecord = {
        id: randomToken(9),
        credentialId: info.credential.id,
        publicKey: base64url(info.credential.publicKey),
        counter: info.credential.counter,
        ...(info.credential.transports?.length
          ? { transports: [...info.credential.transports] }
          : {}),
        name: cleanPasskeyName(name, `Passkey ${new Date(t).toISOString().slice(0, 10)}`),
        backedUp: info.credentialBackedUp,
        createdAt: t,
        createdFrom: address,
      };
      const userHandle = randomToken(16);
      const outcome = await store.transact(
        [linkKey, keys.ownerPasskeys],
        ([link, value]): Plan<string> => {
          const live = link as PasskeyLinkRecord | undefined;
          // One passkey per link: the link is spent in the same write that keeps it.
          if (!live || !(live.expiresAt > t)) return { ops: [], result: "link used or expired" };
          const current: PasskeysRecord = isPasskeys(value)
            ? value
            : { userId: userHandle, passkeys: [] };
          if (current.passkeys.some((p) => p.credentialId === fresh.credentialId)) {
            return { ops: [], result: "this passkey is already enrolled" };
          }
          if (current.passkeys.length >= MAX_PASSKEYS) {
            return { ops: [], result: `at most ${MAX_PASSKEYS} passkeys; remove one first` };
          }
          return {
            ops: [
              { op: "delete", key: linkKey },
              {
                op: "set",
                key: keys.ownerPasskeys,
                value: { ...current, passkeys: [...current.passkeys, fresh] },
              },
            ],
            result: "ok",
          };
        },
      );
      if (outcome !== "ok") {
        return { ok: false, reason: outcome, linkSpent: outcome === "link used or expired" };
      }
      return { ok: true, passkey: summary(fresh) };
    },

    async remove(id) {
      return await store.transact(
        [keys.ownerPasskeys, keys.ownerPassword],
        ([value, password]): Plan<RemovalResult> => {
          if (!isPasskeys(value) || !value.passkeys.some((p) => p.id === id)) {
            return { ops: [], result: "unknown" };
          }
          const rest = value.passkeys.filter((p) => p.id !== id);
          // Without a password, the last passkey is the owner's only way to approve.
          if (rest.length === 0 && password === undefined) return { ops: [], result: "last" };
          return {
            ops: [{ op: "set", key: keys.ownerPasskeys, value: { ...value, passkeys: rest } }],
            result: "removed",
          };
        },
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
