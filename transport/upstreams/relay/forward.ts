/**
 * The gateway's request handlers on each downstream SDK server: the owner's own tools,
 * prompts and resources answer as before, and everything the upstreams offer is listed
 * beside them and forwarded to the upstream that owns it.
 *
 * Why handlers and not `McpServer.registerTool()`: a registered tool's schemas are
 * Standard Schemas that the SDK converts for `tools/list` and validates on every call
 * (input, and output against `structuredContent`), and its result is projected again
 * (`projectCallToolResult`). An upstream's tool is the upstream's: its `inputSchema` and
 * `outputSchema` go out exactly as it listed them, its arguments reach it as sent, and
 * its result comes back whole. Registering also costs one registration per tool per
 * server instance, and a `list_changed` per registration. So `tools/list`,
 * `tools/call`, `prompts/*` and `resources/*` are installed with the low-level
 * `setRequestHandler`, each asking the McpServer's own handler (kept from before) for
 * the owner's part. The SDK's own handler is read through `_getRequestHandler`, the
 * hook its role classes use for the same purpose (SDK 2.4.0, pinned).
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/client";
import {
  type CallToolResult,
  type InputRequiredResult,
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { Catalog } from "./catalog.ts";

import type { Ask, CallTable, Rounds } from "./calls.ts";
import { quoted } from "../namespace.ts";

/** What the handlers need to know of one upstream (G1's `Upstream` satisfies it). */
export interface GatewayUpstream {
  readonly name: string;
  readonly config: {
    name: string;
    prefix?: string;
    rename?: Record<string, string>;
    timeoutMs: number;
  };
  status(): { state: string; lastError?: string };
  /** The connected client; throws (naming the server and its state) when not running. */
  client(): Client;
  onStateChange(listener: (status: { state: string }) => void): () => void;
}

type Handler = (request: unknown, ctx: ServerContext) => Promise<Record<string, unknown>>;

/** Where the handlers find upstreams, routes and calls in flight. */
export interface ForwardDeps {
  /** The catalog as it stands (replaced when the upstreams start). */
  catalog(): Catalog;
  calls: CallTable;
  /** The calls of 2026-07-28 clients kept across their rounds (input_required). */
  rounds: Rounds;
  upstream(name: string): GatewayUpstream | undefined;
}

/** Why an upstream could not answer, in one line naming it and its state. */
function failure(upstream: GatewayUpstream, error: unknown): string {
  const name = quoted(upstream.name);
  const code = (error as { code?: unknown })?.code;
  if (code === "REQUEST_TIMEOUT") {
    return `Upstream server ${name} did not answer within ${upstream.config.timeoutMs} ms`;
  }
  const state = upstream.status().state;
  const message = error instanceof Error ? error.message : String(error);
  return `Upstream server ${name} (${state}) could not answer: ${message.slice(0, 500)}`;
}

/**
 * Runs `send` against the upstream's client with the downstream call registered as in
 * flight. An error the upstream answered (JSON-RPC) is passed on as it is; anything else
 * (not running, timed out, connection lost) is `onFailure`'s.
 */
async function relay<T>(
  deps: ForwardDeps,
  server: Server,
  ctx: ServerContext,
  upstream: GatewayUpstream,
  send: (client: Client) => Promise<T>,
  onFailure: (message: string) => T,
  ask?: Ask,
): Promise<T> {
  let client: Client;
  try {
    client = upstream.client();
  } catch (error) {
    return onFailure(failure(upstream, error));
  }
  const leave = deps.calls.enter(upstream.name, { server, ctx, sessionId: ctx.sessionId, ask });
  try {
    return await send(client);
  } catch (error) {
    // The upstream's own JSON-RPC error, passed on (its message bounded: it is input too).
    if (error instanceof ProtocolError) {
      throw new ProtocolError(error.code, error.message.slice(0, 4000), error.data);
    }
    return onFailure(failure(upstream, error));
  } finally {
    leave();
  }
}

/** A JSON-RPC error for a non-tool request the upstream could not answer. */
function unavailable(message: string): never {
  throw new ProtocolError(ProtocolErrorCode.InternalError, message);
}

/**
 * The request options of a forwarded request: timeout, cancellation, progress. The
 * progress notifications sent downstream are kept until `flush()`, which the answer
 * waits for: the last one must not arrive after the result that ends the stream.
 */
function requestOptions(upstream: GatewayUpstream, ctx: ServerContext, signal?: AbortSignal) {
  const token = ctx.mcpReq._meta?.progressToken;
  const sent = new Set<Promise<void>>();
  return {
    signal: signal ?? ctx.mcpReq.signal,
    timeout: upstream.config.timeoutMs,
    // Progress from the upstream restarts its timeout (issue 21: `timeoutMs`).
    resetTimeoutOnProgress: true,
    onprogress: (progress: { progress: number; total?: number; message?: string }) => {
      if (token === undefined) return;
      const sending = ctx.mcpReq.notify({
        method: "notifications/progress",
        params: { ...progress, progressToken: token },
      }).catch(() => {}).finally(() => sent.delete(sending));
      sent.add(sending);
    },
    flush: () => Promise.all(sent),
  };
}

/** Sends with `requestOptions`, then waits for the progress notifications sent meanwhile. */
async function withProgress<T>(
  upstream: GatewayUpstream,
  ctx: ServerContext,
  send: (options: ReturnType<typeof requestOptions>) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const options = requestOptions(upstream, ctx, signal);
  const result = await send(options);
  await options.flush();
  return result;
}

/** Forwards a `tools/call` of an exposed upstream tool; undefined when the name is not one. */
function callTool(
  deps: ForwardDeps,
  server: Server,
  request: { params: { name: string; arguments?: Record<string, unknown> } },
  ctx: ServerContext,
): Promise<CallToolResult | InputRequiredResult> | undefined {
  const target = deps.catalog().tool(request.params.name);
  const upstream = target && deps.upstream(target.server);
  if (!target || !upstream) return undefined;
  const params = {
    name: target.name,
    ...(request.params.arguments !== undefined ? { arguments: request.params.arguments } : {}),
  };
  const toolError = (text: string): CallToolResult => ({
    content: [{ type: "text", text }],
    isError: true,
  });
  // request(), not callTool(): the SDK client would check structuredContent against
  // the upstream's outputSchema, and the result is the upstream's to vouch for.
  const send = (client: Client, signal?: AbortSignal) =>
    withProgress(
      upstream,
      ctx,
      (options) =>
        client.request({ method: "tools/call", params }, options) as Promise<CallToolResult>,
      signal,
    );
  if (ctx.mcpReq.envelope === undefined) return relay(deps, server, ctx, upstream, send, toolError);
  // 2026-07-28: the upstream may ask its client something; that takes rounds (calls.ts).
  const grant = ctx.http?.authInfo?.extra?.grantId;
  const state = ctx.mcpReq.requestState();
  const { timeoutMs } = upstream.config;
  if (typeof state === "string") {
    return deps.rounds.resume(state, grant, timeoutMs, ctx.mcpReq.inputResponses);
  }
  return deps.rounds.start(
    grant,
    timeoutMs,
    (ask, signal) =>
      relay(deps, server, ctx, upstream, (client) => send(client, signal), toolError, ask),
  );
}

/** Installs `handler` for `method` in place of the SDK's, which it may call as `own`. */
function install(
  server: Server,
  method: string,
  handler: (
    request: { params?: Record<string, unknown> },
    ctx: ServerContext,
    own?: Handler,
  ) => unknown,
): void {
  // SDK 2.4.0: the stored handler the McpServer installed (or none).
  const own = (server as unknown as { _getRequestHandler(m: string): Handler | undefined })
    ._getRequestHandler(method);
  const set = server.setRequestHandler.bind(server) as (
    method: string,
    handler: (request: unknown, ctx: ServerContext) => unknown,
  ) => void;
  set(method, (request, ctx) => handler(request as { params?: Record<string, unknown> }, ctx, own));
}

/** Whether an error is the SDK's "resource not found" (the owner has no such resource). */
function isNotFound(error: unknown): boolean {
  return error instanceof ResourceNotFoundError;
}

/** Concatenates the owner's list (when there is one) with the upstreams'. */
async function listed<T>(
  own: Handler | undefined,
  request: unknown,
  ctx: ServerContext,
  key: string,
  upstream: T[],
): Promise<Record<string, unknown>> {
  const mine = own ? ((await own(request, ctx))[key] as T[] | undefined) ?? [] : [];
  return { [key]: upstream.length === 0 ? mine : [...mine, ...upstream] };
}

type CompleteParams = {
  ref: { type: string; name?: string; uri?: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
};

/**
 * `completion/complete` for an upstream's prompt (by its exposed name) or resource
 * template: asked of that upstream; anything else is the owner's (or has no values).
 */
function installCompletions(server: Server, deps: ForwardDeps): void {
  install(server, "completion/complete", (request, ctx, own) => {
    const params = request.params as CompleteParams;
    const catalog = deps.catalog();
    const { ref } = params;
    const prompt = ref.type === "ref/prompt" ? catalog.prompt(String(ref.name)) : undefined;
    const name = prompt?.server ??
      (ref.type === "ref/resource"
        ? catalog.templateOwner(String(ref.uri)) ?? catalog.listedServer(String(ref.uri))
        : undefined);
    const upstream = name === undefined ? undefined : deps.upstream(name);
    if (!upstream) return own ? own(request, ctx) : Promise.resolve({ completion: { values: [] } });
    const forwarded = { ...params, ref: prompt ? { ...ref, name: prompt.name } : ref };
    return relay(
      deps,
      server,
      ctx,
      upstream,
      (client) =>
        withProgress(
          upstream,
          ctx,
          (options) => client.complete(forwarded as Parameters<Client["complete"]>[0], options),
        ),
      unavailable,
    );
  });
}

/**
 * Installs the gateway's handlers on one downstream server instance. Runs once per
 * instance (at build, before it connects), after every registration of the owner's.
 */
export function installGateway(mcp: McpServer, deps: ForwardDeps): void {
  const server = mcp.server;
  server.registerCapabilities({
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { listChanged: true },
    completions: {},
  });
  const catalog = () => deps.catalog();
  installCompletions(server, deps);
  install(server, "tools/list", (r, ctx, own) => listed(own, r, ctx, "tools", catalog().tools()));
  install(server, "tools/call", (request, ctx, own) => {
    const forwarded = callTool(deps, server, request as never, ctx);
    if (forwarded) return forwarded;
    if (own) return own(request, ctx);
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `Tool ${request.params?.name} not found`,
    );
  });
  install(
    server,
    "prompts/list",
    (r, ctx, own) => listed(own, r, ctx, "prompts", catalog().prompts()),
  );
  install(server, "prompts/get", (request, ctx, own) => {
    const params = request.params as { name: string; arguments?: Record<string, string> };
    const target = catalog().prompt(params.name);
    const upstream = target && deps.upstream(target.server);
    if (!target || !upstream) {
      if (own) return own(request, ctx);
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Prompt ${params.name} not found`);
    }
    const forwarded = { ...params, name: target.name };
    return relay(
      deps,
      server,
      ctx,
      upstream,
      (client) => withProgress(upstream, ctx, (options) => client.getPrompt(forwarded, options)),
      unavailable,
    );
  });
  install(
    server,
    "resources/list",
    (r, ctx, own) => listed(own, r, ctx, "resources", catalog().resources()),
  );
  install(
    server,
    "resources/templates/list",
    (r, ctx, own) => listed(own, r, ctx, "resourceTemplates", catalog().templates()),
  );
  install(server, "resources/read", async (request, ctx, own) => {
    const uri = String(request.params?.uri);
    let name = catalog().listedServer(uri);
    if (name === undefined) {
      // The owner's resources come before an upstream's URI templates, which may be wide.
      const template = catalog().templateServer(uri);
      if (own) {
        try {
          return await own(request, ctx);
        } catch (error) {
          if (template === undefined || !isNotFound(error)) throw error;
        }
      }
      name = template;
    }
    const upstream = name === undefined ? undefined : deps.upstream(name);
    if (!upstream) {
      throw new ResourceNotFoundError(uri);
    }
    return await relay(
      deps,
      server,
      ctx,
      upstream,
      (client) => withProgress(upstream, ctx, (options) => client.readResource({ uri }, options)),
      unavailable,
    );
  });
}
