/**
 * The MCP endpoint, on the official SDK's Web-standard handler. It serves:
 * - the 2026-07-28 revision (per-request envelope, no sessions), and 2025-era requests
 *   without a session id statelessly: Claude.ai never echoes `Mcp-Session-Id`, so a
 *   lone `tools/call` must work;
 * - 2025-era sessions for clients that open one with `initialize` and echo its id:
 *   the SDK then knows the client's capabilities and can route the client's answers to
 *   sampling and elicitation requests back to the waiting tool call;
 * - a request naming a session this process does not hold (lost to a restart, idled
 *   out or evicted) statelessly, like a request without one: Claude Code does not
 *   initialize again after a 404, so its tools would die with the session. Only a
 *   session the client ended with DELETE, or another grant's, answers 404.
 * - when the store is shared by several processes (Deno Deploy's isolates, servers on
 *   one Deno KV file), a session's record (sessions.ts) lets any of them answer its
 *   requests: a process that does not hold the session builds it again from the
 *   record, and the client's answers to sampling and elicitation requests reach the
 *   process that asked through the store (relay.ts).
 * It knows nothing of OAuth beyond the `authInfo` the bearer gate hands it; a session
 * belongs to the grant that opened it.
 *
 * This file composes the parts, each built once, never per request:
 * - servers.ts builds the `McpServer` instances (every one with the same registrations
 *   and `configureServer`) and knows which are alive;
 * - sessionless.ts serves requests without a session: the one shared server behind the
 *   multiplexing transport (multiplex.ts) and the SDK's own `createMcpHandler`;
 * - live_sessions.ts holds this process's sessions, opens them and builds them again
 *   from their records (sessions.ts, relay.ts);
 * - router.ts sends each request where it belongs; streams.ts lets a revoked grant's
 *   event streams be ended; wire.ts reads bodies and shapes answers.
 *
 * @module
 */
import type { AuthInfo, McpServer } from "@modelcontextprotocol/server";
import type { Store } from "../../store/store.ts";
import type { Prompts } from "../prompts.ts";
import type { Resources } from "../resources.ts";
import type { Tools } from "../tools.ts";
import { createAnswerRelay } from "./relay.ts";
import { createRouter } from "./router.ts";
import { createServerInstances, type ToolGate } from "./servers.ts";
import { createSessionless } from "./sessionless.ts";
import { createSessionOpener, createSessionTable } from "./live_sessions.ts";
import { createSessionRecords } from "./sessions.ts";
import { createStreamTable } from "./streams.ts";
import { acceptingBoth, acceptsOf, sseToJson } from "./wire.ts";

export { MAX_POOLED_SERVERS } from "./servers.ts";
export { MAX_ENDED_SESSIONS, MAX_SESSIONS, SESSION_IDLE_MS } from "./live_sessions.ts";
export { isModernHeader, isPlainLegacyRequest } from "./sessionless.ts";
export { jsonRpcError, MAX_MCP_BODY_BYTES } from "./wire.ts";

/** What the MCP endpoint is built from. */
export interface McpEndpointOptions {
  name: string;
  version: string;
  instructions?: string;
  /** Resources, registered on every server instance as tools are. */
  resources?: Resources;
  /** Prompts, registered on every server instance as tools are. */
  prompts?: Prompts;
  /**
   * Runs once on each server instance built (not per request), after the
   * registrations: what is registered here is offered by every instance.
   */
  configureServer?: (server: McpServer) => void;
  /** How long a POST body may take to arrive, in seconds (408 after). */
  bodyTimeoutSeconds: number;
  onError?: (error: Error) => void;
  /**
   * The store, when other processes serving the same URL share it: session records
   * and relayed answers live there. Absent: sessions live in this process only.
   */
  sharedStore?: Store;
  /**
   * Decides which tools each caller sees and what happens to each of its calls (the
   * owner's policy per app). Absent: every caller sees and calls every tool.
   */
  toolGate?: ToolGate;
  /**
   * Whether plain sessionless 2025-era `tools/call` and `tools/list` requests take the
   * direct lane (sessionless.ts) rather than the SDK's dispatch. On unless turned off:
   * off, every request goes through the dispatch (the differential test compares the two).
   */
  directLane?: boolean;
}

/** The MCP endpoint as a fetch handler. */
export interface McpEndpoint {
  fetch(request: Request, authInfo: AuthInfo): Promise<Response>;
  /**
   * Ends at once everything a grant holds open: its sessions and every event stream
   * answered to one of its tokens. `grantId` is what the gate put in `authInfo.extra`.
   */
  closeGrant(grantId: string): Promise<void>;
  /**
   * Closes a session here without answering 404 for it later: its record is gone (the
   * client ended it through another process, or it was dropped).
   */
  closeSession(sessionId: string): Promise<void>;
  /**
   * Tells the open sessions of one app (client id) that its tool list changed
   * (`notifications/tools/list_changed`): the owner changed what it may use.
   */
  toolsChanged(clientId: string): void;
  /** The grants that hold a session or an event stream open here. */
  openGrants(): string[];
  /**
   * Every server instance alive now (the shared one, the pooled ones, one per
   * session): what must change on all of them (a tool list that changed) is done here,
   * and each connected one tells its client (`list_changed`).
   */
  servers(): McpServer[];
  /**
   * Tells every client that can hear it that lists changed (an upstream's, through the
   * gateway): each 2025-era session with a `list_changed` on its stream, and each open
   * 2026-07-28 `subscriptions/listen` stream that asked for that kind.
   */
  listChanged(kinds: readonly ListKind[]): void;
  /** Closes every session (and their open streams). */
  close(): Promise<void>;
}

/** A list whose change clients are told of. */
export type ListKind = "tools" | "prompts" | "resources";

function sendListChanged(server: McpServer, kind: ListKind): Promise<void> {
  if (kind === "tools") return server.server.sendToolListChanged();
  if (kind === "prompts") return server.server.sendPromptListChanged();
  return server.server.sendResourceListChanged();
}

/** Builds the endpoint once: tool registrations and options are prepared here, not per request. */
export function createMcpEndpoint(tools: Tools, options: McpEndpointOptions): McpEndpoint {
  const now = () => Date.now();
  const onError = (error: unknown) =>
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
  // Every McpServer of this endpoint is built from this one blueprint (servers.ts).
  const { name, version, instructions, resources, prompts, configureServer, toolGate } = options;
  const servers = createServerInstances({
    name,
    version,
    instructions,
    tools,
    resources,
    prompts,
    configureServer,
    toolGate,
  });
  const sessionless = createSessionless(servers, options.onError, options.directLane ?? true);
  const records = options.sharedStore ? createSessionRecords(options.sharedStore, now) : undefined;
  const relay = createAnswerRelay(options.sharedStore, onError);
  const table = createSessionTable(now);
  const opener = createSessionOpener({ table, servers, relay, records, onError, now });
  const streams = createStreamTable();
  const route = createRouter({
    table,
    opener,
    sessionless,
    streams,
    shared: records !== undefined,
    bodyTimeoutSeconds: options.bodyTimeoutSeconds,
    now,
  });

  return {
    async fetch(request, authInfo) {
      const grantId = authInfo.extra?.grantId;
      const { json, sse } = acceptsOf(request);
      if (request.method !== "POST" || (json && sse)) {
        return streams.track(await route(request, authInfo), grantId);
      }
      const response = streams.track(await route(acceptingBoth(request), authInfo), grantId);
      if (sse || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
        return response;
      }
      return await sseToJson(response);
    },
    async closeGrant(grantId) {
      // A revoked grant keeps nothing open: anything a tool still pushes (log messages,
      // sampling or elicitation requests) must not reach the client.
      streams.end(grantId);
      await Promise.all(table.idsOf(grantId).map(table.close));
    },
    closeSession: (sessionId) => table.close(sessionId),
    openGrants() {
      const grants = new Set(table.grants());
      for (const g of streams.grants()) if (typeof g === "string") grants.add(g);
      return [...grants];
    },
    servers: () => servers.live(),
    listChanged(kinds) {
      for (const server of servers.live()) {
        // Only a session holds a channel for a notification tied to no request.
        if (!server.isConnected() || server.server.transport?.sessionId === undefined) continue;
        for (const kind of kinds) sendListChanged(server, kind).catch(onError);
      }
      for (const kind of kinds) sessionless.notify[`${kind}Changed`]();
    },
    toolsChanged(clientId) {
      for (const session of table.ofClient(clientId)) {
        try {
          if (session.server.isConnected()) session.server.sendToolListChanged();
        } catch (error) {
          onError(error);
        }
      }
    },
    async close() {
      await Promise.all(table.ids().map(table.close));
      await sessionless.close();
    },
  };
}
