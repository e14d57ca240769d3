/**
 * `servePersonalMcp()`: the only place that opens a socket, with `Deno.serve` or
 * `Bun.serve` chosen by feature detection, and the only place that picks a persistent
 * store for the runtime.
 *
 * @module
 */
import { generatePassword } from "../core/crypto.ts";
import { ensureOwnerPassword, setOwnerPassword } from "../auth/owner/password.ts";
import { type PersonalMcpOptions, resolveOptions } from "../server/options.ts";
import { isLoopbackHost, type PersonalMcpEvent } from "../core/config.ts";
import { createPersonalMcpOn, type PersonalMcp } from "../server/create.ts";
import type { ConnectionInfo } from "../core/http.ts";
import { startControl } from "./control.ts";
import { onDeploy, serverEdge } from "./stdio.ts";
import { offerPasskey, portInUse } from "./hints.ts";
import { openFileStore, prepareStateDir } from "../store/file.ts";
import { kvAvailable, openKvStore } from "../store/kv.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { Store } from "../store/store.ts";
import { type Tools, validateTools } from "../transport/tools.ts";

/** Options of {@linkcode servePersonalMcp}: the server's options plus where to listen. */
export interface ServeOptions extends Omit<PersonalMcpOptions, "baseUrl" | "store"> {
  /** Public origin; defaults to `http://<hostname>:<port>` (fine for local use only). */
  baseUrl?: string;
  /** TCP port; 0 picks a free one. @default 8787 */
  port?: number;
  /** Interface to listen on. @default "127.0.0.1" */
  hostname?: string;
  /**
   * Where state lives: a {@linkcode Store}, `"memory"`, `"kv"` (Deno KV) or `"file"`
   * (JSON in `stateDir`). @default "kv" when `Deno.openKv` exists, else "file"
   */
  store?: Store | "memory" | "kv" | "file";
  /** Folder of the file store (and of the local Deno KV database). @default ".oauth-state" */
  stateDir?: string;
  /** Replace the stored owner password with a new generated one, and print it. @default false */
  resetPassword?: boolean;
  /** Print the start-up banner and a generated password. @default true */
  banner?: boolean;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
}

/** Where a server listens: the shape of `Deno.NetAddr` for a TCP listener. */
export interface ServeAddr {
  /** The interface listened on, as given in {@linkcode ServeOptions.hostname}. */
  readonly hostname: string;
  /** The TCP port listened on (the one picked when 0 was asked). */
  readonly port: number;
  /** Always `"tcp"`. */
  readonly transport: "tcp";
}

/**
 * A running server. Stop it with {@linkcode ServeHandle.shutdown}, with the `signal`
 * option, or by leaving the scope of an `await using` declaration: each closes the
 * listener, the owner commands' control endpoint and the store, and then
 * {@linkcode ServeHandle.finished} settles.
 *
 * @example Closing the server at the end of a scope with `await using`
 * ```ts
 * import { createMemoryStore, demoTools, servePersonalMcp } from "../mod.ts";
 *
 * let origin: string;
 * {
 *   await using server = await servePersonalMcp(demoTools, {
 *     port: 0,
 *     store: createMemoryStore(),
 *     password: "correct horse battery",
 *     banner: false,
 *   });
 *   origin = server.baseUrl;
 *   const res = await fetch(`${origin}/healthz`);
 *   if (!res.ok) throw new Error(`not healthy: ${res.status}`);
 *   await res.body?.cancel();
 * } // the server is shut down here
 * if (await fetch(origin).then(() => true, () => false)) throw new Error("still listening");
 * ```
 *
 * @example Waiting for a server that a signal stops
 * ```ts
 * import { demoTools, servePersonalMcp } from "../mod.ts";
 *
 * const controller = new AbortController();
 * const server = await servePersonalMcp(demoTools, {
 *   port: 0,
 *   store: "memory",
 *   password: "correct horse battery",
 *   banner: false,
 *   signal: controller.signal,
 * });
 * if (server.addr.port !== server.port || server.addr.transport !== "tcp") throw new Error("addr");
 * controller.abort();
 * await server.finished; // resolves once the listener and the store are closed
 * ```
 */
export interface ServeHandle extends AsyncDisposable {
  /** The MCP endpoint URL: `<baseUrl>/mcp`. */
  readonly url: string;
  /** The public origin: the OAuth issuer. */
  readonly baseUrl: string;
  /** The interface listened on. */
  readonly hostname: string;
  /** The TCP port listened on (the one picked when 0 was asked). */
  readonly port: number;
  /** The fetch handler being served. */
  readonly app: PersonalMcp;
  /** Where the server listens, in the shape of `Deno.NetAddr`. */
  readonly addr: ServeAddr;
  /**
   * Settles once the server has stopped (by {@linkcode ServeHandle.shutdown}, by the
   * `signal` option, or by `await using`): resolves when the listener, the control
   * endpoint and the store are closed, rejects with the error if closing failed. Like
   * `Deno.HttpServer.finished`, it stays pending while the server runs.
   */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, lets requests finish, closes the control endpoint and
   * the store. Calling it again returns the same promise.
   */
  shutdown(): Promise<void>;
  /** The same as {@linkcode ServeHandle.shutdown}: what `await using` calls at the end of its scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

interface Listener {
  port: number;
  stop(): Promise<void>;
}

type Handler = (request: Request, info: ConnectionInfo) => Promise<Response>;

async function listen(
  hostname: string,
  port: number,
  handler: Handler,
  emit: (event: PersonalMcpEvent) => void,
): Promise<Listener> {
  const g = globalThis as { Deno?: { serve?: unknown }; Bun?: { serve?: unknown } };
  try {
    if (typeof g.Bun?.serve === "function") {
      const { listenBun } = await import("./bun.ts");
      return listenBun(hostname, port, handler);
    }
    if (typeof g.Deno?.serve === "function") {
      const { listenDeno } = await import("./deno.ts");
      return listenDeno(hostname, port, handler, emit);
    }
  } catch (error) {
    throw portInUse(error, hostname, port) ?? error;
  }
  throw new Error(
    "servePersonalMcp() needs Deno or Bun; elsewhere, call createPersonalMcp() and serve its fetch handler",
  );
}

/** Whether the options put the state in the file store (which owner commands reach by control). */
function usesFileStore(choice: ServeOptions["store"]): boolean {
  return choice === "file" || (choice === undefined && !kvAvailable());
}

async function openStore(choice: ServeOptions["store"], stateDir: string): Promise<Store> {
  if (choice !== undefined && typeof choice === "object") return choice;
  if (choice === "memory") return createMemoryStore();
  if (usesFileStore(choice)) return await openFileStore(stateDir);
  // Deno Deploy provides the database; elsewhere it is a file in the state folder.
  if (onDeploy()) return await openKvStore();
  await prepareStateDir(stateDir);
  return await openKvStore(`${stateDir}/kv.sqlite3`);
}

/**
 * The start-up banner: where the server is and how to add it to each client.
 *
 * @example What the console shows at start
 * ```ts
 * import { banner } from "./serve.ts";
 * if (!banner("https://me.example.com/mcp").includes("claude mcp add")) throw new Error("no Claude Code line");
 * ```
 */
export function banner(mcpUrl: string): string {
  return [
    `personal-mcp is listening. MCP endpoint: ${mcpUrl}`,
    ``,
    `Add it to a client:`,
    `  Claude (web, mobile, Desktop): Settings > Connectors > Add custom connector, URL ${mcpUrl}`,
    `    (needs a public https URL on port 443: put a tunnel or reverse proxy in front,`,
    `    and start with --trust-proxy so that each caller is throttled on its own)`,
    `  Claude Desktop via mcp-remote: {"command": "npx", "args": ["-y", "mcp-remote", "${mcpUrl}"]}`,
    `  Claude Code: claude mcp add --transport http personal ${mcpUrl}`,
    `You approve each app on the consent page, with the owner password or a passkey.`,
  ].join("\n");
}

/** Where to listen, with every option checked. */
interface Place {
  hostname: string;
  port: number;
  /** The host as it goes in a URL (IPv6 in brackets, "0.0.0.0" reached on loopback). */
  hostForUrl: string;
}

/**
 * Checks every option before a store is opened or a port bound: a bad one must fail the
 * start, not leave a listener behind.
 */
function checkOptions(tools: Tools, options: ServeOptions): Place {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`"port" must be an integer from 0 to 65535`);
  }
  if (options.insecureClientMetadata && !isLoopbackHost(hostname)) {
    throw new TypeError(
      `"insecureClientMetadata" is for local development only and needs a loopback "hostname", got ${hostname}`,
    );
  }
  const hostForUrl = hostname.includes(":")
    ? `[${hostname}]`
    : hostname === "0.0.0.0"
    ? "127.0.0.1"
    : hostname;
  // With port 0 the real port is known only once listening; any port stands in for it here.
  resolveOptions({
    ...options,
    baseUrl: options.baseUrl ?? `http://${hostForUrl}:${port || 8787}`,
    store: undefined,
  });
  validateTools(tools);
  return { hostname, port, hostForUrl };
}

/**
 * The listener's handler before the app exists: the port is bound first (its number
 * may be part of the base URL), so a request that comes early waits for the app, or
 * is told that the start failed rather than kept waiting.
 */
function createEarlyHandler() {
  let app: PersonalMcp | undefined;
  let ready!: () => void;
  let failed!: (error: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  readyPromise.catch(() => {}); // a start can fail with nobody waiting
  const handler: Handler = async (request, info) => {
    if (!app) {
      try {
        await readyPromise;
      } catch {
        return new Response("The server failed to start.\n", {
          status: 503,
          headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
        });
      }
    }
    return await app!.fetch(request, info);
  };
  return {
    handler,
    /** The app exists: requests that come from now on are served at once. */
    created(created: PersonalMcp) {
      app = created;
    },
    /** The start is done: the requests that came early are served. */
    ready: () => ready(),
    failed: (error: unknown) => failed(error),
  };
}

/**
 * Sets up the owner password when the options give none: a generated one on a first
 * start (or with `resetPassword`), printed once. Returns whether this is a first start
 * (no password and no passkey yet).
 */
async function ownerPasswordAtStart(
  store: Store,
  options: ServeOptions,
  show: boolean,
): Promise<boolean> {
  if (options.password !== undefined) return false;
  let fresh: string | undefined;
  let firstStart = false;
  if (options.resetPassword) {
    fresh = generatePassword();
    await setOwnerPassword(store, fresh);
  } else {
    fresh = await ensureOwnerPassword(store);
    firstStart = fresh !== undefined;
  }
  if (fresh && show) {
    console.log(
      `\nOwner password (shown once, only its hash is stored): ${fresh}\n` +
        `To change it: run again with --reset-password, or set PERSONAL_MCP_PASSWORD.\n`,
    );
  }
  return firstStart;
}

/** The handle of a running server: its addresses, and a shutdown that runs once. */
function serveHandle(
  app: PersonalMcp,
  hostname: string,
  listener: Listener,
  control: { stop(): Promise<void> } | undefined,
  signal: AbortSignal | undefined,
): ServeHandle {
  let stopped: Promise<void> | undefined;
  let settle!: (stopping: Promise<void>) => void;
  const finished = new Promise<void>((resolve) => settle = resolve);
  // Whoever awaits `finished` sees a failed close; nobody awaiting it must not crash the
  // process with an unhandled rejection (shutdown() already hands the error to its caller).
  finished.catch(() => {});
  const onAbort = () => void handle.shutdown().catch(() => {});
  const handle: ServeHandle = {
    url: `${app.baseUrl}/mcp`,
    baseUrl: app.baseUrl,
    hostname,
    port: listener.port,
    addr: { hostname, port: listener.port, transport: "tcp" },
    app,
    finished,
    shutdown() {
      stopped ??= (async () => {
        signal?.removeEventListener("abort", onAbort);
        await control?.stop();
        await listener.stop();
        await app.close();
      })();
      settle(stopped);
      return stopped;
    },
    [Symbol.asyncDispose]() {
      return handle.shutdown();
    },
  };
  // A signal that was aborted before the server was up stops it at once, as Deno.serve does.
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return handle;
}

/**
 * Serves tools over HTTP on Deno or Bun. Resolves once the server is listening.
 *
 * @example Serving one tool on a free port
 * ```ts
 * import { servePersonalMcp, tool } from "../mod.ts";
 * import { z } from "zod";
 *
 * const server = await servePersonalMcp({
 *   hello: tool({ description: "Say hello", input: { name: z.string() }, run: ({ name }) => `Hello, ${name}!` }),
 * }, { port: 0, store: "memory", password: "correct horse battery", banner: false });
 * const res = await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`);
 * if (res.status !== 200) throw new Error("not ready");
 * await res.body?.cancel();
 * await server.shutdown();
 * ```
 */
export async function servePersonalMcp(
  tools: Tools,
  options: ServeOptions = {},
): Promise<ServeHandle> {
  const { hostname, port, hostForUrl } = checkOptions(tools, options);
  const show = options.banner ?? true;
  const emit = (event: PersonalMcpEvent) => {
    try {
      options.onEvent?.(event);
    } catch { /* a broken hook must not break the server */ }
  };
  const stateDir = options.stateDir ?? ".oauth-state";
  const store = await openStore(options.store, stateDir);
  const early = createEarlyHandler();
  let listener: Listener;
  try {
    listener = await listen(hostname, port, early.handler, emit);
  } catch (error) {
    await store.close();
    throw error;
  }
  const baseUrl = options.baseUrl ?? `http://${hostForUrl}:${listener.port}`;
  let app: PersonalMcp | undefined;
  let control: { stop(): Promise<void> } | undefined;
  try {
    const firstStart = await ownerPasswordAtStart(store, options, show);
    app = createPersonalMcpOn(tools, { ...options, baseUrl, store }, serverEdge());
    // The upstream servers are listed before the first request is served; names of
    // theirs that do not fit one namespace refuse the start here.
    await app.ready();
    early.created(app);
    if (firstStart && show) await offerPasskey(app, stateDir);
    // Requests are served from here on, while the control endpoint starts.
    early.ready();
    // The file store's lock keeps the owner commands out: they come through here instead;
    // `servers` asks a server with upstreams, on any store kept in the state folder.
    const servers = app.owner.listServers().length > 0;
    if (usesFileStore(options.store) || (servers && keptInStateDir(options.store))) {
      const tools = { permissions: app.permissions, held: app.confirmations, audit: app.audit };
      control = await startControl(
        stateDir,
        app.owner,
        (h) => listen("127.0.0.1", 0, h, emit),
        tools,
      );
    }
  } catch (error) {
    early.failed(error);
    await listener.stop();
    await app?.close();
    if (!app) await store.close();
    throw error;
  }
  if (show) {
    console.log(banner(`${app.baseUrl}/mcp`));
    if (!isLoopbackHost(hostname) && !options.baseUrl) {
      console.warn(
        `warning: listening on ${hostname} without --base-url; clients will be sent to ${baseUrl}`,
      );
    }
  }
  return serveHandle(app, hostname, listener, control, options.signal);
}

/** Whether the state lives in `stateDir` (the file store, or a local Deno KV file). */
function keptInStateDir(choice: ServeOptions["store"]): boolean {
  return (choice === undefined || choice === "kv" || choice === "file") && !onDeploy();
}
