/**
 * The passkey parts of the pages: the one inline script (ours, run under the page's
 * CSP nonce; no other script exists), the form that carries a passkey's answer, and the
 * enrolment page that a one-time link opens. The script only calls
 * `navigator.credentials` and submits the form: the server verifies everything.
 *
 * Without JavaScript the passkey button stays hidden and the password form (where a
 * password is kept) works as before.
 *
 * @module
 */
import { escapeHtml as e, htmlPage } from "./page.ts";
import { PATHS } from "../../core/paths.ts";

/**
 * The page script: reads the WebAuthn options from the button's `data-options`, asks
 * the browser (`create` to enrol, `get` to approve or sign in), writes the answer as
 * JSON into the form's `credential` field and submits the form with the button (so the
 * button's name and value are sent). It contains no "</" (see page.ts).
 */
export const PASSKEY_SCRIPT = `(() => {
  const button = document.getElementById("passkey-button");
  const field = document.getElementById("passkey-credential");
  const status = document.getElementById("passkey-status");
  if (!button || !field || !status || !window.PublicKeyCredential || !navigator.credentials) return;
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/[+]/g, "-").replace(/[/]/g, "_").replace(/=+$/, "");
  const dec = (s) => Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4)),
    (c) => c.charCodeAt(0),
  );
  const ids = (list) => (list || []).map((c) => ({ ...c, id: dec(c.id) }));
  const options = JSON.parse(button.dataset.options);
  const creating = button.dataset.mode === "create";
  for (const note of document.querySelectorAll("[data-without-script]")) note.hidden = true;
  button.hidden = false;
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    status.hidden = true;
    button.disabled = true;
    try {
      let answer;
      if (creating) {
        const c = await navigator.credentials.create({ publicKey: { ...options,
          challenge: dec(options.challenge), user: { ...options.user, id: dec(options.user.id) },
          excludeCredentials: ids(options.excludeCredentials) } });
        const r = c.response;
        answer = { id: c.id, rawId: enc(c.rawId), type: c.type,
          authenticatorAttachment: c.authenticatorAttachment || undefined,
          clientExtensionResults: c.getClientExtensionResults(),
          response: { clientDataJSON: enc(r.clientDataJSON),
            attestationObject: enc(r.attestationObject),
            transports: r.getTransports ? r.getTransports() : [] } };
      } else {
        const c = await navigator.credentials.get({ publicKey: { ...options,
          challenge: dec(options.challenge), allowCredentials: ids(options.allowCredentials) } });
        const r = c.response;
        answer = { id: c.id, rawId: enc(c.rawId), type: c.type,
          authenticatorAttachment: c.authenticatorAttachment || undefined,
          clientExtensionResults: c.getClientExtensionResults(),
          response: { clientDataJSON: enc(r.clientDataJSON),
            authenticatorData: enc(r.authenticatorData), signature: enc(r.signature),
            userHandle: r.userHandle ? enc(r.userHandle) : undefined } };
      }
      field.value = JSON.stringify(answer);
      button.disabled = false;
      button.form.requestSubmit(button);
    } catch (error) {
      button.disabled = false;
      status.textContent = error && error.name === "NotAllowedError"
        ? "The passkey prompt was closed or timed out. Try again."
        : "The passkey did not work: " + ((error && error.message) || error);
      status.hidden = false;
    }
  });
})();`;

/** What a page needs to offer a passkey button. */
export interface PasskeyButton {
  /** `create` to enrol; `get` to approve or sign in. */
  mode: "create" | "get";
  /** The WebAuthn options (JSON), as the passkeys service made them. */
  options: string;
  label: string;
  /** The button's name and value, sent with the answer (e.g. decision=passkey). */
  name?: string;
  value?: string;
}

/**
 * The controls inside a passkey form: the hidden answer field, the button (hidden
 * until the script shows it) and the place for the script's error message.
 */
export function passkeyControls(button: PasskeyButton): string {
  const named = button.name ? ` name="${e(button.name)}" value="${e(button.value ?? "")}"` : "";
  return `<input type="hidden" name="credential" id="passkey-credential" value="">
<p id="passkey-status" class="error" role="alert" hidden></p>
<div class="buttons"><button type="submit" id="passkey-button" class="approve" formnovalidate hidden${named} data-mode="${button.mode}" data-options="${
    e(button.options)
  }">${e(button.label)}</button></div>`;
}

/**
 * A form of its own for a passkey's answer, posted to `action` with `hidden` fields: so
 * that Enter in the password field still submits the password, and the password form
 * works without JavaScript. With no password to fall back on, it says that the passkey
 * needs JavaScript.
 */
export function passkeyForm(form: {
  action: string;
  hidden: Record<string, string>;
  options: string;
  label: string;
  passwordToo: boolean;
}): string {
  const fields = Object.entries(form.hidden)
    .map(([name, value]) => `<input type="hidden" name="${e(name)}" value="${e(value)}">\n`)
    .join("");
  const control = passkeyControls({
    mode: "get",
    options: form.options,
    label: form.label,
    name: "decision",
    value: "passkey",
  });
  const onlyPasskey = form.passwordToo
    ? ""
    : '\n<p class="error" data-without-script>This server ' +
      "approves with a passkey only, which needs JavaScript: turn it on for this page.</p>";
  return `<form method="post" action="${
    e(form.action)
  }">\n${fields}${control}${onlyPasskey}\n</form>\n`;
}

/** What the enrolment page shows. */
export interface EnrolView {
  serverName: string;
  rpId: string;
  /** The signed enrolment form token (link hash, challenge, expiry). */
  enrol: string;
  /** The `navigator.credentials.create()` options (JSON). */
  options: string;
  /** The name the link was minted with, if any. */
  name?: string;
  expiresAt: number;
  error?: string;
}

/** The enrolment page: a name field and the "Add passkey" button. */
export function enrolPage(view: EnrolView, status = 200): Response {
  const until = new Date(view.expiresAt).toISOString().slice(11, 16);
  const body = `
<h1>Add a passkey to ${e(view.serverName)}</h1>
${view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : ""}
<p>A passkey lets you approve apps and sign in to the owner page with this device's
screen lock or a security key, instead of the owner password. It works on
${e(view.rpId)} only, so a look-alike page cannot use it.</p>
<form method="post" action="${PATHS.passkey}">
<input type="hidden" name="enrol" value="${e(view.enrol)}">
<label for="name">Name of this passkey</label>
<input type="text" id="name" name="name" value="${
    e(view.name ?? "")
  }" maxlength="60" placeholder="Laptop, phone, security key…">
${passkeyControls({ mode: "create", options: view.options, label: "Add passkey" })}
<p class="error" data-without-script>Adding a passkey needs JavaScript: turn it on for this page.</p>
</form>
<p class="note">This link works once, until ${until} UTC. To add another passkey, run
<code>passkey add</code> again on the server's machine.</p>`;
  return htmlPage(`Add a passkey to ${view.serverName}`, body, {
    status,
    script: PASSKEY_SCRIPT,
  });
}
