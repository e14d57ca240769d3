/**
 * The only HTML this server renders: the consent page and error pages. Plain forms
 * that work without JavaScript, under a CSP that allows no script at all.
 *
 * @module
 */
import { randomToken } from "./crypto.ts";

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0;display:grid;place-items:center;min-height:100vh;background:Canvas;color:CanvasText}
main{max-width:28rem;width:calc(100% - 2rem);padding:1.5rem;border:1px solid color-mix(in srgb,CanvasText 20%,transparent);border-radius:12px}
h1{font-size:1.25rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem .8rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border-radius:6px;border:1px solid GrayText}
.buttons{display:flex;gap:.75rem;margin-top:1rem}
button{flex:1;padding:.7rem;font-size:1rem;border-radius:6px;border:1px solid GrayText;cursor:pointer}
button.approve{background:#1f6feb;color:#fff;border-color:#1f6feb}
.error{color:#d1242f;font-weight:600}
.note{font-size:.85rem;opacity:.8}
`;

/** Security headers for every HTML page; `formTargets` extends `form-action`. */
function pageHeaders(nonce: string, formTargets: string[] = []): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    // No script at all. The form posts only to us: Chrome applies form-action to every
    // redirect that follows a post, which would stop a client callback that redirects
    // again (claude.ai -> claude://), so a decision for an http(s) redirect is answered
    // with a page that navigates on (continuePage). Only a custom-scheme redirect, which
    // leaves the browser, is a 303 and named here.
    "content-security-policy": [
      "default-src 'none'",
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

function layout(title: string, nonce: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

/** A readable error page (used until client and redirect are known good, RFC 6749 4.1.2.1). */
export function errorPage(
  status: number,
  title: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const nonce = randomToken(16);
  const body = `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`;
  return new Response(layout(title, nonce, body), {
    status,
    headers: { ...pageHeaders(nonce), ...headers },
  });
}

const SCOPE_WORDS: Record<string, string> = {
  mcp: "use your tools",
  offline_access: "stay connected without asking again",
};

/** The scopes as a person reads them, each with its name (escaped). */
function describeScope(scope: string): string {
  return scope.split(" ").filter(Boolean).map((s) =>
    SCOPE_WORDS[s] ? `${escapeHtml(SCOPE_WORDS[s])} (${escapeHtml(s)})` : escapeHtml(s)
  ).join("; ");
}

/**
 * The answer to the owner's decision for an http(s) redirect URI: a page that goes on
 * to `target` by `meta refresh`, with a visible link as well. A navigation of its own,
 * not a redirect of the form post, so the client's callback may redirect again (to
 * another origin or an app's scheme) under any CSP of ours. `target` carries the code:
 * the page is no-store and sends no Referer.
 */
export function continuePage(target: string, heading: string, destination: string): Response {
  const nonce = randomToken(16);
  const e = escapeHtml;
  const body = `<h1>${e(heading)}</h1>
<p>Returning you to ${e(destination)}…</p>
<p><a id="continue" href="${e(target)}">Continue</a></p>`;
  const html = layout(heading, nonce, body).replace(
    '<meta name="referrer" content="same-origin">',
    // HTML 4.2.5.3: a refresh URL runs to the end of the attribute; the URL is escaped.
    `<meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${
      e(target)
    }">`,
  );
  return new Response(html, {
    status: 200,
    headers: { ...pageHeaders(nonce), "referrer-policy": "no-referrer" },
  });
}

/** What the consent page shows and carries. */
export interface ConsentView {
  serverName: string;
  clientName: string;
  clientId: string;
  /** For Client ID Metadata Document clients: the host that serves the document. */
  clientIdHost?: string;
  /**
   * When a copy stood in for the document: the sentence saying so (e.g. "claude.ai
   * could not be reached; using the built-in copy.").
   */
  documentNote?: string;
  /** Where the code goes, as a person should read it. */
  redirectDisplay: string;
  /** The scheme a custom-scheme redirect lands on, for CSP form-action (http(s): none). */
  redirectTarget?: string;
  scope: string;
  /** The signed request, echoed back in a hidden field. */
  request: string;
  error?: string;
}

/** The consent page: who asks, where the code goes, the password, Approve and Deny. */
export function consentPage(
  view: ConsentView,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const nonce = randomToken(16);
  const e = escapeHtml;
  const body = `
<h1>Allow ${e(view.clientName)}${view.clientIdHost ? ` from ${e(view.clientIdHost)}` : ""} to use ${
    e(view.serverName)
  }?</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
<dl>
${view.clientIdHost ? `<dt>Published by</dt><dd>${e(view.clientIdHost)}</dd>` : ""}
<dt>App</dt><dd>${e(view.clientName)}</dd>
<dt>Sends you to</dt><dd>${e(view.redirectDisplay)}</dd>
<dt>Access</dt><dd>${describeScope(view.scope)}</dd>
</dl>
${view.documentNote ? `<p class="note" role="status">${e(view.documentNote)}</p>` : ""}
<form method="post" action="/authorize">
<input type="hidden" name="request" value="${e(view.request)}">
<input type="text" name="username" value="owner" autocomplete="username" hidden>
<label for="password">Owner password</label>
<input type="password" id="password" name="password" autocomplete="current-password" autofocus>
<!-- Approve comes first so that Enter in the password field approves. -->
<div class="buttons">
<button type="submit" name="decision" value="approve" class="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
<p class="note">Only approve if you started connecting this app yourself. Client ID: ${
    e(view.clientId)
  }</p>`;
  return new Response(layout(`Allow ${view.clientName}?`, nonce, body), {
    status,
    headers: {
      ...pageHeaders(nonce, view.redirectTarget ? [view.redirectTarget] : []),
      ...headers,
    },
  });
}
