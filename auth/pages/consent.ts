/**
 * The consent page. A plain form that works without JavaScript, under the CSP and
 * layout every page shares (`page.ts`); when a passkey is enrolled, a second form whose
 * button our one inline script drives (`passkey_page.ts`).
 *
 * @module
 */
import { TOOL_POLICIES, type ToolPolicyRow } from "../grants/permissions.ts";
import { randomToken } from "../../core/crypto.ts";
import type { ClientRefusal } from "../clients/registry.ts";
import {
  errorPage,
  escapeHtml,
  htmlPage,
  layout,
  type OwnerProofView,
  pageHeaders,
  passwordField,
} from "./page.ts";
import { PASSKEY_SCRIPT, passkeyForm } from "./passkey.ts";
import { PATHS } from "../../core/paths.ts";

export { errorPage, escapeHtml } from "./page.ts";

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
 * import { displayName } from "./consent.ts";
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
export interface ConsentView extends OwnerProofView {
  serverName: string;
  /** As the client gave it; the page shows it through {@linkcode displayName}. */
  clientName: string;
  /** For a registered client: how long ago it registered, in ms. */
  registeredAgoMs?: number;
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
  /** The signed request, echoed back in a hidden field (it keeps the passkey challenge). */
  request: string;
  /** The tools this app will get, with the policy each will have (changeable here). */
  tools?: ToolPolicyRow[];
}

const KIND_WORDS: Record<ToolPolicyRow["kind"], string> = {
  "read-only": "reads only",
  writes: "writes",
  destructive: "may delete or overwrite",
};

/**
 * The tools the app will get, grouped by server (the owner's own first), each marked
 * read-only, writes or destructive, with its policy as a plain select the password form
 * posts (no script). A passkey approval keeps the policies shown.
 */
function toolsSection(rows: ToolPolicyRow[], passkey: boolean): string {
  if (rows.length === 0) return "";
  const groups = new Map<string, ToolPolicyRow[]>();
  for (const row of rows) {
    const group = row.server === undefined ? "Your tools" : `From ${row.server}`;
    groups.set(group, [...groups.get(group) ?? [], row]);
  }
  const body = [...groups].map(([group, list]) =>
    `<tr><th colspan="3"><bdi>${escapeHtml(group)}</bdi></th></tr>
` +
    list.map((row) =>
      `<tr><td><code><bdi>${escapeHtml(row.name)}</bdi></code></td><td>${
        KIND_WORDS[row.kind]
      }</td><td><select name="tool.${escapeHtml(row.name)}" aria-label="${escapeHtml(row.name)}">${
        TOOL_POLICIES.map((p) =>
          `<option value="${p}"${p === row.policy ? " selected" : ""}>${p}</option>`
        ).join("")
      }</select></td></tr>`
    ).join("\n")
  ).join("\n");
  return `<details class="tools" open><summary>Tools this app will get (${rows.length})</summary>
<table><tbody>
${body}
</tbody></table>
<p class="note">allow: it runs; ask: each call waits for you to confirm; deny: the app
does not see it.${
    passkey
      ? " Changes here apply when you approve with the password; change them later on the owner page."
      : ""
  }</p>
</details>`;
}

/**
 * The consent page: who asks, where the code goes, the password (where one is kept),
 * "Approve with passkey" (where one is enrolled), Approve and Deny.
 */
export function consentPage(
  view: ConsentView,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const e = escapeHtml;
  const name = displayName(view.clientName);
  // <bdi>: whatever direction the name's own letters run, the sentence around it keeps its order.
  const shownName = `<bdi>${e(name)}</bdi>`;
  const provenance = view.clientIdHost
    ? `Name given in the app's own document on ${e(view.clientIdHost)}; not verified.`
    : `Name given by the app itself; not verified.${
      view.registeredAgoMs === undefined ? "" : ` Registered ${ago(view.registeredAgoMs)}.`
    }`;
  const password = view.password ?? true;
  // The passkey has a form of its own, so that Enter in the password field still approves
  // with the password, and the password form works without JavaScript.
  const passkey = view.passkey
    ? passkeyForm({
      action: PATHS.authorize,
      hidden: { request: view.request },
      options: view.passkey,
      label: "Approve with passkey",
      passwordToo: password,
    })
    : "";
  const body = `
<h1>Allow ${shownName}${view.clientIdHost ? ` from ${e(view.clientIdHost)}` : ""} to use ${
    e(view.serverName)
  }?</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
<dl>
${view.clientIdHost ? `<dt>Published by</dt><dd>${e(view.clientIdHost)}</dd>` : ""}
<dt>App</dt><dd>${shownName}<br><span class="note">${provenance}</span></dd>
<dt>Sends you to</dt><dd>${e(view.redirectDisplay)}</dd>
<dt>Access</dt><dd>${describeScope(view.scope)}</dd>
</dl>
${view.documentNote ? `<p class="note" role="status">${e(view.documentNote)}</p>` : ""}
${passkey}<form method="post" action="/authorize">
<input type="hidden" name="request" value="${e(view.request)}">
${password ? passwordField(view.passkey !== undefined) : ""}
${view.tools ? toolsSection(view.tools, view.passkey !== undefined) : ""}
<!-- Approve comes first so that Enter in the password field approves. -->
<div class="buttons">
${
    password
      ? '<button type="submit" name="decision" value="approve" class="approve">Approve</button>\n'
      : ""
  }<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
<p class="note">Only approve if you started connecting this app yourself. Client ID: ${
    e(view.clientId)
  }</p>`;
  return htmlPage(`Allow ${name}?`, body, {
    status,
    headers,
    formTargets: view.redirectTarget ? [view.redirectTarget] : [],
    ...(view.passkey ? { script: PASSKEY_SCRIPT } : {}),
  });
}

/** The page for a client_id no client answers to; it says why, and what helps. */
export function clientRefusalPage(refusal: ClientRefusal): Response {
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
