/**
 * The one home of "which client is this": a client registered with RFC 7591, or one
 * described by a Client ID Metadata Document, found by id and authenticated at
 * `/token` and `/revoke` (RFC 6749 2.3: `client_secret_basic`, `client_secret_post`,
 * or `none` for public clients).
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import { type MetadataResolver, MetadataUnavailableError } from "./client_metadata.ts";
import { fromBase64url, hashSecret, timingSafeEqual } from "./crypto.ts";
import { OAuthError } from "./errors.ts";
import { type ClientRecord, keys } from "./records.ts";

/** Longest metadata-document URL accepted as a client_id, in characters (URLs are ASCII). */
export const MAX_METADATA_URL_LENGTH = 2000;
/**
 * What a registered client_id looks like (this server issues 22 base64url characters).
 * Anything else cannot name a stored client, so it is refused before any store read:
 * an unbounded id would reach Deno KV's 2 KiB key limit.
 */
const REGISTERED_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Whether a client_id is a metadata-document URL rather than a registered id. */
export function isMetadataClientId(clientId: string): boolean {
  return clientId.startsWith("https://") || clientId.startsWith("http://");
}

/** Finding and authenticating clients. */
export interface Clients {
  /**
   * A registered client from the store, or one described by a metadata document.
   * Undefined when neither exists; the reason goes to `onRefused`. Throws
   * `temporarily_unavailable` (503) when a document cannot be had just now.
   * `address` is the caller's (document fetches are budgeted per address).
   */
  find(clientId: string, address?: string): Promise<ClientRecord | undefined>;
  /** Identifies and authenticates the calling client; throws `invalid_client` (401). */
  authenticate(
    request: Request,
    form: Record<string, string>,
    address?: string,
  ): Promise<ClientRecord>;
}

const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="token"' };

function malformedBasic(): OAuthError {
  return new OAuthError("invalid_client", "malformed Basic credentials", {
    headers: BASIC_CHALLENGE,
  });
}

function decodeBasic(header: string): { id: string; secret: string } {
  let decoded: string;
  try {
    decoded = atob(header.slice(6).trim());
  } catch {
    throw malformedBasic();
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw malformedBasic();
  try {
    // RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replaceAll("+", " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replaceAll("+", " ")),
    };
  } catch {
    throw malformedBasic();
  }
}

/** Builds the clients service. */
export function createClients(deps: {
  store: Store;
  metadata: MetadataResolver;
  onRefused: (clientId: string, reason: string) => void;
}): Clients {
  const { store, metadata } = deps;

  async function find(clientId: string, address?: string): Promise<ClientRecord | undefined> {
    if (isMetadataClientId(clientId)) {
      if (clientId.length > MAX_METADATA_URL_LENGTH) {
        deps.onRefused(clientId, "client_id URL is too long");
        return undefined;
      }
      try {
        return await metadata.resolve(clientId, address);
      } catch (error) {
        deps.onRefused(clientId, (error as Error).message);
        // Nothing is known against the client: it must try again, not start over
        // (clients read invalid_client as "register again").
        if (error instanceof MetadataUnavailableError) {
          throw new OAuthError(
            "temporarily_unavailable",
            "the client's metadata document cannot be fetched just now; try again later",
            { status: 503, headers: { "retry-after": "60" } },
          );
        }
        return undefined;
      }
    }
    if (!REGISTERED_ID.test(clientId)) return undefined;
    return await store.get<ClientRecord>(keys.client(clientId));
  }

  return {
    find,
    async authenticate(request, form, address) {
      const header = request.headers.get("authorization");
      const basic = header && /^basic /i.test(header) ? decodeBasic(header) : undefined;
      if (
        basic &&
        (form.client_secret !== undefined ||
          (form.client_id !== undefined && form.client_id !== basic.id))
      ) {
        // RFC 6749 2.3: one authentication method per request.
        throw new OAuthError(
          "invalid_request",
          "use one client authentication method, not several",
        );
      }
      const clientId = basic?.id ?? form.client_id;
      const secret = basic?.secret ?? form.client_secret;
      const failed = () =>
        new OAuthError("invalid_client", "client authentication failed", {
          headers: basic ? BASIC_CHALLENGE : undefined,
        });
      if (!clientId) throw failed();
      const client = await find(clientId, address);
      if (!client) throw failed();
      if (client.secretHash) {
        if (secret === undefined) throw failed();
        const expected = fromBase64url(client.secretHash)!;
        const actual = fromBase64url(await hashSecret(secret))!;
        if (!timingSafeEqual(actual, expected)) throw failed();
      } else if (secret !== undefined && secret !== "") {
        throw failed();
      }
      return client;
    },
  };
}
