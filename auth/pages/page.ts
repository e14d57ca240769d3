/**
 * What every HTML page of this server shares: escaping, the layout and its CSS, the
 * security headers (a CSP that allows no script but our own passkey script under a
 * nonce, no framing), and the check that a
 * form post comes from this server's own page. The consent page and the owner page
 * are built on it.
 *
 * @module
 */
import { readForm } from "../../core/http.ts";
import { type Refusal, refusalHeaders, refusalOf } from "../../core/errors.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "../../core/config.ts";
import { randomToken } from "../../core/crypto.ts";
import type { Passkeys } from "../owner/passkeys.ts";
import type { ProofOutcome } from "../owner/proof.ts";
import type { Signer } from "../owner/signer.ts";

/** What every page endpoint (consent, owner, passkey enrolment) is built from. */
export interface PageEndpointDeps {
  opts: ResolvedOptions;
  /** The owner's passkeys (a passkey button, a list, an enrolment). */
  passkeys: Passkeys;
  /** Signs the tokens the page's forms carry. */
  signer: Signer;
  now: () => number;
  emit: (event: PersonalMcpEvent) => void;
}

/**
 * What a page that asks the owner to prove who they are (the consent page, the owner
 * sign-in) offers: the passkey button where a passkey is enrolled, the password field
 * where a password is kept, and the last refusal.
 */
export interface OwnerProofView {
  /**
   * When a passkey is enrolled: the `navigator.credentials.get()` options (JSON) for the
   * challenge the page's signed form keeps. The page then offers its passkey button.
   */
  passkey?: string;
  /** Whether an owner password is kept (its field is shown). @default true */
  password?: boolean;
  /** Why the last proof was refused, shown above the form. */
  error?: string;
}

/** A page with a form: GET renders it, POST acts on it. `address` is the caller's. */
export interface FormPageEndpoint {
  get(request: Request, address: string): Promise<Response>;
  post(request: Request, address: string): Promise<Response>;
}

/**
 * Under every owner-password field: where the password came from and how to reset it,
 * which only someone at the server's machine can do (nothing here helps a stranger).
 */
const PASSWORD_NOTE =
  `<p class="note" id="password-note">The owner password was printed when this server first started, unless it was set with PERSONAL_MCP_PASSWORD or --password. Forgotten? On the server's machine, the owner command <code>password</code> sets a new one (or restart the server with <code>--reset-password</code>).</p>`;

/**
 * Escapes text for HTML element content and double-quoted attributes.
 *
 * @example Markup from a client is shown, not run
 * ```ts
 * import { escapeHtml } from "./page.ts";
 * if (escapeHtml('<b title="x">') !== "&#60;b title=&#34;x&#34;&#62;") throw new Error("not escaped");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0;display:grid;place-items:center;min-height:100vh;background:Canvas;color:CanvasText}
main{max-width:28rem;width:calc(100% - 2rem);padding:1.5rem;border:1px solid color-mix(in srgb,CanvasText 20%,transparent);border-radius:12px;box-sizing:border-box}
body.wide{place-items:start center}
body.wide main{max-width:60rem;margin:2rem 0;border:0;padding:0 1rem}
h1{font-size:1.25rem;margin:0 0 1rem}
h2{font-size:1.05rem;margin:2rem 0 .75rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem .8rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=password],input[type=text]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border-radius:6px;border:1px solid GrayText}
.buttons{display:flex;gap:.75rem;margin-top:1rem}
button{flex:1;padding:.7rem;font-size:1rem;border-radius:6px;border:1px solid GrayText;cursor:pointer;background:ButtonFace;color:ButtonText}
button.approve{background:#1f6feb;color:#fff;border-color:#1f6feb}
button.danger{background:#d1242f;color:#fff;border-color:#d1242f}
button.quiet{flex:0 0 auto;padding:.35rem .8rem;font-size:.9rem}
.error{color:#d1242f;font-weight:600}
.done{color:#1a7f37;font-weight:600}
.note{font-size:.85rem;opacity:.8}
.or{margin:1.25rem 0 .25rem;font-size:.85rem;opacity:.8}
.given{font-size:.75rem;font-weight:400;opacity:.75;font-style:italic}
.card{border:1px solid color-mix(in srgb,CanvasText 20%,transparent);border-radius:12px;padding:1rem 1.25rem;margin:0 0 1rem}
.card h3{margin:0 0 .75rem;font-size:1.05rem}
.card dl{grid-template-columns:9rem 1fr;margin:0}
.card form{display:inline}
.actions{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:.9rem}
.live{color:#1a7f37;font-weight:600}.dead{opacity:.7}
.bar{display:flex;justify-content:space-between;align-items:center;gap:1rem;flex-wrap:wrap}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid color-mix(in srgb,CanvasText 12%,transparent);vertical-align:top;overflow-wrap:break-word}
td.nowrap,th.nowrap,td button{white-space:nowrap}
th{font-weight:600}
td.ok{color:#1a7f37}td.bad{color:#d1242f}
`;

/**
 * Security headers for every HTML page; `formTargets` extends `form-action`. `script`:
 * the page carries one inline script of ours (the passkey button), allowed by its nonce
 * and nothing else.
 */
export function pageHeaders(
  nonce: string,
  formTargets: string[] = [],
  script = false,
): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    // No script but, on pages offering a passkey, our own inline one under its nonce
    // (CSP3 script-src 'nonce-...'). Forms post only to us: Chrome applies form-action to every
    // redirect that follows a post, which would stop a client callback that redirects
    // again (claude.ai -> claude://), so a decision for an http(s) redirect is answered
    // with a page that navigates on (consent_page.ts continuePage). Only a custom-scheme
    // redirect, which leaves the browser, is a 303 and named in `formTargets`.
    "content-security-policy": [
      "default-src 'none'",
      ...(script ? [`script-src 'nonce-${nonce}'`] : []),
      `style-src 'nonce-${nonce}'`,
      `form-action 'self' ${formTargets.join(" ")}`.trim(),
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join("; "),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    // same-origin, not no-referrer: under no-referrer browsers post the form with
    // "Origin: null", which the decision endpoint must refuse. The redirect to the
    // client is cross-origin, so it still carries no Referer.
    "referrer-policy": "same-origin",
  };
}

/**
 * The document around a page's body; `wide` for pages with tables (the owner page);
 * `script`, when given, is our own inline script, run under the page's nonce.
 */
export function layout(
  title: string,
  nonce: string,
  body: string,
  wide = false,
  script?: string,
): string {
  // "</" cannot occur in our script, so it cannot end its element early.
  const tail = script === undefined ? "" : `\n<script nonce="${nonce}">${script}</script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style></head>
<body${wide ? ' class="wide"' : ""}><main>${body}</main>${tail}</body></html>`;
}

/** An HTML page under the shared headers; `formTargets` extends `form-action`. */
export function htmlPage(
  title: string,
  body: string,
  options: {
    status?: number;
    headers?: Record<string, string>;
    formTargets?: string[];
    wide?: boolean;
    /** Our own inline script (the passkey button); the CSP allows it by nonce. */
    script?: string;
  } = {},
): Response {
  const nonce = randomToken(16);
  if (options.script?.includes("</")) throw new TypeError("an inline script may not contain </");
  return new Response(layout(title, nonce, body, options.wide, options.script), {
    status: options.status ?? 200,
    headers: {
      ...pageHeaders(nonce, options.formTargets, options.script !== undefined),
      ...options.headers,
    },
  });
}

/**
 * A readable error page (used until client and redirect are known good, RFC 6749 4.1.2.1).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 | RFC 6749 4.1.2.1}
 */
export function errorPage(
  status: number,
  title: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return htmlPage(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`, {
    status,
    headers,
  });
}

/**
 * A refusal as a readable page, for a person at a browser (RFC 6749 4.1.2.1: until the
 * client and its redirect are known good, /authorize answers errors so, never by a
 * redirect).
 */
export function refusalPage(refusal: Refusal): Response {
  const headers = refusalHeaders(refusal);
  switch (refusal.kind) {
    case "too_large":
      return errorPage(413, "Request too large", "The form was larger than this server accepts.");
    case "too_slow":
      return errorPage(
        408,
        "Too slow",
        "The form did not arrive in time. Go back and try again.",
        headers,
      );
    case "unavailable":
      return errorPage(
        503,
        "Try again in a moment",
        "This server could not save the change, so nothing changed. Try again.",
        headers,
      );
    case "internal":
      return errorPage(
        500,
        "Something went wrong",
        "This server could not answer. Try again later.",
      );
    case "refused": {
      const title = refusal.status === 503 ? "Try again in a few minutes" : "Invalid request";
      return errorPage(refusal.status, title, `${refusal.description}.`, headers);
    }
  }
}

/**
 * Reads a page's form: a body too large or unreadable becomes its error page (413,
 * 400). A body that stalls is thrown on (`BodyTimeoutError`) for the router,
 * which answers 408 and closes the connection.
 */
export async function readPageForm(
  request: Request,
  maxBytes: number,
): Promise<Record<string, string> | Response> {
  try {
    return await readForm(request, maxBytes);
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal.kind === "too_slow") throw error;
    // Whatever else the reader throws (a bad encoding, a client gone mid-body) is the
    // sender's: a page that says the form could not be read.
    if (refusal.kind === "too_large") return refusalPage(refusal);
    return errorPage(400, "Invalid request", "The form could not be read.");
  }
}

/**
 * Whether a form post comes from this server's own page: a foreign `Origin`, or Fetch
 * Metadata saying cross-site, is refused. "Origin: null" (a browser whose referrer
 * settings hide the origin) is accepted only when Fetch Metadata vouches same-origin.
 *
 * @example A post from another site is refused
 * ```ts
 * import { isSameOriginPost } from "./page.ts";
 * const post = (headers: Record<string, string>) => new Request("https://me.example/owner", { method: "POST", headers });
 * if (!isSameOriginPost(post({ origin: "https://me.example" }), "https://me.example")) throw new Error("own page refused");
 * if (isSameOriginPost(post({ origin: "https://evil.example" }), "https://me.example")) throw new Error("forgery accepted");
 * ```
 */
export function isSameOriginPost(request: Request, origin: string): boolean {
  const sent = request.headers.get("origin");
  const site = request.headers.get("sec-fetch-site");
  const sameOrigin = sent === null || sent === origin ||
    (sent === "null" && site === "same-origin");
  return sameOrigin && (site === null || site === "same-origin" || site === "none");
}

/**
 * How a refused proof reads on the page that asked for it: the page itself when the
 * server has no credential at all (503); otherwise the status, the words and the
 * headers to show the form again with. `verb` is what the passkey does on that page.
 */
export function proofRefusal(
  outcome: Exclude<ProofOutcome, { ok: true }>,
  verb: "approve" | "sign in",
): Response | { status: 401 | 429; error: string; headers: Record<string, string> } {
  switch (outcome.status) {
    case 503:
      return errorPage(
        503,
        "No owner password",
        "This server has no owner password yet. Set one from the command line (see the README).",
      );
    case 429:
      return {
        status: 429,
        error: `Too many wrong passwords. Try again in ${outcome.retryAfterSeconds} seconds.`,
        headers: { "retry-after": String(outcome.retryAfterSeconds) },
      };
    case 401:
      return {
        status: 401,
        error: {
          wrong_password: "That is not the owner password.",
          no_password: `This server takes no password: ${verb} with a passkey.`,
          passkey_refused: "That passkey was not accepted.",
        }[outcome.kind],
        headers: {},
      };
  }
}

/**
 * The owner password field (with the hidden user name password managers fill in), and,
 * after a passkey's form, the words that say it is the other way; under it, where the
 * password came from and how to reset it.
 */
export function passwordField(afterPasskey: boolean, required = false): string {
  return `${afterPasskey ? '<p class="or">Or with the owner password:</p>\n' : ""}` +
    `<input type="text" name="username" value="owner" autocomplete="username" hidden>
<label for="password">Owner password</label>
<input type="password" id="password" name="password" autocomplete="current-password" autofocus aria-describedby="password-note"${
      required ? " required" : ""
    }>
${PASSWORD_NOTE}`;
}
