/**
 * The owner page at `/owner`: sign in with the owner password (under the consent
 * page's throttle), see every connected app and the recent activity, disconnect one
 * app or all, forget a registered client. GET renders; POST acts and answers 303
 * back to the page (post/redirect/get), so a reload never repeats an action.
 *
 * Protections, as on the consent page: no script and no framing (shared headers),
 * every form signed and bound to this browser's `HttpOnly; SameSite=Strict` cookie,
 * and a post whose `Origin` or `Sec-Fetch-Site` says another site is refused before
 * the body is read. The signed-in session is a random cookie (scoped to `/owner`)
 * whose hash is stored with an expiry; the raw value is never stored.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { hashSecret, isRandomToken, randomToken, secretsEqual } from "../../core/crypto.ts";
import type { OwnerCheck } from "../owner/password.ts";
import type { OwnerControls } from "../owner/controls.ts";
import { credentialOf, type OwnerProof } from "../owner/proof.ts";
import { readCookie } from "../../core/http.ts";
import { ownerPage, signInPage } from "../pages/owner.ts";
import {
  errorPage,
  type FormPageEndpoint,
  isSameOriginPost,
  type PageEndpointDeps,
  proofRefusal,
  readPageForm,
} from "../pages/page.ts";
import type { OwnerSessionRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";
import type { AppToolPermissions, PermissionControls } from "../grants/app_permissions.ts";
import { isToolPolicy, type ToolPolicy } from "../grants/permissions.ts";
import type { AuditTrail } from "../owner/audit.ts";
import type { HeldCalls } from "../owner/confirmations.ts";
import { PATHS } from "../../core/paths.ts";

/** How long an owner page session lasts after sign-in, in ms. */
export const OWNER_SESSION_TTL_MS = 30 * 60 * 1000;
/** How long a sign-in form stays valid, in ms. */
const SIGN_IN_TTL_MS = 10 * 60 * 1000;
/** How many activity entries the page shows. */
const EVENTS_SHOWN = 200;
/** How many tool calls the page reads (then shown per app). */
const AUDIT_SHOWN = 500;

/** A form token: signed, for one purpose, bound to the hash of the browser's cookie. */
interface FormToken {
  purpose: "owner-sign-in" | "owner";
  cookieHash: string;
  expiresAt: number;
  /** On a sign-in form, when a passkey is enrolled: the challenge its button signs. */
  challenge?: string;
}

/** What the owner page uses. */
export interface OwnerEndpointDeps extends PageEndpointDeps {
  store: Store;
  /** The owner password check, shared with the consent page. */
  owner: OwnerCheck;
  controls: OwnerControls;
  /** How the owner proves who they are: the consent page's service and throttle. */
  proof: OwnerProof;
  /** Each app's tool permissions. */
  permissions: PermissionControls;
  /** Calls waiting for the owner. */
  held: HeldCalls;
  /** The tool calls made. */
  audit: AuditTrail;
}

/** The owner page: GET renders, POST acts. */
export type OwnerEndpoint = FormPageEndpoint;

const NOTICES: Record<string, string> = {
  disconnected: "Disconnected. Its tokens no longer work.",
  all: "Every app was disconnected.",
  forgotten: "The app was forgotten, and its access with it.",
  unknown: "That app was already gone.",
  "signed-out": "Signed out.",
  "passkey-removed": "The passkey was removed.",
  permissions: "The app's tool permissions were saved. Its open sessions were told.",
  expired: "Your owner session ended. Sign in again.",
};

const ERRORS: Record<string, string> = {
  "confirm-all":
    "Nothing was disconnected: tick the box beside Disconnect everything to confirm it.",
  "permissions-refused": "Those permissions could not be saved: a tool is no longer served.",
  "passkey-last":
    "That is your only passkey and no password is kept: nobody could approve any more. Add another passkey (passkey add) or set a password first.",
};

/**
 * Does what a signed-in owner's form asks of the controls; the word the page then
 * shows (a key of NOTICES or ERRORS), or undefined for an action it does not know.
 */
async function control(
  controls: OwnerControls,
  form: Record<string, string>,
  address: string,
  permissions: PermissionControls,
): Promise<string | undefined> {
  switch (form.action) {
    case "set-permissions": {
      const set: Record<string, ToolPolicy> = {};
      for (const [field, value] of Object.entries(form)) {
        if (field.startsWith("tool.") && isToolPolicy(value)) set[field.slice(5)] = value;
      }
      if (!form.client) return "unknown";
      return (await permissions.change(form.client, set)).ok
        ? "permissions"
        : "permissions-refused";
    }
    case "disconnect":
      return form.grant && (await controls.revokeGrant(form.grant, address))
        ? "disconnected"
        : "unknown";
    case "disconnect-all":
      // Every app at once cannot be undone: only with the form's confirmation ticked.
      if (form.confirm !== "yes") return "confirm-all";
      await controls.revokeAll(address);
      return "all";
    case "forget":
      return form.client && (await controls.forgetClient(form.client, address))
        ? "forgotten"
        : "unknown";
    case "remove-passkey": {
      const result = form.passkey ? await controls.removePasskey(form.passkey, address) : "unknown";
      return result === "removed"
        ? "passkey-removed"
        : result === "last"
        ? "passkey-last"
        : "unknown";
    }
    default:
      return undefined;
  }
}

/** The words of the last action's outcome (`?done=`), as the page shows them. */
function outcomeOf(request: Request): { notice?: string; error?: string } {
  const done = new URL(request.url).searchParams.get("done") ?? "";
  return {
    notice: Object.hasOwn(NOTICES, done) ? NOTICES[done] : undefined,
    error: Object.hasOwn(ERRORS, done) ? ERRORS[done] : undefined,
  };
}

/** Each connected app's tool permissions, by client id. */
async function toolPermissionsOf(
  permissions: PermissionControls,
  grants: { clientId: string; clientName?: string }[],
): Promise<Map<string, AppToolPermissions>> {
  const byClient = new Map<string, AppToolPermissions>();
  for (const g of grants) {
    if (!byClient.has(g.clientId)) {
      byClient.set(g.clientId, await permissions.forClient(g.clientId, g.clientName));
    }
  }
  return byClient;
}

/** Builds the owner page endpoint. */
export function createOwnerEndpoint(deps: OwnerEndpointDeps): OwnerEndpoint {
  const { opts, store, owner, controls, proof, signer, passkeys, now } = deps;
  const secure = opts.baseUrl.startsWith("https:");
  // __Secure- (not __Host-, which needs Path=/): the cookie stays on /owner.
  const cookieName = secure ? "__Secure-pmcp-owner" : "pmcp-owner";

  function cookieHeader(value: string, maxAgeMs: number): string {
    return `${cookieName}=${value}; Path=${PATHS.owner}; HttpOnly; SameSite=Strict; Max-Age=${
      Math.floor(maxAgeMs / 1000)
    }${secure ? "; Secure" : ""}`;
  }

  function browserCookie(request: Request): string | undefined {
    const value = readCookie(request, cookieName);
    return isRandomToken(value) ? value : undefined;
  }

  async function formToken(
    purpose: FormToken["purpose"],
    cookie: string,
    ttlMs: number,
    challenge?: string,
  ) {
    return await signer.sign(
      {
        purpose,
        cookieHash: await hashSecret(cookie),
        expiresAt: now() + ttlMs,
        ...(challenge ? { challenge } : {}),
      } satisfies FormToken,
    );
  }

  async function liveSession(cookie: string | undefined): Promise<OwnerSessionRecord | undefined> {
    if (!cookie) return undefined;
    const session = await store.get<OwnerSessionRecord>(
      keys.ownerSession(await hashSecret(cookie)),
    );
    return session && session.expiresAt > now() ? session : undefined;
  }

  /** The sign-in page, with a cookie for this browser (kept when it has one). */
  async function signIn(
    request: Request,
    status: number,
    message: { error?: string; notice?: string } = {},
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const cookie = browserCookie(request) ?? randomToken();
    // A fresh challenge for each sign-in form (W3C WebAuthn 13.4.3), signed into its token.
    const challenge = randomToken();
    const passkey = await passkeys.assertionOptions(challenge);
    return signInPage(
      {
        serverName: opts.name,
        csrf: await formToken(
          "owner-sign-in",
          cookie,
          SIGN_IN_TTL_MS,
          passkey ? challenge : undefined,
        ),
        passkey,
        password: !passkey || (await owner.configured()),
        ...message,
      },
      status,
      { "set-cookie": cookieHeader(cookie, SIGN_IN_TTL_MS), ...headers },
    );
  }

  function backToPage(done: string, headers: Record<string, string> = {}): Response {
    return new Response(null, {
      status: 303,
      headers: {
        location: `${opts.baseUrl}${PATHS.owner}${done ? `?done=${done}` : ""}`,
        "cache-control": "no-store",
        ...headers,
      },
    });
  }

  function refused(reason: string, address: string): void {
    deps.emit({ type: "request_refused", path: PATHS.owner, reason, clientAddress: address });
  }

  async function get(request: Request, _address: string): Promise<Response> {
    const { notice, error } = outcomeOf(request);
    const cookie = browserCookie(request);
    const session = await liveSession(cookie);
    if (!cookie || !session) return await signIn(request, 200, { notice });
    const [grants, clients, events, enrolled, passwordKept, waiting, audit] = await Promise.all([
      controls.listGrants(),
      controls.listClients(),
      controls.recentEvents(EVENTS_SHOWN),
      controls.listPasskeys(),
      owner.configured(),
      deps.held.pending(),
      deps.audit.query({ limit: AUDIT_SHOWN }),
    ]);
    return ownerPage({
      serverName: opts.name,
      csrf: await formToken("owner", cookie, session.expiresAt - now()),
      grants,
      idleClients: clients.filter((c) => c.grants === 0),
      events,
      passkeys: enrolled,
      passwordKept,
      servers: controls.listServers(),
      now: now(),
      notice,
      error,
      waiting,
      toolPermissions: await toolPermissionsOf(deps.permissions, grants),
      audit,
    });
  }

  async function signInPost(
    request: Request,
    address: string,
    form: Record<string, string>,
    token: FormToken,
  ): Promise<Response> {
    const method = form.method === "passkey" ? "passkey" : "password";
    // A passkey answers the challenge signed into this form's token, spent by the check.
    const proved = await proof.prove(
      { address, device: await proof.deviceOf(request), page: "owner" },
      credentialOf(method, form, token),
    );
    if (!proved.ok) {
      const refusal = proofRefusal(proved, "sign in");
      if (refusal instanceof Response) return refusal;
      if (refusal.status === 429) refused("too many wrong passwords", address);
      return await signIn(request, refusal.status, { error: refusal.error }, refusal.headers);
    }
    // A new cookie at sign-in: a value planted before it is never a session.
    const cookie = randomToken();
    const t = now();
    const session: OwnerSessionRecord = {
      createdAt: t,
      expiresAt: t + OWNER_SESSION_TTL_MS,
      address,
    };
    await store.write([{
      op: "set",
      key: keys.ownerSession(await hashSecret(cookie)),
      value: session,
      expiresAt: session.expiresAt,
    }]);
    deps.emit({ type: "owner_signed_in", clientAddress: address, method });
    return backToPage("", { "set-cookie": cookieHeader(cookie, OWNER_SESSION_TTL_MS) });
  }

  async function post(request: Request, address: string): Promise<Response> {
    // A form posted from another site is refused before anything else is read.
    if (!isSameOriginPost(request, opts.origin)) {
      refused("cross-site post to the owner page", address);
      return errorPage(403, "Request refused", "This action did not come from this server's page.");
    }
    const form = await readPageForm(request, opts.maxBodyBytes);
    if (form instanceof Response) return form;
    const token = await signer.verify<FormToken>(form.csrf);
    const cookie = browserCookie(request);
    const bound = token !== undefined && cookie !== undefined && token.expiresAt > now() &&
      typeof token.cookieHash === "string" &&
      (await secretsEqual(token.cookieHash, await hashSecret(cookie)));
    if (!bound) {
      refused("owner form expired, forged or without this browser's cookie", address);
      return await signIn(request, 403, {
        error: "This form has expired or did not come from this browser. Sign in again.",
      });
    }
    if (form.action === "sign-in" && token.purpose === "owner-sign-in") {
      return await signInPost(request, address, form, token);
    }
    if (token.purpose !== "owner") {
      refused("owner action without a session", address);
      return await signIn(request, 403, { error: "Sign in first." });
    }
    const session = await liveSession(cookie);
    if (!session) return backToPage("expired");
    if (form.action === "sign-out") {
      await store.write([{ op: "delete", key: keys.ownerSession(await hashSecret(cookie!)) }]);
      return backToPage("signed-out", { "set-cookie": cookieHeader("", 0) });
    }
    const done = await control(controls, form, address, deps.permissions);
    return done === undefined
      ? errorPage(400, "Invalid request", "Unknown action.")
      : backToPage(done);
  }

  return { get, post };
}
