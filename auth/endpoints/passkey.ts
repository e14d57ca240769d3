/**
 * The passkey enrolment page at `/owner/passkey`, opened by the one-time link that an
 * owner command prints on the server's machine (`passkey add`). GET checks the link and
 * shows the "Add passkey" button; POST verifies the new credential and, in the same
 * transaction, spends the link and keeps the passkey. Nothing else enrols: a stranger
 * on the network has no link, and a link is 256 random bits of which only the hash is
 * stored, valid 15 minutes for one passkey.
 *
 * @module
 */
import { randomToken } from "../../core/crypto.ts";
import {
  errorPage,
  escapeHtml as e,
  type FormPageEndpoint,
  htmlPage,
  isSameOriginPost,
  type PageEndpointDeps,
  readPageForm,
} from "../pages/page.ts";
import { enrolPage } from "../pages/passkey.ts";
import { PATHS } from "../../core/paths.ts";

/** The enrolment form's token: signed, bound to one link and one challenge. */
interface EnrolToken {
  purpose: "passkey-enrol";
  linkHash: string;
  challenge: string;
  expiresAt: number;
}

/** What the enrolment page uses. */
export type PasskeyEndpointDeps = PageEndpointDeps;

/** The enrolment page: GET shows it for a live link, POST enrols. */
export type PasskeyEndpoint = FormPageEndpoint;

/** Builds the enrolment page endpoint. */
export function createPasskeyEndpoint(deps: PasskeyEndpointDeps): PasskeyEndpoint {
  const { opts, passkeys, signer, now } = deps;

  function refused(reason: string, address: string): void {
    deps.emit({ type: "request_refused", path: PATHS.passkey, reason, clientAddress: address });
  }

  function deadLink(): Response {
    return errorPage(
      400,
      "This link does not work",
      "An enrolment link works once, for 15 minutes. Run `passkey add` again on the server's machine for a new one.",
    );
  }

  function noRpId(): Response {
    return errorPage(
      400,
      "Passkeys need a host name",
      `This server's address (${opts.baseUrl}) is an IP address, which passkeys cannot be tied to. Start it with a --base-url that names a host (http://localhost:<port> on this machine, or its https name).`,
    );
  }

  /** The page for a live link, with a fresh challenge signed together with the link. */
  async function page(
    link: { hash: string; name?: string; expiresAt: number },
    status = 200,
    error?: string,
    name?: string,
  ): Promise<Response> {
    const challenge = randomToken();
    const options = await passkeys.registrationOptions(challenge);
    const enrol = await signer.sign(
      {
        purpose: "passkey-enrol",
        linkHash: link.hash,
        challenge,
        expiresAt: link.expiresAt,
      } satisfies EnrolToken,
    );
    return enrolPage({
      serverName: opts.name,
      rpId: passkeys.rpId!,
      enrol,
      options,
      name: name ?? link.name,
      expiresAt: link.expiresAt,
      error,
    }, status);
  }

  async function get(request: Request, address: string): Promise<Response> {
    if (!passkeys.rpId) return noRpId();
    const token = new URL(request.url).searchParams.get("token") ?? "";
    const link = await passkeys.openLink(token);
    if (!link) {
      refused("passkey enrolment link unknown, used or expired", address);
      return deadLink();
    }
    return await page(link);
  }

  async function post(request: Request, address: string): Promise<Response> {
    // A form posted from another site is refused before anything else is read.
    if (!isSameOriginPost(request, opts.origin)) {
      refused("cross-site post to the passkey enrolment page", address);
      return errorPage(403, "Request refused", "This did not come from this server's page.");
    }
    if (!passkeys.rpId) return noRpId();
    const form = await readPageForm(request, opts.maxBodyBytes);
    if (form instanceof Response) return form;
    const token = await signer.verify<EnrolToken>(form.enrol);
    if (
      !token || token.purpose !== "passkey-enrol" || typeof token.linkHash !== "string" ||
      typeof token.challenge !== "string" || !(token.expiresAt > now())
    ) {
      refused("passkey enrolment form expired or not signed by this server", address);
      return deadLink();
    }
    const result = await passkeys.register(
      form.credential,
      token.challenge,
      token.linkHash,
      form.name,
      address,
    );
    if (!result.ok) {
      refused(`passkey not enrolled: ${result.reason}`, address);
      if (result.linkSpent) return deadLink();
      // The link is still good: the page again, with a new challenge.
      return await page(
        { hash: token.linkHash, expiresAt: token.expiresAt },
        400,
        "The passkey could not be added. Try again.",
        form.name,
      );
    }
    deps.emit({
      type: "passkey_added",
      passkeyId: result.passkey.id,
      name: result.passkey.name,
      clientAddress: address,
    });
    return htmlPage(
      "Passkey added",
      `<h1>Passkey added</h1>
<p class="done" role="status">“${
        e(result.passkey.name)
      }” can now approve apps and sign in to the owner page of ${e(opts.name)}.</p>
<p><a href="/owner">Open the owner page</a></p>
<p class="note">Once you trust it, you may remove the owner password on the server's machine
(<code>password --remove</code>); then only a passkey approves.</p>`,
    );
  }

  return { get, post };
}
