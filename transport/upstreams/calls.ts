/**
 * The downstream calls in flight on each upstream, and what an upstream asks back while
 * one runs: sampling, elicitation, roots, log messages.
 *
 * One upstream process is shared by every app, and MCP gives a server's request to its
 * client no field naming the request that caused it (stdio carries none; the SDK's
 * `relatedRequestId` only picks an HTTP stream). So an upstream's request is attributed
 * to the downstream calls in flight on that upstream when it arrives:
 * - none: the upstream gets a JSON-RPC error (nobody to ask);
 * - all from one downstream session: the most recent of them asks that client;
 * - from two or more sessions (or sessionless requests, which cannot be told apart):
 *   refused with a JSON-RPC error rather than guessed. A sampling prompt or an
 *   elicitation form shown to the wrong app would leak one app's work to another.
 * The client must also have declared the capability (sampling; elicitation in the form
 * or url mode asked), on a 2025-era session: without a session there is no channel for
 * a server's request, and 2026-07-28 replaced these requests with `input_required`
 * results, which a call already forwarded upstream cannot return.
 * roots/list always gets an empty list: the gateway shares no client's roots.
 * Log messages go to the session whose call is in flight, by the same rule; otherwise
 * to `onLog` (the activity log).
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/client";
import type {
  ClientCapabilities,
  CreateMessageRequest,
  ElicitRequest,
  LoggingMessageNotification,
  Server,
  ServerContext,
} from "@modelcontextprotocol/server";

/** One downstream request being served by an upstream. */
export interface CallInFlight {
  /** The downstream SDK server (one session, or one shared by sessionless requests). */
  server: Server;
  ctx: ServerContext;
  /** The downstream session, when the request came in one. */
  sessionId?: string;
}

/** What the gateway declares to every upstream at initialize. */
export const GATEWAY_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: false },
};

/** A JSON-RPC error an upstream receives in answer to its request. */
export class RelayRefused extends Error {
  /** JSON-RPC error code (-32603: the gateway could not serve the request). */
  readonly code = -32603;
}

/** The in-flight table: one set of calls per upstream. */
export interface CallTable {
  /** Registers a call on `upstream` until the returned function is called. */
  enter(upstream: string, call: CallInFlight): () => void;
  /** The call an upstream's request belongs to, by the rule above; throws RelayRefused. */
  attribute(upstream: string, what: string): CallInFlight;
  /** The one session's latest call, for a log message; undefined when not one session. */
  logTarget(upstream: string): CallInFlight | undefined;
}

/** Creates the in-flight table. */
export function createCallTable(): CallTable {
  const byUpstream = new Map<string, Set<CallInFlight>>();

  function single(upstream: string): CallInFlight | "none" | "several" {
    const calls = byUpstream.get(upstream);
    if (!calls || calls.size === 0) return "none";
    let latest: CallInFlight | undefined;
    for (const call of calls) {
      if (latest && (call.sessionId === undefined || call.sessionId !== latest.sessionId)) {
        return "several";
      }
      latest = call;
    }
    return latest!;
  }

  return {
    enter(upstream, call) {
      let calls = byUpstream.get(upstream);
      if (!calls) byUpstream.set(upstream, calls = new Set());
      calls.add(call);
      return () => {
        calls.delete(call);
        if (calls.size === 0 && byUpstream.get(upstream) === calls) byUpstream.delete(upstream);
      };
    },
    attribute(upstream, what) {
      const call = single(upstream);
      if (call === "none") {
        throw new RelayRefused(`${what} refused: no client call is in flight on this server`);
      }
      if (call === "several") {
        throw new RelayRefused(
          `${what} refused: calls from several clients are in flight on this server, ` +
            "and the gateway cannot tell which one asked",
        );
      }
      return call;
    },
    logTarget(upstream) {
      const call = single(upstream);
      return typeof call === "string" ? undefined : call;
    },
  };
}

/** Why `call`'s client cannot take `method` (mode: elicitation's), or undefined. */
function unable(call: CallInFlight, method: string, mode?: string): string | undefined {
  if (call.ctx.mcpReq.envelope !== undefined) {
    return `the client's call uses protocol revision 2026-07-28, which has no ${method} request`;
  }
  if (call.sessionId === undefined) return `the client's call came without a session`;
  const caps = call.server.getClientCapabilities();
  if (method === "sampling/createMessage" && !caps?.sampling) {
    return "the client did not declare sampling";
  }
  if (method === "elicitation/create") {
    const elicitation = caps?.elicitation as { form?: unknown; url?: unknown } | undefined;
    // A bare `elicitation: {}` is form support (MCP 2025-11-25, client capabilities).
    const form = elicitation && (elicitation.form || Object.keys(elicitation).length === 0);
    if (mode === "url" ? !elicitation?.url : !form) {
      return `the client did not declare elicitation (${mode ?? "form"} mode)`;
    }
  }
  return undefined;
}

/** Options for {@linkcode setupRelay}. */
export interface RelayOptions {
  /** A log message from an upstream that no single session's call can take. */
  onLog: (upstream: string, params: LoggingMessageNotification["params"]) => void;
  /** An upstream's tools, prompts or resources changed (`list_changed`). */
  onListChanged: (upstream: string) => void;
}

/**
 * Installs on an upstream's SDK client (before it connects) the handlers of what the
 * upstream asks or tells the gateway.
 */
export function setupRelay(
  client: Client,
  upstream: string,
  calls: CallTable,
  options: RelayOptions,
): void {
  const forward = async (
    method: "sampling/createMessage" | "elicitation/create",
    request: CreateMessageRequest | ElicitRequest,
    signal: AbortSignal,
  ) => {
    const call = calls.attribute(upstream, method);
    const mode = (request.params as { mode?: string }).mode;
    const why = unable(call, method, mode);
    if (why) throw new RelayRefused(`${method} refused: ${why}`);
    // Sent on the stream of the downstream call, so the client sees it in context;
    // the upstream cancelling its request cancels ours (`signal`).
    return await call.ctx.mcpReq.send(
      { method, params: request.params } as CreateMessageRequest,
      { signal, relatedRequestId: call.ctx.mcpReq.id },
    );
  };
  client.setRequestHandler(
    "sampling/createMessage",
    (request, ctx) => forward("sampling/createMessage", request, ctx.mcpReq.signal),
  );
  client.setRequestHandler(
    "elicitation/create",
    // deno-lint-ignore no-explicit-any
    (request, ctx) => forward("elicitation/create", request, ctx.mcpReq.signal) as any,
  );
  client.setRequestHandler("roots/list", () => ({ roots: [] }));
  client.setNotificationHandler("notifications/message", (notification) => {
    const call = calls.logTarget(upstream);
    if (!call) return options.onLog(upstream, notification.params);
    // As the client's own: on the call's stream, under the level it set (logging/setLevel).
    const { level, data, logger } = notification.params;
    call.ctx.mcpReq.log(level, data, logger).catch(() =>
      options.onLog(upstream, notification.params)
    );
  });
  for (
    const method of [
      "notifications/tools/list_changed",
      "notifications/prompts/list_changed",
      "notifications/resources/list_changed",
    ] as const
  ) {
    client.setNotificationHandler(method, () => options.onListChanged(upstream));
  }
}
