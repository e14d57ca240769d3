/**
 * The one options interface of personal-mcp, and its validation.
 *
 * @module
 */
import type { McpServerInstance } from "../transport/types.ts";
import type { Store } from "../store/store.ts";
import type { Prompts } from "../transport/prompts.ts";
import type { Resources } from "../transport/resources.ts";
import { isLoopbackHost, type PersonalMcpEvent, type ResolvedOptions } from "../core/config.ts";
import {
  type Environment,
  parseServers,
  type ServersOption,
  type UpstreamConfig,
} from "../transport/upstreams/config.ts";

/** Options of `createPersonalMcp()` and `servePersonalMcp()`. */
export interface PersonalMcpOptions {
  /**
   * The public origin clients reach the server at, e.g. `https://me.example.com`.
   * It is the OAuth issuer and the base of every endpoint (the MCP endpoint is
   * `<baseUrl>/mcp`); it never comes from the `Host` header. Must be an http(s)
   * origin with no path; plain http is accepted only for loopback hosts.
   */
  baseUrl: string;
  /**
   * The owner's password, typed on the consent page. When absent, a password hash is
   * read from the store; `servePersonalMcp()` generates one on first start and prints it.
   */
  password?: string;
  /**
   * Where grants, clients and tokens live: a {@linkcode Store}, or `"memory"`.
   * `servePersonalMcp()` picks Deno KV when `Deno.openKv` exists, else a JSON file in
   * `stateDir`.
   * @default "memory" for createPersonalMcp()
   */
  store?: Store | "memory";
  /** Name shown to clients in `initialize` and on the consent page. @default "personal-mcp" */
  name?: string;
  /** Server version reported in `initialize`. @default "0.1.0" */
  version?: string;
  /** Text for `initialize`'s `instructions`. */
  instructions?: string;
  /**
   * Access-token lifetime in seconds. Long by default because Claude.ai has been
   * reported not to refresh custom-connector tokens; every token is checked against
   * the store on each request, so revocation still takes effect at once.
   * @default 2592000 (30 days)
   */
  accessTokenTtlSeconds?: number;
  /** Refresh-token lifetime in seconds; every refresh issues a new one. @default 31536000 (365 days) */
  refreshTokenTtlSeconds?: number;
  /** Authorization-code lifetime in seconds (RFC 6749 4.1.2: short). @default 120 */
  codeTtlSeconds?: number;
  /**
   * How long a just-rotated refresh token may still be used, so that a lost response
   * or two racing refreshes do not kill the grant.
   * @default 60
   */
  refreshGraceSeconds?: number;
  /**
   * How long after a refresh token was rotated a copy of it still held by another
   * process (Codex and Claude Code keep one per process) gets an access token, in
   * seconds. Only the immediate predecessor of the live refresh token qualifies, and
   * only until that live token is itself used; it gets an access token alone (no new
   * refresh token), living at most this long, at most four at a time, all dying with
   * it. A token two generations back, or presented after this window, still revokes
   * the grant as reuse. `0` turns this off (reuse detection after the grace only).
   * @default 14400 (4 hours)
   */
  refreshReuseWindowSeconds?: number;
  /**
   * Who may receive authorization codes. Each entry is an origin
   * (`"https://claude.ai"`: any path on it), a scheme (`"cursor:"`), or `"loopback"`
   * (http on localhost, 127.0.0.1 or [::1], any port). Registered redirect URIs must
   * match an entry; requested ones must then match a registered URI exactly (loopback:
   * any port, RFC 8252 7.3).
   * @default DEFAULT_REDIRECT_ALLOWLIST
   */
  allowedRedirects?: string[];
  /**
   * Origins a browser may call `/mcp` and the OAuth endpoints from (CORS, and the
   * `Origin` check of the MCP transport). Entries as in `allowedRedirects`; the
   * server's own origin is always allowed; a request without `Origin` is always allowed.
   * @default ["loopback"]
   */
  allowedOrigins?: string[];
  /**
   * Scopes a client may ask for. The first is the scope that opens `/mcp` and is part
   * of every grant; a client asking for none gets them all (clients differ: ChatGPT
   * omits scope on reconnect).
   * @default ["mcp", "offline_access"]
   */
  scopes?: string[];
  /**
   * Trust `X-Forwarded-For` (the right-most address) to find the client address for
   * throttling. Turn it on behind a tunnel or reverse proxy (cloudflared, ngrok,
   * tailscale funnel, Caddy): every request then comes from the proxy's own address,
   * and without it all callers share one throttle. Never on a server reached directly,
   * where a caller could write the header.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * Accept `http://` Client ID Metadata Document URLs on loopback hosts. UNSAFE:
   * for local development and tests only; `servePersonalMcp()` refuses it unless the
   * server listens on a loopback address.
   * @default false
   */
  insecureClientMetadata?: boolean;
  /**
   * Accept Client ID Metadata Documents (a `client_id` that is an https URL naming
   * the client's published metadata) and advertise them with
   * `client_id_metadata_document_supported`. When false, the server stops advertising
   * them, so every client registers with Dynamic Client Registration, and URL
   * client_ids are refused with a page that says why. Turn off when the documents'
   * hosts cannot be reached from where the server runs and no copy helps (see the
   * README's troubleshooting).
   * @default true
   */
  clientMetadataDocuments?: boolean;
  /** Most registered clients kept at once; older never-used ones are dropped first. @default 1000 */
  maxClients?: number;
  /** Largest request body accepted on OAuth endpoints, in bytes. @default 65536 */
  maxBodyBytes?: number;
  /**
   * How long a client may take to send a request body to `/register`, `/token`,
   * `/revoke` or the consent form, in seconds, counted from when its headers arrived;
   * after that it is answered 408 and its connection is closed, so that a stalled
   * body cannot hold a connection.
   * @default 10
   */
  bodyTimeoutSeconds?: number;
  /** The same deadline for a `POST /mcp` body (up to 4 MiB), in seconds. @default 60 */
  mcpBodyTimeoutSeconds?: number;
  /**
   * Interval of the comment lines (`: keepalive`) sent on an otherwise quiet MCP SSE
   * stream, in seconds: they keep tunnels and proxies from closing the stream and
   * reveal a client that has gone.
   * @default 15
   */
  sseKeepaliveSeconds?: number;
  /**
   * Resources clients may read, by name, made with `resource()`: prepared once and
   * offered next to the tools.
   */
  resources?: Resources;
  /** Prompt templates clients may offer their user, by name, made with `prompt()`. */
  prompts?: Prompts;
  /**
   * Called once for each MCP server instance the process builds (not per request),
   * after the tools, resources and prompts are registered: declare capabilities or
   * register anything else the SDK offers. One instance answers every sessionless
   * 2025-era request; each 2025-era session gets its own; 2026-07-28 requests are served
   * by instances kept and reused between requests. Keep per-request state out of it.
   * The value is the SDK's `McpServer`: type your parameter with it to reach all of it.
   * Tools must be given as `tools` (or `--tools`), not registered here: the owner's
   * tool policy knows only those, and refuses and hides any other tool.
   */
  configureServer?(server: McpServerInstance): void;
  /**
   * The owner's default tool policy for every app, before they decide for one:
   * `"allow"`, `"ask"` (each call waits for the owner's confirmation) or `"deny"` (the
   * app does not see the tool). Keys are a tool's name, `"<server>/*"` (every tool of
   * one upstream server) or `"*"`; the most precise key wins, and any key wins over the
   * tool's annotations (read-only and plain writes allowed, destructive asked; an
   * upstream tool without annotations counts as destructive, the owner's own only when
   * annotated so).
   * @default {}
   */
  toolPolicy?: Record<string, "allow" | "ask" | "deny">;
  /**
   * Whether the audit record of each tool call keeps its arguments (as JSON, at most
   * 4 KiB). Every record keeps their SHA-256 in any case; the arguments may hold what
   * the tool was given to work on, so they are kept only when asked for.
   * @default false
   */
  auditArguments?: boolean;
  /**
   * How long a tool call whose policy is `ask` waits for the owner's confirmation, in
   * seconds (at most 600). After it, the call ends with a result that gives the model
   * the confirmation link; a confirmation given later (within 10 minutes) lets the
   * same call, made again, run once.
   * @default 120
   */
  confirmTimeoutSeconds?: number;
  /**
   * Receives errors and every authorization event (the activity log: registrations,
   * consent, tokens, refreshes, revocations, refused requests). Never given a token,
   * code, secret or password.
   */
  onEvent?: (event: PersonalMcpEvent) => void;
  /**
   * The owner's existing MCP servers, served beside the tools through the same front
   * door: the content of a Claude Desktop / Cursor / VS Code servers file
   * (`{ mcpServers: { memory: { command: "npx", args: [...] } } }`), or the map of name
   * to entry itself. Stdio servers are started (one process each) by
   * `servePersonalMcp()`; `createPersonalMcp()` alone, and Deno Deploy, take HTTP servers
   * (`url`) only. `${VAR}` in values is read from the environment under
   * `servePersonalMcp()`.
   */
  servers?: ServersOption;
}

/**
 * Default redirect allowlist: the MCP clients of the compatibility table.
 *
 * @example Adding your own client to the default list
 * ```ts
 * import { DEFAULT_REDIRECT_ALLOWLIST, type PersonalMcpOptions } from "../mod.ts";
 *
 * const options: PersonalMcpOptions = {
 *   baseUrl: "https://me.example.com",
 *   allowedRedirects: [...DEFAULT_REDIRECT_ALLOWLIST, "https://my-client.example.net"],
 * };
 * if (!options.allowedRedirects?.includes("https://claude.ai")) throw new Error("Claude missing");
 * ```
 */
export const DEFAULT_REDIRECT_ALLOWLIST: readonly string[] = [
  "https://claude.ai",
  "https://claude.com",
  "https://chatgpt.com",
  "https://vscode.dev",
  "https://insiders.vscode.dev",
  "https://www.cursor.com",
  "cursor:",
  "vscode:",
  "loopback",
];

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`"${name}" must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A held call waits at most as long as its confirmation lives (10 minutes). */
function confirmTimeout(value: unknown): number {
  const seconds = positiveInt(value, "confirmTimeoutSeconds", 120);
  if (seconds > 600) {
    throw new RangeError(`"confirmTimeoutSeconds" must be at most 600, got ${seconds}`);
  }
  return seconds;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`"${name}" must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`"${name}" must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function checkAllowEntry(entry: unknown, name: string): string {
  if (typeof entry !== "string") throw new TypeError(`"${name}" entries must be strings`);
  if (entry === "loopback" || /^[a-z][a-z0-9+.-]*:$/.test(entry)) return entry;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new TypeError(
      `"${name}" entry ${JSON.stringify(entry)} is not an origin, a scheme or "loopback"`,
    );
  }
  if (url.origin === "null" || url.href !== `${url.origin}/` || !/^https?:$/.test(url.protocol)) {
    throw new TypeError(
      `"${name}" entry ${JSON.stringify(entry)} must be an http(s) origin with no path`,
    );
  }
  return url.origin;
}

/** Validates options once, at creation; throws TypeError/RangeError naming the option. */
export function resolveOptions(options: PersonalMcpOptions): ResolvedOptions {
  if (!options || typeof options !== "object") throw new TypeError("options must be an object");
  let base: URL;
  try {
    base = new URL(options.baseUrl);
  } catch {
    throw new TypeError(
      `"baseUrl" must be an absolute http(s) URL, got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  if (base.protocol !== "https:" && base.protocol !== "http:") {
    throw new TypeError(
      `"baseUrl" must be an absolute http(s) URL, got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  if (base.pathname !== "/" || base.search || base.hash || base.username || base.password) {
    throw new TypeError(
      `"baseUrl" must be an origin (no path, query, fragment or credentials), got ${
        JSON.stringify(options.baseUrl)
      }`,
    );
  }
  // OAuth 2.1 1.5: plain http only where nobody can listen in.
  if (base.protocol === "http:" && !isLoopbackHost(base.hostname)) {
    throw new TypeError(`"baseUrl" must use https unless its host is loopback, got ${base.href}`);
  }
  const baseUrl = base.href.replace(/\/+$/, "");
  if (
    options.password !== undefined &&
    (typeof options.password !== "string" || options.password.length < 8)
  ) {
    throw new RangeError(`"password" must be a string of at least 8 characters`);
  }
  const scopes = options.scopes ?? ["mcp", "offline_access"];
  if (
    !Array.isArray(scopes) || scopes.length === 0 ||
    !scopes.every((s) => typeof s === "string" && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))
  ) {
    throw new TypeError(`"scopes" must be a non-empty array of RFC 6749 scope tokens`);
  }
  const allowedRedirects = (options.allowedRedirects ?? [...DEFAULT_REDIRECT_ALLOWLIST]).map((e) =>
    checkAllowEntry(e, "allowedRedirects")
  );
  const allowedOrigins = (options.allowedOrigins ?? ["loopback"]).map((e) =>
    checkAllowEntry(e, "allowedOrigins")
  );
  return {
    baseUrl,
    issuer: baseUrl,
    resource: `${baseUrl}/mcp`,
    origin: base.origin,
    name: options.name ?? "personal-mcp",
    version: options.version ?? "0.1.0",
    instructions: options.instructions,
    accessTokenTtlSeconds: positiveInt(
      options.accessTokenTtlSeconds,
      "accessTokenTtlSeconds",
      30 * 24 * 3600,
    ),
    refreshTokenTtlSeconds: positiveInt(
      options.refreshTokenTtlSeconds,
      "refreshTokenTtlSeconds",
      365 * 24 * 3600,
    ),
    codeTtlSeconds: positiveInt(options.codeTtlSeconds, "codeTtlSeconds", 120),
    refreshGraceSeconds: positiveInt(options.refreshGraceSeconds, "refreshGraceSeconds", 60),
    refreshReuseWindowSeconds: nonNegativeInt(
      options.refreshReuseWindowSeconds,
      "refreshReuseWindowSeconds",
      4 * 3600,
    ),
    allowedRedirects,
    allowedOrigins,
    scopes: [...new Set(scopes)],
    trustProxy: options.trustProxy ?? false,
    insecureClientMetadata: options.insecureClientMetadata ?? false,
    clientMetadataDocuments: flag(options.clientMetadataDocuments, "clientMetadataDocuments", true),
    maxClients: positiveInt(options.maxClients, "maxClients", 1000),
    maxBodyBytes: positiveInt(options.maxBodyBytes, "maxBodyBytes", 65536),
    bodyTimeoutSeconds: positiveInt(options.bodyTimeoutSeconds, "bodyTimeoutSeconds", 10),
    mcpBodyTimeoutSeconds: positiveInt(options.mcpBodyTimeoutSeconds, "mcpBodyTimeoutSeconds", 60),
    sseKeepaliveSeconds: positiveInt(options.sseKeepaliveSeconds, "sseKeepaliveSeconds", 15),
    confirmTimeoutSeconds: confirmTimeout(options.confirmTimeoutSeconds),
  };
}

/**
 * The `servers` option read into upstream entries, once, at creation. Stdio servers
 * are refused where no process can be started (`canSpawn` false), with `where` saying
 * why, so that the start stops with a message rather than an upstream that never runs.
 */
export function resolveServers(
  servers: ServersOption | undefined,
  env: Environment,
  canSpawn: boolean,
  where: string,
): UpstreamConfig[] {
  if (servers === undefined) return [];
  let configs: UpstreamConfig[];
  try {
    configs = parseServers(servers, "servers", env, { bareMap: true });
  } catch (error) {
    throw new TypeError((error as Error).message);
  }
  const stdio = configs.filter((c) => c.transport.type === "stdio").map((c) => c.name);
  if (stdio.length > 0 && !canSpawn) {
    throw new TypeError(
      `servers: ${stdio.map((n) => JSON.stringify(n)).join(", ")} ${
        stdio.length === 1 ? "is a stdio server" : "are stdio servers"
      }, which ${where}; HTTP servers ("url") work everywhere`,
    );
  }
  return configs;
}
