/**
 * The consent page. A plain form that works without JavaScript, under the CSP and
 * layout every page shares (`page.ts`).
 *
 * @module
 */
import { escapeHtml, htmlPage } from "./page.ts";

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

/** What the consent page shows and carries. */
export interface ConsentView {
  serverName: string;
  clientName: string;
  clientId: string;
  /** For Client ID Metadata Document clients: the host that serves the document. */
  clientIdHost?: string;
  /** Where the code goes, as a person should read it. */
  redirectDisplay: string;
  /** The origin (or scheme) the form's redirect lands on, for CSP form-action. */
  redirectTarget: string;
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
<h1>Allow ${e(view.clientName)} to use ${e(view.serverName)}?</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
<dl>
<dt>App</dt><dd>${e(view.clientName)}</dd>
${view.clientIdHost ? `<dt>Published by</dt><dd>${e(view.clientIdHost)}</dd>` : ""}
<dt>Sends you to</dt><dd>${e(view.redirectDisplay)}</dd>
<dt>Access</dt><dd>${describeScope(view.scope)}</dd>
</dl>
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
    formTargets: [view.redirectTarget],
  });
}
