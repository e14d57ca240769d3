/**
 * The token endpoint: `authorization_code` with PKCE, and `refresh_token` with rotation.
 *
 * @module
 */
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
import { authenticateClient } from "./client_auth.ts";
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
import type { WriteOp } from "../store/store.ts";

// RFC 7636 4.1: 43-128 characters of [A-Za-z0-9-._~].
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** How long a redeemed refresh token's index is kept to catch its reuse. */
const REUSE_MEMORY_MS = 7 * 24 * 3600 * 1000;

interface Issued {
  accessToken: string;
  refreshToken: string;
  slot: RefreshSlot;
  ops: WriteOp[];
}

/** Mints an access token and a refresh token for a grant; returns the writes that store their hashes. */
async function mint(
  ctx: AuthContext,
  grant: Pick<GrantRecord, "grantId" | "clientId" | "scope" | "resource">,
  parent?: string,
): Promise<Issued> {
  const accessToken = randomToken();
  const refreshToken = randomToken();
  const [accessHash, refreshHash] = await Promise.all([
    hashSecret(accessToken),
    hashSecret(refreshToken),
  ]);
  const t = ctx.now();
  const access: AccessRecord = {
    grantId: grant.grantId,
    clientId: grant.clientId,
    scope: grant.scope,
    resource: grant.resource,
    expiresAt: t + ctx.opts.accessTokenTtlSeconds * 1000,
  };
  const slot: RefreshSlot = {
    hash: refreshHash,
    expiresAt: t + ctx.opts.refreshTokenTtlSeconds * 1000,
    accessHash,
  };
  if (parent) slot.parent = parent;
  const index: RefreshIndex = { grantId: grant.grantId };
  return {
    accessToken,
    refreshToken,
    slot,
    ops: [
      { op: "set", key: keys.access(accessHash), value: access, expiresAt: access.expiresAt },
      { op: "set", key: keys.refresh(refreshHash), value: index, expiresAt: slot.expiresAt },
    ],
  };
}

function tokenResponse(ctx: AuthContext, issued: Issued, scope: string): Response {
  return jsonResponse({
    access_token: issued.accessToken,
    token_type: "Bearer",
    expires_in: ctx.opts.accessTokenTtlSeconds,
    refresh_token: issued.refreshToken,
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
  // RFC 7636 4.5 / OAuth 2.1: PKCE is mandatory.
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required");
  if (!VERIFIER.test(verifier)) throw new OAuthError("invalid_grant", "invalid code_verifier");
  const resource = form.resource === undefined ? undefined : checkResource(form.resource, ctx.opts);
  const [codeHash, challenge] = await Promise.all([hashSecret(code), s256Challenge(verifier)]);
  const t = ctx.now();

  // Everything below must be decided against the current code record in one step,
  // so that two concurrent redemptions cannot both succeed.
  const grantId = await (async () => {
    const stored = await ctx.store.get<CodeRecord>(keys.code(codeHash));
    if (!stored) throw new OAuthError("invalid_grant", "invalid or expired authorization code");
    return stored.grantId;
  })();
  const pendingGrant: Omit<GrantRecord, "refresh"> = {
    grantId,
    clientId: client.clientId,
    scope: "",
    resource: ctx.opts.resource,
    createdAt: t,
  };
  const issued = await mint(ctx, pendingGrant);

  type Outcome = { kind: "invalid" | "target" } | { kind: "replay"; grantId: string } | {
    kind: "ok";
    scope: string;
  };
  const outcome = await ctx.store.transact<Outcome>([keys.code(codeHash)], ([value]) => {
    const record = value as CodeRecord | undefined;
    if (!record || record.expiresAt <= t) return { ops: [], result: { kind: "invalid" as const } };
    if (record.usedAt !== undefined) {
      return { ops: [], result: { kind: "replay" as const, grantId: record.grantId } };
    }
    if (record.clientId !== client.clientId) {
      return { ops: [], result: { kind: "invalid" as const } };
    }
    // RFC 6749 4.1.3: the redirect URI must be repeated exactly when it was sent.
    if (
      record.redirectUriSent
        ? redirectUri !== record.redirectUri
        : (redirectUri !== undefined && redirectUri !== record.redirectUri)
    ) {
      return { ops: [], result: { kind: "invalid" as const } };
    }
    if (
      !timingSafeEqual(
        fromBase64url(challenge)!,
        fromBase64url(record.codeChallenge) ?? new Uint8Array(),
      )
    ) {
      return { ops: [], result: { kind: "invalid" as const } };
    }
    if (resource !== undefined && resource !== record.resource) {
      return { ops: [], result: { kind: "target" as const } };
    }
    const grant: GrantRecord = {
      grantId: record.grantId,
      clientId: client.clientId,
      scope: record.scope,
      resource: record.resource,
      createdAt: t,
      refresh: [issued.slot],
    };
    const accessOp = issued.ops[0] as Extract<WriteOp, { op: "set" }>;
    const access = {
      ...(accessOp.value as AccessRecord),
      scope: record.scope,
      resource: record.resource,
    };
    const ops: WriteOp[] = [
      // Kept (not deleted) until it expires, so a replay can be recognised.
      {
        op: "set",
        key: keys.code(codeHash),
        value: { ...record, usedAt: t },
        expiresAt: record.expiresAt,
      },
      { op: "set", key: keys.grant(grant.grantId), value: grant },
      { ...accessOp, value: access },
      issued.ops[1]!,
    ];
    return { ops, result: { kind: "ok" as const, scope: record.scope } };
  });

  switch (outcome.kind) {
    case "ok":
      if (!client.usedAt) {
        await ctx.store.transact(
          [keys.client(client.clientId)],
          ([value]) =>
            value
              ? {
                ops: [{
                  op: "set",
                  key: keys.client(client.clientId),
                  value: { ...(value as ClientRecord), usedAt: t },
                }],
                result: undefined,
              }
              : { ops: [], result: undefined },
        );
      }
      return tokenResponse(ctx, issued, outcome.scope);
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
  const hash = await hashSecret(token);
  const index = await ctx.store.get<RefreshIndex>(keys.refresh(hash));
  if (!index) throw new OAuthError("invalid_grant", "invalid or expired refresh token");
  const grantKey = keys.grant(index.grantId);
  const current = await ctx.store.get<GrantRecord>(grantKey);
  if (!current) throw new OAuthError("invalid_grant", "invalid or expired refresh token");
  const issued = await mint(ctx, current, hash);
  const t = ctx.now();
  const grace = ctx.opts.refreshGraceSeconds * 1000;

  type Outcome = { kind: "invalid" | "target" } | {
    kind: "reuse" | "ok";
    dead: string[];
    scope?: string;
  };
  const outcome = await ctx.store.transact<Outcome>([grantKey], ([value]) => {
    const grant = value as GrantRecord | undefined;
    if (!grant || grant.clientId !== client.clientId) {
      return { ops: [], result: { kind: "invalid" as const } };
    }
    if (resource !== undefined && resource !== grant.resource) {
      return { ops: [], result: { kind: "target" as const } };
    }
    const slot = grant.refresh.find((s) => s.hash === hash);
    // A token no longer live, or used again after its grace: someone else holds a
    // copy. OAuth 2.1 4.3.1 / RFC 9700 4.14.2: revoke the whole grant.
    if (!slot || (slot.rotatedAt !== undefined && t - slot.rotatedAt > grace)) {
      return {
        ops: grantDeletion(grant),
        result: { kind: "reuse" as const, dead: grant.refresh.map((s) => s.accessHash) },
      };
    }
    if (slot.expiresAt <= t) return { ops: [], result: { kind: "invalid" as const } };
    const ops: WriteOp[] = [...issued.ops];
    let live = grant.refresh;
    if (slot.rotatedAt === undefined) {
      // First use of this token: its parent and its siblings (tokens a racing refresh
      // of the parent produced) are no longer needed.
      const dying = live.filter((s) =>
        s !== slot &&
        (s.hash === slot.parent || (slot.parent !== undefined && s.parent === slot.parent))
      );
      for (const s of dying) {
        ops.push({ op: "delete", key: keys.access(s.accessHash) });
        ops.push({
          op: "set",
          key: keys.refresh(s.hash),
          value: { grantId: grant.grantId } satisfies RefreshIndex,
          expiresAt: Math.min(s.expiresAt, t + REUSE_MEMORY_MS),
        });
      }
      live = live.filter((s) => !dying.includes(s)).map((s) =>
        s === slot ? { ...s, rotatedAt: t } : s
      );
    }
    const updated: GrantRecord = {
      ...grant,
      refresh: [...live.filter((s) => s.expiresAt > t), issued.slot],
    };
    ops.push({ op: "set", key: grantKey, value: updated });
    const scope = narrowScope(form.scope, grant.scope);
    const accessOp = issued.ops[0] as Extract<WriteOp, { op: "set" }>;
    ops[0] = { ...accessOp, value: { ...(accessOp.value as AccessRecord), scope } };
    return {
      ops,
      result: {
        kind: "ok" as const,
        scope,
        dead: ops.filter((o) => o.op === "delete").map((o) => o.key[1]!),
      },
    };
  });

  switch (outcome.kind) {
    case "ok":
      ctx.forgetAccess(outcome.dead);
      return tokenResponse(ctx, issued, outcome.scope!);
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
