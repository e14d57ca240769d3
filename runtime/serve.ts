/**
 * `servePersonalMcp()`: the only place that opens a socket, with `Deno.serve` or
 * `Bun.serve` chosen by feature detection, and the only place that picks a persistent
 * store for the runtime.
 *
 * @module
 */
import process from "node:process";
import { generatePassword } from "../auth/crypto.ts";
import { ensureOwnerPassword, setOwnerPassword } from "../auth/owner.ts";
import { isLoopbackHost, type PersonalMcpOptions } from "../server/options.ts";
import { createPersonalMcp, type PersonalMcp } from "../server/create.ts";
import { startControl } from "./control.ts";
import { openFileStore, prepareStateDir } from "../store/file.ts";
import { kvAvailable, openKvStore } from "../store/kv.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { Store } from "../store/store.ts";
import type { Tools } from "../transport/tools.ts";

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

/** A running server. */
export interface ServeHandle {
  /** The MCP endpoint URL: `<baseUrl>/mcp`. */
  readonly url: string;
  readonly baseUrl: string;
  readonly hostname: string;
  readonly port: number;
  /** The fetch handler being served. */
  readonly app: PersonalMcp;
  /** Stops accepting connections, lets requests finish, closes the store. */
  shutdown(): Promise<void>;
}

interface Listener {
  port: number;
  stop(): Promise<void>;
}

/** A request handler; the client's address is worked out only when asked for. */
type Handler = (request: Request, remoteAddress: () => string) => Promise<Response>;

async function listen(hostname: string, port: number, handler: Handler): Promise<Listener> {
  const g = globalThis as { Deno?: { serve?: unknown }; Bun?: { serve?: unknown } };
  if (typeof g.Bun?.serve === "function") {
    const { listenBun } = await import("./bun.ts");
    return listenBun(hostname, port, handler);
  }
  if (typeof g.Deno?.serve === "function") {
    const { listenDeno } = await import("./deno.ts");
    return listenDeno(hostname, port, handler);
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
  if (process.env.DENO_DEPLOYMENT_ID) return await openKvStore();
  await prepareStateDir(stateDir);
  return await openKvStore(`${stateDir}/kv.sqlite3`);
}

/**
 * The start-up banner: where the server is and how to add it to each client.
 *
 * @example
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
    `    (needs a public https URL on port 443: put a tunnel or reverse proxy in front)`,
    `  Claude Desktop via mcp-remote: {"command": "npx", "args": ["-y", "mcp-remote", "${mcpUrl}"]}`,
    `  Claude Code: claude mcp add --transport http personal ${mcpUrl}`,
    `You will be asked for the owner password on the consent page.`,
  ].join("\n");
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
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`"port" must be an integer from 0 to 65535`);
  }
  const show = options.banner ?? true;
  if (options.insecureClientMetadata && !isLoopbackHost(hostname)) {
    throw new TypeError(
      `"insecureClientMetadata" is for local development only and needs a loopback "hostname", got ${hostname}`,
    );
  }
  const stateDir = options.stateDir ?? ".oauth-state";
  const store = await openStore(options.store, stateDir);

  let app: PersonalMcp | undefined;
  let control: { stop(): Promise<void> } | undefined;
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  let listener: Listener;
  try {
    listener = await listen(hostname, port, async (request, remoteAddress) => {
      if (!app) await readyPromise;
      return await app!.fetch(request, {
        get remoteAddress() {
          return remoteAddress();
        },
      });
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const hostForUrl = hostname.includes(":")
    ? `[${hostname}]`
    : hostname === "0.0.0.0"
    ? "127.0.0.1"
    : hostname;
  const baseUrl = options.baseUrl ?? `http://${hostForUrl}:${listener.port}`;
  try {
    if (options.password === undefined) {
      let fresh: string | undefined;
      if (options.resetPassword) {
        fresh = generatePassword();
        await setOwnerPassword(store, fresh);
      } else {
        fresh = await ensureOwnerPassword(store);
      }
      if (fresh && show) {
        console.log(
          `\nOwner password (shown once, only its hash is stored): ${fresh}\n` +
            `To change it: run again with --reset-password, or set PERSONAL_MCP_PASSWORD.\n`,
        );
      }
    }
    app = createPersonalMcp(tools, { ...options, baseUrl, store });
    // Requests are served from here on, while the control endpoint starts.
    ready();
    // The file store's lock keeps the owner commands out: they come through here instead.
    if (usesFileStore(options.store)) {
      control = await startControl(stateDir, app.owner, (h) => listen("127.0.0.1", 0, h));
    }
  } catch (error) {
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
  let stopped: Promise<void> | undefined;
  const handle: ServeHandle = {
    url: `${app.baseUrl}/mcp`,
    baseUrl: app.baseUrl,
    hostname,
    port: listener.port,
    app,
    shutdown() {
      stopped ??= (async () => {
        await control?.stop();
        await listener.stop();
        await app!.close();
      })();
      return stopped;
    },
  };
  options.signal?.addEventListener("abort", () => void handle.shutdown(), { once: true });
  return handle;
}
