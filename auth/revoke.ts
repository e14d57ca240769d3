/**
 * RFC 7009 token revocation.
 *
 * @module
 */
import { type AuthContext, revokeGrant } from "./context.ts";
import { hashSecret } from "./crypto.ts";
import { NO_STORE, OAuthError } from "./errors.ts";
import { readForm } from "./http.ts";
import { authenticateClient } from "./client_auth.ts";
import { type AccessRecord, type GrantRecord, keys, type RefreshIndex } from "./records.ts";

/** POST /revoke */
export async function handleRevoke(ctx: AuthContext, request: Request): Promise<Response> {
  const form = await readForm(request, ctx.opts.maxBodyBytes);
  const client = await authenticateClient(ctx, request, form);
  const token = form.token;
  if (!token) throw new OAuthError("invalid_request", "token is required");
  const hash = await hashSecret(token);
  // RFC 7009 2.1: the hint is only an optimisation; look in both places.
  const [refresh, access] = await Promise.all([
    ctx.store.get<RefreshIndex>(keys.refresh(hash)),
    ctx.store.get<AccessRecord>(keys.access(hash)),
  ]);
  if (refresh) {
    const grant = await ctx.store.get<GrantRecord>(keys.grant(refresh.grantId));
    // RFC 7009 2.1: revoking a refresh token revokes its grant and the grant's access tokens.
    if (grant?.clientId === client.clientId) {
      await revokeGrant(ctx, grant.grantId, "refresh token revoked");
    }
  } else if (access && access.clientId === client.clientId) {
    await ctx.commit([{ op: "delete", key: keys.access(hash) }]);
  }
  // RFC 7009 2.2: answer 200 whether or not the token was known.
  return new Response(null, { status: 200, headers: NO_STORE });
}
