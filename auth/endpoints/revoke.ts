/**
 * POST /revoke: RFC 7009 token revocation.
 *
 * @module
 */
import { readForm } from "../../core/http.ts";
import type { Store } from "../../store/store.ts";
import type { Clients } from "../clients/registry.ts";
import { hashSecret } from "../../core/crypto.ts";
import { NO_STORE, OAuthError } from "../../core/errors.ts";
import type { Grants } from "../grants/grants.ts";
import type { AccessRecord, GrantRecord, RefreshIndex } from "../records.ts";
import { keys } from "../../store/keys.ts";

/** What the revocation endpoint uses. */
export interface RevokeEndpointDeps {
  maxBodyBytes: number;
  store: Store;
  clients: Clients;
  grants: Grants;
}

/** Builds the revocation endpoint. */
export function createRevokeEndpoint(
  deps: RevokeEndpointDeps,
): (request: Request, address?: string) => Promise<Response> {
  const { store, clients, grants } = deps;
  return async (request, address) => {
    const form = await readForm(request, deps.maxBodyBytes);
    const client = await clients.authenticate(request, form, address);
    const token = form.token;
    if (!token) throw new OAuthError("invalid_request", "token is required");
    const hash = await hashSecret(token);
    // RFC 7009 2.1: the hint is only an optimisation; look in both places.
    const [refresh, access] = await Promise.all([
      store.get<RefreshIndex>(keys.refresh(hash)),
      store.get<AccessRecord>(keys.access(hash)),
    ]);
    if (refresh) {
      const grant = await store.get<GrantRecord>(keys.grant(refresh.grantId));
      // RFC 7009 2.1: revoking a refresh token revokes its grant and the grant's access tokens.
      if (grant?.clientId === client.clientId) {
        await grants.revoke(grant.grantId, "refresh token revoked by the app", address);
      }
    } else if (access && access.clientId === client.clientId) {
      await store.write([{ op: "delete", key: keys.access(hash) }]);
    }
    // RFC 7009 2.2: answer 200 whether or not the token was known.
    return new Response(null, { status: 200, headers: NO_STORE });
  };
}
