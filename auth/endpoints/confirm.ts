/**
 * The page of a held call, `/owner/confirm?id=<id>`: the owner confirms or declines
 * one tool call that waits for them (policy `ask`), proving who they are with the owner
 * password or a passkey, as on the consent page, whether or not they are signed in to
 * the owner page.
 *
 * Protections, as on the other pages: no framing and no script but the passkey
 * button's; a post whose `Origin` or `Sec-Fetch-Site` says another site is refused
 * before its body is read; the form is signed, for this call only, and bound to this
 * browser's `HttpOnly; SameSite=Strict` cookie; the proof runs under the owner's
 * throttle; and an answer is taken once (a replayed form changes nothing).
 *
 * @module
 */
import { hashSecret, isRandomToken, randomToken, secretsEqual } from "../../core/crypto.ts";
import { readCookie } from "../../core/http.ts";
import { PATHS } from "../../core/paths.ts";
import type { OwnerCheck } from "../owner/password.ts";
import { credentialOf, type OwnerProof } from "../owner/proof.ts";
import type { HeldCalls } from "../owner/confirmations.ts";
import { confirmDonePage, confirmPage } from "../pages/confirm.ts";
import {
  errorPage,
  type FormPageEndpoint,
  isSameOriginPost,
  type PageEndpointDeps,
  proofRefusal,
  readPageForm,
} from "../pages/page.ts";

/** How long a confirmation form stays valid, in ms. */
const FORM_TTL_MS = 10 * 60 * 1000;

/** The signed token of a confirmation form. */
interface ConfirmToken {
  purpose: "confirm";
  /** The held call it answers: a form for one call answers no other. */
  id: string;
  cookieHash: string;
  expiresAt: number;
  /** When a passkey is enrolled: the challenge its button signs. */
  challenge?: string;
}

/** What the held-call page uses. */
export interface ConfirmEndpointDeps extends PageEndpointDeps {
  owner: OwnerCheck;
  proof: OwnerProof;
  held: HeldCalls;
}

/** Builds the held-call page endpoint. */
export function createConfirmEndpoint(deps: ConfirmEndpointDeps): FormPageEndpoint {
  const { opts, signer, passkeys, held, now } = deps;
  const secure = opts.baseUrl.startsWith("https:");
  const cookieName = secure ? "__Secure-pmcp-confirm" : "pmcp-confirm";
  const cookieHeader = (value: string) =>
    `${cookieName}=${value}; Path=${PATHS.confirm}; HttpOnly; SameSite=Strict; Max-Age=${
      FORM_TTL_MS / 1000
    }${secure ? "; Secure" : ""}`;
  const idOf = (request: Request) => new URL(request.url).searchParams.get("id") ?? "";
  const gone = () =>
    confirmDonePage(
      "Nothing to confirm",
      "No call waits under this link: it was answered, or its 10 minutes are over.",
      404,
    );

  /** The page for a waiting call, with a fresh signed form. */
  async function show(
    request: Request,
    id: string,
    status: number,
    error?: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const record = await held.get(id);
    if (!record) return gone();
    if (record.state !== "waiting") {
      return confirmDonePage(
        "Already answered",
        `This call was ${record.state}.`,
        200,
        record,
        now(),
      );
    }
    const known = readCookie(request, cookieName);
    const cookie = isRandomToken(known) ? known : randomToken();
    const challenge = randomToken();
    const passkey = await passkeys.assertionOptions(challenge);
    const token: ConfirmToken = {
      purpose: "confirm",
      id,
      cookieHash: await hashSecret(cookie),
      expiresAt: Math.min(now() + FORM_TTL_MS, record.expiresAt),
      ...(passkey ? { challenge } : {}),
    };
    return confirmPage(
      {
        serverName: opts.name,
        record,
        csrf: await signer.sign(token),
        now: now(),
        passkey,
        password: !passkey || (await deps.owner.configured()),
        ...(error ? { error } : {}),
      },
      status,
      { "set-cookie": cookieHeader(cookie), ...headers },
    );
  }

  function refused(reason: string, address: string): void {
    deps.emit({ type: "request_refused", path: PATHS.confirm, reason, clientAddress: address });
  }

  async function post(request: Request, address: string): Promise<Response> {
    if (!isSameOriginPost(request, opts.origin)) {
      refused("cross-site post to a confirmation page", address);
      return errorPage(403, "Request refused", "This answer did not come from this server's page.");
    }
    const id = idOf(request);
    const form = await readPageForm(request, opts.maxBodyBytes);
    if (form instanceof Response) return form;
    const token = await deps.signer.verify<ConfirmToken>(form.csrf);
    const cookie = readCookie(request, cookieName);
    const bound = token?.purpose === "confirm" && token.id === id && token.expiresAt > now() &&
      isRandomToken(cookie) &&
      (await secretsEqual(token.cookieHash, await hashSecret(cookie)));
    if (!bound) {
      refused("confirmation form expired, forged or for another call", address);
      return await show(
        request,
        id,
        403,
        "This form has expired or did not come from this browser.",
      );
    }
    const decision = form.decision === "passkey" ? "confirm" : form.decision;
    if (decision !== "confirm" && decision !== "decline") {
      return errorPage(400, "Invalid request", "Confirm or decline.");
    }
    const method = form.decision === "passkey" ? "passkey" : "password";
    const proved = await deps.proof.prove(
      { address, device: await deps.proof.deviceOf(request), page: "owner" },
      credentialOf(method, form, token),
    );
    if (!proved.ok) {
      const refusal = proofRefusal(proved, "approve");
      if (refusal instanceof Response) return refusal;
      return await show(request, id, refusal.status, refusal.error, refusal.headers);
    }
    const answer = await held.decide(id, decision, method);
    if (!answer.ok) {
      return answer.reason === "answered"
        ? confirmDonePage(
          "Already answered",
          "This call was answered before; nothing changed.",
          409,
        )
        : gone();
    }
    return confirmDonePage(
      decision === "confirm" ? "Confirmed" : "Declined",
      decision === "confirm"
        ? "The call runs now (or, if the app stopped waiting, when it makes the same call again within 10 minutes)."
        : "The call will not run.",
      200,
      answer.record,
      now(),
    );
  }

  return {
    get: (request) => show(request, idOf(request), 200),
    post,
  };
}
