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
 * Server instances are built once, never per request: one `McpServer` answers every
 * sessionless 2025-era request of the process through the multiplexing transport
 * (multiplex.ts), each 2025-era session has its own, and 2026-07-28 requests (and the
 * rare batch or posted response) go through the SDK's own `createMcpHandler`, whose
 * factory hands out instances kept from earlier requests: that entry binds the protocol
 * revision and the client's identity to an instance for one exchange at a time.
 *
 * @module
 */
import {
  type AuthInfo,
  classifyInboundRequest,
  createMcpHandler,
  isInitializeRequest,
  isJsonContentType,
  isJSONRPCRequest,
  type JSONRPCNotification,
  type JSONRPCRequest,
  McpServer,
  type McpServerFactory,
  SUPPORTED_PROTOCOL_VERSIONS,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  CLOSE_CONNECTION,
  readTextWithin,
} from "../../core/http.ts";
import type { Store } from "../../store/store.ts";
import { type AttachedSession, createAnswerRelay } from "./relay.ts";
import {
  createSessionRecords,
  MAX_SESSION_ID_LENGTH,
  SESSION_RECORD_TTL_MS,
  type SessionRecord,
} from "./sessions.ts";
import { createMultiplexTransport } from "./multiplex.ts";
import { type Prompts, registerPrompts } from "../prompts.ts";
import { registerResources, type Resources } from "../resources.ts";
import { registerTools, type Tools } from "../tools.ts";

/** Most 2025-era sessions kept at once; the least recently used goes first. */
export const MAX_SESSIONS = 100;
/** A session unused this long is closed, in ms. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** How many session ids ended by DELETE are remembered (and answered 404), newest kept. */
export const MAX_ENDED_SESSIONS = 1000;
/** Largest POST body the endpoint reads, in bytes (the SDK's own default). */
export const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024;
/** Most idle server instances kept for the SDK handler's requests, per protocol era. */
export const MAX_POOLED_SERVERS = 16;

/** What the MCP endpoint is built from. */
export interface McpEndpointOptions {
  name: string;
  version: string;
  instructions?: string;
  /** Resources, registered on every server instance as tools are. */
  resources?: Resources;
  /** Prompts, registered on every server instance as tools are. */
  prompts?: Prompts;
  /** Runs once on each server instance built (not per request), after the registrations. */
  configureServer?: (server: McpServer) => void;
  /** How long a POST body may take to arrive, in seconds (408 after). */
  bodyTimeoutSeconds: number;
  onError?: (error: Error) => void;
  /**
   * The store, when other processes serving the same URL share it: session records
   * and relayed answers live there. Absent: sessions live in this process only.
   */
  sharedStore?: Store;
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
  /** The grants that hold a session or an event stream open here. */
  openGrants(): string[];
  /** Closes every session (and their open streams). */
  close(): Promise<void>;
}

/** Instances the SDK handler returns after each exchange, kept for the next, per era. */
function createServerPool(build: () => McpServer): McpServerFactory {
  const idle = { legacy: [] as McpServer[], modern: [] as McpServer[] };
  return ({ era }) => {
    const kept = idle[era].pop();
    if (kept) return kept;
    const server = build();
    // The handler closes the instance's transport once the exchange is over.
    server.server.onclose = () => {
      if (idle[era].length < MAX_POOLED_SERVERS) idle[era].push(server);
    };
    return server;
  };
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  grantId: unknown;
  lastUsed: number;
  /** Its record in the shared store, when there is one. */
  record?: SessionRecord;
  /** Its server-to-client requests and the client's answers. */
  relay?: AttachedSession;
}

/** Most session ids remembered as absent from the shared store (not looked up again). */
const MAX_ABSENT_SESSIONS = 1000;

/** The 2025-era protocol versions the SDK speaks: a header naming one keeps a request legacy. */
const LEGACY_VERSIONS = new Set(SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v < "2026"));

/**
 * Whether the SDK's classification (`classifyInboundRequest`) would route this body to
 * its 2025-era stateless leg as a plain request, decided without running it: a valid
 * JSON-RPC request other than `initialize` whose `_meta` carries nothing but a progress
 * token (so no per-request envelope claim) and whose `MCP-Protocol-Version` header, if
 * any, names a 2025-era version. The classifier runs four schema checks, three of them
 * failing (with the garbage that makes) for every ordinary request; anything this test
 * does not recognise still goes through it. tests/endpoints/mcp_shared_server_test.ts
 * holds the two to the same answers.
 */
export function isPlainLegacyRequest(body: unknown, versionHeader: string | null): boolean {
  if (versionHeader !== null && !LEGACY_VERSIONS.has(versionHeader)) return false;
  if (!body || typeof body !== "object" || Array.isArray(body)) return false;
  const { method, params } = body as { method?: unknown; params?: unknown };
  if (typeof method !== "string" || method === "initialize") return false;
  if (params !== undefined) {
    if (!params || typeof params !== "object" || Array.isArray(params)) return false;
    const meta = (params as { _meta?: unknown })._meta;
    if (meta !== undefined) {
      if (!meta || typeof meta !== "object" || Array.isArray(meta)) return false;
      for (const key of Object.keys(meta)) if (key !== "progressToken") return false;
    }
  }
  return isJSONRPCRequest(body);
}

/** Whether a message (or batch) asks for progress notifications, which need SSE. */
function asksForProgress(body: unknown): boolean {
  if (Array.isArray(body)) return true; // batches keep the SDK's own streaming path
  const meta = (body as { params?: { _meta?: { progressToken?: unknown } } })?.params?._meta;
  return meta?.progressToken !== undefined;
}

/** A JSON-RPC error answer that belongs to no request (`id: null`). */
export function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * Collapses a finished SSE answer into the JSON answer a client that accepts only
 * JSON expects: the JSON-RPC response(s) it carried; notifications are dropped.
 */
async function sseToJson(response: Response): Promise<Response> {
  const text = await response.text();
  const replies: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart()).join("\n");
    if (!data) continue;
    try {
      const message = JSON.parse(data);
      if (
        message && typeof message === "object" && "id" in message &&
        ("result" in message || "error" in message)
      ) {
        replies.push(message);
      }
    } catch { /* not JSON: skip */ }
  }
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  if (replies.length === 0) return new Response(null, { status: 202, headers });
  return new Response(JSON.stringify(replies.length === 1 ? replies[0] : replies), {
    status: response.status,
    headers,
  });
}

/**
 * The open event streams of each grant. An SSE answer (a session's stream, a tool call
 * reporting progress, a 2026 subscription) is handed out through a stream of ours that
 * can be ended from here, whatever the SDK is still doing behind it.
 */
function createStreamTable() {
  const byGrant = new Map<unknown, Set<() => void>>();
  // Answers already handed out through a stream of ours (tracked once, not twice).
  const tracked = new WeakSet<Response>();

  function track(response: Response, grantId: unknown, onEnd?: () => void): Response {
    const type = response.headers.get("content-type") ?? "";
    if (
      !response.body || grantId === undefined || !type.startsWith("text/event-stream") ||
      tracked.has(response)
    ) {
      return response;
    }
    const reader = response.body.getReader();
    let ended = false;
    let ends = byGrant.get(grantId);
    if (!ends) byGrant.set(grantId, ends = new Set());
    const set = ends;
    let end = () => {};
    const forget = () => {
      if (!ended) onEnd?.();
      ended = true;
      set.delete(end);
      if (set.size === 0 && byGrant.get(grantId) === set) byGrant.delete(grantId);
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        end = () => {
          if (ended) return;
          forget();
          controller.close();
          reader.cancel().catch(() => {});
        };
        set.add(end);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (ended) return;
          if (done) {
            forget();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          if (ended) return;
          forget();
          controller.error(error);
        }
      },
      cancel(reason) {
        forget();
        return reader.cancel(reason);
      },
    });
    const ours = new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    tracked.add(ours);
    return ours;
  }

  return {
    track,
    /** Ends every stream of `grantId`. */
    end(grantId: unknown): void {
      for (const end of [...byGrant.get(grantId) ?? []]) end();
    },
    /** The grants with a stream open. */
    grants(): unknown[] {
      return [...byGrant.keys()];
    },
  };
}

/** Builds the endpoint once: tool registrations and options are prepared here, not per request. */
export function createMcpEndpoint(tools: Tools, options: McpEndpointOptions): McpEndpoint {
  const now = () => Date.now();
  const idle = (s: Session, t: number) => t - s.lastUsed > SESSION_IDLE_MS;
  const serverInfo = { name: options.name, version: options.version };
  const serverOptions = {
    // Logging is declared so that tools can send log messages (ctx.mcpReq.log).
    capabilities: { logging: {} },
    ...(options.instructions ? { instructions: options.instructions } : {}),
  };
  const build = () => {
    const server = new McpServer(serverInfo, serverOptions);
    registerTools(server, tools);
    if (options.resources) registerResources(server, options.resources);
    if (options.prompts) registerPrompts(server, options.prompts);
    options.configureServer?.(server);
    return server;
  };
  const buildStateless = () => {
    const server = build();
    // Without a session a log level has nothing to stay with: as on a server built for
    // one request, the request is validated and answered, and nothing is kept.
    if (server.server.getCapabilities().logging) {
      server.server.setRequestHandler("logging/setLevel", () => ({}));
    }
    return server;
  };
  const handler = createMcpHandler(createServerPool(buildStateless), {
    legacy: "stateless",
    onerror: options.onError,
  });
  // The one server of every sessionless 2025-era request.
  const shared = buildStateless();
  const mux = createMultiplexTransport();
  mux.onerror = (error) => options.onError?.(error);
  const connected = shared.connect(mux);
  const onError = (error: unknown) =>
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
  const records = options.sharedStore ? createSessionRecords(options.sharedStore, now) : undefined;
  const relay = createAnswerRelay(options.sharedStore, onError);
  const sessions = new Map<string, Session>();
  // Ids the client ended with DELETE, oldest first: a later use of one is a client bug
  // worth telling it about (MCP 2025-06-18 streamable HTTP: 404 after termination).
  const ended = new Set<string>();
  // Ids with no record in the shared store, oldest first: not looked up again. A
  // record is written before its id reaches the client, so absent stays absent.
  const absent = new Set<string>();
  // Sessions being built again from their records, by grant and id.
  const restoring = new Map<string, Promise<Session | undefined>>();

  function remember(set: Set<string>, id: string, max: number): void {
    set.add(id);
    if (set.size > max) set.delete(set.values().next().value!);
  }
  const streams = createStreamTable();

  async function closeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    sessions.delete(id);
    session?.relay?.detach();
    await session?.transport.close().catch(() => {});
  }

  /** Drops idle sessions, then the least recently used while over the cap. */
  async function makeRoom(): Promise<void> {
    const t = now();
    for (const [id, s] of sessions) if (idle(s, t)) await closeSession(id);
    while (sessions.size >= MAX_SESSIONS) {
      let oldest: [string, Session] | undefined;
      for (const entry of sessions) {
        if (!oldest || entry[1].lastUsed < oldest[1].lastUsed) oldest = entry;
      }
      await closeSession(oldest![0]);
    }
  }

  /**
   * A session transport and its SDK server. `id` is the id of a session built again
   * from its record (undefined: a new session, whose record is written before the
   * client learns its id).
   */
  async function newSession(
    authInfo: AuthInfo,
    initialize: unknown,
    id?: string,
  ): Promise<Session> {
    await makeRoom();
    const grantId = authInfo.extra?.grantId;
    const grant = typeof grantId === "string" ? grantId : undefined;
    const session: Session = {
      transport: new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: id === undefined ? () => crypto.randomUUID() : () => id,
        onsessioninitialized: async (sid) => {
          sessions.set(sid, session);
          session.relay = relay.attach(sid, records ? grant : undefined, session.transport);
          if (id !== undefined || !records || grant === undefined) return;
          // Written before the answer carries the id, so every process can find it.
          session.record = await records.save(grant, sid, initialize).catch((error) => {
            onError(error);
            return undefined;
          });
        },
        onsessionclosed: (sid) => {
          sessions.delete(sid);
          session.relay?.detach();
          remember(ended, sid, MAX_ENDED_SESSIONS);
          if (records && grant !== undefined) {
            records.end(grant, sid).catch(onError);
          }
        },
      }),
      grantId,
      lastUsed: now(),
    };
    await build().connect(session.transport);
    return session;
  }

  async function openSession(
    request: Request,
    parsedBody: unknown,
    authInfo: AuthInfo,
  ): Promise<Response> {
    const session = await newSession(
      authInfo,
      (parsedBody as { params?: unknown }).params,
    );
    return await session.transport.handleRequest(request, { authInfo, parsedBody });
  }

  function grantOf(authInfo: AuthInfo): string | undefined {
    const grantId = authInfo.extra?.grantId;
    return typeof grantId === "string" ? grantId : undefined;
  }

  /**
   * Builds a session this process does not hold from its record in the shared store.
   * The SDK (2.4) offers no way to mark a transport as already initialized
   * (modelcontextprotocol/typescript-sdk#1658, #1882), so the client's own `initialize`
   * and `notifications/initialized` are handed to a fresh transport and server, which
   * take the session id, protocol version, capabilities and client info from them as
   * they did the first time.
   */
  function restore(id: string, authInfo: AuthInfo): Promise<Session | undefined> {
    const grant = grantOf(authInfo);
    if (!records || grant === undefined || id.length > MAX_SESSION_ID_LENGTH || absent.has(id)) {
      return Promise.resolve(undefined);
    }
    const key = `${grant} ${id}`;
    let pending = restoring.get(key);
    if (!pending) {
      pending = (async () => {
        const record = await records.load(grant, id);
        if (!record) {
          remember(absent, id, MAX_ABSENT_SESSIONS);
          return undefined;
        }
        const session = await newSession(authInfo, record.initialize, id);
        session.record = record;
        const initialize = {
          jsonrpc: "2.0",
          id: 0,
          method: "initialize",
          params: record.initialize,
        };
        const answer = await session.transport.handleRequest(
          replayRequest(),
          { authInfo, parsedBody: initialize },
        );
        await answer.text();
        if (sessions.get(id) !== session) {
          // The SDK refused the record (it no longer supports the version): no session.
          session.relay?.detach();
          await session.transport.close().catch(() => {});
          remember(absent, id, MAX_ABSENT_SESSIONS);
          return undefined;
        }
        const initialized = await session.transport.handleRequest(
          replayRequest(id),
          { authInfo, parsedBody: { jsonrpc: "2.0", method: "notifications/initialized" } },
        );
        await initialized.body?.cancel();
        return session;
      })().catch((error) => {
        onError(error);
        return undefined;
      }).finally(() => restoring.delete(key));
      restoring.set(key, pending);
    }
    return pending;
  }

  /** A session's record is written again once half its lifetime has passed. */
  function keepRecord(id: string, session: Session): void {
    const grant = typeof session.grantId === "string" ? session.grantId : undefined;
    if (!records || !session.record || grant === undefined) return;
    if (now() - session.record.writtenAt < SESSION_RECORD_TTL_MS / 2) return;
    const record = session.record;
    session.record = { ...record, writtenAt: now() };
    records.touch(grant, id, record).catch(onError);
  }

  /** Reads a POST body once, under the bound; a Response when it cannot be read or parsed. */
  async function readBody(request: Request): Promise<{ body: unknown } | Response> {
    let text: string;
    try {
      text = await readTextWithin(request, MAX_MCP_BODY_BYTES, options.bodyTimeoutSeconds);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return jsonRpcError(413, -32600, "Request body too large");
      }
      if (error instanceof BodyTimeoutError) {
        const answer = jsonRpcError(408, -32600, "Request body did not arrive in time");
        answer.headers.set("connection", CLOSE_CONNECTION.connection!);
        return answer;
      }
      throw error;
    }
    try {
      return { body: JSON.parse(text) };
    } catch {
      return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
    }
  }

  /** Serves a request of a session this process holds. */
  async function inSession(
    id: string,
    session: Session,
    request: Request,
    authInfo: AuthInfo,
  ): Promise<Response> {
    session.lastUsed = now();
    keepRecord(id, session);
    if (request.method === "GET") {
      const response = await session.transport.handleRequest(request, { authInfo });
      if (response.status !== 200 || !response.body) return response;
      // Requests tied to no client request travel on this stream while it is open.
      session.relay?.standaloneStream(true);
      return streams.track(response, authInfo.extra?.grantId, () => {
        if (sessions.get(id) === session) session.relay?.standaloneStream(false);
      });
    }
    if (request.method !== "POST" || !records) {
      return await session.transport.handleRequest(request, { authInfo });
    }
    // Shared: answers to another process's requests go on through the store.
    const read = await readBody(request);
    if (read instanceof Response) return read;
    const mine = await session.relay!.incoming(read.body, grantOf(authInfo) ?? "");
    if (mine === undefined) return new Response(null, { status: 202 });
    return await session.transport.handleRequest(request, { authInfo, parsedBody: mine });
  }

  async function route(request: Request, authInfo: AuthInfo): Promise<Response> {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      let session = sessions.get(sessionId);
      // A session is only ever reachable with a token of the grant that opened it, and
      // one the client ended stays ended.
      if (ended.has(sessionId) || (session && session.grantId !== authInfo.extra?.grantId)) {
        return jsonRpcError(404, -32001, "Session not found");
      }
      if (session && idle(session, now())) {
        await closeSession(sessionId);
        session = undefined;
      }
      // Opened by another process sharing the store (or before a restart): build it again.
      session ??= await restore(sessionId, authInfo);
      if (session && session.grantId === authInfo.extra?.grantId) {
        return await inSession(sessionId, session, request, authInfo);
      }
      // A session nobody holds (restart, idle, eviction, no record): nothing to end,
      // and anything else is served as if no id had been sent.
      if (request.method === "DELETE") return jsonRpcError(404, -32001, "Session not found");
    }
    if (request.method !== "POST") return await handler.fetch(request, { authInfo });

    // Read the body once, under a bound, so that it can be classified and handed on parsed.
    const read = await readBody(request);
    if (read instanceof Response) return read;
    const parsedBody = read.body;
    // The SDK is handed the parsed body and never reads the (consumed) request body.
    const method = (parsedBody as { method?: unknown } | null)?.method;
    if (method === "initialize" && isInitializeRequest(parsedBody)) {
      return await openSession(request, parsedBody, authInfo);
    }
    // The SDK's own classification (what createMcpHandler routes on): a single 2025-era
    // request or notification goes to the shared server; 2026-07-28 requests, batches,
    // posted responses and the SDK's refusals go to the SDK's handler.
    const versionHeader = request.headers.get("mcp-protocol-version");
    const route = isPlainLegacyRequest(parsedBody, versionHeader)
      ? { kind: "legacy" as const, reason: "no-claim" as const }
      : classifyInboundRequest({
        httpMethod: "POST",
        protocolVersionHeader: versionHeader ?? undefined,
        mcpMethodHeader: request.headers.get("mcp-method") ?? undefined,
        mcpNameHeader: request.headers.get("mcp-name") ?? undefined,
        body: parsedBody,
      });
    if (
      route.kind === "legacy" && (route.reason === "no-claim" || route.reason === "notification")
    ) {
      if (!isJsonContentType(request.headers.get("content-type"))) {
        options.onError?.(
          new Error("Unsupported Media Type: Content-Type must be application/json"),
        );
        return jsonRpcError(
          415,
          -32000,
          "Unsupported Media Type: Content-Type must be application/json",
        );
      }
      await connected;
      const extra = { request, authInfo, stream: asksForProgress(parsedBody) };
      // A sessionless request that asked for no progress gets one JSON body: without a
      // session there is no channel for log messages or server requests anyway.
      return route.reason === "no-claim"
        ? await mux.request(parsedBody as JSONRPCRequest, extra)
        : mux.notify(parsedBody as JSONRPCNotification, extra);
    }
    return await handler.fetch(request, { authInfo, parsedBody });
  }

  return {
    async fetch(request, authInfo) {
      const grantId = authInfo.extra?.grantId;
      // Streamable HTTP asks POSTs to accept both JSON and SSE, and the SDK answers 406
      // otherwise; real clients differ, so accept either and answer in a form they read.
      const accept = request.headers.get("accept") ?? "";
      const json = /application\/json|\*\/\*/i.test(accept);
      const sse = /text\/event-stream/i.test(accept);
      if (request.method !== "POST" || (json && sse)) {
        return streams.track(await route(request, authInfo), grantId);
      }
      const headers = new Headers(request.headers);
      headers.set("accept", "application/json, text/event-stream");
      const response = streams.track(
        await route(new Request(request, { headers }), authInfo),
        grantId,
      );
      if (sse || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
        return response;
      }
      return await sseToJson(response);
    },
    async closeGrant(grantId) {
      // A revoked grant keeps nothing open: anything a tool still pushes (log messages,
      // sampling or elicitation requests) must not reach the client.
      streams.end(grantId);
      const ids = [...sessions].filter(([, s]) => s.grantId === grantId).map(([id]) => id);
      await Promise.all(ids.map(closeSession));
    },
    async closeSession(sessionId) {
      await closeSession(sessionId);
    },
    openGrants() {
      const grants = new Set<string>();
      for (const s of sessions.values()) if (typeof s.grantId === "string") grants.add(s.grantId);
      for (const g of streams.grants()) if (typeof g === "string") grants.add(g);
      return [...grants];
    },
    async close() {
      await Promise.all([...sessions.keys()].map(closeSession));
      await handler.close();
      await connected.catch(() => {});
      await shared.close();
    },
  };
}

/**
 * A POST with no body of its own, for handing a session's transport a message it is
 * given parsed (a replayed `initialize`, an answer relayed through the store).
 */
function replayRequest(sessionId?: string): Request {
  return new Request("http://replay.invalid/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(sessionId !== undefined ? { "mcp-session-id": sessionId } : {}),
    },
    body: "{}",
  });
}
