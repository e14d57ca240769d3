/**
 * One live upstream per configured server: an SDK `Client` over our bounded stdio
 * transport or over HTTP, connected at server start, reconnected with backoff (0.5 s
 * doubling to 30 s, back to 0.5 s after a minute of health) when its process exits or
 * its connection breaks, and stopped, whole process group, with the server. Each
 * upstream has its own connection and timers: a fault in one never waits on another.
 *
 * @module
 */
import {
  Client,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type Transport,
} from "@modelcontextprotocol/client";
import type { PersonalMcpEvent } from "../../core/config.ts";
import type { UpstreamConfig } from "./config.ts";
import { createStdioTransport, StdioProtocolError } from "./stdio_transport.ts";
import { boundedFetch, TOO_LARGE } from "./bounded_fetch.ts";
import {
  type StdioProcess,
  type Upstream,
  type UpstreamDeps,
  type UpstreamState,
  type UpstreamStatus,
  UpstreamUnavailableError,
} from "./types.ts";

export type { Upstream, UpstreamDeps, UpstreamState, UpstreamStatus } from "./types.ts";
export { UpstreamUnavailableError } from "./types.ts";

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000, healthyMs: 60_000 };
/** Attempts in a row that never came up before the state reads `failed` (it is still retried). */
const FAILED_AFTER = 3;
/** The gateway as its upstreams see it. */
const CLIENT_INFO = { name: "personal-mcp-gateway", version: "1" };

/** A live connection: what closing it takes. */
interface Connection {
  client: Client;
  child?: StdioProcess;
  /** Settles with why it went down. */
  down: Promise<string>;
}

/**
 * One upstream, connecting at once.
 *
 * @example Connect to a stdio server and call a tool
 * ```ts ignore
 * import { createUpstream } from "./upstream.ts";
 * import { createStdioSpawner } from "../../runtime/stdio.ts";
 * const [config] = parseServers({ mcpServers: { memory: { command: "npx", args: ["-y", "@modelcontextprotocol/server-memory"] } } }, "code", {});
 * const memory = createUpstream(config!, { spawn: createStdioSpawner() });
 * await memory.ready();
 * console.log(await memory.client().listTools());
 * await memory.stop();
 * ```
 */
export function createUpstream(config: UpstreamConfig, deps: UpstreamDeps): Upstream {
  const now = deps.now ?? Date.now;
  const backoff = deps.backoff ?? DEFAULT_BACKOFF;
  const listeners = new Set<(status: UpstreamStatus) => void>();
  let state: UpstreamState = "starting";
  let restarts = 0;
  let tools = 0;
  let lastError: string | undefined;
  let current: Connection | undefined;
  let connecting: Omit<Connection, "down"> | undefined;
  // Across restarts: the last words of a process that died are what the owner looks for.
  const stderr: string[] = [];
  const log = stderrReporter(config.name, deps.onEvent, now);
  let wake: (() => void) | undefined;
  let stopping: Promise<void> | undefined;

  const status = (): UpstreamStatus => ({
    name: config.name,
    type: config.transport.type,
    state,
    ...(state === "running" && current?.child?.pid !== undefined ? { pid: current.child.pid } : {}),
    restarts,
    tools,
    ...(lastError !== undefined ? { lastError } : {}),
    stderr: [...stderr],
  });

  const set = (next: UpstreamState, why?: string) => {
    if (why !== undefined) lastError = why;
    if (next === state && why === undefined) return;
    state = next;
    const snapshot = status();
    report(deps.onEvent, upstreamEvent(snapshot, why));
    for (const listener of [...listeners]) listener(snapshot);
  };

  const upstream: Upstream = {
    name: config.name,
    config,
    status,
    client() {
      if (state === "running" && current) return current.client;
      throw new UpstreamUnavailableError(config.name, state, lastError);
    },
    ready() {
      if (state === "running") return Promise.resolve();
      if (state === "stopped" || (state === "failed" && !canStart())) {
        return Promise.reject(new UpstreamUnavailableError(config.name, state, lastError));
      }
      return waitUntilRunning();
    },
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      stopping ??= (async () => {
        state = "stopped";
        wake?.();
        // The live connection, and one being made: a process spawned a moment ago is
        // stopped too, before stop() resolves (its group would outlive the server).
        const open = [current, connecting];
        current = undefined;
        await Promise.all(open.map(async (connection) => {
          await connection?.client.close().catch(() => {});
          await connection?.child?.stop();
        }));
        await running;
        const snapshot = status();
        report(deps.onEvent, upstreamEvent(snapshot, undefined));
        for (const listener of [...listeners]) listener(snapshot);
      })();
      return stopping;
    },
  };

  function canStart(): boolean {
    return config.transport.type !== "stdio" || deps.spawn !== undefined;
  }

  function waitUntilRunning(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new UpstreamUnavailableError(
            config.name,
            state,
            `not connected within ${config.timeoutMs} ms${lastError ? ` (${lastError})` : ""}`,
          ),
        );
      }, config.timeoutMs);
      const off = upstream.onStateChange((s) => {
        if (s.state === "running") resolve();
        else if (s.state === "stopped") {
          reject(new UpstreamUnavailableError(config.name, s.state, lastError));
        } else return;
        clearTimeout(timer);
        off();
      });
    });
  }

  async function run(): Promise<void> {
    if (!canStart()) {
      return set("failed", "stdio servers cannot be started here (no process spawner)");
    }
    let delay = backoff.initialMs;
    let failures = 0;
    while (!stopping) {
      const connection = await connect().catch((error: unknown) => describe(error));
      if (stopping) {
        if (typeof connection !== "string") {
          await connection.client.close().catch(() => {});
          await connection.child?.stop();
        }
        return;
      }
      if (typeof connection === "string") {
        failures++;
        set(failures >= FAILED_AFTER ? "failed" : "restarting", connection);
      } else {
        failures = 0;
        current = connection;
        set("running");
        const upAt = now();
        const why = await connection.down;
        current = undefined;
        if (stopping) return;
        if (now() - upAt >= backoff.healthyMs) delay = backoff.initialMs;
        set("restarting", why);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (stopping) return;
      delay = Math.min(delay * 2, backoff.maxMs);
      restarts++;
      set(state === "failed" ? "failed" : "starting");
    }
  }

  async function connect(): Promise<Connection> {
    const client = new Client(CLIENT_INFO, {
      capabilities: deps.clientCapabilities ?? {},
    });
    deps.setupClient?.(client, upstream);
    let goDown!: (why: string) => void;
    const down = new Promise<string>((resolve) => goDown = resolve);
    let lastProblem: string | undefined;
    client.onerror = (error) => {
      // Only what ends the connection says why it went down; the SDK also reports
      // passing trouble here (a progress notification for a finished request).
      if (error instanceof StdioProtocolError) lastProblem = describe(error);
      else if (describe(error).includes(TOO_LARGE)) {
        lastProblem = `sent a message over ${config.maxMessageBytes} bytes ${TOO_LARGE}`;
        void client.close().catch(() => {});
      } // An HTTP upstream has no process to watch: a refused connection is its exit, and
      // a lost session (it restarted) needs a new connection, as the spec says.
      else if (
        config.transport.type !== "stdio" && (isConnectionFailure(error) || isSessionLost(error))
      ) {
        lastProblem = describe(error);
        void client.close().catch(() => {});
      }
    };
    client.onclose = () => goDown(lastProblem ?? "its connection closed");
    const { transport, child } = openTransport(config, deps, (line) => {
      keep(stderr, line);
      log(line);
    });
    connecting = { client, child };
    try {
      await client.connect(transport, { timeout: config.timeoutMs });
      if (client.getServerCapabilities()?.tools) {
        tools = (await client.listTools(undefined, { timeout: config.timeoutMs })).tools.length;
      }
    } catch (error) {
      await client.close().catch(() => {});
      await child?.stop();
      throw new Error(lastProblem ?? describe(error));
    } finally {
      connecting = undefined;
    }
    return { client, child, down };
  }

  const running = run();
  return upstream;
}

/** A new connection's transport: a spawned process for stdio, or HTTP with the configured headers. */
function openTransport(
  config: UpstreamConfig,
  deps: UpstreamDeps,
  onStderr: (line: string) => void,
): { transport: Transport; child?: StdioProcess } {
  const target = config.transport;
  if (target.type === "stdio") {
    const child = deps.spawn!(target);
    child.onStderr(onStderr);
    const transport = createStdioTransport(child, {
      name: config.name,
      maxMessageBytes: config.maxMessageBytes,
    });
    return { transport, child };
  }
  const url = new URL(target.url);
  const options = {
    requestInit: { headers: target.headers },
    fetch: boundedFetch(config.maxMessageBytes),
  };
  return {
    transport: target.type === "sse"
      ? new SSEClientTransport(url, options)
      : new StreamableHTTPClientTransport(url, options),
  };
}

/**
 * Every configured upstream, started at once; `stop()` stops them all (each stdio
 * server's whole process group).
 *
 * @example
 * ```ts ignore
 * const { upstreams, stop } = startUpstreams(configs, { spawn: createStdioSpawner() });
 * await stop();
 * ```
 */
export function startUpstreams(
  configs: UpstreamConfig[],
  deps: UpstreamDeps,
): { upstreams: Upstream[]; stop(): Promise<void> } {
  const upstreams = configs.map((config) => createUpstream(config, deps));
  return {
    upstreams,
    stop: async () => void await Promise.all(upstreams.map((u) => u.stop())),
  };
}

/**
 * What a failed request to an upstream means for its caller: an
 * {@linkcode UpstreamUnavailableError} naming the server and its state when the
 * connection broke or the request timed out; other errors (the upstream's own JSON-RPC
 * errors) as they are.
 *
 * @example
 * ```ts ignore
 * try { await upstream.client().callTool(params); } catch (e) { throw upstreamError(upstream, e); }
 * ```
 */
export function upstreamError(upstream: Upstream, error: unknown): unknown {
  if (error instanceof UpstreamUnavailableError) return error;
  const code = (error as { code?: unknown })?.code;
  const { state, lastError } = upstream.status();
  if (code === "REQUEST_TIMEOUT") {
    return new UpstreamUnavailableError(
      upstream.name,
      state,
      `no answer within ${upstream.config.timeoutMs} ms`,
    );
  }
  if (describe(error).includes(TOO_LARGE)) {
    const bound = `sent a message over ${upstream.config.maxMessageBytes} bytes ${TOO_LARGE}`;
    return new UpstreamUnavailableError(upstream.name, state, bound);
  }
  if (isSessionLost(error)) {
    return new UpstreamUnavailableError(upstream.name, state, "it lost our session (restarted?)");
  }
  if (isConnectionFailure(error)) {
    return new UpstreamUnavailableError(upstream.name, state, `unreachable (${describe(error)})`);
  }
  if (code === "CONNECTION_CLOSED" || code === "SEND_FAILED" || state !== "running") {
    return new UpstreamUnavailableError(
      upstream.name,
      state,
      `its connection broke during the request${lastError ? ` (${lastError})` : ""}`,
    );
  }
  return error;
}

/** Keeps the last 50 lines and 16 KiB of stderr (lines come cut to 16 KiB by the spawner). */
function keep(ring: string[], line: string): void {
  ring.push(line);
  let bytes = ring.reduce((n, l) => n + l.length, 0);
  while (ring.length > 50 || (bytes > 16 * 1024 && ring.length > 1)) bytes -= ring.shift()!.length;
}

/** Most stderr lines a second that reach the log; the rest are counted, not lost silently. */
const STDERR_LINES_PER_SECOND = 20;

/** Passes stderr lines on to the log, at most 20 a second, so a noisy server cannot flood it. */
function stderrReporter(
  server: string,
  onEvent: UpstreamDeps["onEvent"],
  now: () => number,
): (line: string) => void {
  let windowStart = 0;
  let count = 0;
  let dropped = 0;
  return (line) => {
    const t = now();
    if (t - windowStart >= 1000) {
      if (dropped > 0) {
        const note = `(${dropped} more stderr lines not logged)`;
        report(onEvent, { type: "upstream_stderr", server, line: note });
      }
      windowStart = t;
      count = 0;
      dropped = 0;
    }
    if (++count > STDERR_LINES_PER_SECOND) dropped++;
    else report(onEvent, { type: "upstream_stderr", server, line });
  };
}

/**
 * An HTTP upstream that no longer knows our session: 404 (MCP streamable HTTP: "the
 * client MUST start a new session"), or the 400 "No valid session ID" of servers built
 * on the SDK's examples.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management
 */
function isSessionLost(error: unknown): boolean {
  const status = (error as { status?: unknown })?.status;
  return status === 404 || (status === 400 && /session/i.test((error as Error).message));
}

function isConnectionFailure(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${(error as Error)?.cause ?? ""}`;
  return error instanceof TypeError || /ECONNREFUSED|ECONNRESET|fetch failed|socket/i.test(text);
}

function describe(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  // The SDK's HTTP errors keep the status beside the message: the owner needs both (401).
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number") message = `HTTP ${status}: ${message}`;
  return message.length > 500 ? `${message.slice(0, 500)}...` : message;
}

function upstreamEvent(status: UpstreamStatus, why: string | undefined): PersonalMcpEvent {
  return {
    type: "upstream_state",
    server: status.name,
    state: status.state,
    restarts: status.restarts,
    ...(status.pid !== undefined ? { pid: status.pid } : {}),
    ...(why !== undefined ? { reason: why } : {}),
  };
}

function report(onEvent: UpstreamDeps["onEvent"], event: PersonalMcpEvent): void {
  try {
    onEvent?.(event);
  } catch { /* a failing log hook must not stop an upstream */ }
}
