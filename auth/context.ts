/**
 * What every endpoint handler shares: options, store, clock, owner check, throttles,
 * the access-token index, and the event hook.
 *
 * @module
 */
import type { PersonalMcpEvent, ResolvedOptions } from "../options.ts";
import type { Store, WriteOp } from "../store/store.ts";
import { base64url, fromBase64url } from "./crypto.ts";
import { createMetadataResolver, type MetadataResolver } from "./client_metadata.ts";
import {
  createLoginThrottle,
  createRateLimiter,
  type LoginThrottle,
  REGISTRATIONS_PER_MINUTE,
} from "./limits.ts";
import type { OwnerCheck } from "./owner.ts";
import { type AccessRecord, type GrantRecord, keys } from "./records.ts";

/** Most access-token records kept in the in-memory index. */
const ACCESS_INDEX_LIMIT = 10_000;
/**
 * How long an indexed token is trusted without reading the store again, in ms: the
 * longest a revocation made by another process sharing the store takes to apply here.
 */
export const ACCESS_INDEX_FRESH_MS = 30_000;

/** Shared state of one server instance. */
export interface AuthContext {
  opts: ResolvedOptions;
  store: Store;
  owner: OwnerCheck;
  throttle: LoginThrottle;
  /** Registrations per client address. */
  registrations: ReturnType<typeof createRateLimiter>;
  /** Client ID Metadata Documents, fetched and cached. */
  clientMetadata: MetadataResolver;
  now(): number;
  emit(event: PersonalMcpEvent): void;
  /** Looks up an access token by hash: memory first, the store on a miss. */
  findAccess(hash: string): Promise<AccessRecord | undefined>;
  /** Applies writes and keeps the access-token index in step with them. */
  commit(ops: WriteOp[]): Promise<void>;
  /** Drops access tokens from the in-memory index (after the store dropped them). */
  forgetAccess(hashes: Iterable<string>): void;
  /** The HMAC key that signs consent-page requests. */
  signingKey(): Promise<CryptoKey>;
}

/** Builds the shared context. */
export function createAuthContext(
  opts: ResolvedOptions,
  store: Store,
  owner: OwnerCheck,
  onEvent: ((event: PersonalMcpEvent) => void) | undefined,
  now: () => number = () => Date.now(),
): AuthContext {
  // The /mcp hot path: token hash -> record, without touching the store. Entries are
  // removed by every revocation made through this context.
  const accessIndex = new Map<string, { record: AccessRecord; checkedAt: number }>();
  let signingKey: Promise<CryptoKey> | undefined;

  function emit(event: PersonalMcpEvent) {
    try {
      onEvent?.(event);
    } catch { /* a broken hook must not break a request */ }
  }

  function forgetAccess(hashes: Iterable<string>) {
    for (const h of hashes) accessIndex.delete(h);
  }

  async function loadSigningKey(): Promise<CryptoKey> {
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

  return {
    opts,
    store,
    owner,
    throttle: createLoginThrottle(now),
    registrations: createRateLimiter(REGISTRATIONS_PER_MINUTE, 60_000, now),
    clientMetadata: createMetadataResolver({
      allowInsecureLoopback: opts.insecureClientMetadata,
      allowlist: opts.allowedRedirects,
      now,
    }),
    now,
    emit,
    async findAccess(hash) {
      const t = now();
      const cached = accessIndex.get(hash);
      if (cached && cached.checkedAt + ACCESS_INDEX_FRESH_MS > t) {
        if (cached.record.expiresAt > t) return cached.record;
        accessIndex.delete(hash);
        return undefined;
      }
      // Re-read after a while even when cached: another process sharing the store
      // (Deno Deploy isolates on one KV) may have revoked the token.
      const record = await store.get<AccessRecord>(keys.access(hash));
      if (!record || record.expiresAt <= t) {
        accessIndex.delete(hash);
        return undefined;
      }
      if (accessIndex.size >= ACCESS_INDEX_LIMIT) accessIndex.clear();
      accessIndex.set(hash, { record, checkedAt: t });
      return record;
    },
    async commit(ops) {
      await store.write(ops);
      forgetAccess(
        ops.filter((o) => o.op === "delete" && o.key[0] === "access").map((o) => o.key[1]!),
      );
    },
    forgetAccess,
    signingKey() {
      signingKey ??= loadSigningKey().catch((error) => {
        signingKey = undefined;
        throw error;
      });
      return signingKey;
    },
  };
}

/** The writes that remove a grant and every token it issued. */
export function grantDeletion(grant: GrantRecord): WriteOp[] {
  const ops: WriteOp[] = [{ op: "delete", key: keys.grant(grant.grantId) }];
  for (const slot of grant.refresh) {
    ops.push({ op: "delete", key: keys.access(slot.accessHash) });
    ops.push({ op: "delete", key: keys.refresh(slot.hash) });
  }
  return ops;
}

/** Revokes a grant and all its tokens, effective at once for /mcp. */
export async function revokeGrant(
  ctx: AuthContext,
  grantId: string,
  reason: string,
): Promise<boolean> {
  const removed = await ctx.store.transact([keys.grant(grantId)], ([value]) => {
    const grant = value as GrantRecord | undefined;
    if (!grant) return { ops: [], result: [] as string[] };
    return { ops: grantDeletion(grant), result: grant.refresh.map((s) => s.accessHash) };
  });
  ctx.forgetAccess(removed);
  if (removed.length > 0) ctx.emit({ type: "grant_revoked", grantId, reason });
  return removed.length > 0;
}
