/**
 * The owner's other MCP servers behind this one (issue 21), composed once: their
 * configuration read, their connections started, and the gateway that lists and relays
 * them installed on every MCP server instance the endpoint builds.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/server";
import type { PersonalMcpEvent } from "../core/config.ts";
import { escapeForLog } from "../core/log.ts";
import type { UpstreamConfig } from "../transport/upstreams/config.ts";
import {
  createGateway,
  type ListKind,
  type UpstreamToolFactsSource,
} from "../transport/upstreams/gateway.ts";
import type { StdioSpawner, Upstream, UpstreamStatus } from "../transport/upstreams/types.ts";

/** The upstreams once started (transport/upstreams/upstream.ts). */
interface StartedUpstreams {
  upstreams: Upstream[];
  stop(): Promise<void>;
}

/**
 * What only the runtime can give the server: how to start a stdio upstream, and the
 * environment `${VAR}` is read from. `servePersonalMcp()` passes it (through
 * {@linkcode createPersonalMcpOn}); without `spawn`, stdio servers are refused with
 * `noSpawnReason`.
 */
export interface ServerEdge {
  /** Starts a stdio upstream's process group. */
  spawn?: StdioSpawner;
  /** Where `${VAR}` in `servers` is looked up. @default {} */
  env?: Record<string, string | undefined>;
  /** Why stdio servers cannot run here, completing "... is a stdio server, which ...". */
  noSpawnReason?: string;
}

/** What the server needs of its upstreams. */
export interface ServedUpstreams {
  /** The endpoint's `configureServer`: the owner's, then the gateway's handlers. */
  configureServer?: (server: McpServer) => void;
  /** Settles once every upstream is up (or failed) and listed; rejects on a namespace clash. */
  ready(): Promise<void>;
  /** Where each upstream stands, in configuration order. */
  statuses(): UpstreamStatus[];
  /** Stops every upstream (whole process groups). */
  close(): Promise<void>;
  /** The upstream tools served now, for the owner's per-app tool policy (issue 22). */
  toolFacts: UpstreamToolFactsSource;
}

/** The owner's own tools, prompts and resources, whose names the upstreams' must not take. */
export interface OwnContent {
  tools: Record<string, unknown>;
  prompts?: Record<string, unknown>;
  resources?: Record<string, { uri: string }>;
}

/** Where the upstreams come from. */
export interface UpstreamOptions {
  /** The upstream servers, read from the `servers` option. */
  configs: UpstreamConfig[];
  /** Starts stdio servers (the runtime's). */
  spawn?: StdioSpawner;
  /** The owner's own `configureServer`. */
  configureServer?: (server: McpServer) => void;
}

/** What an upstream reports while the code that connects it is still loading. */
function loading(config: UpstreamConfig): UpstreamStatus {
  return {
    name: config.name,
    type: config.transport.type,
    state: "starting",
    restarts: 0,
    tools: 0,
    stderr: [],
  };
}

/**
 * Starts the upstreams and the gateway. With no servers configured this is only the
 * owner's `configureServer`, and nothing runs.
 */
export function serveUpstreams(
  options: UpstreamOptions,
  content: OwnContent,
  emit: (event: PersonalMcpEvent) => void,
  listChanged: (kinds: ListKind[]) => void,
): ServedUpstreams {
  const { configs } = options;
  if (configs.length === 0) {
    return {
      configureServer: options.configureServer,
      ready: () => Promise.resolve(),
      statuses: () => [],
      close: () => Promise.resolve(),
      toolFacts: { facts: () => undefined, all: () => [] },
    };
  }
  const gateway = createGateway({
    own: {
      tools: Object.keys(content.tools),
      prompts: Object.keys(content.prompts ?? {}),
      resources: Object.values(content.resources ?? {}).map((r) => r.uri),
    },
    onListChanged: listChanged,
    onLog: (server, params) =>
      emit({
        type: "upstream_log",
        server,
        level: String(params.level),
        data: (typeof params.data === "string" ? params.data : JSON.stringify(params.data) ?? "")
          .slice(0, 16 * 1024),
      }),
    onWarning: (message) =>
      emit({ type: "warning", message: escapeForLog(message.slice(0, 2000)) }),
  });
  // The SDK client (and the upstream connections built on it) is loaded only when there
  // are upstreams: a server without them never pays for its import (issue 23).
  let set: StartedUpstreams | undefined;
  const start = async (): Promise<StartedUpstreams> => {
    const { startUpstreams } = await import("../transport/upstreams/upstream.ts");
    return set = startUpstreams(configs, {
      spawn: options.spawn,
      setupClient: gateway.setupClient,
      clientCapabilities: gateway.clientCapabilities,
      onEvent: emit,
    });
  };
  const started = start();
  const ready = started.then((started) =>
    gateway.start(started.upstreams, (upstream) => (upstream as Upstream).ready())
  );
  ready.catch(() => {}); // observed through ready()
  return {
    configureServer(server) {
      // The owner's registrations first: the gateway's handlers wrap what they installed.
      options.configureServer?.(server);
      gateway.configureServer(server);
    },
    ready: () => ready,
    statuses: () => set?.upstreams.map((upstream) => upstream.status()) ?? configs.map(loading),
    toolFacts: gateway.toolFacts,
    async close() {
      gateway.close();
      await (await started.catch(() => undefined))?.stop();
    },
  };
}
