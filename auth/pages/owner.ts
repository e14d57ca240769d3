/**
 * The owner page's HTML: the sign-in form, and the connected apps with their
 * Disconnect and Forget buttons and the recent activity. Plain forms, no script,
 * under the layout and headers every page shares (`page.ts`). Everything a client
 * sent (names, ids, redirect URIs, reasons) is escaped.
 *
 * @module
 */
import type { ActivityEntry } from "../owner/activity.ts";
import { describeEvent } from "../owner/activity.ts";
import { describeScope } from "./consent.ts";
import type { ClientSummary, GrantSummary } from "../owner/controls.ts";
import { escapeHtml as e, htmlPage, type OwnerProofView, passwordField } from "./page.ts";
import { PASSKEY_SCRIPT, passkeyControls } from "./passkey.ts";
import type { PasskeySummary } from "../owner/passkeys.ts";
import { PATHS } from "../../core/paths.ts";
import { escapeForLog } from "../../core/log.ts";
import type { UpstreamStatus } from "../../core/config.ts";
import type { AppToolPermissions } from "../grants/app_permissions.ts";
import type { AuditRecord } from "../owner/audit.ts";
import type { ConfirmationRecord } from "../owner/confirmations.ts";
import { auditTable, permissionsForm, waitingSection } from "./tools.ts";

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** Where a redirect URI sends codes, as a person should read it. */
export function codeDestination(uri: string | undefined): string {
  if (!uri) return "unknown";
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return uri.slice(0, 80);
  }
  if (url.protocol === "http:" && LOOPBACK.test(url.hostname)) {
    return `an app on this computer (${url.host})`;
  }
  if (url.protocol === "https:") return url.host;
  return `the ${url.protocol.slice(0, -1)} app`;
}

/** A time as UTC and as an age: "2026-01-02 13:04 UTC (5 min ago)". */
export function formatTime(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  const s = Math.max(0, Math.round((now - at) / 1000));
  const age = s < 60
    ? "just now"
    : s < 3600
    ? `${Math.floor(s / 60)} min ago`
    : s < 86400
    ? `${Math.floor(s / 3600)} h ago`
    : `${Math.floor(s / 86400)} days ago`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC (${age})`;
}

/** A form with one button posting an action to the owner page. */
function actionForm(
  csrf: string,
  action: string,
  label: string,
  fields: Record<string, string> = {},
  cls = "quiet",
): string {
  const hidden = Object.entries(fields).map(([k, v]) =>
    `<input type="hidden" name="${e(k)}" value="${e(v)}">`
  ).join("");
  return `<form method="post" action="${PATHS.owner}"><input type="hidden" name="csrf" value="${
    e(csrf)
  }"><input type="hidden" name="action" value="${
    e(action)
  }">${hidden}<button type="submit" class="${cls}">${e(label)}</button></form>`;
}

/**
 * Disconnect everything, which cannot be undone, asks for a ticked box first: a plain
 * form (no script), so the browser's `required` and the endpoint's check both hold it.
 */
function disconnectAllForm(csrf: string, count: number): string {
  return `<form method="post" action="${PATHS.owner}"><input type="hidden" name="csrf" value="${
    e(csrf)
  }"><input type="hidden" name="action" value="disconnect-all"><label><input type="checkbox" name="confirm" value="yes" required> Disconnect all ${count} app${
    count === 1 ? "" : "s"
  } now: each must ask you again</label> <button type="submit" class="danger">Disconnect everything</button></form>`;
}

function appName(name: string | undefined): string {
  return name?.trim()
    ? `${e(name)} <span class="given">(name given by the app)</span>`
    : `<span class="given">An unnamed app</span>`;
}

/** What the sign-in form shows and carries. */
export interface SignInView extends OwnerProofView {
  serverName: string;
  /** The signed form token, bound to the browser's cookie (it keeps the passkey challenge). */
  csrf: string;
  notice?: string;
}

/** The sign-in page. */
export function signInPage(
  view: SignInView,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const password = view.password ?? true;
  const passkey = view.passkey
    ? `<form method="post" action="${PATHS.owner}">
<input type="hidden" name="csrf" value="${e(view.csrf)}">
<input type="hidden" name="action" value="sign-in">
${
      passkeyControls({
        mode: "get",
        options: view.passkey,
        label: "Sign in with passkey",
        name: "method",
        value: "passkey",
      })
    }
${
      password
        ? ""
        : '<p class="error" data-without-script>This server signs in with a passkey only, which needs JavaScript: turn it on for this page.</p>'
    }
</form>
${password ? '<p class="or">Or with the owner password:</p>' : ""}`
    : "";
  const passwordForm = password
    ? `<form method="post" action="${PATHS.owner}">
<input type="hidden" name="csrf" value="${e(view.csrf)}">
<input type="hidden" name="action" value="sign-in">
${passwordField(false, true)}
<div class="buttons"><button type="submit" class="approve">Sign in</button></div>
</form>`
    : "";
  const body = `
<h1>${e(view.serverName)}: owner sign-in</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
${view.notice ? `<p class="done" role="status">${e(view.notice)}</p>` : ""}
<p>See every app connected to your tools, and disconnect any of them.</p>
${passkey}${passwordForm}`;
  return htmlPage(`${view.serverName}: owner`, body, {
    status,
    headers,
    ...(view.passkey ? { script: PASSKEY_SCRIPT } : {}),
  });
}

/** What the owner page shows. */
export interface OwnerView {
  serverName: string;
  csrf: string;
  grants: GrantSummary[];
  /** Registered clients that hold no grant. */
  idleClients: ClientSummary[];
  events: ActivityEntry[];
  /** The enrolled passkeys. */
  passkeys?: PasskeySummary[];
  /** Whether an owner password is kept. @default true */
  passwordKept?: boolean;
  /** The upstream MCP servers (`servers` option); the section shows only when there are some. */
  servers?: UpstreamStatus[];
  now: number;
  /** The outcome of the last action. */
  notice?: string;
  error?: string;
  /** Tool calls waiting for the owner's confirmation. */
  waiting?: ConfirmationRecord[];
  /** Each connected app's tool permissions, by client id. */
  toolPermissions?: Map<string, AppToolPermissions>;
  /** Recent tool calls, newest first. */
  audit?: AuditRecord[];
}

function grantCard(g: GrantSummary, view: OwnerView): string {
  const { csrf, now } = view;
  const tools = view.toolPermissions?.get(g.clientId);
  const calls = (view.audit ?? []).filter((r) => r.grantId === g.id);
  const who = g.clientIdHost
    ? `<dt>Published by</dt><dd>${e(g.clientIdHost)} <span class="note">(${
      e(g.clientId)
    })</span></dd>`
    : `<dt>Client id</dt><dd>${e(g.clientId)}</dd>`;
  const used = g.lastUsedAt === undefined
    ? "never"
    : `${e(formatTime(g.lastUsedAt, now))}${g.lastAddress ? ` from ${e(g.lastAddress)}` : ""}`;
  const forget = g.registered
    ? actionForm(csrf, "forget", "Forget app", { client: g.clientId })
    : "";
  return `<section class="card" aria-label="${e(g.clientName?.trim() || "An unnamed app")}">
<h3>${appName(g.clientName)}</h3>
<dl>
${who}
<dt>Sends codes to</dt><dd>${e(codeDestination(g.redirectUri))}</dd>
<dt>Access</dt><dd>${describeScope(g.scopes.join(" "))}</dd>
<dt>Approved</dt><dd>${e(formatTime(g.createdAt, now))}</dd>
<dt>Last used</dt><dd>${used}</dd>
<dt>Tokens</dt><dd>${
    g.liveTokens ? '<span class="live">live</span>' : '<span class="dead">none (expired)</span>'
  }</dd>
</dl>
<div class="actions">${
    actionForm(csrf, "disconnect", "Disconnect", { grant: g.id }, "danger quiet")
  }${forget}</div>
${tools ? permissionsForm(tools, csrf) : ""}
${auditTable(calls)}
</section>`;
}

function eventRow(entry: ActivityEntry, names: Map<string, string>, now: number): string {
  const { label, ok } = describeEvent(entry);
  const clientId = "clientId" in entry ? entry.clientId : undefined;
  const name = ("clientName" in entry ? entry.clientName : undefined) ??
    (clientId ? names.get(clientId) : undefined);
  const app = name ?? clientId ?? "";
  const details: string[] = [];
  if ("reason" in entry && entry.reason !== undefined) details.push(entry.reason);
  if (entry.type === "request_refused") details.unshift(entry.path);
  const iso = new Date(entry.at).toISOString();
  return `<tr><td class="nowrap" title="${e(formatTime(entry.at, now))}">${
    e(`${iso.slice(0, 10)} ${iso.slice(11, 19)}`)
  }</td><td class="nowrap">${e(entry.clientAddress ?? "")}</td><td class="${ok ? "ok" : "bad"}">${
    e(label)
  }</td><td>${e(app)}</td><td>${e(details.join(": "))}</td></tr>`;
}

/** The passkeys, each with its Remove button, and how to add one (on the machine only). */
function passkeySection(view: OwnerView): string {
  const passkeys = view.passkeys ?? [];
  const password = view.passwordKept ?? true;
  const rows = passkeys.map((p) =>
    `<tr><td>${e(p.name)}${p.backedUp ? ' <span class="given">(synced)</span>' : ""}</td><td>${
      e(p.id)
    }</td><td>${e(formatTime(p.createdAt, view.now))}</td><td>${
      p.lastUsedAt === undefined
        ? "never"
        : `${e(formatTime(p.lastUsedAt, view.now))}${
          p.lastAddress ? ` from ${e(p.lastAddress)}` : ""
        }`
    }</td><td>${actionForm(view.csrf, "remove-passkey", "Remove", { passkey: p.id })}</td></tr>`
  ).join("\n");
  const table = passkeys.length
    ? `<div class="scroll"><table><thead><tr><th>Passkey</th><th>Id</th><th>Added</th><th>Last used</th><th></th></tr></thead><tbody>
${rows}
</tbody></table></div>`
    : `<p class="note">No passkey is enrolled.</p>`;
  return `<h2>Passkeys</h2>
${table}
<p class="note">Owner password: ${
    password ? "kept (it approves too)" : "removed (only a passkey approves)"
  }. To add a passkey, run <code>passkey add</code> on the server's machine and open the
link it prints; nobody can add one from this page or the network.</p>`;
}

/** Stderr lines shown per server (the `servers` command shows the same). */
const STDERR_SHOWN = 5;

/**
 * Text an upstream or its configuration wrote, for the page: control, invisible and
 * direction-changing characters made visible as escapes (`\u{202e}`), as on the console
 * log, then HTML-escaped.
 */
function upstreamText(text: string): string {
  return e(escapeForLog(text.length > 2000 ? `${text.slice(0, 2000)}…` : text));
}

/** The upstream MCP servers: state, pid, restarts, tools, and each one's last words. */
function serversSection(servers: UpstreamStatus[]): string {
  if (servers.length === 0) return "";
  const rows = servers.map((s) =>
    `<tr><td>${upstreamText(s.name)}</td><td>${e(s.type)}</td><td class="${
      s.state === "running" ? "ok" : "bad"
    }">${e(s.state)}</td><td>${s.pid ?? ""}</td><td>${s.restarts}</td><td>${s.tools}</td></tr>`
  ).join("\n");
  const details = servers.filter((s) => s.lastError !== undefined || s.stderr.length > 0)
    .map((s) => {
      const lines = [
        ...(s.lastError !== undefined ? [`last error: ${s.lastError}`] : []),
        ...s.stderr.slice(-STDERR_SHOWN).map((line) => `stderr: ${line}`),
      ];
      return `<h3>${upstreamText(s.name)}</h3>
<pre class="scroll">${lines.map(upstreamText).join("\n")}</pre>`;
    }).join("\n");
  return `<h2>Your MCP servers</h2>
<div class="scroll"><table><thead><tr><th>Server</th><th>Type</th><th>State</th><th>PID</th><th>Restarts</th><th>Tools</th></tr></thead><tbody>
${rows}
</tbody></table></div>
${details}
<p class="note">Every app you approve reaches these servers' tools too. What a server
wrote is shown with invisible and control characters as escapes.</p>`;
}

/** The owner page: connected apps, registered apps without access, recent activity. */
export function ownerPage(view: OwnerView, status = 200): Response {
  const names = new Map<string, string>();
  for (const c of view.idleClients) if (c.clientName) names.set(c.clientId, c.clientName);
  for (const g of view.grants) if (g.clientName) names.set(g.clientId, g.clientName);
  const apps = view.grants.length
    ? view.grants.map((g) => grantCard(g, view)).join("\n")
    : `<p class="note">No app is connected.</p>`;
  const idle = view.idleClients.length
    ? `<h2>Registered apps without access</h2>
<div class="scroll"><table><thead><tr><th>App</th><th>Client id</th><th>Sends codes to</th><th>Registered</th><th></th></tr></thead><tbody>
${
      view.idleClients.map((c) =>
        `<tr><td>${appName(c.clientName)}</td><td>${e(c.clientId)}</td><td>${
          e(c.redirectUris.map(codeDestination).join(", "))
        }</td><td>${e(formatTime(c.createdAt, view.now))}</td><td>${
          actionForm(view.csrf, "forget", "Forget", { client: c.clientId })
        }</td></tr>`
      ).join("\n")
    }
</tbody></table></div>`
    : "";
  const events = view.events.length
    ? `<div class="scroll"><table><thead><tr><th class="nowrap">When (UTC)</th><th>Address</th><th>What</th><th>App</th><th>Detail</th></tr></thead><tbody>
${view.events.map((entry) => eventRow(entry, names, view.now)).join("\n")}
</tbody></table></div>`
    : `<p class="note">Nothing yet.</p>`;
  const body = `
<div class="bar"><h1>${e(view.serverName)}: connected apps</h1>${
    actionForm(view.csrf, "sign-out", "Sign out")
  }</div>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
${view.notice ? `<p class="done" role="status">${e(view.notice)}</p>` : ""}
${waitingSection(view.waiting ?? [], view.now)}
<p class="note">Each app below was approved by you (password or passkey). <strong>Disconnect</strong>
ends one approval: its tokens stop working on its next request, and it must ask you again to
reconnect. <strong>Forget</strong> also deletes a registered app's registration, so it must
register again before it can even ask. Names are what each app says about itself; the client
id and where codes go are what this server checked.</p>
${apps}
${
    view.grants.length
      ? `<div class="actions">${disconnectAllForm(view.csrf, view.grants.length)}</div>`
      : ""
  }
${idle}
${serversSection(view.servers ?? [])}
${passkeySection(view)}
<h2>Recent activity</h2>
${events}`;
  return htmlPage(`${view.serverName}: connected apps`, body, { status, wide: true });
}
