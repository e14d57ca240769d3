/**
 * `createPersonalMcp()`: the whole server as one `(Request) => Promise<Response>`. It
 * composes the services once (store with its token index, clients, grants, owner,
 * owner controls, activity log, usage, limits, signer, events, clock) and hands each
 * endpoint the ones it uses. It never touches a socket, so tests and Deno Deploy call
 * `fetch` directly.
 *
 * @module
 */
import { type ActivityLog, createActivityLog, isAuthEvent } from "../auth/owner/activity.ts";
import { createMemoryCounters, storeCounters } from "../auth/limits/counters.ts";
import { createGrants } from "../auth/grants/grants.ts";
import type { OwnerControls } from "../auth/owner/controls.ts";
import { keys } from "../store/keys.ts";
import { type RemoteDeletions, withAccessIndex } from "../auth/grants/token_index.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { Store } from "../store/store.ts";
import { createMcpEndpoint, type McpEndpoint } from "../transport/mcp/endpoint.ts";
import type { PermissionControls } from "../auth/grants/app_permissions.ts";
import type { AuditTrail } from "../auth/owner/audit.ts";
import type { HeldCalls } from "../auth/owner/confirmations.ts";
import { type ToolServices, toolServices } from "./tool_services.ts";
import { validatePrompts } from "../transport/prompts.ts";
import { validateResources } from "../transport/resources.ts";
import { type Tools, validateTools } from "../transport/tools.ts";
import { type PersonalMcpOptions, resolveOptions, resolveServers } from "./options.ts";
import { type ServerEdge, serveUpstreams } from "./gateway.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "../core/config.ts";
import { type ConnectionInfo, createRoutes } from "./routes.ts";

import { clientsService, endpointsOf, ownerServices } from "./services.ts";
export type { ConnectionInfo, OwnerControls, ServerEdge };

/** A personal MCP server as a fetch handler. */
export interface PersonalMcp {
  /** Answers one HTTP request. */
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>;
  /** The validated base URL (issuer). */
  readonly baseUrl: string;
  /** The store in use (writes through it keep the server's token index in step). */
  readonly store: Store;
  /**
   * The owner's controls: list and revoke grants, list and forget clients, the
   * activity log. What the owner page and the owner commands use.
   */
  readonly owner: OwnerControls;
  /** The owner's say per app and tool: show and change an app's tool permissions. */
  readonly permissions: PermissionControls;
  /** Calls held for the owner's confirmation (policy `ask`): list, confirm, decline. */
  readonly confirmations: HeldCalls;
  /** The audit trail: one record per tool call, newest first. */
  readonly audit: AuditTrail;
  /**
   * Ends in-flight MCP exchanges, stops the upstream servers (each stdio server's whole
   * process group), writes the audit trail and the activity log and closes the store.
   */
  close(): Promise<void>;
  /**
   * Settles once the upstream `servers` are up (or failed to come up) and listed;
   * rejects, listing every offender, when their names do not fit one namespace.
   */
  ready(): Promise<void>;
}

/**
 * Creates the server: authorization server, consent page and MCP endpoint behind one
 * fetch handler. Options are validated here, once.
 *
 * @example Calling the server without a socket
 * ```ts
 * import { createPersonalMcp, tool } from "../mod.ts";
 * import { z } from "zod";
 *
 * const app = createPersonalMcp({
 *   hello: tool({ description: "Say hello", input: { name: z.string() }, run: ({ name }) => `Hello, ${name}!` }),
 * }, { baseUrl: "http://127.0.0.1:8787", password: "correct horse battery" });
 * const res = await app.fetch(new Request("http://127.0.0.1:8787/.well-known/oauth-authorization-server"));
 * const meta = await res.json();
 * if (meta.issuer !== "http://127.0.0.1:8787") throw new Error("wrong issuer");
 * await app.close();
 * ```
 */
export function createPersonalMcp(tools: Tools, options: PersonalMcpOptions): PersonalMcp {
  return createPersonalMcpOn(tools, options, {});
}

/**
 * {@linkcode createPersonalMcp} with what the runtime gives (processes for stdio
 * upstreams, the environment): what `servePersonalMcp()` calls. Not public API.
 */
export function createPersonalMcpOn(
  tools: Tools,
  options: PersonalMcpOptions,
  edge: ServerEdge,
): PersonalMcp {
  const opts = resolveOptions(options);
  const servers = resolveServers(
    options.servers,
    edge.env ?? {},
    edge.spawn !== undefined,
    edge.noSpawnReason ??
      "createPersonalMcp() cannot start (it starts no process: serve with servePersonalMcp() " +
        "or the command line; Deno Deploy runs none)",
  );
  const content: McpContent = {
    tools: validateTools(tools),
    resources: validateResources(options.resources),
    prompts: validatePrompts(options.prompts),
  };
  const now = () => Date.now();
  const store = openStore(options.store, now);
  // Rate limits count in memory, or in the store when other processes share it (Deno
  // KV), so that N processes allow what one allows.
  const counters = store.shared ? storeCounters(store) : createMemoryCounters(now);
  const activity = createActivityLog(store, now);
  const sink = eventSink(activity, options.onEvent);
  // A forgotten app leaves no tool decisions behind (the policies hear it as an event).
  const emit: Emit = (event) => {
    sink(event);
    if (event.type === "client_forgotten") {
      tooling.policies.forget(event.clientId).catch((error) =>
        sink({ type: "error", where: "tool policies", error })
      );
    }
  };
  // The upstreams start now, in the background (each connects, and reconnects, on its
  // own); the gateway lists them and is installed on every MCP server instance.
  const upstreams = serveUpstreams(
    { configs: servers, spawn: edge.spawn, configureServer: options.configureServer },
    content,
    emit,
    // Called only after an upstream answered (never during this function): `mcp` exists.
    (kinds) => mcp.listChanged(kinds),
  );
  // The tool policy knows the upstreams' tools (server, annotations) from the gateway.
  const tooling = toolServices(content.tools, options, opts, store, emit, now, upstreams.toolFacts);
  const configureServer = upstreams.configureServer;
  const mcp = mcpService(content, { ...options, configureServer }, opts, store, emit, tooling);
  // A grant that ends early ends everywhere at once: its tokens (the store and its
  // index), and on /mcp its sessions and open streams. The transport hears only an id.
  const grants = createGrants(store, (grantId, reason, clientId, address) => {
    emit({ type: "grant_revoked", grantId, reason, clientId, clientAddress: address });
    mcp.closeGrant(grantId).catch((error) => emit({ type: "error", where: "/mcp", error }));
  });
  const clients = clientsService(opts, store, now, emit);
  const owner = ownerServices({
    opts,
    options,
    store,
    grants,
    activity,
    counters,
    now,
    emit,
    servers: upstreams.statuses,
  });
  const endpoints = endpointsOf({
    opts,
    store,
    counters,
    clients,
    grants,
    owner,
    mcp,
    tooling,
    now,
    emit,
  });
  const fetch = createRoutes(opts, endpoints, emit);
  return {
    baseUrl: opts.baseUrl,
    store,
    owner: owner.controls,
    permissions: tooling.permissions,
    confirmations: {
      pending: tooling.confirmations.pending,
      get: tooling.confirmations.get,
      decide: tooling.confirmations.decide,
    },
    audit: { query: tooling.audit.query },
    fetch,
    ready: upstreams.ready,
    async close() {
      tooling.policies.close();
      await mcp.close();
      await upstreams.close();
      await tooling.audit.flush();
      await activity.flush();
      await store.close();
    },
  };
}

/** The store, with the in-memory index of access tokens kept in step with it. */
function openStore(store: PersonalMcpOptions["store"], now: () => number): IndexedStore {
  return withAccessIndex(
    store === undefined || store === "memory" ? createMemoryStore() : store,
    now,
    // Other processes sharing the store hear of ended sessions as of revoked grants.
    { announce: [keys.mcpSessions[0]!] },
  );
}

type Emit = (event: PersonalMcpEvent) => void;
type IndexedStore = ReturnType<typeof withAccessIndex>;

/** Where events go: the activity log keeps the auth events, and the owner's hook hears all. */
function eventSink(activity: ActivityLog, onEvent: PersonalMcpOptions["onEvent"]): Emit {
  return (event) => {
    if (isAuthEvent(event)) activity.record(event);
    try {
      onEvent?.(event);
    } catch { /* a broken hook must not break a request */ }
  };
}

/** What the MCP endpoint serves, checked when the server is created. */
interface McpContent {
  tools: Tools;
  resources: ReturnType<typeof validateResources>;
  prompts: ReturnType<typeof validatePrompts>;
}

/** The MCP endpoint over the checked tools, resources and prompts. */
function mcpService(
  content: McpContent,
  options: PersonalMcpOptions,
  opts: ResolvedOptions,
  store: IndexedStore,
  emit: Emit,
  tooling: ToolServices,
): McpEndpoint {
  const mcp = createMcpEndpoint(content.tools, {
    name: opts.name,
    version: opts.version,
    instructions: opts.instructions,
    resources: content.resources,
    prompts: content.prompts,
    configureServer: options.configureServer,
    bodyTimeoutSeconds: opts.mcpBodyTimeoutSeconds,
    onError: (error) => emit({ type: "mcp_rejected", error }),
    sharedStore: store.shared ? store : undefined,
    toolGate: tooling.gate,
  });
  // The owner changed what an app may use (here or in another process): its sessions
  // list their tools again.
  tooling.policies.onChange((clientId) => mcp.toolsChanged(clientId));
  // A grant revoked, or a session ended, by another process sharing the store: what
  // this process holds of it closes too (within a second: the revocation notice).
  store.onRemoteDeletions((deleted) =>
    void closeDeleted(mcp, store, deleted).catch((error) =>
      emit({ type: "error", where: "/mcp", error })
    )
  );
  return mcp;
}

/**
 * Closes on `/mcp` what another process's deletions ended: the sessions and streams of
 * revoked grants, and sessions whose record is gone. `undefined` (some deletions may
 * have been missed): every grant held open here is looked up again.
 */
async function closeDeleted(
  mcp: McpEndpoint,
  store: Store,
  deleted: RemoteDeletions,
): Promise<void> {
  if (deleted === undefined) {
    for (const grantId of mcp.openGrants()) {
      if ((await store.get(keys.grant(grantId))) === undefined) await mcp.closeGrant(grantId);
    }
    return;
  }
  for (const key of deleted) {
    if (key[0] === "grant" && key.length === 2) await mcp.closeGrant(key[1]!);
    else if (key[0] === keys.mcpSessions[0] && key.length === 3) await mcp.closeSession(key[2]!);
  }
}
