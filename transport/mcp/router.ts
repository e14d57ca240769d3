/**
 * Where a request to the MCP endpoint goes. A request naming a session held here (or
 * one built again from its record) is served by that session; one the client ended,
 * or another grant's, answers 404; any other request, a session id this process does
 * not hold included (lost to a restart, idled out or evicted: Claude Code does not
 * initialize again after a 404, so its tools would die with the session), is served
 * statelessly, and an `initialize` opens a session.
 *
 * @module
 */
import { type AuthInfo, isInitializeRequest } from "@modelcontextprotocol/server";
import type { Sessionless } from "./sessionless.ts";
import { grantOf, type Session, type SessionOpener, type SessionTable } from "./live_sessions.ts";
import type { StreamTable } from "./streams.ts";
import { jsonRpcError, readBody } from "./wire.ts";

/** What the router sends requests to. */
export interface RouterDeps {
  table: SessionTable;
  opener: SessionOpener;
  sessionless: Sessionless;
  streams: StreamTable;
  /** Whether sessions are shared through a store (answers may be relayed). */
  shared: boolean;
  bodyTimeoutSeconds: number;
  now: () => number;
}

/** The router: a request and its token's `authInfo` in, the answer out. */
export function createRouter(
  deps: RouterDeps,
): (request: Request, authInfo: AuthInfo) => Promise<Response> {
  const { table, opener, sessionless } = deps;

  /** Serves a request of a session this process holds. */
  async function inSession(id: string, session: Session, request: Request, authInfo: AuthInfo) {
    session.lastUsed = deps.now();
    opener.keepRecord(id, session);
    if (request.method === "GET") {
      const response = await session.transport.handleRequest(request, { authInfo });
      if (response.status !== 200 || !response.body) return response;
      // Requests tied to no client request travel on this stream while it is open.
      session.relay?.standaloneStream(true);
      return deps.streams.track(response, authInfo.extra?.grantId, () => {
        if (table.get(id) === session) session.relay?.standaloneStream(false);
      });
    }
    if (request.method !== "POST" || !deps.shared) {
      return await session.transport.handleRequest(request, { authInfo });
    }
    // Shared: answers to another process's requests go on through the store.
    const read = await readBody(request, deps.bodyTimeoutSeconds);
    if (read instanceof Response) return read;
    const mine = await session.relay!.incoming(read.body, grantOf(authInfo) ?? "");
    if (mine === undefined) return new Response(null, { status: 202 });
    return await session.transport.handleRequest(request, { authInfo, parsedBody: mine });
  }

  /** A session's answer; undefined when the request is to be served without one. */
  async function toSession(id: string, request: Request, authInfo: AuthInfo) {
    let session = table.get(id);
    // A session is only ever reachable with a token of the grant that opened it, and
    // one the client ended stays ended.
    if (table.isEnded(id) || (session && session.grantId !== authInfo.extra?.grantId)) {
      return jsonRpcError(404, -32001, "Session not found");
    }
    if (session && table.isIdle(session)) {
      await table.close(id);
      session = undefined;
    }
    // Opened by another process sharing the store (or before a restart): build it again.
    session ??= await opener.restore(id, authInfo);
    if (session && session.grantId === authInfo.extra?.grantId) {
      return await inSession(id, session, request, authInfo);
    }
    // A session nobody holds (restart, idle, eviction, no record): nothing to end,
    // and anything else is served as if no id had been sent.
    if (request.method === "DELETE") return jsonRpcError(404, -32001, "Session not found");
    return undefined;
  }

  return async (request, authInfo) => {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const answer = await toSession(sessionId, request, authInfo);
      if (answer) return answer;
    }
    if (request.method !== "POST") return await sessionless.other(request, authInfo);
    const read = await readBody(request, deps.bodyTimeoutSeconds);
    if (read instanceof Response) return read;
    // The SDK is handed the parsed body and never reads the (consumed) request body.
    const parsedBody = read.body;
    const method = (parsedBody as { method?: unknown } | null)?.method;
    if (method === "initialize" && isInitializeRequest(parsedBody)) {
      return await opener.open(request, parsedBody, authInfo);
    }
    return await sessionless.post(request, parsedBody, authInfo);
  };
}
