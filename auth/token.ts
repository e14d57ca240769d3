/**
 * The token endpoint: `authorization_code` with PKCE, and `refresh_token` with rotation.
 *
 * @module
 */
import type { WriteOp } from "../store/store.ts";
import { authenticateClient } from "./client_auth.ts";
import { type AuthContext, grantDeletion, revokeGrant } from "./context.ts";
import {
  fromBase64url,
  hashSecret,
  randomToken,
  s256Challenge,
  timingSafeEqual,
} from "./crypto.ts";
import { jsonResponse, OAuthError } from "./errors.ts";
import { readForm } from "./http.ts";
import {
  type AccessRecord,
  type ClientRecord,
  type CodeRecord,
  type GrantRecord,
  keys,
  type RefreshIndex,
  type RefreshSlot,
} from "./records.ts";
import { checkResource, narrowScope } from "./scope.ts";

// RFC 7636 4.1: 43-128 characters of [A-Za-z0-9-._~].
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** How long a superseded refresh token's index is kept, to catch its reuse. */
const REUSE_MEMORY_MS = 7 * 24 * 3600 * 1000;

/** A fresh access/refresh pair and the hashes they are stored under. */
interface TokenPair {
  accessToken: string;
  refreshToken: string;
  accessHash: string;
  refreshHash: string;
}

async function newPair(): Promise<TokenPair> {
  const accessToken = randomToken();
  const refreshToken = randomToken();
  const [accessHash, refreshHash] = await Promise.all([
    hashSecret(accessToken),
    hashSecret(refreshToken),
  ]);
  return { accessToken, refreshToken, accessHash, refreshHash };
}

/** The refresh slot and the writes that store a pair for a grant (inside a plan: synchronous). */
function storePair(
  ctx: AuthContext,
  pair: TokenPair,
  grant: Pick<GrantRecord, "grantId" | "clientId" | "resource">,
  scope: string,
  t: number,
  parent?: string,
): { slot: RefreshSlot; ops: WriteOp[] } {
  const access: AccessRecord = {
    grantId: grant.grantId,
    clientId: grant.clientId,
    scope,
    resource: grant.resource,
    expiresAt: t + ctx.opts.accessTokenTtlSeconds * 1000,
  };
  const slot: RefreshSlot = {
    hash: pair.refreshHash,
    expiresAt: t + ctx.opts.refreshTokenTtlSeconds * 1000,
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

function tokenResponse(ctx: AuthContext, pair: TokenPair, scope: string): Response {
  return jsonResponse({
    access_token: pair.accessToken,
    token_type: "Bearer",
    expires_in: ctx.opts.accessTokenTtlSeconds,
    refresh_token: pair.refreshToken,
    scope,
  });
}

async function exchangeCode(
  ctx: AuthContext,
  client: ClientRecord,
  form: Record<string, string>,
): Promise<Response> {
  const { code, code_verifier: verifier, redirect_uri: redirectUri } = form;
  if (!code) throw new OAuthError("invalid_request", "code is required");
  // RFC 7636 4.5 / OAuth 2.1 4.1.3: PKCE is mandatory.
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required");
  if (!VERIFIER.test(verifier)) throw new OAuthError("invalid_grant", "invalid code_verifier");
  const resource = form.resource === undefined ? undefined : checkResource(form.resource, ctx.opts);
  const [codeHash, challenge, pair] = await Promise.all([
    hashSecret(code),
    s256Challenge(verifier),
    newPair(),
  ]);
  const t = ctx.now();

  // Decided against the current code record in one atomic step, so that two
  // concurrent redemptions of one code cannot both succeed.
  type Outcome =
    | { kind: "invalid" | "target" }
    | { kind: "replay"; grantId: string }
    | { kind: "ok"; scope: string };
  const outcome = await ctx.store.transact<Outcome>([
    keys.code(codeHash),
    keys.client(client.clientId),
  ], ([value, stored]) => {
    const record = value as CodeRecord | undefined;
    const invalid = { ops: [], result: { kind: "invalid" as const } };
    if (!record || record.expiresAt <= t) return invalid;
    if (record.usedAt !== undefined) {
      return { ops: [], result: { kind: "replay", grantId: record.grantId } };
    }
    if (record.clientId !== client.clientId) return invalid;
    // RFC 6749 4.1.3: the redirect URI must be repeated exactly when it was sent.
    const redirectOk = record.redirectUriSent
      ? redirectUri === record.redirectUri
      : redirectUri === undefined || redirectUri === record.redirectUri;
    if (!redirectOk) return invalid;
    if (
      !timingSafeEqual(
        fromBase64url(challenge)!,
        fromBase64url(record.codeChallenge) ?? new Uint8Array(),
      )
    ) {
      return invalid;
    }
    if (resource !== undefined && resource !== record.resource) {
      return { ops: [], result: { kind: "target" } };
    }
    const { slot, ops } = storePair(
      ctx,
      pair,
      { ...record, grantId: record.grantId },
      record.scope,
      t,
    );
    const grant: GrantRecord = {
      grantId: record.grantId,
      clientId: client.clientId,
      scope: record.scope,
      resource: record.resource,
      createdAt: t,
      refresh: [slot],
    };
    ops.push(
      // Kept (not deleted) until it expires, so that a replay can be recognised.
      {
        op: "set",
        key: keys.code(codeHash),
        value: { ...record, usedAt: t },
        expiresAt: record.expiresAt,
      },
      { op: "set", key: keys.grant(grant.grantId), value: grant },
    );
    // A registered client that obtained a token is kept (no longer expires as unused).
    const registered = stored as ClientRecord | undefined;
    if (registered && registered.usedAt === undefined) {
      ops.push({
        op: "set",
        key: keys.client(client.clientId),
        value: { ...registered, usedAt: t },
      });
    }
    return { ops, result: { kind: "ok", scope: record.scope } };
  });

  switch (outcome.kind) {
    case "ok":
      return tokenResponse(ctx, pair, outcome.scope);
    case "replay":
      // RFC 6749 4.1.2: a code used twice revokes what it issued.
      await revokeGrant(ctx, outcome.grantId, "authorization code replayed");
      throw new OAuthError("invalid_grant", "invalid or expired authorization code");
    case "target":
      throw new OAuthError("invalid_target", "resource does not match the authorization request");
    default:
      throw new OAuthError("invalid_grant", "invalid or expired authorization code");
  }
}

async function refresh(
  ctx: AuthContext,
  client: ClientRecord,
  form: Record<string, string>,
): Promise<Response> {
  const token = form.refresh_token;
  if (!token) throw new OAuthError("invalid_request", "refresh_token is required");
  const resource = form.resource === undefined ? undefined : checkResource(form.resource, ctx.opts);
  const [hash, pair] = await Promise.all([hashSecret(token), newPair()]);
  const index = await ctx.store.get<RefreshIndex>(keys.refresh(hash));
  if (!index) throw new OAuthError("invalid_grant", "invalid or expired refresh token");
  const grantKey = keys.grant(index.grantId);
  const t = ctx.now();
  const grace = ctx.opts.refreshGraceSeconds * 1000;

  type Outcome =
    | { kind: "invalid" | "target" }
    | { kind: "reuse"; dead: string[] }
    | { kind: "ok"; dead: string[]; scope: string };
  const outcome = await ctx.store.transact<Outcome>([grantKey], ([value]) => {
    const grant = value as GrantRecord | undefined;
    if (!grant || grant.clientId !== client.clientId) {
      return { ops: [], result: { kind: "invalid" } };
    }
    if (resource !== undefined && resource !== grant.resource) {
      return { ops: [], result: { kind: "target" } };
    }
    const used = grant.refresh.find((s) => s.hash === hash);
    // A token no longer live, or used again after its grace: someone else holds a
    // copy. OAuth 2.1 4.3.1 / RFC 9700 4.14.2: revoke the whole grant.
    if (!used || (used.rotatedAt !== undefined && t - used.rotatedAt > grace)) {
      return {
        ops: grantDeletion(grant),
        result: { kind: "reuse", dead: grant.refresh.map((s) => s.accessHash) },
      };
    }
    if (used.expiresAt <= t) return { ops: [], result: { kind: "invalid" } };
    const scope = narrowScope(form.scope, grant.scope, ctx.opts.scopes[0]!);
    const { slot, ops } = storePair(ctx, pair, grant, scope, t, hash);
    let live = grant.refresh;
    const dead: string[] = [];
    if (used.rotatedAt === undefined) {
      // First use of this token: its parent, and its siblings (what a racing refresh of
      // the parent produced), are no longer needed by anyone holding this one.
      const dying = live.filter((s) =>
        s !== used &&
        (s.hash === used.parent || (used.parent !== undefined && s.parent === used.parent))
      );
      for (const s of dying) {
        dead.push(s.accessHash);
        ops.push({ op: "delete", key: keys.access(s.accessHash) });
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
    ops.push({
      op: "set",
      key: grantKey,
      value: { ...grant, refresh: [...live.filter((s) => s.expiresAt > t), slot] },
    });
    return { ops, result: { kind: "ok", dead, scope } };
  });

  switch (outcome.kind) {
    case "ok":
      ctx.forgetAccess(outcome.dead);
      return tokenResponse(ctx, pair, outcome.scope);
    case "reuse":
      ctx.forgetAccess(outcome.dead);
      ctx.emit({ type: "grant_revoked", grantId: index.grantId, reason: "refresh token reused" });
      throw new OAuthError("invalid_grant", "invalid or expired refresh token");
    case "target":
      throw new OAuthError("invalid_target", "resource does not match the grant");
    default:
      throw new OAuthError("invalid_grant", "invalid or expired refresh token");
  }
}

/** POST /token */
export async function handleToken(ctx: AuthContext, request: Request): Promise<Response> {
  const form = await readForm(request, ctx.opts.maxBodyBytes);
  const grantType = form.grant_type;
  if (!grantType) throw new OAuthError("invalid_request", "grant_type is required");
  if (grantType !== "authorization_code" && grantType !== "refresh_token") {
    throw new OAuthError(
      "unsupported_grant_type",
      "grant_type must be authorization_code or refresh_token",
    );
  }
  const client = await authenticateClient(ctx, request, form);
  if (!client.grantTypes.includes(grantType)) {
    throw new OAuthError("unauthorized_client", `this client may not use ${grantType}`);
  }
  return grantType === "authorization_code"
    ? await exchangeCode(ctx, client, form)
    : await refresh(ctx, client, form);
}
