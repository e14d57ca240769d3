/**
 * The gateway: every upstream server's tools, prompts and resources served by each
 * downstream server instance the MCP endpoint builds, kept current as upstreams change.
 *
 * - At start every upstream is listed; names or URIs that break the namespace refuse the
 *   start with one error listing every offender (issue 21).
 * - An upstream's `list_changed`, or its (re)connection, lists it again; offenders are
 *   then left out and reported (a running server does not stop), and `onListChanged`
 *   hears which exposed lists changed (the MCP endpoint tells every open session).
 * - What passes through on each request is in relay/forward.ts and relay/calls.ts.
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/client";
import type {
  ClientCapabilities,
  LoggingMessageNotification,
  McpServer,
} from "@modelcontextprotocol/server";
import { createCatalog, fetchListing, type OwnNames } from "./relay/catalog.ts";
import {
  createCallTable,
  createRounds,
  GATEWAY_CLIENT_CAPABILITIES,
  setupRelay,
} from "./relay/calls.ts";
import { type GatewayUpstream, installGateway } from "./relay/forward.ts";

export type { GatewayUpstream } from "./relay/forward.ts";

/** What {@linkcode createGateway} is built from. */
export interface GatewayOptions {
  /** The names and URIs of the owner's own tools, prompts and resources. */
  own?: OwnNames;
  /** A log message from an upstream that no single session's call could take. */
  onLog?: (upstream: string, params: LoggingMessageNotification["params"]) => void;
  /** Something the owner should read: offenders left out after start, a failed listing. */
  onWarning?: (message: string) => void;
  /**
   * The exposed lists of `kinds` changed (an upstream's `list_changed`, or its
   * reconnection): the MCP endpoint tells every open session and subscription.
   */
  onListChanged?: (kinds: ListKind[]) => void;
}

/** What the owner's per-app tool policy needs of one exposed upstream tool. */
export interface UpstreamToolFacts {
  /** Its exposed name (`<server>_<tool>`, or as `prefix`/`rename` say). */
  name: string;
  /** The upstream server that owns it. */
  server: string;
  /** Its MCP annotations, as the upstream listed them (unverified: the upstream's word). */
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
}

/** The upstream tools served now, as the policy reads them (the catalog as it stands). */
export interface UpstreamToolFactsSource {
  /** One exposed upstream tool's facts; undefined when no upstream tool has that name. */
  facts(name: string): UpstreamToolFacts | undefined;
  /** Every exposed upstream tool. */
  all(): UpstreamToolFacts[];
}

/** The gateway, between the upstream connections and the downstream server instances. */
export interface Gateway {
  /** The upstream tools served now, for the owner's per-app tool policy. */
  readonly toolFacts: UpstreamToolFactsSource;
  /** Declared to every upstream at initialize: sampling, elicitation (form, url), roots. */
  readonly clientCapabilities: ClientCapabilities;
  /** Installs the handlers of an upstream's requests on its client, before it connects. */
  setupClient(client: Client, upstream: { name: string }): void;
  /**
   * Lists every upstream once it is up (or has failed to come up) and watches their
   * state from then on. Rejects with one Error listing every offender.
   */
  start<U extends GatewayUpstream>(
    upstreams: readonly U[],
    ready?: (upstream: U) => Promise<void>,
  ): Promise<void>;
  /** Installs the gateway on one downstream server instance (MCP endpoint's `configureServer`). */
  configureServer(server: McpServer): void;
  /** Lists one upstream again now (what a `list_changed` from it does). */
  refresh(name: string): Promise<void>;
  /** Stops watching the upstreams. */
  close(): void;
}

/** A list whose change downstream clients are told of. */
export type ListKind = "tools" | "prompts" | "resources";

/**
 * Longest wait for one upstream at start, in ms (or its `timeoutMs` if shorter): one
 * that is slower is listed when it comes up, and the server does not wait for it.
 */
export const START_WAIT_MS = 10_000;

/** `promise`, or a rejection after `ms`. */
async function within(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => {}); // a late failure is the upstream's to report, not a crash
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not come up within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates the gateway.
 *
 * @example Wiring (server/create.ts does this)
 * ```ts ignore
 * const gateway = createGateway({ own: { tools: Object.keys(tools) } });
 * const set = startUpstreams(configs, {
 *   setupClient: gateway.setupClient,
 *   clientCapabilities: gateway.clientCapabilities,
 * });
 * await gateway.start(set.upstreams, (u) => u.ready());
 * createMcpEndpoint(tools, { ...options, configureServer: gateway.configureServer });
 * ```
 */
export function createGateway(options: GatewayOptions = {}): Gateway {
  const byName = new Map<string, GatewayUpstream>();
  let catalog = createCatalog([], options.own ?? {});
  const calls = createCallTable();
  const unwatch: Array<() => void> = [];
  const refreshing = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const deps = {
    catalog: () => catalog,
    calls,
    rounds: createRounds(),
    upstream: (n: string) => byName.get(n),
  };
  const warn = (message: string) => options.onWarning?.(message);

  function snapshot(): Record<ListKind, string> {
    return {
      tools: JSON.stringify(catalog.tools()),
      prompts: JSON.stringify(catalog.prompts()),
      resources: JSON.stringify([catalog.resources(), catalog.templates()]),
    };
  }

  /** Lists one upstream (serialised per upstream: a change during a listing lists again). */
  function refresh(name: string): Promise<void> {
    const running = refreshing.get(name);
    if (running) {
      again.add(name);
      return running;
    }
    const upstream = byName.get(name);
    // One not (yet) running is listed when it is: its state change says so.
    if (!upstream || upstream.status().state !== "running") return Promise.resolve();
    const task = (async () => {
      do {
        again.delete(name);
        const before = snapshot();
        try {
          const listing = await fetchListing(upstream.client(), upstream.config.timeoutMs);
          catalog.set(upstream.config, listing);
        } catch (error) {
          warn(
            `upstream ${name}: listing failed: ${error instanceof Error ? error.message : error}`,
          );
          continue;
        }
        for (const offender of catalog.rebuild()) warn(`left out: ${offender}`);
        const after = snapshot();
        const changed = (["tools", "prompts", "resources"] as const).filter((k) =>
          before[k] !== after[k]
        );
        if (changed.length > 0) options.onListChanged?.(changed);
      } while (again.has(name));
    })().finally(() => refreshing.delete(name));
    refreshing.set(name, task);
    return task;
  }

  const factsOf = (name: string, server: string, tool: { annotations?: unknown }) => ({
    name,
    server,
    ...(tool.annotations
      ? { annotations: tool.annotations as UpstreamToolFacts["annotations"] }
      : {}),
  });
  return {
    toolFacts: {
      facts(name) {
        const target = catalog.tool(name);
        return target && factsOf(name, target.server, target.definition);
      },
      all: () =>
        catalog.tools().map((tool) => factsOf(tool.name, catalog.tool(tool.name)!.server, tool)),
    },
    clientCapabilities: GATEWAY_CLIENT_CAPABILITIES,
    setupClient(client, upstream) {
      setupRelay(client, upstream.name, calls, {
        onLog: (name, params) => options.onLog?.(name, params),
        onListChanged: (name) => void refresh(name),
      });
    },
    async start(upstreams, ready) {
      for (const upstream of upstreams) byName.set(upstream.name, upstream);
      catalog = createCatalog(upstreams.map((u) => u.config), options.own ?? {});
      const listed = new Set<string>();
      await Promise.all(upstreams.map(async (upstream) => {
        try {
          if (ready) {
            const ms = Math.min(upstream.config.timeoutMs, START_WAIT_MS);
            await within(ready(upstream), ms, `upstream ${upstream.name}`);
          }
          catalog.set(
            upstream.config,
            await fetchListing(upstream.client(), upstream.config.timeoutMs),
          );
          listed.add(upstream.name);
        } catch (error) {
          // Down at start: nothing of it is listed until it comes up.
          warn(
            `upstream ${upstream.name} not listed at start: ${
              error instanceof Error ? error.message : error
            }`,
          );
        }
      }));
      const offenders = catalog.rebuild();
      if (offenders.length > 0) {
        throw new Error(
          `The upstream servers' names do not fit one namespace (give the server a "prefix" or a "rename" map):\n  ${
            offenders.join("\n  ")
          }`,
        );
      }
      for (const upstream of upstreams) {
        // A (re)connected upstream may offer something else than before.
        unwatch.push(upstream.onStateChange((status) => {
          if (status.state === "running") void refresh(upstream.name);
        }));
        // One that came up while the others were listed has had no listing of its own.
        if (!listed.has(upstream.name) && upstream.status().state === "running") {
          void refresh(upstream.name);
        }
      }
    },
    configureServer(server) {
      installGateway(server, deps);
    },
    refresh,
    close() {
      for (const stop of unwatch.splice(0)) stop();
    },
  };
}
