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

// Characters that show nothing or change how the text around them is shown: controls,
// format characters (bidi overrides and isolates, zero widths, soft hyphen, tags), line
// and paragraph separators, and the blank "letters" (Hangul fillers, Braille blank).
const INVISIBLE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u034f\u115f\u1160\u3164\uffa0\u2800\ufe00-\ufe0f\u{e0100}-\u{e01ef}]/gu;
const VISIBLE = /[\p{L}\p{N}\p{P}\p{S}]/u;

/** What the consent page calls an app that gave no name it can show. */
export const UNNAMED_APP = "An unnamed app";

/**
 * A client-chosen name as the consent page shows it: invisible and direction-changing
 * characters removed, runs of spaces collapsed, and {@linkcode UNNAMED_APP} when
 * nothing visible is left (a name of zero-width spaces must not read as blank).
 *
 * @example
 * ```ts
 * import { displayName } from "./consent_page.ts";
 * if (displayName("\u200b\u200d") !== "An unnamed app") throw new Error("blank name shown");
 * if (displayName("exe.\u202etxt") !== "exe.txt") throw new Error("override kept");
 * ```
 */
export function displayName(name: string | undefined): string {
  const shown = (name ?? "").replace(/[\t\n\v\f\r\u0085\u2028\u2029]/g, " ")
    .replace(INVISIBLE, "").replace(/\s+/gu, " ").trim();
  return VISIBLE.test(shown) ? shown : UNNAMED_APP;
}

/** How long ago, as a person says it: "just now", "5 minutes ago", "3 days ago". */
function ago(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const [n, unit] = minutes < 1
    ? [0, ""]
    : minutes < 60
    ? [minutes, "minute"]
    : minutes < 48 * 60
    ? [Math.floor(minutes / 60), "hour"]
    : [Math.floor(minutes / 1440), "day"];
  return n === 0 ? "just now" : `${n} ${unit}${n === 1 ? "" : "s"} ago`;
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
    // No script at all; the form may post to us and (Chrome checks redirects too)
    // land on the client's redirect URI.
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

/** What the consent page shows and carries. */
export interface ConsentView {
  serverName: string;
  /** As the client gave it; the page shows it through {@linkcode displayName}. */
  clientName: string;
  /** For a registered client: how long ago it registered, in ms. */
  registeredAgoMs?: number;
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
  const nonce = randomToken(16);
  const e = escapeHtml;
  const name = displayName(view.clientName);
  // <bdi>: whatever direction the name's own letters run, the sentence around it keeps its order.
  const shownName = `<bdi>${e(name)}</bdi>`;
  const provenance = view.clientIdHost
    ? `Name given in the app's own document on ${e(view.clientIdHost)}; not verified.`
    : `Name given by the app itself; not verified.${
      view.registeredAgoMs === undefined ? "" : ` Registered ${ago(view.registeredAgoMs)}.`
    }`;
  const body = `
<h1>Allow ${shownName} to use ${e(view.serverName)}?</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
<dl>
<dt>App</dt><dd>${shownName}<br><span class="note">${provenance}</span></dd>
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
  return new Response(layout(`Allow ${name}?`, nonce, body), {
    status,
    headers: { ...pageHeaders(nonce, [view.redirectTarget]), ...headers },
  });
}
