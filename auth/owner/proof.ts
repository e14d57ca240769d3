/**
 * The one way the owner proves who they are, on the consent page and on the owner
 * page alike: a password or a passkey, under the login throttle. The attempt is counted
 * before the slow check and an address's (or device's) attempts take turns, so that
 * concurrent guesses cannot pass the throttle together; at most a few password checks
 * run at once, the owner's known browser first; a browser that approved before carries
 * a signed device cookie and is throttled on its own (OWASP "device cookies").
 *
 * @module
 */
import type { PersonalMcpEvent } from "../../core/config.ts";
import { randomToken } from "../../core/crypto.ts";
import type { ConcurrencyLimit, LoginThrottle } from "../limits/throttle.ts";
import type { OwnerCheck } from "./password.ts";
import { readCookie } from "../../core/http.ts";
import type { Passkeys } from "./passkeys.ts";
import type { Signer } from "./signer.ts";

/** How long a device cookie is honoured after the approval that set it, in seconds. */
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600;

/**
 * The signed payload of a device cookie: a random id per browser. It grants nothing
 * but a throttle of its own, so the owner's browser is not locked out by strangers.
 */
interface DeviceCookie {
  typ: "device";
  id: string;
  issuedAt: number;
}

/** What the owner offered. */
export type OwnerCredential =
  | { method: "password"; password: string }
  | {
    method: "passkey";
    /** The browser's answer (JSON). */
    credential: string | undefined;
    /** The challenge signed into the page that asked; undefined when it offered none. */
    challenge: string | undefined;
    /** When that page expires (the challenge with it), epoch ms. */
    expiresAt: number;
  };

/**
 * The credential a posted form offers: a passkey's answer (`credential`) against the
 * challenge signed into the page that carried the form, or the `password` field.
 */
export function credentialOf(
  method: "password" | "passkey",
  form: Record<string, string>,
  page: { challenge?: string; expiresAt: number },
): OwnerCredential {
  return method === "passkey"
    ? { method, credential: form.credential, challenge: page.challenge, expiresAt: page.expiresAt }
    : { method, password: form.password ?? "" };
}

/** How a proof ended. */
export type ProofOutcome =
  | { ok: true }
  /** Throttled: nothing was checked. */
  | { ok: false; status: 429; retryAfterSeconds: number }
  /** Checked and refused; `kind` says which words the page shows. */
  | { ok: false; status: 401; kind: "wrong_password" | "no_password" | "passkey_refused" }
  /** Nobody can prove anything: no password and no passkey is set. */
  | { ok: false; status: 503 };

/** The owner-proof service. */
export interface OwnerProof {
  /** Checks `credential` for a caller at `address` (with its device cookie, if any). */
  prove(
    who: { address: string; device?: string; page: "consent" | "owner" },
    credential: OwnerCredential,
  ): Promise<ProofOutcome>;
  /** The id of the request's device cookie, when this server signed it and it is live. */
  deviceOf(request: Request): Promise<string | undefined>;
  /** A `Set-Cookie` value marking the browser that just proved itself as the owner's. */
  deviceCookie(id: string | undefined): Promise<string>;
}

/** Builds the service. */
export function createOwnerProof(deps: {
  owner: OwnerCheck;
  passkeys: Passkeys;
  throttle: LoginThrottle;
  /** How many password verifications may run at once. */
  verifications: ConcurrencyLimit;
  signer: Signer;
  secureCookie: boolean;
  now: () => number;
  emit: (event: PersonalMcpEvent) => void;
}): OwnerProof {
  const { owner, passkeys, throttle, signer, now } = deps;
  // RFC 6265bis 4.1.3.2: the __Host- prefix pins the cookie to this origin (https only).
  const cookieName = deps.secureCookie ? "__Host-pmcp-device" : "pmcp-device";

  return {
    async prove(who, credential) {
      if (
        credential.method === "password" && !(await owner.configured()) &&
        (await passkeys.list()).length === 0
      ) {
        return { ok: false, status: 503 };
      }
      // OWASP Authentication Cheat Sheet: the attempt counts before the slow check.
      const attempt = await throttle.reserve({ address: who.address, device: who.device });
      if (!attempt.allowed) {
        return { ok: false, status: 429, retryAfterSeconds: attempt.retryAfterSeconds };
      }
      let refused:
        | { kind: "wrong_password" | "no_password" | "passkey_refused"; reason?: string }
        | undefined;
      let verified = false;
      try {
        if (credential.method === "passkey") {
          // The challenge is the one signed into the page: an assertion made for another
          // page, or replayed, does not verify (passkeys.ts).
          const checked = credential.challenge
            ? await passkeys.verifyAssertion(
              credential.credential,
              credential.challenge,
              credential.expiresAt,
              who.address,
            )
            : { ok: false as const, reason: "this page offered no passkey" };
          if (!checked.ok) refused = { kind: "passkey_refused", reason: checked.reason };
        } else if (!(await owner.configured())) {
          // The password was removed: only a passkey proves, and a password try counts.
          refused = { kind: "no_password" };
        } else if (
          // The owner's known browser goes first in the line of password checks.
          !(await deps.verifications.run(
            () => owner.verify(credential.password),
            who.device !== undefined,
          ))
        ) {
          refused = { kind: "wrong_password" };
        }
        verified = refused === undefined;
      } finally {
        await attempt.finish(verified);
      }
      if (refused) {
        deps.emit({
          type: "owner_login_failed",
          clientAddress: who.address,
          page: who.page,
          ...(credential.method === "passkey"
            ? { method: "passkey" as const, reason: refused.reason }
            : {}),
        });
        return { ok: false, status: 401, kind: refused.kind };
      }
      return { ok: true };
    },

    async deviceOf(request) {
      const cookie = await signer.verify<DeviceCookie>(readCookie(request, cookieName));
      if (
        cookie?.typ !== "device" || typeof cookie.id !== "string" ||
        typeof cookie.issuedAt !== "number" ||
        !(now() - cookie.issuedAt < DEVICE_COOKIE_MAX_AGE_SECONDS * 1000)
      ) {
        return undefined;
      }
      return cookie.id;
    },

    async deviceCookie(id) {
      // RFC 6265 4.1.2.5-6, RFC 6265bis 4.1.2.7: Secure on https, HttpOnly, SameSite=Strict.
      const value: DeviceCookie = { typ: "device", id: id ?? randomToken(16), issuedAt: now() };
      return `${cookieName}=${await signer.sign(value)}; Path=/; HttpOnly; SameSite=Strict; ` +
        `Max-Age=${DEVICE_COOKIE_MAX_AGE_SECONDS}${deps.secureCookie ? "; Secure" : ""}`;
    },
  };
}
