/**
 * The authorization endpoint: GET shows the consent page, POST takes the owner's
 * decision. The owner must prove who they are before any code is issued. The rules of
 * the request itself are in ./authorize_request.ts.
 *
 * @module
 */
import { readCookie, singleValues } from "../../core/http.ts";
import type { ResolvedOptions } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import type { DocumentSource } from "../clients/metadata.ts";
import { type Clients, isMetadataClientId } from "../clients/registry.ts";
import { clientRefusalPage, consentPage, type ConsentView, errorPage } from "../pages/consent.ts";
import { hashSecret, isRandomToken, randomToken, secretsEqual } from "../../core/crypto.ts";
import {
  isSameOriginPost,
  type PageEndpointDeps,
  proofRefusal,
  readPageForm,
} from "../pages/page.ts";
import type { OwnerCheck } from "../owner/password.ts";
import { credentialOf, type OwnerProof } from "../owner/proof.ts";
import type { ClientRecord, CodeRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";
import type { PermissionControls } from "../grants/app_permissions.ts";
import { isToolPolicy, type ToolPolicy } from "../grants/permissions.ts";
import { matchRedirect, redirectAllowed } from "../clients/redirects.ts";
import {
  checkAuthorizeParams,
  copyNote,
  decisionAnswer,
  type PendingRequest,
  redirectDisplay,
  redirectWith,
} from "./authorize_request.ts";

/** How long the consent page stays valid, in ms. */
const REQUEST_TTL_MS = 10 * 60 * 1000;

/** What the authorization endpoint uses. */
export interface AuthorizeEndpointDeps extends PageEndpointDeps {
  store: Store;
  clients: Clients;
  /** Whether a password is kept (the consent page offers its field then). */
  owner: OwnerCheck;
  /** How the owner proves who they are (password or passkey, under the throttle). */
  proof: OwnerProof;
  /** The tools the app will get and their policies, shown and changed on the page. */
  permissions?: PermissionControls;
}

/** The authorization endpoint: GET shows the consent page, POST takes the decision. */
export interface AuthorizeEndpoint {
  /** `address` is the caller's, for the activity log and the budget of document fetches. */
  get(request: Request, address?: string): Promise<Response>;
  /** `address` is the caller's, for the password throttle. */
  post(request: Request, address: string): Promise<Response>;
}

/** The consent page's view of a client and its request (the signed request aside). */
function consentView(
  client: ClientRecord,
  source: DocumentSource | undefined,
  redirect: string,
  scope: string,
  serverName: string,
  now: number,
): Omit<ConsentView, "request"> {
  const { display, scheme } = redirectDisplay(redirect);
  // A metadata-document client is vouched for by the host serving its document.
  const host = isMetadataClientId(client.clientId) ? new URL(client.clientId).host : undefined;
  return {
    serverName,
    clientName: client.clientName ?? "",
    // A registered client's age tells the owner whether it is the one just added.
    registeredAgoMs: client.createdAt ? Math.max(0, now - client.createdAt) : undefined,
    clientId: client.clientId,
    clientIdHost: host,
    documentNote: host && source ? copyNote(host, source) : undefined,
    redirectDisplay: display,
    redirectTarget: scheme,
    scope,
  };
}

/** A client and the redirect URI its request may use, or the page saying why not. */
type ClientAndRedirect =
  | { client: ClientRecord; source?: DocumentSource; redirect: string; page: undefined }
  | { page: Response };

/**
 * Resolves client and redirect; until both are valid, errors are pages, never redirects.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 | RFC 6749 4.1.2.1}
 */
async function clientAndRedirect(
  clients: Clients,
  opts: Pick<ResolvedOptions, "allowedRedirects">,
  clientId: string | undefined,
  redirectUri: string | undefined,
  address: string | undefined,
): Promise<ClientAndRedirect> {
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
  if (!found.client) return { page: clientRefusalPage(found.refusal) };
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

/**
 * The policies the owner chose on the consent page, kept for the app before its code is
 * issued: only those that differ from what the page showed, so that a tool left alone
 * keeps following the owner's defaults.
 */
async function keepToolChoices(
  deps: AuthorizeEndpointDeps,
  client: ClientRecord,
  form: Record<string, string>,
): Promise<void> {
  if (!deps.permissions) return;
  const shown = await deps.permissions.forClient(client.clientId, client.clientName);
  const set: Record<string, ToolPolicy> = {};
  for (const row of shown.tools) {
    const chosen = form[`tool.${row.name}`];
    if (isToolPolicy(chosen) && chosen !== row.policy) set[row.name] = chosen;
  }
  // Also marks every tool shown as known to the owner for this app.
  await deps.permissions.approve(client.clientId, set);
}

/** The owner proved who they are: a code, stored by its hash, and the way back. */
async function approve(
  deps: AuthorizeEndpointDeps,
  client: ClientRecord,
  redirect: string,
  pending: PendingRequest,
  address: string,
  method: "passkey" | "password",
  device: string | undefined,
  form: Record<string, string>,
): Promise<Response> {
  const { opts, now, proof } = deps;
  await keepToolChoices(deps, client, form);
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
  await deps.clients.approved(client.clientId);
  deps.emit({
    type: "consent_approved",
    clientId: client.clientId,
    grantId: record.grantId,
    clientAddress: address,
    method,
  });
  // The consent cookie is left alone: another consent page in this browser may still
  // need it. The device cookie marks this browser as the owner's from now on.
  return decisionAnswer(redirect, { code, state: pending.state }, opts.issuer, true, {
    "set-cookie": await proof.deviceCookie(device),
  });
}

/** Builds the authorization endpoint. */
export function createAuthorizeEndpoint(deps: AuthorizeEndpointDeps): AuthorizeEndpoint {
  const { opts, clients, owner, proof, signer, now } = deps;
  const secureCookie = opts.baseUrl.startsWith("https:");
  // The __Host- prefix pins the cookie to this exact origin, but needs https.
  const cookieName = secureCookie ? "__Host-pmcp-consent" : "pmcp-consent";
  const find = (clientId: string | undefined, redirectUri: string | undefined, address?: string) =>
    clientAndRedirect(clients, opts, clientId, redirectUri, address);
  const view = (
    client: ClientRecord,
    source: DocumentSource | undefined,
    redirect: string,
    scope: string,
  ) => consentView(client, source, redirect, scope, opts.name, now());

  /**
   * The consent page carrying `pending`, signed. When a passkey is enrolled the request
   * gets a fresh challenge (W3C WebAuthn 13.4.3), bound to this request by the signature;
   * each rendering has its own, so a page shown again after a refusal can try again.
   */
  async function render(
    pending: PendingRequest,
    shown: Omit<ConsentView, "request">,
    status: number,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const challenge = randomToken();
    const passkey = await deps.passkeys.assertionOptions(challenge);
    const { passkeyChallenge: _, ...plain } = pending;
    const request = await signer.sign(passkey ? { ...plain, passkeyChallenge: challenge } : plain);
    // Without a passkey the password form stays, even with no password kept (the post says why).
    const password = !passkey || (await owner.configured());
    const tools = (await deps.permissions?.forClient(pending.clientId))?.tools;
    return consentPage(
      { ...shown, request, passkey, password, ...(tools ? { tools } : {}) },
      status,
      headers,
    );
  }

  async function get(request: Request, address = "unknown"): Promise<Response> {
    let params: Record<string, string>;
    try {
      params = singleValues(new URL(request.url).searchParams);
    } catch {
      return errorPage(400, "Invalid request", "A parameter was sent more than once.");
    }
    const found = await find(params.client_id, params.redirect_uri, address);
    if (found.page) return found.page;
    const { client, source, redirect } = found;
    const state = params.state;
    const check = checkAuthorizeParams(params, opts);
    if (!check.ok) {
      const fail = { error: check.error, error_description: check.description, state };
      return redirectWith(redirect, fail, opts.issuer);
    }
    // Reuse this browser's cookie when it has one, so other open consent pages stay valid.
    const existing = readCookie(request, cookieName);
    const nonce = isRandomToken(existing) ? existing : randomToken();
    const pending: PendingRequest = {
      clientId: client.clientId,
      redirectUri: redirect,
      redirectUriSent: params.redirect_uri !== undefined,
      codeChallenge: check.codeChallenge,
      scope: check.scope,
      resource: check.resource,
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
    const cookie = `${cookieName}=${nonce}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${
      REQUEST_TTL_MS / 1000
    }${secureCookie ? "; Secure" : ""}`;
    return await render(pending, view(client, source, redirect, check.scope), 200, {
      "set-cookie": cookie,
    });
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

  /**
   * The checks before the decision is read: a post from this server's own page, its
   * form signed by this server and unexpired, and this browser's consent cookie.
   */
  async function signedForm(
    request: Request,
    address: string,
  ): Promise<Response | { form: Record<string, string>; pending: PendingRequest }> {
    // A form posted from another site is refused before anything else is read.
    if (!isSameOriginPost(request, opts.origin)) {
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
    return { form, pending };
  }

  async function post(request: Request, address: string): Promise<Response> {
    const signed = await signedForm(request, address);
    if (signed instanceof Response) return signed;
    const { form, pending } = signed;
    const found = await find(pending.clientId, pending.redirectUri, address);
    if (found.page) return found.page;
    const { client, source, redirect } = found;
    if (form.decision === "deny") {
      deps.emit({ type: "consent_denied", clientId: client.clientId, clientAddress: address });
      const denied = {
        error: "access_denied",
        error_description: "the owner denied access",
        state: pending.state,
      };
      return decisionAnswer(redirect, denied, opts.issuer, false);
    }
    if (form.decision !== "approve" && form.decision !== "passkey") {
      return errorPage(400, "Invalid request", "Choose Approve or Deny.");
    }
    const method = form.decision === "passkey" ? "passkey" : "password";
    const device = await proof.deviceOf(request);
    const proved = await proof.prove(
      { address, device, page: "consent" },
      credentialOf(method, form, {
        challenge: pending.passkeyChallenge,
        expiresAt: pending.expiresAt,
      }),
    );
    if (proved.ok) {
      return await approve(deps, client, redirect, pending, address, method, device, form);
    }
    const refusal = proofRefusal(proved, "approve");
    if (refusal instanceof Response) return refusal;
    if (refusal.status === 429) refused("too many wrong passwords", address, client.clientId);
    const shown = { ...view(client, source, redirect, pending.scope), error: refusal.error };
    return await render(pending, shown, refusal.status, refusal.headers);
  }

  return { get, post };
}
