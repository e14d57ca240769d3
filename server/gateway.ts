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
import { createGateway, type ListKind } from "../transport/upstreams/gateway.ts";
import type { OwnNames } from "../transport/upstreams/catalog.ts";
import type { StdioSpawner, UpstreamStatus } from "../transport/upstreams/types.ts";
import { startUpstreams } from "../transport/upstreams/upstream.ts";

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

/**
 * Starts the upstreams and the gateway. With no servers configured this is only the
 * owner's `configureServer`, and nothing runs.
 */
export function serveUpstreams(
  options: UpstreamOptions,
  own: OwnNames,
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
    };
  }
  const gateway = createGateway({
    own,
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
  const set = startUpstreams(configs, {
    spawn: options.spawn,
    setupClient: gateway.setupClient,
    clientCapabilities: gateway.clientCapabilities,
    onEvent: emit,
  });
  const ready = gateway.start(set.upstreams, (upstream) => upstream.ready());
  ready.catch(() => {}); // observed through ready()
  return {
    configureServer(server) {
      // The owner's registrations first: the gateway's handlers wrap what they installed.
      options.configureServer?.(server);
      gateway.configureServer(server);
    },
    ready: () => ready,
    statuses: () => set.upstreams.map((upstream) => upstream.status()),
    async close() {
      gateway.close();
      await set.stop();
    },
  };
}
