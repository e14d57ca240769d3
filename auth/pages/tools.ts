/**
 * The owner's say per app on the owner page: the calls waiting for the owner, each
 * app's tool permissions as a plain form (no script), and each app's recent tool calls.
 * Everything a client or an upstream server sent (names, tools, arguments) is escaped,
 * and bidirectional text is isolated.
 *
 * @module
 */
import type { AppToolPermissions } from "../grants/app_permissions.ts";
import { TOOL_POLICIES, type ToolPolicyRow } from "../grants/permissions.ts";
import type { AuditRecord } from "../owner/audit.ts";
import type { ConfirmationRecord } from "../owner/confirmations.ts";
import { displayName } from "./consent.ts";
import { confirmPath } from "./confirm.ts";
import { escapeHtml as e } from "./page.ts";
import { PATHS } from "../../core/paths.ts";

/** Most audit rows shown per app. */
export const AUDIT_ROWS_PER_APP = 20;

/** The name of a form field holding one tool's policy. */
export function policyField(tool: string): string {
  return `tool.${tool}`;
}

/** The calls waiting for the owner, oldest first, each with its link. */
export function waitingSection(waiting: ConfirmationRecord[], now: number): string {
  if (waiting.length === 0) return "";
  const rows = waiting.map((r) =>
    `<tr><td><bdi>${e(displayName(r.clientName))}</bdi></td><td><code><bdi>${
      e(r.tool)
    }</bdi></code>${r.server ? ` <span class="note">on <bdi>${e(r.server)}</bdi></span>` : ""}</td>
<td><code class="args"><bdi>${
      e(r.preview.length > 200 ? `${r.preview.slice(0, 200)}…` : r.preview)
    }</bdi></code></td>
<td class="nowrap">${e(`${Math.max(0, Math.round((now - r.createdAt) / 1000))} s ago`)}</td>
<td><a href="${e(confirmPath(r.id))}">Confirm or decline</a></td></tr>`
  ).join("\n");
  return `<section class="card waiting" aria-label="Waiting for you">
<h3>Waiting for you</h3>
<div class="scroll"><table><thead><tr><th>App</th><th>Tool</th><th>Arguments</th><th>Asked</th><th></th></tr></thead><tbody>
${rows}
</tbody></table></div>
</section>`;
}

function policyRow(row: ToolPolicyRow): string {
  const options = TOOL_POLICIES.map((p) =>
    `<option value="${p}"${p === row.policy ? " selected" : ""}>${p}</option>`
  ).join("");
  const origin = row.source === "app" ? "set for this app" : "default";
  return `<tr><td><code><bdi>${e(row.name)}</bdi></code>${
    row.isNew ? ' <span class="live">new</span>' : ""
  }</td><td>${row.server ? `<bdi>${e(row.server)}</bdi>` : "yours"}</td><td>${row.kind}</td>
<td><select name="${e(policyField(row.name))}" aria-label="${
    e(row.name)
  }">${options}</select> <span class="note">${origin}</span></td></tr>`;
}

/** One app's tools and their policies, as a form the owner saves. */
export function permissionsForm(app: AppToolPermissions, csrf: string): string {
  if (app.tools.length === 0) return "";
  return `<details><summary>Tools this app may use</summary>
<form method="post" action="${PATHS.owner}">
<input type="hidden" name="csrf" value="${e(csrf)}">
<input type="hidden" name="action" value="set-permissions">
<input type="hidden" name="client" value="${e(app.clientId)}">
<div class="scroll"><table><thead><tr><th>Tool</th><th>Server</th><th>Kind</th><th>Policy</th></tr></thead><tbody>
${app.tools.map(policyRow).join("\n")}
</tbody></table></div>
<p class="note">allow: it runs; ask: each call waits for you here; deny: the app does not see it.</p>
<div class="buttons"><button type="submit">Save</button></div>
</form></details>`;
}

/** One app's recent tool calls. */
export function auditTable(records: AuditRecord[]): string {
  if (records.length === 0) return "";
  const rows = records.slice(0, AUDIT_ROWS_PER_APP).map((r) => {
    const iso = new Date(r.at).toISOString();
    const ok = r.outcome === "ok" || r.outcome === "confirmed";
    return `<tr><td class="nowrap">${
      e(`${iso.slice(0, 10)} ${iso.slice(11, 19)}`)
    }</td><td><code><bdi>${e(r.tool)}</bdi></code></td><td class="${ok ? "ok" : "bad"}">${
      e(r.outcome)
    }</td><td>${e(r.policy)}</td><td>${e(`${r.durationMs} ms`)}</td><td><code>${
      e(r.argumentsSha256.slice(0, 12))
    }</code></td></tr>`;
  }).join("\n");
  return `<details><summary>Recent tool calls</summary>
<div class="scroll"><table><thead><tr><th>When (UTC)</th><th>Tool</th><th>Outcome</th><th>Policy</th><th>Took</th><th>Arguments (SHA-256)</th></tr></thead><tbody>
${rows}
</tbody></table></div></details>`;
}
