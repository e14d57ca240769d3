/**
 * The authorization endpoint: GET shows the consent page, POST takes the owner's
 * decision. The owner must prove who they are before any code is issued.
 *
 * @module
 */
import { singleValues } from "../../core/http.ts";
import { isLoopbackHost } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import type { DocumentSource } from "../clients/metadata.ts";
import { type ClientRefusal, type Clients, isMetadataClientId } from "../clients/registry.ts";
import { consentPage, type ConsentView, continuePage, errorPage } from "../pages/consent.ts";
import { hashSecret, randomToken, secretsEqual } from "../../core/crypto.ts";
import { type PageEndpointDeps, readPageForm, refusalOf } from "../pages/page.ts";
import { readCookie } from "../../core/http.ts";
import type { OAuthError } from "../../core/errors.ts";
import type { OwnerCheck } from "../owner/password.ts";
import type { OwnerProof } from "../owner/proof.ts";
import type { ClientRecord, CodeRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";
import { matchRedirect, redirectAllowed } from "../clients/redirects.ts";
import { checkResource, grantScope } from "../grants/scope.ts";

/** How long the consent page stays valid, in ms. */
const REQUEST_TTL_MS = 10 * 60 * 1000;
// RFC 7636 4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_STATE_LENGTH = 2000;

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
  /** The WebAuthn challenge this page's passkey button signs, when one is enrolled. */
  passkeyChallenge?: string;
}

/**
 * Where a redirect URI leads, as a person reads it; `scheme` is set for a custom
 * scheme (an app), which the decision reaches by a 303 rather than a page.
 */
function redirectDisplay(uri: string): { display: string; scheme?: string } {
  const url = new URL(uri);
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) {
    return { display: `an app on this computer (${url.host})` };
  }
  if (url.protocol === "https:") return { display: url.host };
  return {
    display: `the ${url.protocol.slice(0, -1)} app (${uri.split("?")[0]!.slice(0, 80)})`,
    scheme: url.protocol,
  };
}

/** The sentence on the consent page when a copy stood in for a metadata document. */
function copyNote(host: string, source: DocumentSource): string | undefined {
  if (source.kind === "publisher") return undefined;
  const copy = source.kind === "stored"
    ? `the copy from ${new Date(source.fetchedAt).toISOString().slice(0, 16).replace("T", " ")} UTC`
    : "the built-in copy";
  return `${host} could not be reached; using ${copy} of this app's document. Reason: ${source.failure.reason}.`;
}

/** The page for a client_id no client answers to; it says why, and what helps. */
function refusalPage(refusal: ClientRefusal): Response {
  switch (refusal.kind) {
    case "unregistered":
      return errorPage(
        400,
        "Unknown app",
        "This app is not registered with this server. Remove the connector and add it again.",
      );
    case "documents_off":
      return errorPage(
        400,
        "App not accepted",
        "This app identified itself with a metadata document (its client_id is a URL), and this server is set not to accept metadata documents. Remove the connector and add it again: the app will then register with this server instead.",
      );
    case "document": {
      const { host, failure } = refusal;
      if (!host) {
        return errorPage(
          400,
          "Invalid request",
          `The app's client_id is not usable: ${failure.reason}.`,
        );
      }
      if (failure.kind === "unreachable") {
        // Temporary (the publisher has not spoken): "try again", never "unknown".
        return errorPage(
          503,
          `Could not reach ${host}`,
          `This app is described by a document that ${host} publishes, and the document could not be fetched from ${host}: ${failure.reason}. This server keeps no copy of it. Try again later; if it keeps failing, see Troubleshooting in the README of personal-mcp.`,
          { "retry-after": "60" },
        );
      }
      return errorPage(
        400,
        "App refused",
        `This app is described by a document that ${host} publishes, and ${host}'s answer refuses it: ${failure.reason}. Nothing was sent to the app.`,
      );
    }
  }
}

/** What the authorization endpoint uses. */
export interface AuthorizeEndpointDeps extends PageEndpointDeps {
  store: Store;
  clients: Clients;
  /** Whether a password is kept (the consent page offers its field then). */
  owner: OwnerCheck;
  /** How the owner proves who they are (password or passkey, under the throttle). */
  proof: OwnerProof;
}

/** The authorization endpoint: GET shows the consent page, POST takes the decision. */
export interface AuthorizeEndpoint {
  /** `address` is the caller's, for the activity log and the budget of document fetches. */
  get(request: Request, address?: string): Promise<Response>;
  /** `address` is the caller's, for the password throttle. */
  post(request: Request, address: string): Promise<Response>;
}

/** Builds the authorization endpoint. */
export function createAuthorizeEndpoint(deps: AuthorizeEndpointDeps): AuthorizeEndpoint {
  const { opts, clients, owner, proof, signer, now } = deps;
  const secureCookie = opts.baseUrl.startsWith("https:");
  // The __Host- prefix pins the cookie to this exact origin, but needs https.
  const cookieName = secureCookie ? "__Host-pmcp-consent" : "pmcp-consent";

  /** The client's redirect URI with the RFC 6749 4.1.2 / RFC 9207 parameters. */
  function callbackUrl(redirectUri: string, params: Record<string, string | undefined>): string {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    url.searchParams.set("iss", opts.issuer);
    return url.href;
  }

  /** A 303 to the client's redirect URI with the parameters. */
  function redirectWith(
    redirectUri: string,
    params: Record<string, string | undefined>,
    headers: Record<string, string> = {},
  ) {
    // 303: the browser follows a POST's answer with a GET.
    return new Response(null, {
      status: 303,
      headers: {
        location: callbackUrl(redirectUri, params),
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        ...headers,
      },
    });
  }

  /**
   * The answer to the owner's decision. An app's custom scheme leaves the browser, so
   * a 303 (allowed by the consent page's form-action) does; an http(s) callback may
   * redirect again (claude.ai's goes on to claude://), which Chrome's form-action would
   * block on a redirect of the post, so the browser is sent on by a page instead.
   */
  function decisionAnswer(
    redirectUri: string,
    params: Record<string, string | undefined>,
    approved: boolean,
    headers: Record<string, string> = {},
  ): Response {
    const { display, scheme } = redirectDisplay(redirectUri);
    if (scheme) return redirectWith(redirectUri, params, headers);
    const page = continuePage(
      callbackUrl(redirectUri, params),
      approved ? "Approved" : "Denied",
      display,
    );
    for (const [k, v] of Object.entries(headers)) page.headers.set(k, v);
    return page;
  }

  function consentView(
    client: ClientRecord,
    source: DocumentSource | undefined,
    redirect: string,
    scope: string,
  ): Omit<ConsentView, "request"> {
    const { display, scheme } = redirectDisplay(redirect);
    // A metadata-document client is vouched for by the host serving its document.
    const host = isMetadataClientId(client.clientId) ? new URL(client.clientId).host : undefined;
    return {
      serverName: opts.name,
      clientName: client.clientName ?? "",
      // A registered client's age tells the owner whether it is the one just added.
      registeredAgoMs: client.createdAt ? Math.max(0, now() - client.createdAt) : undefined,
      clientId: client.clientId,
      clientIdHost: host,
      documentNote: host && source ? copyNote(host, source) : undefined,
      redirectDisplay: display,
      redirectTarget: scheme,
      scope,
    };
  }

  /**
   * The consent page carrying `pending`, signed. When a passkey is enrolled the request
   * gets a fresh challenge (W3C WebAuthn 13.4.3), bound to this request by the signature;
   * each rendering has its own, so a page shown again after a refusal can try again.
   */
  async function render(
    pending: PendingRequest,
    view: Omit<ConsentView, "request">,
    status: number,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const challenge = randomToken();
    const passkey = await deps.passkeys.assertionOptions(challenge);
    const { passkeyChallenge: _, ...plain } = pending;
    const request = await signer.sign(passkey ? { ...plain, passkeyChallenge: challenge } : plain);
    // Without a passkey the password form stays, even with no password kept (the post says why).
    const password = !passkey || (await owner.configured());
    return consentPage({ ...view, request, passkey, password }, status, headers);
  }

  /** Resolves client and redirect; until both are valid, errors are pages (RFC 6749 4.1.2.1). */
  async function clientAndRedirect(
    clientId: string | undefined,
    redirectUri: string | undefined,
    address: string | undefined,
  ) {
    if (!clientId) {
      return {
        page: errorPage(
          400,
          "Invalid request",
          "The app did not say who it is (client_id is missing).",
        ),
      };
    }
    const found = await clients.lookup(clientId, address);
    if (!found.client) return { page: refusalPage(found.refusal) };
    const { client, source } = found;
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
    return { client, source, redirect, page: undefined };
  }

  async function get(request: Request, address = "unknown"): Promise<Response> {
    let params: Record<string, string>;
    try {
      params = singleValues(new URL(request.url).searchParams);
    } catch {
      return errorPage(400, "Invalid request", "A parameter was sent more than once.");
    }
    const found = await clientAndRedirect(params.client_id, params.redirect_uri, address);
    if (found.page) return found.page;
    const { client, source, redirect } = found;
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
    deps.emit({
      type: "consent_shown",
      clientId: client.clientId,
      clientName: client.clientName,
      clientAddress: address,
    });
    return await render(
      pending,
      consentView(client, source, redirect, scope),
      200,
      {
        "set-cookie": `${cookieName}=${nonce}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${
          REQUEST_TTL_MS / 1000
        }${secureCookie ? "; Secure" : ""}`,
      },
    );
  }

  function refused(reason: string, address: string, clientId?: string) {
    deps.emit({
      type: "request_refused",
      path: "/authorize",
      reason,
      clientAddress: address,
      clientId,
    });
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
      refused("cross-site post of the consent form", address);
      return errorPage(
        403,
        "Request refused",
        "This approval did not come from this server's own page.",
      );
    }
    const form = await readPageForm(request, opts.maxBodyBytes);
    if (form instanceof Response) return form;
    const pending = await signer.verify<PendingRequest>(form.request);
    if (!pending || !(pending.expiresAt > now())) {
      refused("consent form expired or not signed by this server", address);
      return errorPage(400, "This page has expired", "Start connecting again from your app.");
    }
    const cookie = readCookie(request, cookieName);
    if (!cookie || !(await secretsEqual(cookie, pending.nonce))) {
      refused("consent form without this browser's cookie", address, pending.clientId);
      return errorPage(
        403,
        "Request refused",
        "Your browser did not send this page's cookie. Start connecting again from your app.",
      );
    }
    const found = await clientAndRedirect(pending.clientId, pending.redirectUri, address);
    if (found.page) return found.page;
    const { client, source, redirect } = found;

    if (form.decision === "deny") {
      deps.emit({ type: "consent_denied", clientId: client.clientId, clientAddress: address });
      return decisionAnswer(redirect, {
        error: "access_denied",
        error_description: "the owner denied access",
        state: pending.state,
      }, false);
    }
    if (form.decision !== "approve" && form.decision !== "passkey") {
      return errorPage(400, "Invalid request", "Choose Approve or Deny.");
    }

    const view = consentView(client, source, redirect, pending.scope);
    const passkey = form.decision === "passkey";
    const device = await proof.deviceOf(request);
    const proved = await proof.prove(
      { address, device, page: "consent" },
      passkey
        ? {
          method: "passkey",
          credential: form.credential,
          challenge: pending.passkeyChallenge,
          expiresAt: pending.expiresAt,
        }
        : { method: "password", password: form.password ?? "" },
    );
    if (!proved.ok) {
      const refusal = refusalOf(proved, "approve");
      if (refusal instanceof Response) return refusal;
      if (refusal.status === 429) refused("too many wrong passwords", address, client.clientId);
      return await render(
        pending,
        { ...view, error: refusal.error },
        refusal.status,
        refusal.headers,
      );
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
    // A metadata-document client the owner approved keeps working through its host's outages.
    await clients.approved(client.clientId);
    deps.emit({
      type: "consent_approved",
      clientId: client.clientId,
      grantId: record.grantId,
      clientAddress: address,
      method: passkey ? "passkey" : "password",
    });
    // The consent cookie is left alone: another consent page in this browser may still
    // need it. The device cookie marks this browser as the owner's from now on.
    return decisionAnswer(redirect, { code, state: pending.state }, true, {
      "set-cookie": await proof.deviceCookie(device),
    });
  }

  return { get, post };
}
