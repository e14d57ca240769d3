/**
 * Client authentication at /token and /revoke (RFC 6749 2.3): `client_secret_basic`,
 * `client_secret_post`, or `none` for public clients.
 *
 * @module
 */
import type { AuthContext } from "./context.ts";
import { fromBase64url, hashSecret, timingSafeEqual } from "./crypto.ts";
import { OAuthError } from "./errors.ts";
import { requireClient } from "./client_metadata.ts";
import type { ClientRecord } from "./records.ts";

function decodeBasic(header: string): { id: string; secret: string } {
  const encoded = header.slice(6).trim();
  let decoded: string;
  try {
    decoded = atob(encoded);
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  try {
    // RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replaceAll("+", " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replaceAll("+", " ")),
    };
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
}

/** Identifies and authenticates the calling client; throws `invalid_client` (401). */
export async function authenticateClient(
  ctx: AuthContext,
  request: Request,
  form: Record<string, string>,
): Promise<ClientRecord> {
  const header = request.headers.get("authorization");
  const basic = header && /^basic /i.test(header) ? decodeBasic(header) : undefined;
  if (
    basic &&
    (form.client_secret !== undefined ||
      (form.client_id !== undefined && form.client_id !== basic.id))
  ) {
    // RFC 6749 2.3: one authentication method per request.
    throw new OAuthError("invalid_request", "use one client authentication method, not several");
  }
  const clientId = basic?.id ?? form.client_id;
  const secret = basic?.secret ?? form.client_secret;
  const challenge = basic ? { "www-authenticate": 'Basic realm="token"' } : undefined;
  if (!clientId) {
    throw new OAuthError("invalid_client", "client authentication failed", { headers: challenge });
  }
  const client = await requireClient(ctx, clientId, challenge);
  if (client.secretHash) {
    if (secret === undefined) {
      throw new OAuthError("invalid_client", "client authentication failed", {
        headers: challenge,
      });
    }
    const expected = fromBase64url(client.secretHash)!;
    const actual = fromBase64url(await hashSecret(secret))!;
    if (!timingSafeEqual(actual, expected)) {
      throw new OAuthError("invalid_client", "client authentication failed", {
        headers: challenge,
      });
    }
  } else if (secret !== undefined && secret !== "") {
    throw new OAuthError("invalid_client", "client authentication failed", { headers: challenge });
  }
  return client;
}
