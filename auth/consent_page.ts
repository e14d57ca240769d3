/**
 * The consent page. A plain form that works without JavaScript, under the CSP and
 * layout every page shares (`page.ts`).
 *
 * @module
 */
import { randomToken } from "./crypto.ts";
import { escapeHtml, htmlPage, layout, pageHeaders } from "./page.ts";

export { errorPage, escapeHtml } from "./page.ts";

const SCOPE_WORDS: Record<string, string> = {
  mcp: "use your tools",
  offline_access: "stay connected without asking again",
};

/** The scopes as a person reads them, each with its name (escaped). */
export function describeScope(scope: string): string {
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
  return htmlPage(`Allow ${view.clientName}?`, body, {
    status,
    headers,
    formTargets: view.redirectTarget ? [view.redirectTarget] : [],
  });
}
