/**
 * The WebAuthn ceremonies as this server runs them, through `@simplewebauthn/server`:
 * the options a page hands the browser, and the verification of what it answers. Every
 * check of the signed data (origin, relying party, challenge, signature, user
 * verification, signature counter) is the library's; this module says what to expect.
 *
 * @module
 */
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { fromBase64url } from "../../core/crypto.ts";
import type { PasskeyRecord } from "../records.ts";

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

/** Who this server is to an authenticator: its origin, and its host as the RP ID. */
export interface RelyingParty {
  origin: string;
  rpId: string;
}

const bytes = (text: string) => fromBase64url(text)! as Uint8Array<ArrayBuffer>;

/**
 * What both ceremonies expect of what the browser signed: this challenge, this origin,
 * this RP ID, and user verification (the passkey replaces a password).
 */
function expected(rp: RelyingParty, challenge: string) {
  return {
    expectedChallenge: challenge,
    expectedOrigin: rp.origin,
    expectedRPID: rp.rpId,
    requireUserVerification: true,
  };
}

/** The library's reason for refusing a response, for the log. */
function refusal(error: unknown): { ok: false; reason: string } {
  return { ok: false, reason: error instanceof Error ? error.message : "not verified" };
}

/**
 * Parses a credential the page posted: JSON of a PublicKeyCredential.
 *
 * @see {@link https://www.w3.org/TR/webauthn-3/#iface-pkcredential | W3C WebAuthn 5.1}
 */
export function parseCredential(text: string | undefined): Record<string, unknown> | undefined {
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

/** The `navigator.credentials.get()` options (JSON) for `challenge` and these passkeys. */
export async function authenticationOptions(
  rpId: string,
  challenge: string,
  passkeys: readonly PasskeyRecord[],
): Promise<string> {
  const options = await (await webauthn()).generateAuthenticationOptions({
    rpID: rpId,
    challenge: bytes(challenge),
    // W3C WebAuthn 5.4.6: the owner proves who they are, not only presence.
    userVerification: "required",
    timeout: CEREMONY_TIMEOUT_MS,
    allowCredentials: passkeys.map((p) => ({
      id: p.credentialId,
      ...(p.transports ? { transports: p.transports as AuthenticatorTransport[] } : {}),
    })),
  });
  return JSON.stringify(options);
}

/** The `navigator.credentials.create()` options (JSON) for `challenge`. */
export async function registrationOptions(
  rp: { rpId: string; name: string },
  userId: string,
  challenge: string,
  existing: readonly PasskeyRecord[],
): Promise<string> {
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.rpId,
    userName: "owner",
    userDisplayName: `Owner of ${rp.name}`,
    userID: bytes(userId),
    challenge: bytes(challenge),
    timeout: CEREMONY_TIMEOUT_MS,
    attestationType: "none",
    // The same authenticator is not enrolled twice.
    excludeCredentials: existing.map((p) => ({
      id: p.credentialId,
      ...(p.transports ? { transports: p.transports as AuthenticatorTransport[] } : {}),
    })),
    // W3C WebAuthn 5.4.4: a discoverable credential when the authenticator can;
    // user verification always (the passkey replaces a password, not adds to one).
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
    supportedAlgorithmIDs: ALGORITHMS,
  });
  return JSON.stringify(options);
}

/**
 * Verifies an assertion by `passkey` against `challenge`: the new signature counter,
 * or why it was refused. A library that cannot load is a fault (thrown), not a refusal.
 *
 * @see {@link https://www.w3.org/TR/webauthn-3/#sctn-verifying-assertion | W3C WebAuthn 7.2}
 */
export async function verifyAuthentication(
  rp: RelyingParty,
  credential: Record<string, unknown>,
  challenge: string,
  passkey: PasskeyRecord,
): Promise<{ ok: true; counter: number } | { ok: false; reason: string }> {
  const lib = await webauthn();
  let result;
  try {
    // Type, challenge, origin, RP ID hash, UP and UV flags, signature, and the counter
    // (one that does not grow is refused unless both are 0).
    result = await lib.verifyAuthenticationResponse({
      response: credential as unknown as AuthenticationResponseJSON,
      ...expected(rp, challenge),
      expectedType: "webauthn.get",
      credential: {
        id: passkey.credentialId,
        publicKey: bytes(passkey.publicKey),
        counter: passkey.counter,
      },
    });
  } catch (error) {
    return refusal(error);
  }
  if (!result.verified) return { ok: false, reason: "signature not valid" };
  if (!result.authenticationInfo.userVerified) {
    return { ok: false, reason: "user verification required" };
  }
  return { ok: true, counter: result.authenticationInfo.newCounter };
}

/** A verified registration: the credential to keep, as the library read it. */
export interface Registered {
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports?: string[];
  backedUp: boolean;
}

/**
 * Verifies a registration against `challenge`: the credential, or why it was refused.
 *
 * @see {@link https://www.w3.org/TR/webauthn-3/#sctn-registering-a-new-credential | W3C WebAuthn 7.1}
 */
export async function verifyRegistration(
  rp: RelyingParty,
  credential: Record<string, unknown>,
  challenge: string,
): Promise<{ ok: true; registered: Registered } | { ok: false; reason: string }> {
  const lib = await webauthn();
  let result;
  try {
    // Type, challenge, origin, RP ID hash, UP and UV flags, algorithm.
    result = await lib.verifyRegistrationResponse({
      response: credential as unknown as RegistrationResponseJSON,
      ...expected(rp, challenge),
      expectedType: "webauthn.create",
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch (error) {
    return refusal(error);
  }
  if (!result.verified) return { ok: false, reason: "not verified" };
  const { credential: made, credentialBackedUp } = result.registrationInfo;
  return {
    ok: true,
    registered: {
      credentialId: made.id,
      publicKey: made.publicKey,
      counter: made.counter,
      ...(made.transports?.length ? { transports: [...made.transports] } : {}),
      backedUp: credentialBackedUp,
    },
  };
}
