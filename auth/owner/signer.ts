/**
 * Signs and verifies small JSON payloads (the consent page's pending request) with an
 * HMAC-SHA-256 key kept in the store, so that every instance sharing the store, and
 * every restart, accepts what another signed.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { base64url, fromBase64url } from "../../core/crypto.ts";
import { keys } from "../../store/keys.ts";

/** Signs and verifies payloads. */
export interface Signer {
  /** `payload.mac`, both base64url. */
  sign(value: unknown): Promise<string>;
  /** The payload, or undefined when the signature or the shape is wrong. */
  verify<T>(signed: string | undefined): Promise<T | undefined>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Builds the signer; the key is created on first use and shared through the store.
 *
 * @example Round trip
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { createSigner } from "./signer.ts";
 * const signer = createSigner(createMemoryStore());
 * const signed = await signer.sign({ a: 1 });
 * if ((await signer.verify<{ a: number }>(signed))?.a !== 1) throw new Error("round trip failed");
 * if (await signer.verify(signed + "x")) throw new Error("tampering accepted");
 * ```
 */
export function createSigner(store: Store): Signer {
  let key: Promise<CryptoKey> | undefined;

  async function loadKey(): Promise<CryptoKey> {
    const fresh = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const raw = await store.transact(
      [keys.signingKey],
      ([existing]) =>
        typeof existing === "string"
          ? { ops: [], result: existing }
          : { ops: [{ op: "set", key: keys.signingKey, value: fresh }], result: fresh },
    );
    return await crypto.subtle.importKey(
      "raw",
      fromBase64url(raw) as BufferSource,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
  }

  function signingKey(): Promise<CryptoKey> {
    key ??= loadKey().catch((error) => {
      key = undefined;
      throw error;
    });
    return key;
  }

  return {
    async sign(value) {
      const payload = base64url(encoder.encode(JSON.stringify(value)));
      const mac = await crypto.subtle.sign("HMAC", await signingKey(), encoder.encode(payload));
      return `${payload}.${base64url(new Uint8Array(mac))}`;
    },
    async verify<T>(signed: string | undefined) {
      if (!signed) return undefined;
      const [payload, mac, extra] = signed.split(".");
      if (!payload || !mac || extra !== undefined) return undefined;
      const macBytes = fromBase64url(mac);
      const payloadBytes = fromBase64url(payload);
      if (!macBytes || !payloadBytes) return undefined;
      const ok = await crypto.subtle.verify(
        "HMAC",
        await signingKey(),
        macBytes as BufferSource,
        encoder.encode(payload),
      );
      if (!ok) return undefined;
      try {
        return JSON.parse(decoder.decode(payloadBytes)) as T;
      } catch {
        return undefined;
      }
    },
  };
}
