/**
 * The owner password: how the owner proves who they are on the consent page and the
 * owner page, beside the passkeys (passkeys.ts). It may be removed once a passkey is
 * enrolled.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import {
  generatePassword,
  hashPassword,
  type PasswordHash,
  secretsEqual,
  verifyPassword,
} from "../../core/crypto.ts";
import type { PasskeysRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";

/** Decides whether the person at the consent page is the owner. */
export interface OwnerCheck {
  /** Whether any credential is set; without one, nobody can approve. */
  configured(): Promise<boolean>;
  /** Whether `password` is the owner's. Runs in time independent of where it differs. */
  verify(password: string): Promise<boolean>;
}

/**
 * The password check: a password given in the options (kept only in memory and
 * compared in constant time), else the PBKDF2 hash kept in the store.
 */
export function createPasswordOwner(store: Store, password?: string): OwnerCheck {
  return {
    async configured() {
      return password !== undefined || (await store.get(keys.ownerPassword)) !== undefined;
    },
    async verify(candidate) {
      if (password !== undefined) return await secretsEqual(candidate, password);
      const stored = await store.get<PasswordHash>(keys.ownerPassword);
      if (!stored) return false;
      return await verifyPassword(candidate, stored);
    },
  };
}

/** Replaces the stored owner password hash. */
export async function setOwnerPassword(store: Store, password: string): Promise<void> {
  await store.write([{ op: "set", key: keys.ownerPassword, value: await hashPassword(password) }]);
}

/**
 * Makes sure the owner has a way to approve: when the store holds neither a password
 * nor a passkey (a first start), generates a strong password, stores only its hash and
 * returns it (so it can be shown once). Returns undefined when a password is set, or
 * when passkeys are enrolled and the password was removed on purpose.
 */
export async function ensureOwnerPassword(store: Store): Promise<string | undefined> {
  if (await store.get(keys.ownerPassword)) return undefined;
  const password = generatePassword();
  const hash = await hashPassword(password);
  const created = await store.transact(
    [keys.ownerPassword, keys.ownerPasskeys],
    ([existing, passkeys]) =>
      existing || (passkeys as PasskeysRecord | undefined)?.passkeys?.length
        ? { ops: [], result: false }
        : { ops: [{ op: "set", key: keys.ownerPassword, value: hash }], result: true },
  );
  return created ? password : undefined;
}
