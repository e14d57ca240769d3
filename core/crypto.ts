/**
 * The few cryptographic primitives the authorization server needs: Web Crypto, and
 * `node:crypto`'s synchronous SHA-256 (on Deno, Bun and Node) for the bearer check.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Bytes of entropy in every token, code, client secret and request id (256 bits). */
export const TOKEN_BYTES = 32;

/** PBKDF2-SHA-256 iterations for the owner's password (OWASP 2023 guidance). */
export const PBKDF2_ITERATIONS = 600_000;

/** Encodes bytes as unpadded base64url. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes unpadded base64url; returns undefined for anything that is not. */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  try {
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** A fresh random value: 32 bytes from the platform CSPRNG, base64url (43 characters). */
export function randomToken(bytes: number = TOKEN_BYTES): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * Whether `value` has the shape of a {@linkcode randomToken} (43 base64url characters):
 * what a cookie or link we minted must look like before anything looks it up.
 */
export function isRandomToken(value: string | undefined): value is string {
  return value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/** SHA-256 of a UTF-8 string, as bytes. */
export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * The key under which a secret is stored: base64url(SHA-256(secret)).
 * Tokens carry 256 bits of entropy, so an unsalted fast hash is enough to make the
 * stored value useless to a reader of the state folder.
 */
export async function hashSecret(secret: string): Promise<string> {
  return base64url(await sha256(secret));
}

type Digest = (text: string) => string;
let syncHash: Digest | undefined;
let syncHashLoad: Promise<void> | undefined;

/**
 * Loads the synchronous SHA-256 (`node:crypto`'s `createHash`). It is not imported up
 * front: on Bun that module alone costs about 25 ms of start-up, and the first requests
 * do as well with Web Crypto. Resolves once {@linkcode hashSecretSync} answers.
 */
export function loadSyncHash(): Promise<void> {
  syncHashLoad ??= import("node:crypto").then((nodeCrypto) => {
    // The one-shot `hash()` (Node 21.7+) where the runtime has it: on Bun it takes half
    // the time of a Hash object (0.23 against 0.45 us); createHash elsewhere.
    const { createHash } = nodeCrypto;
    const oneShot = (nodeCrypto as { hash?: (a: string, d: string, e: "base64url") => string })
      .hash;
    syncHash = typeof oneShot === "function"
      ? (text) => oneShot("sha256", text, "base64url")
      : (text) => createHash("sha256").update(text, "utf8").digest("base64url");
  });
  return syncHashLoad;
}

/**
 * {@linkcode hashSecret} without a round trip through the event loop, once
 * {@linkcode loadSyncHash} has resolved; `undefined` before. What the bearer check
 * uses on every request: a Web Crypto digest is asynchronous, and that round trip,
 * not the hash, was most of its cost.
 *
 * @example The same hash, either way
 * ```ts
 * import { hashSecret, hashSecretSync, loadSyncHash } from "./crypto.ts";
 * await loadSyncHash();
 * if (hashSecretSync("token") !== await hashSecret("token")) throw new Error("differs");
 * ```
 */
export function hashSecretSync(secret: string): string | undefined {
  return syncHash?.(secret);
}

/** Constant-time equality of two byte arrays of any length. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Compares two strings without leaking where they differ: both sides are hashed
 * first, so the comparison always runs over 32 bytes whatever the inputs.
 */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  return timingSafeEqual(ha, hb);
}

/**
 * RFC 7636 4.6: the S256 code challenge of a verifier.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7636#section-4.6 | RFC 7636 4.6}
 */
export async function s256Challenge(verifier: string): Promise<string> {
  return base64url(await sha256(verifier));
}

/** A slow, salted hash of the owner's password. */
export interface PasswordHash {
  algorithm: "PBKDF2-SHA-256";
  iterations: number;
  /** base64url salt, 16 bytes. */
  salt: string;
  /** base64url derived key, 32 bytes. */
  hash: string;
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** Hashes a password with PBKDF2-SHA-256 and a fresh 16-byte salt. */
export async function hashPassword(
  password: string,
  iterations: number = PBKDF2_ITERATIONS,
): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await pbkdf2(password, salt, iterations);
  return { algorithm: "PBKDF2-SHA-256", iterations, salt: base64url(salt), hash: base64url(hash) };
}

/** Checks a password against its stored hash in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const salt = fromBase64url(stored.salt);
  const expected = fromBase64url(stored.hash);
  if (!salt || !expected) return false;
  const actual = await pbkdf2(password, salt, stored.iterations);
  return timingSafeEqual(actual, expected);
}

/** A password the owner can type: 24 characters from a 56-letter alphabet (~139 bits). */
export function generatePassword(length = 24): string {
  // No look-alikes (0/O, 1/l/I) so it can be read off a terminal.
  const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const out: string[] = [];
  // Rejection sampling keeps every letter equally likely.
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (b < limit && out.length < length) out.push(alphabet[b % alphabet.length]!);
    }
  }
  return out.join("");
}
