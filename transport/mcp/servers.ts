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
 * @module
 */
import { McpServer, type McpServerFactory } from "@modelcontextprotocol/server";
import { type Prompts, registerPrompts } from "../prompts.ts";
import { registerResources, type Resources } from "../resources.ts";
import { registerTools, type Tools } from "../tools.ts";

/** Most idle server instances kept for the SDK handler's requests, per protocol era. */
export const MAX_POOLED_SERVERS = 16;

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
