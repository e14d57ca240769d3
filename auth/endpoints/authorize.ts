/**
 * The authorization endpoint: GET shows the consent page, POST takes the owner's
 * decision. The owner must prove who they are before any code is issued.
 *
 * @module
 */
import {
  BodyTimeoutError,
  BodyTooLargeError,
  CLOSE_CONNECTION,
  readForm,
  singleValues,
} from "../../server/http.ts";
import {
  isLoopbackHost,
  type PersonalMcpEvent,
  type ResolvedOptions,
} from "../../server/options.ts";
import type { Store } from "../../store/store.ts";
import { type Clients, isMetadataClientId } from "../clients.ts";
import { consentPage, type ConsentView, errorPage } from "../consent_page.ts";
import { hashSecret, randomToken, secretsEqual } from "../crypto.ts";
import type { OAuthError } from "../errors.ts";
import type { ConcurrencyLimit, LoginThrottle } from "../limits.ts";
import type { OwnerCheck } from "../owner.ts";
import { type ClientRecord, type CodeRecord, keys } from "../records.ts";
import { matchRedirect, redirectAllowed } from "../redirects.ts";
import { checkResource, grantScope } from "../scope.ts";
import type { Signer } from "../signer.ts";

/** How long the consent page stays valid, in ms. */
const REQUEST_TTL_MS = 10 * 60 * 1000;
// RFC 7636 4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_STATE_LENGTH = 2000;
/** How long a device cookie is honoured after the approval that set it, in seconds. */
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600;

/**
 * The signed payload of a device cookie: a random id per browser. It grants nothing
 * but a throttle of its own (OWASP "device cookies"), so the owner's browser is not
 * locked out by strangers' guesses.
 */
interface DeviceCookie {
  typ: "device";
  id: string;
  issuedAt: number;
}

/** The authorization request, as carried (signed) through the consent page. */
interface PendingRequest {
  clientId: string;
  redirectUri: string;
  redirectUriSent: boolean;
  state?: string;
  codeChallenge: string;
  scope: string;
  resource: string;
  /**
   * The browser's consent cookie (SameSite=Strict: a cross-site form post lacks it).
   * One value per browser, so that two consent pages open at once both work.
   */
  nonce: string;
  expiresAt: number;
}

function readCookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

function redirectDisplay(uri: string): { display: string; target: string } {
  const url = new URL(uri);
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) {
    return { display: `an app on this computer (${url.host})`, target: url.origin };
  }
  if (url.protocol === "https:") return { display: url.host, target: url.origin };
  return {
    display: `the ${url.protocol.slice(0, -1)} app (${uri.split("?")[0]!.slice(0, 80)})`,
    target: url.protocol,
  };
}

/** What the authorization endpoint uses. */
export interface AuthorizeEndpointDeps {
  opts: ResolvedOptions;
  store: Store;
  clients: Clients;
  owner: OwnerCheck;
  /** Password attempts, per client address or device. */
  throttle: LoginThrottle;
  /** How many password verifications may run at once. */
  verifications: ConcurrencyLimit;
  signer: Signer;
  now: () => number;
  emit: (event: PersonalMcpEvent) => void;
}

/** The authorization endpoint: GET shows the consent page, POST takes the decision. */
export interface AuthorizeEndpoint {
  get(request: Request): Promise<Response>;
  /** `address` is the caller's, for the password throttle. */
  post(request: Request, address: string): Promise<Response>;
}

/** Builds the authorization endpoint. */
export function createAuthorizeEndpoint(deps: AuthorizeEndpointDeps): AuthorizeEndpoint {
  const { opts, clients, owner, throttle, verifications, signer, now } = deps;
  const secureCookie = opts.baseUrl.startsWith("https:");
  // The __Host- prefix pins the cookie to this exact origin, but needs https.
  const cookieName = secureCookie ? "__Host-pmcp-consent" : "pmcp-consent";
  const deviceCookieName = secureCookie ? "__Host-pmcp-device" : "pmcp-device";

  /** The client's redirect with the RFC 6749 4.1.2 / RFC 9207 parameters. */
  function redirectWith(
    redirectUri: string,
    params: Record<string, string | undefined>,
    headers: Record<string, string> = {},
  ) {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    url.searchParams.set("iss", opts.issuer);
    // 303: the browser follows a POST's answer with a GET.
    return new Response(null, {
      status: 303,
      headers: {
        location: url.href,
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        ...headers,
      },
    });
  }

  /** The id of this browser's device cookie, when it carries one this server signed. */
  async function deviceOf(request: Request): Promise<string | undefined> {
    const cookie = await signer.verify<DeviceCookie>(readCookie(request, deviceCookieName));
    if (
      cookie?.typ !== "device" || typeof cookie.id !== "string" ||
      typeof cookie.issuedAt !== "number" ||
      !(now() - cookie.issuedAt < DEVICE_COOKIE_MAX_AGE_SECONDS * 1000)
    ) {
      return undefined;
    }
    return cookie.id;
  }

  /**
   * A device cookie for the browser that just approved. RFC 6265 4.1.2.5-6 and
   * RFC 6265bis 4.1.2.7: Secure on https, HttpOnly, SameSite=Strict (sent only on
   * same-site requests such as this page's own form post).
   */
  async function deviceCookie(id: string | undefined): Promise<string> {
    const value: DeviceCookie = { typ: "device", id: id ?? randomToken(16), issuedAt: now() };
    return `${deviceCookieName}=${await signer.sign(value)}; Path=/; HttpOnly; SameSite=Strict; ` +
      `Max-Age=${DEVICE_COOKIE_MAX_AGE_SECONDS}${secureCookie ? "; Secure" : ""}`;
  }

  function consentView(
    client: ClientRecord,
    redirect: string,
    scope: string,
    request: string,
  ): ConsentView {
    const { display, target } = redirectDisplay(redirect);
    return {
      serverName: opts.name,
      clientName: client.clientName?.trim() || "An unnamed app",
      clientId: client.clientId,
      // A metadata-document client is vouched for by the host serving its document.
      clientIdHost: isMetadataClientId(client.clientId) ? new URL(client.clientId).host : undefined,
      redirectDisplay: display,
      redirectTarget: target,
      scope,
      request,
    };
  }

  /** Resolves client and redirect; until both are valid, errors are pages (RFC 6749 4.1.2.1). */
  async function clientAndRedirect(clientId: string | undefined, redirectUri: string | undefined) {
    if (!clientId) {
      return {
        page: errorPage(
          400,
          "Invalid request",
          "The app did not say who it is (client_id is missing).",
        ),
      };
    }
    const client = await clients.find(clientId);
    if (!client) {
      return {
        page: errorPage(
          400,
          "Unknown app",
          "This app is not registered with this server. Remove the connector and add it again.",
        ),
      };
    }
    let redirect: string | undefined;
    if (redirectUri === undefined) {
      if (client.redirectUris.length === 1) redirect = client.redirectUris[0];
    } else {
      redirect = matchRedirect(redirectUri, client.redirectUris) ? redirectUri : undefined;
    }
    if (!redirect || !redirectAllowed(redirect, opts.allowedRedirects)) {
      return {
        page: errorPage(
          400,
          "Invalid redirect",
          "The app asked to send you to an address it did not register. Nothing was sent.",
        ),
      };
    }
    return { client, redirect, page: undefined };
  }

  async function get(request: Request): Promise<Response> {
    let params: Record<string, string>;
    try {
      params = singleValues(new URL(request.url).searchParams);
    } catch {
      return errorPage(400, "Invalid request", "A parameter was sent more than once.");
    }
    const found = await clientAndRedirect(params.client_id, params.redirect_uri);
    if (found.page) return found.page;
    const { client, redirect } = found;
    const state = params.state;
    const fail = (error: string, description: string) =>
      redirectWith(redirect, { error, error_description: description, state });

    if (state !== undefined && state.length > MAX_STATE_LENGTH) {
      return fail("invalid_request", "state is too long");
    }
    // RFC 6749 4.1.2.1: a missing parameter is invalid_request; a wrong one unsupported.
    if (params.response_type === undefined) {
      return fail("invalid_request", "response_type is required");
    }
    if (params.response_type !== "code") {
      return fail("unsupported_response_type", "response_type must be code");
    }
    // OAuth 2.1 4.1.1 / RFC 7636 4.4.1: PKCE with S256 is required; plain is refused.
    if (!params.code_challenge) return fail("invalid_request", "code_challenge is required (PKCE)");
    if (params.code_challenge_method !== "S256") {
      return fail("invalid_request", "code_challenge_method must be S256");
    }
    if (!S256_CHALLENGE.test(params.code_challenge)) {
      return fail("invalid_request", "code_challenge is malformed");
    }
    let resource: string;
    try {
      resource = checkResource(params.resource, opts);
    } catch (error) {
      return fail("invalid_target", (error as OAuthError).message);
    }
    const scope = grantScope(params.scope, opts.scopes);
    // Reuse this browser's cookie when it has one, so other open consent pages stay valid.
    const existing = readCookie(request, cookieName);
    const nonce = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : randomToken();
    const pending: PendingRequest = {
      clientId: client.clientId,
      redirectUri: redirect,
      redirectUriSent: params.redirect_uri !== undefined,
      codeChallenge: params.code_challenge,
      scope,
      resource,
      nonce,
      expiresAt: now() + REQUEST_TTL_MS,
    };
    if (state !== undefined) pending.state = state;
    return consentPage(
      consentView(client, redirect, scope, await signer.sign(pending)),
      200,
      {
        "set-cookie": `${cookieName}=${nonce}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${
          REQUEST_TTL_MS / 1000
        }${secureCookie ? "; Secure" : ""}`,
      },
    );
  }

  async function post(request: Request, address: string): Promise<Response> {
    // A form posted from another site is refused before anything else is read.
    // "Origin: null" (a browser whose referrer settings hide the origin) is accepted
    // only when the browser's own Fetch Metadata vouches that the post is same-origin.
    const origin = request.headers.get("origin");
    const site = request.headers.get("sec-fetch-site");
    const sameOrigin = origin === null || origin === opts.origin ||
      (origin === "null" && site === "same-origin");
    if (!sameOrigin || (site !== null && site !== "same-origin" && site !== "none")) {
      return errorPage(
        403,
        "Request refused",
        "This approval did not come from this server's own page.",
      );
    }
    let form: Record<string, string>;
    try {
      form = await readForm(request, opts.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return errorPage(413, "Request too large", "The form was larger than this server accepts.");
      }
      if (error instanceof BodyTimeoutError) {
        return errorPage(
          408,
          "Too slow",
          "The form did not arrive in time. Go back and try again.",
          CLOSE_CONNECTION,
        );
      }
      return errorPage(400, "Invalid request", "The form could not be read.");
    }
    const pending = await signer.verify<PendingRequest>(form.request);
    if (!pending || !(pending.expiresAt > now())) {
      return errorPage(400, "This page has expired", "Start connecting again from your app.");
    }
    const cookie = readCookie(request, cookieName);
    if (!cookie || !(await secretsEqual(cookie, pending.nonce))) {
      return errorPage(
        403,
        "Request refused",
        "Your browser did not send this page's cookie. Start connecting again from your app.",
      );
    }
    const found = await clientAndRedirect(pending.clientId, pending.redirectUri);
    if (found.page) return found.page;
    const { client, redirect } = found;

    if (form.decision === "deny") {
      return redirectWith(redirect, {
        error: "access_denied",
        error_description: "the owner denied access",
        state: pending.state,
      });
    }
    if (form.decision !== "approve") {
      return errorPage(400, "Invalid request", "Choose Approve or Deny.");
    }

    const view = consentView(client, redirect, pending.scope, form.request!);
    if (!(await owner.configured())) {
      return errorPage(
        503,
        "No owner password",
        "This server has no owner password yet. Set one from the command line (see the README).",
      );
    }
    // The attempt is counted before the slow check, and an address's attempts take
    // turns, so concurrent guesses cannot all pass the throttle (OWASP Authentication
    // Cheat Sheet: account lockout).
    const device = await deviceOf(request);
    const attempt = await throttle.reserve({ address, device });
    if (!attempt.allowed) {
      return consentPage(
        {
          ...view,
          error: `Too many wrong passwords. Try again in ${attempt.retryAfterSeconds} seconds.`,
        },
        429,
        { "retry-after": String(attempt.retryAfterSeconds) },
      );
    }
    let verified = false;
    try {
      // The owner's known browser goes first in the line of password checks.
      verified = await verifications.run(
        () => owner.verify(form.password ?? ""),
        device !== undefined,
      );
    } finally {
      attempt.finish(verified);
    }
    if (!verified) {
      deps.emit({ type: "owner_login_failed", clientAddress: address });
      return consentPage({ ...view, error: "That is not the owner password." }, 401);
    }

    const code = randomToken();
    const record: CodeRecord = {
      clientId: client.clientId,
      redirectUri: redirect,
      redirectUriSent: pending.redirectUriSent,
      codeChallenge: pending.codeChallenge,
      resource: pending.resource,
      scope: pending.scope,
      grantId: randomToken(16),
      expiresAt: now() + opts.codeTtlSeconds * 1000,
    };
    await deps.store.write([{
      op: "set",
      key: keys.code(await hashSecret(code)),
      value: record,
      expiresAt: record.expiresAt,
    }]);
    // The consent cookie is left alone: another consent page in this browser may still
    // need it. The device cookie marks this browser as the owner's from now on.
    return redirectWith(redirect, { code, state: pending.state }, {
      "set-cookie": await deviceCookie(device),
    });
  }

  return { get, post };
}
