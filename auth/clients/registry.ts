/**
 * The one home of "which client is this": a client registered with RFC 7591, or one
 * described by a Client ID Metadata Document, found by id and authenticated at
 * `/token` and `/revoke` (RFC 6749 2.3: `client_secret_basic`, `client_secret_post`,
 * `none` for public clients, or RFC 7523 `private_key_jwt` for metadata-document clients
 * that publish their keys).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-2.3 | RFC 6749 2.3}
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import {
  AssertionError,
  assertionSubject,
  type AssertionVerifier,
  JWT_BEARER_ASSERTION,
} from "./assertion.ts";
import {
  DocumentError,
  type DocumentFailure,
  type DocumentSource,
  type MetadataResolver,
} from "./metadata.ts";
import { fromBase64url, hashSecret, timingSafeEqual } from "../../core/crypto.ts";
import { OAuthError } from "../../core/errors.ts";
import type { ClientRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";

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

/** Why no client answers to a client_id. */
export type ClientRefusal =
  /** No registered client has this id. */
  | { kind: "unregistered" }
  /** A metadata-document URL, while this server accepts none (`clientMetadataDocuments: false`). */
  | { kind: "documents_off" }
  /** A metadata-document URL whose document could not be used; `host` publishes it. */
  | { kind: "document"; host?: string; failure: DocumentFailure };

/** A client found, with where its metadata document came from; or why none was. */
export type ClientLookup =
  | { client: ClientRecord; source?: DocumentSource; refusal?: undefined }
  | { client?: undefined; refusal: ClientRefusal };

/** Finding and authenticating clients. */
export interface Clients {
  /**
   * A registered client from the store, or one described by a metadata document.
   * Throws `temporarily_unavailable` (503) when a document cannot be had just now and
   * no copy stands in: nothing is known against the client, which must try again, not
   * start over (clients read `invalid_client` as "register again"). `address` is the
   * caller's (document fetches are budgeted per address).
   */
  find(clientId: string, address?: string): Promise<ClientRecord | undefined>;
  /** As `find`, saying where a metadata document came from, or why no client was found. */
  lookup(clientId: string, address?: string): Promise<ClientLookup>;
  /**
   * The owner approved this client: a metadata-document client's last live document
   * is kept in the store, to stand in while its host cannot be reached.
   */
  approved(clientId: string): Promise<void>;
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

/** Builds the clients service; without `metadata`, URL client_ids are refused. */
export function createClients(deps: {
  store: Store;
  metadata?: MetadataResolver;
  assertions: AssertionVerifier;
  /** A client assertion that did not verify, with the reason (safe to log). */
  onAssertionRefused?: (clientId: string, reason: string) => void;
}): Clients {
  const { store, metadata } = deps;

  /**
   * RFC 7523 2.2 / RFC 7521 4.2: the client proves itself with a signed assertion.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-2.2 | RFC 7523 2.2}
   * @see {@link https://www.rfc-editor.org/rfc/rfc7521#section-4.2 | RFC 7521 4.2}
   */
  async function authenticateAssertion(
    form: Record<string, string>,
    failed: () => OAuthError,
    address: string | undefined,
  ): Promise<ClientRecord> {
    if (form.client_assertion_type !== JWT_BEARER_ASSERTION) throw failed();
    const assertion = form.client_assertion!;
    // RFC 7521 4.2: client_id is optional; when sent it must name the assertion's subject.
    const clientId = form.client_id ?? await assertionSubject(assertion);
    if (!clientId) throw failed();
    const client = await find(clientId, address);
    if (!client?.jwksUri) throw failed();
    try {
      await deps.assertions.verify(client, assertion);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      deps.onAssertionRefused?.(clientId, error.message);
      throw failed();
    }
    return client;
  }

  async function lookup(clientId: string, address?: string): Promise<ClientLookup> {
    if (!isMetadataClientId(clientId)) {
      // Bounded before any store read (Deno KV keys are at most 2 KiB).
      if (!REGISTERED_ID.test(clientId)) return { refusal: { kind: "unregistered" } };
      const client = await store.get<ClientRecord>(keys.client(clientId));
      return client ? { client } : { refusal: { kind: "unregistered" } };
    }
    if (!metadata) return { refusal: { kind: "documents_off" } };
    if (clientId.length > MAX_METADATA_URL_LENGTH) {
      return {
        refusal: {
          kind: "document",
          failure: { kind: "refused", reason: "client_id URL is too long" },
        },
      };
    }
    try {
      return await metadata.resolve(clientId, address);
    } catch (error) {
      if (!(error instanceof DocumentError)) throw error;
      let host: string | undefined;
      try {
        host = new URL(clientId).host;
      } catch { /* not a URL: no host to name */ }
      return { refusal: { kind: "document", host, failure: error.failure } };
    }
  }

  async function find(clientId: string, address?: string): Promise<ClientRecord | undefined> {
    const found = await lookup(clientId, address);
    if (found.refusal?.kind === "document" && found.refusal.failure.kind === "unreachable") {
      throw new OAuthError(
        "temporarily_unavailable",
        "the client's metadata document cannot be fetched just now; try again later",
        { status: 503, headers: { "retry-after": "60" } },
      );
    }
    return found.client;
  }

  return {
    find,
    lookup,
    async approved(clientId) {
      if (metadata && isMetadataClientId(clientId)) await metadata.keep(clientId);
    },
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
      const failed = () =>
        new OAuthError("invalid_client", "client authentication failed", {
          headers: basic ? BASIC_CHALLENGE : undefined,
        });
      if (form.client_assertion !== undefined || form.client_assertion_type !== undefined) {
        if (form.client_assertion === undefined || form.client_assertion_type === undefined) {
          throw new OAuthError(
            "invalid_request",
            "client_assertion and client_assertion_type are sent together",
          );
        }
        if (basic || form.client_secret !== undefined) {
          // RFC 6749 2.3: one authentication method per request.
          throw new OAuthError(
            "invalid_request",
            "use one client authentication method, not several",
          );
        }
        return await authenticateAssertion(form, failed, address);
      }
      const clientId = basic?.id ?? form.client_id;
      const secret = basic?.secret ?? form.client_secret;
      if (!clientId) throw failed();
      const client = await find(clientId, address);
      if (!client) throw failed();
      // RFC 7523 2.2: a client that offers only private_key_jwt must sign every request.
      if (client.authMethod === "private_key_jwt") throw failed();
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
