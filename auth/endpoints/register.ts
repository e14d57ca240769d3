/**
 * RFC 7591 Dynamic Client Registration.
 *
 * @module
 */
import { readJsonObject } from "../../core/http.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import { hashSecret, randomToken } from "../../core/crypto.ts";
import { jsonResponse, OAuthError } from "../../core/errors.ts";
import type { Grants } from "../grants/grants.ts";
import type { RateLimiter } from "../limits/throttle.ts";
import type { ClientAuthMethod, ClientRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";
import { redirectAllowed } from "../clients/redirects.ts";
import { isLoopbackHost } from "../../core/config.ts";

const AUTH_METHODS: readonly ClientAuthMethod[] = [
  "none",
  "client_secret_post",
  "client_secret_basic",
];
const GRANT_TYPES = ["authorization_code", "refresh_token"];
const MAX_REDIRECT_URIS = 10;
const MAX_URI_LENGTH = 2000;
const MAX_TEXT_LENGTH = 200;
/** How long a registered client that has never obtained a token is kept. */
export const UNUSED_CLIENT_TTL_MS = 24 * 3600 * 1000;

function invalid(description: string): OAuthError {
  return new OAuthError("invalid_client_metadata", description);
}

function optionalText(
  body: Record<string, unknown>,
  name: string,
  max = MAX_TEXT_LENGTH,
): string | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > max) {
    throw invalid(`${name} must be a string of at most ${max} characters`);
  }
  return value;
}

function optionalHttpsUrl(body: Record<string, unknown>, name: string): string | undefined {
  const value = optionalText(body, name, MAX_URI_LENGTH);
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol === "https:" || url.protocol === "http:") return url.href;
  } catch { /* fall through */ }
  throw invalid(`${name} must be an http(s) URL`);
}

function stringList(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw invalid(`${name} must be an array of strings`);
  }
  return value as string[];
}

/** The kinds of client OpenID Connect Dynamic Client Registration 1.0 section 2 defines. */
export type ApplicationType = "web" | "native";

/**
 * Whether a redirect URI (already on the allowlist) suits the client's declared
 * `application_type`. The 2026-07-28 MCP authorization spec requires registering clients
 * to send it: `web` for a browser app served from a non-local host, `native` for desktop,
 * mobile and CLI apps and for web apps on localhost. A `web` client gets codes only at
 * https on a host other than loopback: a loopback or private-scheme redirect belongs to
 * an app on the owner's machine, which must say so. A `native` client keeps all three
 * redirects of RFC 8252 7 (private-use scheme, claimed https, loopback http): VS Code
 * registers as native with https://vscode.dev/redirect. Absent, nothing is implied:
 * clients that predate the field (Claude, ChatGPT, Cursor, mcp-remote, the Inspector)
 * keep working.
 *
 * @see https://modelcontextprotocol.io/specification/2026-07-28/basic/authorization/client-registration#application-type-and-redirect-uri-constraints
 * @see https://openid.net/specs/openid-connect-registration-1_0.html#ClientMetadata
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7
 */
export function redirectSuitsApplicationType(
  uri: string,
  type: ApplicationType | undefined,
): boolean {
  if (type !== "web") return true;
  try {
    const url = new URL(uri);
    return url.protocol === "https:" && !isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

/** Validates registration metadata into a client record (secret not yet attached). */
export function parseRegistration(body: Record<string, unknown>, allowlist: readonly string[]) {
  const redirectUris = stringList(body, "redirect_uris");
  if (!redirectUris || redirectUris.length === 0) {
    throw new OAuthError("invalid_redirect_uri", "redirect_uris must list at least one URI");
  }
  if (redirectUris.length > MAX_REDIRECT_URIS) {
    throw new OAuthError("invalid_redirect_uri", `at most ${MAX_REDIRECT_URIS} redirect_uris`);
  }
  const applicationType = body.application_type ?? undefined;
  if (applicationType !== undefined && applicationType !== "web" && applicationType !== "native") {
    throw invalid("application_type must be web or native");
  }
  for (const uri of redirectUris) {
    if (uri.length > MAX_URI_LENGTH || !redirectAllowed(uri, allowlist)) {
      throw new OAuthError(
        "invalid_redirect_uri",
        `redirect URI not allowed on this server: ${uri.slice(0, 200)}`,
      );
    }
    if (!redirectSuitsApplicationType(uri, applicationType)) {
      throw new OAuthError(
        "invalid_redirect_uri",
        `a web client's redirect URIs must be https on a host other than loopback, got ` +
          `${uri.slice(0, 200)}: an app on this computer registers as application_type native`,
      );
    }
  }
  const method = body.token_endpoint_auth_method ?? "client_secret_basic"; // RFC 7591 2 default
  if (typeof method !== "string" || !AUTH_METHODS.includes(method as ClientAuthMethod)) {
    throw invalid(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}`);
  }
  const grantTypes = stringList(body, "grant_types") ?? ["authorization_code"];
  if (grantTypes.length === 0 || !grantTypes.every((g) => GRANT_TYPES.includes(g))) {
    throw invalid(`grant_types may only contain ${GRANT_TYPES.join(", ")}`);
  }
  const responseTypes = stringList(body, "response_types") ?? ["code"];
  if (!responseTypes.every((r) => r === "code")) {
    throw invalid(`response_types may only contain code`);
  }
  const scope = optionalText(body, "scope", 1000);
  return {
    redirectUris: [...new Set(redirectUris)],
    authMethod: method as ClientAuthMethod,
    // Refresh is always offered: clients that forget to ask still stay connected.
    grantTypes: [...new Set([...grantTypes, "refresh_token"])],
    responseTypes,
    clientName: optionalText(body, "client_name"),
    clientUri: optionalHttpsUrl(body, "client_uri"),
    logoUri: optionalHttpsUrl(body, "logo_uri"),
    softwareId: optionalText(body, "software_id"),
    softwareVersion: optionalText(body, "software_version"),
    scope,
    applicationType,
  };
}

/** What the registration endpoint uses. */
export interface RegisterEndpointDeps {
  opts: ResolvedOptions;
  store: Store;
  /** Registrations per client address. */
  registrations: RateLimiter;
  /** An evicted client's grants go with it. */
  grants: Grants;
  now: () => number;
  /** Receives `client_registered`. */
  emit?: (event: PersonalMcpEvent) => void;
}

/** Builds the registration endpoint; `address` is the caller's, for the flood limit. */
export function createRegisterEndpoint(
  deps: RegisterEndpointDeps,
): (request: Request, address: string) => Promise<Response> {
  const { opts, store, now } = deps;

  /** Drops the least recently useful clients so that at most `maxClients - 1` remain. */
  async function makeRoom(): Promise<void> {
    const clients = await store.list<ClientRecord>(keys.clients);
    if (clients.length < opts.maxClients) return;
    // Clients never used go first, oldest first; then the least recently used.
    clients.sort((a, b) =>
      (a.value.usedAt ?? 0) - (b.value.usedAt ?? 0) || a.value.createdAt - b.value.createdAt
    );
    const evicted = clients.slice(0, clients.length - opts.maxClients + 1);
    // Grants first: a grant must never outlive its client (its tokens would still open
    // /mcp); a client left without grants by a crash in between is harmless.
    for (const c of evicted) await deps.grants.revokeClient(c.value.clientId, "client evicted");
    await store.write(evicted.map((c) => ({ op: "delete" as const, key: c.key })));
  }

  return async (request, address) => {
    const verdict = await deps.registrations.take(address);
    if (!verdict.allowed) {
      throw new OAuthError(
        "slow_down",
        "too many registrations from this address; try again later",
        {
          status: 429,
          headers: { "retry-after": String(verdict.retryAfterSeconds) },
        },
      );
    }
    const body = await readJsonObject(request, opts.maxBodyBytes, "invalid_client_metadata");
    const parsed = parseRegistration(body, opts.allowedRedirects);
    const clientId = randomToken(16);
    const secret = parsed.authMethod === "none" ? undefined : randomToken();
    const t = now();
    // RFC 7591 3.2.1: echo the registered metadata; omit what is empty.
    const metadata: Record<string, unknown> = {
      redirect_uris: parsed.redirectUris,
      token_endpoint_auth_method: parsed.authMethod,
      grant_types: parsed.grantTypes,
      response_types: parsed.responseTypes,
    };
    if (parsed.clientName) metadata.client_name = parsed.clientName;
    if (parsed.clientUri) metadata.client_uri = parsed.clientUri;
    if (parsed.logoUri) metadata.logo_uri = parsed.logoUri;
    if (parsed.softwareId) metadata.software_id = parsed.softwareId;
    if (parsed.softwareVersion) metadata.software_version = parsed.softwareVersion;
    if (parsed.scope) metadata.scope = parsed.scope;
    if (parsed.applicationType) metadata.application_type = parsed.applicationType;
    const record: ClientRecord = {
      clientId,
      authMethod: parsed.authMethod,
      redirectUris: parsed.redirectUris,
      grantTypes: parsed.grantTypes,
      clientName: parsed.clientName,
      clientUri: parsed.clientUri,
      scope: parsed.scope,
      metadata,
      createdAt: t,
    };
    if (secret) record.secretHash = await hashSecret(secret);
    await makeRoom();
    // A client that never completes an authorization disappears after a day, so a
    // registration flood cannot grow the state without bound.
    await store.write([{
      op: "set",
      key: keys.client(clientId),
      value: record,
      expiresAt: t + UNUSED_CLIENT_TTL_MS,
    }]);
    const answer: Record<string, unknown> = {
      client_id: clientId,
      client_id_issued_at: Math.floor(t / 1000),
      ...metadata,
    };
    if (secret) {
      answer.client_secret = secret;
      answer.client_secret_expires_at = 0; // RFC 7591 3.2.1: 0 = never
    }
    deps.emit?.({
      type: "client_registered",
      clientId,
      clientName: parsed.clientName,
      clientAddress: address,
    });
    return jsonResponse(answer, 201);
  };
}
