/**
 * How the endpoint's `McpServer` instances are built, and which of them are alive.
 *
 * Instances are built once, never per request: one answers every sessionless 2025-era
 * request of the process (multiplex.ts), each 2025-era session has its own, and the
 * SDK's own handler (2026-07-28 requests, batches, posted responses) takes instances
 * from a pool that keeps them between exchanges. Every instance gets the same
 * registrations (tools, resources, prompts, then `configureServer`), so a request is
 * answered alike whichever instance serves it. Whatever must change on every instance
 * later (a tool list that changes while the server runs) reaches them through
 * {@linkcode ServerInstances.live}.
 *
 * Last, each instance gets the tool gate around its `tools/list` and `tools/call`
 * handlers (whatever the registrations and `configureServer` left there): `tools/list`
 * shows a caller only the tools it may call, and every `tools/call` goes through the
 * gate, which runs it, holds it, or answers for it. Every path to a tool (a session, a
 * sessionless request, a 2026-07-28 request, one message of a batch) goes through an
 * instance's handlers, so none goes around the gate. Transport knows nothing of
 * policies: the server hands it a {@linkcode ToolGate}.
 *
 * @module
 */
import {
  type AuthInfo,
  type CallToolResult,
  type JSONRPCRequest,
  type ListToolsResult,
  McpServer,
  type McpServerFactory,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { type Prompts, registerPrompts } from "../prompts.ts";
import { registerResources, type Resources } from "../resources.ts";
import { registerTools, type Tools } from "../tools.ts";
import { type CallPolicy, notePolicy } from "../caller.ts";

/**
 * Most idle server instances kept for the SDK handler's requests, per protocol era: as
 * many as a heavy load keeps in flight (bench: 50 connections), so that a burst is served
 * again without building instances (2026-07-28 calls: 116 -> 100 us in process at 50 in
 * flight against 16 kept). An instance of the demo tools holds about 8 KB.
 */
export const MAX_POOLED_SERVERS = 64;

/** What every server instance is built from. */
export interface ServerBlueprint {
  name: string;
  version: string;
  instructions?: string;
  tools: Tools;
  resources?: Resources;
  prompts?: Prompts;
  /** Runs once on each instance built, after the registrations. */
  configureServer?: (server: McpServer) => void;
  /** Decides what each caller sees and what happens to each call; absent: no gate. */
  toolGate?: ToolGate;
}

/** The endpoint's server instances. */
export interface ServerInstances {
  /** A new instance for one 2025-era session; it stops being live when its transport closes. */
  forSession(): McpServer;
  /**
   * A new instance for sessionless requests: a log level asked for is accepted and
   * kept nowhere. It stops being live when it is closed.
   */
  sessionless(): McpServer;
  /** The factory the SDK's `createMcpHandler` takes instances from, kept between exchanges. */
  pool: McpServerFactory;
  /** Every instance built and not yet closed for good (pooled idle ones included). */
  live(): McpServer[];
}

/** Prepares the registrations once; instances are then built from them. */
export function createServerInstances(blueprint: ServerBlueprint): ServerInstances {
  const serverInfo = { name: blueprint.name, version: blueprint.version };
  const serverOptions = {
    // Logging is declared so that tools can send log messages (ctx.mcpReq.log).
    capabilities: { logging: {} },
    ...(blueprint.instructions ? { instructions: blueprint.instructions } : {}),
  };
  const live = new Set<McpServer>();

  function build(): McpServer {
    const server = new McpServer(serverInfo, serverOptions);
    registerTools(server, blueprint.tools);
    if (blueprint.resources) registerResources(server, blueprint.resources);
    if (blueprint.prompts) registerPrompts(server, blueprint.prompts);
    blueprint.configureServer?.(server);
    // Last, around whatever handlers the registrations and configureServer left.
    if (blueprint.toolGate) guardTools(server, blueprint.toolGate);
    live.add(server);
    server.server.onclose = () => live.delete(server);
    return server;
  }

  function sessionless(): McpServer {
    const server = build();
    // Without a session a log level has nothing to stay with: as on a server built for
    // one request, the request is validated and answered, and nothing is kept.
    if (server.server.getCapabilities().logging) {
      server.server.setRequestHandler("logging/setLevel", () => ({}));
    }
    return server;
  }

  return {
    forSession: build,
    sessionless,
    pool: createServerPool(sessionless, (server) => live.delete(server)),
    live: () => [...live],
  };
}

/**
 * Instances the SDK handler returns after each exchange, kept for the next, per era;
 * one returned while the pool is full is `drop`ped.
 */
function createServerPool(
  build: () => McpServer,
  drop: (server: McpServer) => void,
): McpServerFactory {
  const idle = { legacy: [] as McpServer[], modern: [] as McpServer[] };
  return ({ era }) => {
    const kept = idle[era].pop();
    if (kept) return kept;
    const server = build();
    // The handler closes the instance's transport once the exchange is over.
    server.server.onclose = () => {
      if (idle[era].length < MAX_POOLED_SERVERS) idle[era].push(server);
      else drop(server);
    };
    return server;
  };
}

/** One `tools/call` as the gate sees it. */
export interface GatedCall {
  /** What the bearer gate accepted; undefined only outside the server (never behind it). */
  authInfo: AuthInfo | undefined;
  /** The tool's name as the client sent it. */
  name: string;
  /** The arguments as the client sent them (not yet validated). */
  arguments: unknown;
  /** The SDK's request context (progress, cancellation, server-to-client requests). */
  ctx: ServerContext;
}

/** What decides which tools a caller sees and what happens to each call. */
export interface ToolGate {
  /** The names, of those listed, that this caller sees. */
  listed(authInfo: AuthInfo | undefined, names: readonly string[]): Promise<ReadonlySet<string>>;
  /**
   * Runs one call under the owner's policy: calls `run` (the tool, through the SDK's
   * own validation) or answers for it without running it.
   */
  call(
    call: GatedCall,
    run: (policy: CallPolicy) => Promise<CallToolResult>,
  ): Promise<CallToolResult>;
}

type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<unknown>;

/**
 * The handlers an SDK server dispatches requests to. The SDK (2.4) offers replacing a
 * handler (`setRequestHandler`), which would validate each request and result twice
 * around ours; taking its stored handler keeps exactly one pass of its validation. The
 * direct lane (sessionless.ts) calls the same stored handlers.
 * tests/endpoints/permissions_test.ts and direct_lane_test.ts fail if this stops holding.
 */
export function handlersOf(server: McpServer): Map<string, Handler> {
  const handlers = (server.server as unknown as { _requestHandlers?: unknown })._requestHandlers;
  if (!(handlers instanceof Map)) {
    throw new Error("the MCP SDK's request handlers are not where the tool gate expects them");
  }
  return handlers as Map<string, Handler>;
}

/** Puts the gate around an instance's tool handlers; no tools registered: nothing to guard. */
export function guardTools(server: McpServer, gate: ToolGate): void {
  const handlers = handlersOf(server);
  const list = handlers.get("tools/list");
  const call = handlers.get("tools/call");
  if (list) {
    handlers.set("tools/list", async (request, ctx) => {
      const result = await list(request, ctx) as ListToolsResult;
      const names = result.tools.map((t) => t.name);
      const seen = await gate.listed(ctx.http?.authInfo, names);
      return { ...result, tools: result.tools.filter((t) => seen.has(t.name)) };
    });
  }
  if (call) {
    handlers.set("tools/call", (request, ctx) => {
      const params = request.params as { name?: unknown; arguments?: unknown } | undefined;
      // A request without a name is the SDK's to refuse (InvalidParams): nothing runs.
      if (typeof params?.name !== "string") return call(request, ctx);
      return gate.call(
        { authInfo: ctx.http?.authInfo, name: params.name, arguments: params.arguments, ctx },
        (policy) => {
          // What caller(ctx) tells the tool: the policy it runs under.
          notePolicy(ctx, policy);
          return call(request, ctx) as Promise<CallToolResult>;
        },
      );
    });
  }
}
