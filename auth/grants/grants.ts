/**
 * Grants and their tokens: the two subtle OAuth rules as pure functions from stored
 * state to a plan (redeem an authorization code, rotate a refresh token), and the
 * grants service that revokes. The token endpoint only reads, calls a rule, writes.
 *
 * @module
 */
import type { Plan, Store, WriteOp } from "../../store/store.ts";
import { fromBase64url, timingSafeEqual } from "../../core/crypto.ts";
import type {
  AccessRecord,
  ClientRecord,
  CodeRecord,
  GrantRecord,
  RefreshIndex,
  RefreshSlot,
} from "../records.ts";
import { keys } from "../../store/keys.ts";
import { narrowScope } from "./scope.ts";

/** How long a superseded refresh token's index is kept, to catch its reuse, in ms. */
export const REUSE_MEMORY_MS = 7 * 24 * 3600 * 1000;
/**
 * Most access tokens kept live for late copies of one superseded refresh token (one per
 * process still holding it); the oldest is dropped when another is minted.
 */
export const LATE_ACCESS_PER_TOKEN = 4;

/**
 * Most tokens one refresh token may yield, counting its first use: a lost answer or two
 * racing refreshes explain a second or third use within the grace, not more. It also
 * bounds the grant record (at most this many children beside the token in use).
 */
export const MAX_CHILDREN_PER_TOKEN = 3;

/** Token lifetimes, in ms. */
export interface Lifetimes {
  accessMs: number;
  refreshMs: number;
  /** How long a just-rotated refresh token may still be used (lost answer, race). */
  graceMs: number;
  /**
   * How long after its rotation the immediate predecessor of the live refresh token
   * still gets an access token (never a refresh token): another process's copy.
   */
  reuseWindowMs: number;
}

/** The hashes of a freshly minted access/refresh pair. */
export interface PairHashes {
  accessHash: string;
  refreshHash: string;
}

/** The refresh slot and the writes that store a token pair for a grant. */
export function pairWrites(
  grant: Pick<GrantRecord, "grantId" | "clientId" | "resource">,
  scope: string,
  pair: PairHashes,
  t: number,
  life: Lifetimes,
  parent?: string,
): { slot: RefreshSlot; ops: WriteOp[] } {
  const access: AccessRecord = {
    grantId: grant.grantId,
    clientId: grant.clientId,
    scope,
    resource: grant.resource,
    expiresAt: t + life.accessMs,
  };
  const slot: RefreshSlot = {
    hash: pair.refreshHash,
    expiresAt: t + life.refreshMs,
    accessHash: pair.accessHash,
  };
  if (parent) slot.parent = parent;
  const index: RefreshIndex = { grantId: grant.grantId };
  return {
    slot,
    ops: [
      { op: "set", key: keys.access(pair.accessHash), value: access, expiresAt: access.expiresAt },
      { op: "set", key: keys.refresh(pair.refreshHash), value: index, expiresAt: slot.expiresAt },
    ],
  };
}

/** Every access token a refresh slot issued: its own, and those minted for late copies. */
function slotAccessHashes(slot: RefreshSlot): string[] {
  return [slot.accessHash, ...(slot.lateAccessHashes ?? [])];
}

/**
 * The write that stores a grant: it lives as long as its newest refresh token, so
 * every write of a grant (issue, rotation, a late copy, last use) carries that expiry.
 */
export function grantWrite(grant: GrantRecord): WriteOp {
  const expiresAt = Math.max(...grant.refresh.map((s) => s.expiresAt));
  return {
    op: "set",
    key: keys.grant(grant.grantId),
    value: grant,
    ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
  };
}

/** The writes that remove a grant and every token it issued. */
export function grantDeletion(grant: GrantRecord): WriteOp[] {
  const ops: WriteOp[] = [{ op: "delete", key: keys.grant(grant.grantId) }];
  for (const slot of grant.refresh) {
    for (const hash of slotAccessHashes(slot)) ops.push({ op: "delete", key: keys.access(hash) });
    ops.push({ op: "delete", key: keys.refresh(slot.hash) });
  }
  return ops;
}

/** What a code redemption asks. */
export interface RedeemRequest {
  codeHash: string;
  clientId: string;
  /** `redirect_uri` as sent to /token, if it was. */
  redirectUri?: string;
  /** S256 of the presented `code_verifier`. */
  challenge: string;
  /** `resource` as sent to /token (already checked to be ours), if it was. */
  resource?: string;
  pair: PairHashes;
  now: number;
  life: Lifetimes;
}

/** How a redemption ends. */
export type RedeemOutcome =
  | { kind: "invalid" | "target" }
  | { kind: "replay"; grantId: string }
  | { kind: "ok"; scope: string };

/**
 * Redeems an authorization code: single use, bound to client, redirect URI, PKCE
 * challenge and resource. `code` and `client` are their stored records (the client
 * only when registered).
 *
 * @example A code redeemed twice is a replay
 * ```ts
 * import { redeemCode } from "./grants.ts";
 * const code = { clientId: "c", redirectUri: "https://a.example/cb", redirectUriSent: true,
 *   codeChallenge: "x", resource: "r", scope: "mcp", grantId: "g", expiresAt: 10, usedAt: 1 };
 * const plan = redeemCode(code, undefined, { codeHash: "h", clientId: "c", challenge: "x",
 *   pair: { accessHash: "a", refreshHash: "b" }, now: 5,
 *   life: { accessMs: 1, refreshMs: 1, graceMs: 1, reuseWindowMs: 1 } });
 * if (plan.result.kind !== "replay" || plan.ops.length !== 0) throw new Error("not a replay");
 * ```
 */
export function redeemCode(
  code: CodeRecord | undefined,
  client: ClientRecord | undefined,
  req: RedeemRequest,
): Plan<RedeemOutcome> {
  const invalid = { ops: [], result: { kind: "invalid" as const } };
  if (!code || code.expiresAt <= req.now) return invalid;
  // RFC 6749 4.1.2: a code used twice revokes what it issued (the caller does that).
  if (code.usedAt !== undefined) {
    return { ops: [], result: { kind: "replay", grantId: code.grantId } };
  }
  if (code.clientId !== req.clientId) return invalid;
  // RFC 6749 4.1.3: the redirect URI must be repeated exactly when it was sent.
  const redirectOk = code.redirectUriSent
    ? req.redirectUri === code.redirectUri
    : req.redirectUri === undefined || req.redirectUri === code.redirectUri;
  if (!redirectOk) return invalid;
  // RFC 7636 4.6: compare the challenges in constant time.
  const presented = fromBase64url(req.challenge) ?? new Uint8Array();
  if (!timingSafeEqual(presented, fromBase64url(code.codeChallenge) ?? new Uint8Array([0]))) {
    return invalid;
  }
  // RFC 8707: the token is for the resource the owner approved.
  if (req.resource !== undefined && req.resource !== code.resource) {
    return { ops: [], result: { kind: "target" } };
  }
  const { slot, ops } = pairWrites(code, code.scope, req.pair, req.now, req.life);
  const grant: GrantRecord = {
    grantId: code.grantId,
    clientId: req.clientId,
    scope: code.scope,
    resource: code.resource,
    createdAt: req.now,
    refresh: [slot],
  };
  ops.push(
    // Kept (not deleted) until it expires, so that a replay can be recognised.
    {
      op: "set",
      key: keys.code(req.codeHash),
      value: { ...code, usedAt: req.now },
      expiresAt: code.expiresAt,
    },
    // A grant lives as long as its newest refresh token (updated on every rotation).
    grantWrite(grant),
  );
  // A registered client that obtained a token is kept (no longer expires as unused).
  if (client && client.usedAt === undefined) {
    ops.push({
      op: "set",
      key: keys.client(client.clientId),
      value: { ...client, usedAt: req.now },
    });
  }
  return { ops, result: { kind: "ok", scope: code.scope } };
}

/** What a refresh asks. */
export interface RotateRequest {
  /** Hash of the presented refresh token. */
  hash: string;
  clientId: string;
  resource?: string;
  scope?: string;
  /** The scope that opens `/mcp`: never narrowed away. */
  baseScope: string;
  pair: PairHashes;
  now: number;
  life: Lifetimes;
}

/** How a rotation ends. */
export type RotateOutcome =
  | { kind: "invalid" | "target" | "reuse" }
  /** A new access/refresh pair. */
  | { kind: "ok"; scope: string }
  /** An access token only, until `expiresAt`: a late copy of the live token's predecessor. */
  | { kind: "access"; scope: string; expiresAt: number };

/**
 * Rotates a refresh token (OAuth 2.1 4.3.1): the presented token yields a new pair; a
 * just-rotated token may be used again within the grace (a lost answer, two racing
 * refreshes). After the grace, the immediate predecessor of a live token that was never
 * used (another process's copy, Codex and Claude Code keep one per process) gets an
 * access token alone within the reuse window, bounded in number and lifetime and dying
 * with that predecessor; no new refresh token, so no new line of tokens. Any other use
 * of a token that is no longer live (two generations back, or past the window) revokes
 * the grant.
 *
 * @see {@link https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.3.1 | OAuth 2.1 4.3.1}
 *
 * @example Reuse after the grace revokes the grant
 * ```ts
 * import { rotateRefresh } from "./grants.ts";
 * const grant = { grantId: "g", clientId: "c", scope: "mcp", resource: "r", createdAt: 0,
 *   refresh: [{ hash: "old", rotatedAt: 0, expiresAt: 1e12, accessHash: "a0" }] };
 * const plan = rotateRefresh(grant, { hash: "old", clientId: "c", baseScope: "mcp",
 *   pair: { accessHash: "a1", refreshHash: "r1" }, now: 120_000,
 *   life: { accessMs: 1000, refreshMs: 1000, graceMs: 60_000, reuseWindowMs: 3_600_000 } });
 * if (plan.result.kind !== "reuse" || !plan.ops.some((o) => o.op === "delete")) throw new Error("kept");
 * ```
 *
 * @example A second process's copy of the predecessor gets an access token alone
 * ```ts
 * import { rotateRefresh } from "./grants.ts";
 * const grant = { grantId: "g", clientId: "c", scope: "mcp", resource: "r", createdAt: 0,
 *   refresh: [
 *     { hash: "t1", rotatedAt: 0, expiresAt: 1e12, accessHash: "a1" },
 *     { hash: "t2", parent: "t1", expiresAt: 1e12, accessHash: "a2" },
 *   ] };
 * const plan = rotateRefresh(grant, { hash: "t1", clientId: "c", baseScope: "mcp",
 *   pair: { accessHash: "a3", refreshHash: "r3" }, now: 2 * 3_600_000,
 *   life: { accessMs: 1e9, refreshMs: 1e9, graceMs: 60_000, reuseWindowMs: 4 * 3_600_000 } });
 * if (plan.result.kind !== "access") throw new Error(plan.result.kind);
 * ```
 */
export function rotateRefresh(
  grant: GrantRecord | undefined,
  req: RotateRequest,
): Plan<RotateOutcome> {
  if (!grant || grant.clientId !== req.clientId) return { ops: [], result: { kind: "invalid" } };
  if (req.resource !== undefined && req.resource !== grant.resource) {
    return { ops: [], result: { kind: "target" } };
  }
  const t = req.now;
  const used = grant.refresh.find((s) => s.hash === req.hash);
  const revoke = { ops: grantDeletion(grant), result: { kind: "reuse" as const } };
  // A token no longer live (its successor was used: two generations behind the live
  // token), or used within its grace more often than a lost answer or a race explains:
  // someone else holds a copy. OAuth 2.1 4.3.1 / RFC 9700 4.14.2: revoke the grant.
  if (!used) return revoke;
  if (
    used.rotatedAt !== undefined && t - used.rotatedAt <= req.life.graceMs &&
    grant.refresh.filter((s) => s.parent === used.hash).length >= MAX_CHILDREN_PER_TOKEN
  ) {
    return revoke;
  }
  if (used.expiresAt <= t) return { ops: [], result: { kind: "invalid" } };
  const scope = narrowScope(req.scope, grant.scope, req.baseScope);
  if (used.rotatedAt !== undefined && t - used.rotatedAt > req.life.graceMs) {
    // Past the grace, only the immediate predecessor of a never-used live token, within
    // the window, is taken for another process's copy; anything else is reuse.
    const predecessor = t - used.rotatedAt <= req.life.reuseWindowMs &&
      grant.refresh.some((s) => s.parent === used.hash && s.rotatedAt === undefined);
    return predecessor ? lateAccess(grant, used, scope, req) : revoke;
  }
  const { slot, ops } = pairWrites(grant, scope, req.pair, t, req.life, req.hash);
  let live = grant.refresh;
  if (used.rotatedAt === undefined) {
    // First use of this token: its parent, and its siblings (what a racing refresh of
    // the parent produced), are no longer needed by anyone holding this one.
    const dying = live.filter((s) =>
      s !== used &&
      (s.hash === used.parent || (used.parent !== undefined && s.parent === used.parent))
    );
    for (const s of dying) {
      for (const hash of slotAccessHashes(s)) ops.push({ op: "delete", key: keys.access(hash) });
      // The index stays a while, so that a later use of the dead token is recognised.
      ops.push({
        op: "set",
        key: keys.refresh(s.hash),
        value: { grantId: grant.grantId } satisfies RefreshIndex,
        expiresAt: Math.min(s.expiresAt, t + REUSE_MEMORY_MS),
      });
    }
    live = live.filter((s) => !dying.includes(s)).map((s) =>
      s === used ? { ...s, rotatedAt: t } : s
    );
  }
  const refresh = [...live.filter((s) => s.expiresAt > t), slot];
  ops.push(grantWrite({ ...grant, refresh }));
  return { ops, result: { kind: "ok", scope } };
}

/**
 * An access token alone for a late copy of `used`: it lives at most the reuse window,
 * at most {@linkcode LATE_ACCESS_PER_TOKEN} are live per token, and they die with it.
 */
function lateAccess(
  grant: GrantRecord,
  used: RefreshSlot,
  scope: string,
  req: RotateRequest,
): Plan<RotateOutcome> {
  const t = req.now;
  const access: AccessRecord = {
    grantId: grant.grantId,
    clientId: grant.clientId,
    scope,
    resource: grant.resource,
    expiresAt: t + Math.min(req.life.accessMs, req.life.reuseWindowMs),
  };
  const late = [...(used.lateAccessHashes ?? []), req.pair.accessHash];
  const dropped = late.splice(0, Math.max(0, late.length - LATE_ACCESS_PER_TOKEN));
  const ops: WriteOp[] = dropped.map((hash) => ({ op: "delete", key: keys.access(hash) }));
  ops.push(
    {
      op: "set",
      key: keys.access(req.pair.accessHash),
      value: access,
      expiresAt: access.expiresAt,
    },
    grantWrite({
      ...grant,
      refresh: grant.refresh.map((s) => s === used ? { ...s, lateAccessHashes: late } : s),
    }),
  );
  return { ops, result: { kind: "access", scope, expiresAt: access.expiresAt } };
}

/** The grants service: revocation, the one way a grant ends early. */
export interface Grants {
  /**
   * Revokes a grant and all its tokens, effective at once for `/mcp`; false when
   * unknown. `address` is who asked (the owner's page or command), when known.
   */
  revoke(grantId: string, reason: string, address?: string): Promise<boolean>;
  /** Revokes every grant of a client (before the client itself is dropped). */
  revokeClient(clientId: string, reason: string, address?: string): Promise<void>;
  /**
   * Announces a grant that a rule already removed in its own atomic write (refresh-token
   * reuse), so that it ends everywhere as a revoked one does.
   */
  removed(grantId: string, reason: string, clientId: string, address?: string): void;
}

/**
 * Builds the grants service on a store (the access-indexed one, so revocation is
 * immediate). `onRevoked` hears of every grant that ended early: the event log, and the
 * MCP endpoint that closes the grant's sessions and streams.
 */
export function createGrants(
  store: Store,
  onRevoked: (grantId: string, reason: string, clientId: string, address?: string) => void,
): Grants {
  async function revoke(grantId: string, reason: string, address?: string): Promise<boolean> {
    const removed = await store.transact([keys.grant(grantId)], ([value]) => {
      const grant = value as GrantRecord | undefined;
      return grant ? { ops: grantDeletion(grant), result: grant } : { ops: [], result: undefined };
    });
    if (removed) onRevoked(grantId, reason, removed.clientId, address);
    return removed !== undefined;
  }
  return {
    revoke,
    async revokeClient(clientId, reason, address) {
      const grants = await store.list<GrantRecord>(keys.grants);
      for (const { value } of grants) {
        if (value.clientId === clientId) await revoke(value.grantId, reason, address);
      }
    },
    removed: onRevoked,
  };
}
