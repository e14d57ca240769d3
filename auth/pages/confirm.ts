/**
 * The page of one held call (policy `ask`): which app asks to run which tool with which
 * arguments, and the owner's Confirm and Decline, each proved with the owner password
 * or a passkey. Plain forms, no script but the passkey button's; everything a client
 * sent (the app's name, the tool's name, the arguments) is escaped, and bidirectional
 * text is isolated so that it cannot reorder the sentence around it.
 *
 * @module
 */
import type { ConfirmationRecord } from "../owner/confirmations.ts";
import { escapeHtml as e, htmlPage, type OwnerProofView, passwordField } from "./page.ts";
import { PASSKEY_SCRIPT, passkeyForm } from "./passkey.ts";
import { displayName } from "./consent.ts";
import { PATHS } from "../../core/paths.ts";

/** What the page of a held call shows and carries. */
export interface ConfirmView extends OwnerProofView {
  serverName: string;
  record: ConfirmationRecord;
  /** The signed form token (bound to this browser's cookie and to this call). */
  csrf: string;
  now: number;
}

/** When a call was asked: UTC, and seconds ago. */
function asked(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC (${
    Math.max(0, Math.round((now - at) / 1000))
  } s ago)`;
}

/** The facts of a held call, as a definition list (also on the owner page's list). */
export function heldCallFacts(record: ConfirmationRecord, now: number): string {
  return `<dl>
<dt>App</dt><dd><bdi>${e(displayName(record.clientName))}</bdi> <span class="note">(${
    e(record.clientId)
  })</span></dd>
<dt>Tool</dt><dd><code><bdi>${e(record.tool)}</bdi></code>${
    record.server ? ` on <bdi>${e(record.server)}</bdi>` : ""
  }</dd>
<dt>Arguments</dt><dd><pre><bdi>${e(record.preview)}</bdi></pre></dd>
<dt>Asked</dt><dd>${asked(record.createdAt, now)}</dd>
</dl>`;
}

/** The link of a held call's page, relative to the server's origin. */
export function confirmPath(id: string): string {
  return `${PATHS.confirm}?id=${encodeURIComponent(id)}`;
}

/** The page asking the owner to confirm or decline one held call. */
export function confirmPage(
  view: ConfirmView,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const action = e(confirmPath(view.record.id));
  const password = view.password ?? true;
  const passkey = view.passkey
    ? passkeyForm({
      action: confirmPath(view.record.id),
      hidden: { csrf: view.csrf },
      options: view.passkey,
      label: "Confirm with passkey",
      passwordToo: password,
    })
    : "";
  const body = `
<h1>Run this tool call?</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
${heldCallFacts(view.record, view.now)}
${passkey}<form method="post" action="${action}">
<input type="hidden" name="csrf" value="${e(view.csrf)}">
${
    password
      ? `${passwordField(view.passkey !== undefined)}
<div class="buttons">
<button type="submit" name="decision" value="confirm" class="approve">Confirm</button>
<button type="submit" name="decision" value="decline">Decline</button>
</div>`
      : ""
  }
</form>
<p class="note">Confirm only a call you expect. A declined call never runs; so does one
nobody answers within 10 minutes.</p>`;
  return htmlPage("Run this tool call?", body, {
    status,
    headers,
    ...(view.passkey ? { script: PASSKEY_SCRIPT } : {}),
  });
}

/** What the page says once a call was answered, or could not be. */
export function confirmDonePage(
  heading: string,
  text: string,
  status = 200,
  record?: ConfirmationRecord,
  now = 0,
): Response {
  const facts = record ? heldCallFacts(record, now) : "";
  return htmlPage(
    heading,
    `<h1>${e(heading)}</h1>\n<p>${e(text)}</p>\n${facts}
<p><a href="${PATHS.owner}">The owner page</a></p>`,
    { status },
  );
}
