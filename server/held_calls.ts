/**
 * The `ask` policy: a call waits for the owner's confirmation outside the chat. While
 * it waits, the client hears progress (when it gave a `progressToken`) so that it keeps
 * the call open; the SSE answer carries keep-alive comments in any case (routes.ts).
 * The wait ends with the owner's answer or after `confirmTimeoutSeconds`: then the
 * model reads a result with the link, and a confirmation given later holds for the
 * same call (app, tool, arguments) for 10 minutes, once.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import { argumentsHash, canonicalJson } from "../auth/owner/audit.ts";
import {
  type ConfirmationRecord,
  type Confirmations,
  MAX_WAITING_PER_APP,
  PREVIEW_CHARS,
  type WaitEnd,
} from "../auth/owner/confirmations.ts";
import type { CallPolicy } from "../transport/caller.ts";
import type { PersonalMcpEvent } from "../core/config.ts";
import type { GatedCall } from "../transport/mcp/servers.ts";
import { type AskHandler, refusal } from "./tool_gate.ts";

/** How often a waiting call reports progress, in ms. */
export const HELD_PROGRESS_MS = 10_000;

/** What the held-call handler is built from. */
export interface HeldCallDeps {
  confirmations: Confirmations;
  /** How long a call waits for the owner, in ms (`confirmTimeoutSeconds`). */
  timeoutMs: number;
  /** The confirmation page of a held call. */
  linkOf(id: string): string;
  emit(event: PersonalMcpEvent): void;
}

/** Reports progress to a client that asked for it, until stopped. */
function keepAlive(call: GatedCall, link: string): () => void {
  const token = call.ctx.mcpReq._meta?.progressToken;
  if (token === undefined) return () => {};
  let progress = 0;
  const tick = () =>
    void call.ctx.mcpReq.notify({
      method: "notifications/progress",
      params: {
        progressToken: token,
        progress: ++progress,
        message: `Waiting for the owner to confirm this call: ${link}`,
      },
    }).catch(() => {});
  tick();
  const timer = setInterval(tick, HELD_PROGRESS_MS);
  return () => clearInterval(timer);
}

/**
 * Asks a client that declared URL-mode elicitation (MCP 2025-11-25) to open the
 * confirmation link, on a 2025-era session (the one channel a server request can take).
 * Its answer is not the owner's: only the page confirms. A client without the
 * capability makes the SDK refuse at once; that, and any later failure, is ignored.
 */
function offerLink(call: GatedCall, record: ConfirmationRecord, link: string, timeoutMs: number) {
  if (!call.ctx.sessionId) return;
  try {
    call.ctx.mcpReq.elicitInput({
      mode: "url",
      message: `The owner must confirm the call of "${record.tool}" before it runs.`,
      url: link,
      elicitationId: record.id,
    }, { relatedRequestId: call.ctx.mcpReq.id, timeout: timeoutMs }).catch(() => {});
  } catch { /* the client did not declare URL-mode elicitation */ }
}

function heldInput(call: GatedCall, server: string | undefined, hash: string) {
  const extra = call.authInfo?.extra;
  const canonical = canonicalJson(call.arguments ?? {});
  return {
    clientId: call.authInfo?.clientId ?? "",
    ...(typeof extra?.clientName === "string" ? { clientName: extra.clientName } : {}),
    grantId: typeof extra?.grantId === "string" ? extra.grantId : "",
    tool: call.name,
    ...(server !== undefined ? { server } : {}),
    argumentsSha256: hash,
    preview: canonical.length > PREVIEW_CHARS ? `${canonical.slice(0, PREVIEW_CHARS)}…` : canonical,
  };
}

/** The event that tells the owner's console a call waits, with its link. */
function waitingEvent(record: ConfirmationRecord, link: string): PersonalMcpEvent {
  return {
    type: "confirmation_waiting",
    id: record.id,
    clientId: record.clientId,
    ...(record.clientName ? { clientName: record.clientName } : {}),
    tool: record.tool,
    link,
  };
}

/** Builds the handler of `ask` calls. */
export function createHeldCalls(deps: HeldCallDeps): AskHandler {
  return async (call, facts, run) => {
    let start;
    try {
      const hash = await argumentsHash(call.arguments);
      start = await deps.confirmations.hold(heldInput(call, facts.server, hash));
    } catch {
      // The store failed while the call was being held: nothing was done, nothing kept.
      return {
        outcome: "error",
        result: refusal(
          "This call needs the owner's confirmation, and the server could not ask for it " +
            "just now. Nothing was done; try again shortly.",
        ),
      };
    }
    if (start.kind === "confirmed") {
      return { outcome: "confirmed", result: await run(confirmedBy(start.record)) };
    }
    if (start.kind === "full") {
      return {
        outcome: "denied",
        result: refusal(
          `${MAX_WAITING_PER_APP} calls of this app already wait for the owner's ` +
            "confirmation. Nothing was done: wait until the owner answers them.",
        ),
      };
    }
    const link = deps.linkOf(start.record.id);
    deps.emit(waitingEvent(start.record, link));
    const stop = keepAlive(call, link);
    offerLink(call, start.record, link, deps.timeoutMs);
    const end = await deps.confirmations.wait(
      start.record.id,
      deps.timeoutMs,
      call.ctx.mcpReq.signal,
    ).finally(stop);
    return await ended(end, link, run);
  };
}

/** What caller(ctx) says of a confirmed call. */
function confirmedBy(record: ConfirmationRecord): CallPolicy {
  return {
    policy: "ask",
    confirmedAt: record.decidedAt ?? record.createdAt,
    ...(record.decidedBy ? { confirmedBy: record.decidedBy } : {}),
  };
}

async function ended(
  { end, record }: WaitEnd,
  link: string,
  run: (policy: CallPolicy) => Promise<CallToolResult>,
): Promise<{ result: CallToolResult; outcome: "confirmed" | "declined" | "timeout" | "expired" }> {
  switch (end) {
    case "confirmed":
      return { outcome: "confirmed", result: await run(confirmedBy(record!)) };
    case "declined":
      return {
        outcome: "declined",
        result: refusal("The owner declined this call. Nothing was done; do not try it again."),
      };
    case "expired":
      return {
        outcome: "expired",
        result: refusal("The owner did not confirm this call in time. Nothing was done."),
      };
    case "timeout":
      return {
        outcome: "timeout",
        result: refusal(
          `This call waits for the owner's confirmation, and nothing was done yet. The owner ` +
            `may confirm it at ${link}; once confirmed, the same call (same tool and ` +
            "arguments) made again within 10 minutes runs, once.",
        ),
      };
  }
}
