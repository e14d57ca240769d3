/**
 * POST /token: `authorization_code` with PKCE, and `refresh_token` with rotation. The
 * rules live in `grants.ts`; this endpoint reads, calls a rule, writes.
 *
 * @module
 */
import type { PersonalMcpEvent, ResolvedOptions } from "../../core/config.ts";
import { readForm } from "../../core/http.ts";
import type { Store } from "../../store/store.ts";
import { type Clients, isMetadataClientId } from "../clients/registry.ts";
import { hashSecret, randomToken, s256Challenge } from "../../core/crypto.ts";
import { jsonResponse, OAuthError } from "../../core/errors.ts";
import {
  type Grants,
  type Lifetimes,
  type PairHashes,
  redeemCode,
  rotateRefresh,
} from "../grants/grants.ts";
import type { ClientRecord, CodeRecord, GrantRecord, RefreshIndex } from "../records.ts";
import { keys } from "../../store/keys.ts";
import { checkResource } from "../grants/scope.ts";
import { stampUse } from "../grants/usage.ts";

// RFC 7636 4.1: 43-128 characters of [A-Za-z0-9-._~].
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** What the token endpoint uses. */
export interface TokenEndpointDeps {
  opts: ResolvedOptions;
  store: Store;
  clients: Clients;
  grants: Grants;
  now: () => number;
  emit: (event: PersonalMcpEvent) => void;
}

/** A fresh access/refresh pair and the hashes they are stored under. */
async function newPair(): Promise<PairHashes & { accessToken: string; refreshToken: string }> {
  const accessToken = randomToken();
  const refreshToken = randomToken();
  const [accessHash, refreshHash] = await Promise.all([
    hashSecret(accessToken),
    hashSecret(refreshToken),
  ]);
  return { accessToken, refreshToken, accessHash, refreshHash };
}

/** Builds the token endpoint; `address` is the caller's, for the activity log and last use. */
export function createTokenEndpoint(
  deps: TokenEndpointDeps,
): (request: Request, address?: string) => Promise<Response> {
  const { opts, store, clients, grants, now } = deps;
  const life: Lifetimes = {
    accessMs: opts.accessTokenTtlSeconds * 1000,
    refreshMs: opts.refreshTokenTtlSeconds * 1000,
    graceMs: opts.refreshGraceSeconds * 1000,
    reuseWindowMs: opts.refreshReuseWindowSeconds * 1000,
  };

  function tokenResponse(pair: { accessToken: string; refreshToken: string }, scope: string) {
    return jsonResponse({
      access_token: pair.accessToken,
      token_type: "Bearer",
      expires_in: opts.accessTokenTtlSeconds,
      refresh_token: pair.refreshToken,
      scope,
    });
  }

  async function exchangeCode(
    client: ClientRecord,
    form: Record<string, string>,
    address: string,
  ) {
    const { code, code_verifier: verifier } = form;
    if (!code) throw new OAuthError("invalid_request", "code is required");
    // RFC 7636 4.5 / OAuth 2.1 4.1.3: PKCE is mandatory.
    if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required");
    if (!VERIFIER.test(verifier)) throw new OAuthError("invalid_grant", "invalid code_verifier");
    const resource = form.resource === undefined ? undefined : checkResource(form.resource, opts);
    const [codeHash, challenge, pair] = await Promise.all([
      hashSecret(code),
      s256Challenge(verifier),
      newPair(),
    ]);
    // Decided against the current records in one atomic step: two concurrent
    // redemptions of one code cannot both succeed.
    let grantId = "";
    const outcome = await store.transact(
      [keys.code(codeHash), keys.client(client.clientId)],
      ([stored, registered]) => {
        // A registered client the owner forgot meanwhile gets nothing.
        if (registered === undefined && !isMetadataClientId(client.clientId)) {
          return { ops: [], result: { kind: "invalid" as const } };
        }
        const code = stored as CodeRecord | undefined;
        const t = now();
        const plan = redeemCode(code, registered as ClientRecord | undefined, {
          codeHash,
          clientId: client.clientId,
          redirectUri: form.redirect_uri,
          challenge,
          resource,
          pair,
          now: t,
          life,
        });
        if (!code) return plan;
        grantId = code.grantId;
        return stampUse(plan, code.grantId, {
          at: t,
          address,
          clientName: client.clientName,
          redirectUri: code.redirectUri,
        });
      },
    );
    switch (outcome.kind) {
      case "ok":
        deps.emit({
          type: "token_issued",
          clientId: client.clientId,
          grantId,
          clientAddress: address,
        });
        return tokenResponse(pair, outcome.scope);
      case "replay":
        await grants.revoke(outcome.grantId, "authorization code replayed");
        throw new OAuthError("invalid_grant", "invalid or expired authorization code");
      case "target":
        throw new OAuthError("invalid_target", "resource does not match the authorization request");
      default:
        throw new OAuthError("invalid_grant", "invalid or expired authorization code");
    }
  }

  async function refresh(client: ClientRecord, form: Record<string, string>, address: string) {
    const token = form.refresh_token;
    if (!token) throw new OAuthError("invalid_request", "refresh_token is required");
    const resource = form.resource === undefined ? undefined : checkResource(form.resource, opts);
    const [hash, pair] = await Promise.all([hashSecret(token), newPair()]);
    const index = await store.get<RefreshIndex>(keys.refresh(hash));
    if (!index) throw new OAuthError("invalid_grant", "invalid or expired refresh token");
    const outcome = await store.transact(
      [keys.grant(index.grantId)],
      ([grant]) => {
        const t = now();
        return stampUse(
          rotateRefresh(grant as GrantRecord | undefined, {
            hash,
            clientId: client.clientId,
            resource,
            scope: form.scope,
            baseScope: opts.scopes[0]!,
            pair,
            now: t,
            life,
          }),
          index.grantId,
          { at: t, address, clientName: client.clientName },
        );
      },
    );
    const event = { clientId: client.clientId, grantId: index.grantId, clientAddress: address };
    switch (outcome.kind) {
      case "ok":
        deps.emit({ type: "token_refreshed", ...event });
        return tokenResponse(pair, outcome.scope);
      case "access":
        // RFC 6749 6: no refresh_token in the answer, so the client keeps the one it sent.
        return jsonResponse({
          access_token: pair.accessToken,
          token_type: "Bearer",
          expires_in: Math.floor((outcome.expiresAt - now()) / 1000),
          scope: outcome.scope,
        });
      case "reuse":
        // OAuth 2.1 4.3.1: someone else holds a copy; the rule revoked the grant.
        deps.emit({ type: "refresh_reuse_detected", ...event });
        grants.removed(index.grantId, "refresh token reused", client.clientId, address);
        throw new OAuthError("invalid_grant", "invalid or expired refresh token");
      case "target":
        throw new OAuthError("invalid_target", "resource does not match the grant");
      default:
        throw new OAuthError("invalid_grant", "invalid or expired refresh token");
    }
  }

  return async (request, address = "unknown") => {
    const form = await readForm(request, opts.maxBodyBytes);
    const grantType = form.grant_type;
    if (!grantType) throw new OAuthError("invalid_request", "grant_type is required");
    if (grantType !== "authorization_code" && grantType !== "refresh_token") {
      throw new OAuthError(
        "unsupported_grant_type",
        "grant_type must be authorization_code or refresh_token",
      );
    }
    const client = await clients.authenticate(request, form, address);
    if (!client.grantTypes.includes(grantType)) {
      throw new OAuthError("unauthorized_client", `this client may not use ${grantType}`);
    }
    return grantType === "authorization_code"
      ? await exchangeCode(client, form, address)
      : await refresh(client, form, address);
  };
}
