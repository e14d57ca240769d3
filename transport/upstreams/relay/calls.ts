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
 * or url mode asked): in its 2025-era session (a sessionless 2025-era request has no
 * channel for a server's request), or in the 2026-07-28 request itself, where the
 * request travels in rounds (below).
 * roots/list always gets an empty list: the gateway shares no client's roots.
 * Log messages go to the session whose call is in flight, by the same rule; otherwise
 * to `onLog` (the activity log).
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/client";
import {
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  type CreateMessageRequest,
  type ElicitRequest,
  inputRequired,
  type InputRequiredResult,
  type LoggingMessageNotification,
  ProtocolError,
  ProtocolErrorCode,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { randomToken } from "../../../core/crypto.ts";

/** One downstream request being served by an upstream. */
export interface CallInFlight {
  /** The downstream SDK server (one session, or one shared by sessionless requests). */
  server: Server;
  ctx: ServerContext;
  /** The downstream session, when the request came in one. */
  sessionId?: string;
  /** A 2026-07-28 call's way to ask its client (rounds.ts): the client answers next round. */
  ask?: (method: string, params: unknown, signal: AbortSignal) => Promise<unknown>;
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
  const envelope = call.ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope === undefined && call.sessionId === undefined) {
    return `the client's call came without a session`;
  }
  // 2026-07-28: what the request itself declares; 2025: what the session declared.
  const caps =
    (envelope ? envelope[CLIENT_CAPABILITIES_META_KEY] : call.server.getClientCapabilities()) as
      | ClientCapabilities
      | undefined;
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
    if (call.ask) return await call.ask(method, request.params, signal) as never;
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

/*
 * Rounds: an upstream's sampling or elicitation request during a 2026-07-28 client's
 * call. That revision has no server-to-client requests: the server answers the call with an
 * `input_required` result carrying the request, and the client calls again with its
 * answer (`inputResponses`) and the `requestState` it was given. The upstream, a
 * 2025-era connection, keeps waiting meanwhile, so the upstream call is kept here
 * across the client's rounds:
 * - the first round starts the upstream call; whatever comes first (its result, or a
 *   request of the upstream's) is what the round answers;
 * - a request parks the call under a random `requestState` (32 bytes: unguessable, so
 *   it is its own integrity check) bound to the grant that made the call; the next
 *   round of that grant hands the client's answer to the upstream and waits again;
 * - a round that does not come within the upstream's `timeoutMs` fails the upstream's
 *   request (a JSON-RPC error), and the call is forgotten.
 * Kept in this process only: on several processes sharing a store, the next round must
 * reach the same process (a `requestState` another process does not know is refused).
 */

/** The key of the one input request a round carries. */
const KEY = "upstream";
/** Most calls parked at once: a client that never comes back cannot grow this for ever. */
export const MAX_PARKED = 1000;

type Outcome =
  | { result: CallToolResult }
  | { error: unknown }
  | { input: { method: string; params: unknown } };

interface Flight {
  grant: unknown;
  /** Ends the upstream call: the client did not come back. */
  abort: AbortController;
  /** Settles the round being waited for. */
  settle(outcome: Outcome): void;
  next: Promise<Outcome>;
  /** The upstream's request waiting for the client's answer. */
  answer?: { resolve(value: unknown): void; reject(error: unknown): void };
  timer?: ReturnType<typeof setTimeout>;
}

/** Asks the client, through the rounds: what the upstream's request handler awaits. */
export type Ask = (method: string, params: unknown, signal: AbortSignal) => Promise<unknown>;

/** The parked calls of 2026-07-28 clients. */
export interface Rounds {
  /** First round: runs the upstream call with `ask` for its requests. */
  start(
    grant: unknown,
    timeoutMs: number,
    run: (ask: Ask, signal: AbortSignal) => Promise<CallToolResult>,
  ): Promise<CallToolResult | InputRequiredResult>;
  /** A later round: the client's answer to the parked call's request. */
  resume(
    state: string,
    grant: unknown,
    timeoutMs: number,
    responses: Record<string, unknown> | undefined,
  ): Promise<CallToolResult | InputRequiredResult>;
}

function newRound(flight: Flight): void {
  let settle!: (outcome: Outcome) => void;
  flight.next = new Promise<Outcome>((resolve) => settle = resolve);
  flight.settle = settle;
}

/** Creates the table of parked calls. */
export function createRounds(): Rounds {
  const parked = new Map<string, Flight>();

  /** What one round answers: the result, the upstream's error, or its request. */
  async function answer(flight: Flight, timeoutMs: number) {
    const outcome = await flight.next;
    if ("result" in outcome) return outcome.result;
    if ("error" in outcome) throw outcome.error;
    newRound(flight);
    const state = randomToken();
    if (parked.size >= MAX_PARKED) expire(parked.keys().next().value!);
    parked.set(state, flight);
    flight.timer = setTimeout(() => expire(state), timeoutMs);
    return inputRequired({
      inputRequests: { [KEY]: outcome.input } as Parameters<
        typeof inputRequired
      >[0]["inputRequests"],
      requestState: state,
    });
  }

  function expire(state: string): void {
    const flight = parked.get(state);
    parked.delete(state);
    clearTimeout(flight?.timer);
    flight?.answer?.reject(
      new ProtocolError(ProtocolErrorCode.InternalError, "the client did not answer in time"),
    );
    flight?.abort.abort();
  }

  return {
    start(grant, timeoutMs, run) {
      // The upstream call outlives the first round's request (and its signal): it ends
      // with its result, or when the client does not come back.
      const flight = { grant, abort: new AbortController() } as Flight;
      newRound(flight);
      const ask: Ask = (method, params, signal) =>
        new Promise((resolve, reject) => {
          flight.answer = { resolve, reject };
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          flight.settle({ input: { method, params } });
        });
      run(ask, flight.abort.signal).then(
        (result) => flight.settle({ result }),
        (error) => flight.settle({ error }),
      );
      return answer(flight, timeoutMs);
    },
    resume(state, grant, timeoutMs, responses) {
      const flight = parked.get(state);
      if (!flight || flight.grant !== grant) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Invalid or expired requestState");
      }
      parked.delete(state);
      clearTimeout(flight.timer);
      const response = responses?.[KEY];
      if (response === undefined) {
        flight.answer?.reject(
          new ProtocolError(ProtocolErrorCode.InternalError, "the client gave no answer"),
        );
      } else flight.answer?.resolve(response);
      return answer(flight, timeoutMs);
    },
  };
}
