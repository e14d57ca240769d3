/**
 * The configuration and event types that every layer reads: the options after
 * validation (`ResolvedOptions`, made by `resolveOptions()` in server/options.ts) and
 * what the server reports (`PersonalMcpEvent`). The options the user writes stay with
 * `servePersonalMcp()` at the top.
 *
 * @module
 */
/**
 * Where an upstream stands. `starting`: its first connection is being made;
 * `running`: connected and initialized; `restarting`: it exited or broke and waits out
 * its backoff; `failed`: it cannot be started as configured (refused where no process
 * can start, or three attempts in a row never came up: it is still retried, the wait
 * doubling up to 30 s); `stopped`: the server stopped it.
 */
export type UpstreamState = "starting" | "running" | "restarting" | "failed" | "stopped";

/** What the owner sees of one upstream (`servers` command, owner page). */
export interface UpstreamStatus {
  /** Its name in the configuration. */
  name: string;
  /** How it is reached. */
  type: "stdio" | "http" | "sse";
  /** Where it stands. */
  state: UpstreamState;
  /** The process id of a running stdio upstream. */
  pid?: number;
  /** How many times it was restarted since the server started. */
  restarts: number;
  /** How many tools it listed on its last connection. */
  tools: number;
  /** Why it last went down, raw (escape before showing). */
  lastError?: string;
  /** Its last stderr lines, raw (escape before showing); empty for HTTP upstreams. */
  stderr: string[];
}

/** What the server reports through {@linkcode PersonalMcpOptions.onEvent}. */
export type PersonalMcpEvent =
  | { type: "error"; where: string; error: unknown }
  /** What the MCP SDK reports: mostly requests it rejected (bad media type, bad JSON-RPC). */
  | { type: "mcp_rejected"; error: unknown }
  | { type: "warning"; message: string }
  /**
   * A Client ID Metadata Document could not be used as fetched. `failure` says which
   * kind: `"transport"` (the host could not be reached as it should: DNS, connection,
   * TLS, timeout, 5xx, redirect, challenge or any non-JSON answer), after which a
   * stored or built-in copy may stand in; `"final"` (404, 410, an invalid document),
   * after which the client is refused. `message` is one log line with every value
   * from the wire escaped.
   */
  | {
    type: "client_metadata_failed";
    clientId: string;
    failure: "transport" | "final";
    reason: string;
    status?: number;
    cfMitigated?: string;
    cfRay?: string;
    /** What stood in for the document; `"none"`: the client was refused. */
    fallback: "stored_copy" | "builtin_copy" | "none";
    message: string;
  }
  /**
   * A configured upstream MCP server changed state (`starting`, `running`,
   * `restarting`, `failed`, `stopped`); `reason` (raw: what it or its connection said)
   * is escaped by every sink.
   */
  | {
    type: "upstream_state";
    server: string;
    state: UpstreamState;
    restarts: number;
    pid?: number;
    reason?: string;
  }
  /** A line a stdio upstream wrote on stderr (raw, at most 16 KiB; escaped by every sink). */
  | { type: "upstream_stderr"; server: string; line: string }
  /**
   * A log message (`notifications/message`) an upstream sent while no single session's
   * call could take it (raw `data` as JSON text, at most 16 KiB; escaped by every sink).
   */
  | { type: "upstream_log"; server: string; level: string; data: string }
  /**
   * One `tools/call`, as its audit record says (`outcome`, `policy`, `durationMs`,
   * `argumentsSha256`; `arguments` only with `auditArguments`). `clientName` and `tool`
   * are what a client sent: every sink escapes them.
   */
  | {
    type: "tool_called";
    clientId: string;
    clientName?: string;
    grantId: string;
    tool: string;
    server?: string;
    outcome: string;
    policy: string;
    durationMs: number;
    argumentsSha256: string;
    arguments?: string;
  }
  /** A tool call waits for the owner's confirmation at `link` (policy `ask`). */
  | {
    type: "confirmation_waiting";
    id: string;
    clientId: string;
    clientName?: string;
    tool: string;
    link: string;
  }
  | AuthEvent;

/**
 * An authorization event: what the activity log (console, owner page, `onEvent`)
 * records. `clientAddress` is the caller's address as the throttle sees it, or
 * `"command line"` for the owner's commands. None carries a token, code, secret or
 * password; `clientName`, `reason` and `path` may hold text a client sent, so every
 * sink escapes them.
 */
export type AuthEvent =
  | { type: "client_registered"; clientId: string; clientName?: string; clientAddress: string }
  | { type: "consent_shown"; clientId: string; clientName?: string; clientAddress: string }
  | {
    type: "consent_approved";
    clientId: string;
    grantId: string;
    clientAddress: string;
    /** How the owner proved who they are. */
    method?: "password" | "passkey";
  }
  | { type: "consent_denied"; clientId: string; clientAddress: string }
  /**
   * A wrong owner password or a refused passkey (`method`), on the consent page or the
   * owner page (`page`); for a passkey, `reason` says which check failed.
   */
  | {
    type: "owner_login_failed";
    clientAddress: string;
    page?: "consent" | "owner";
    method?: "password" | "passkey";
    reason?: string;
  }
  | { type: "owner_signed_in"; clientAddress: string; method?: "password" | "passkey" }
  /** A passkey enrolled through a one-time link (`clientAddress`: the browser's). */
  | { type: "passkey_added"; passkeyId: string; name: string; clientAddress: string }
  /** A passkey removed by the owner (page or command). */
  | { type: "passkey_removed"; passkeyId: string; clientAddress?: string }
  /** A one-time enrolment link minted (by an owner command, or at first start). */
  | { type: "passkey_link_created"; clientAddress?: string }
  /** The stored owner password removed: from now on only a passkey approves. */
  | { type: "owner_password_removed"; clientAddress?: string }
  | { type: "token_issued"; clientId: string; grantId: string; clientAddress: string }
  | { type: "token_refreshed"; clientId: string; grantId: string; clientAddress: string }
  | { type: "refresh_reuse_detected"; clientId: string; grantId: string; clientAddress: string }
  | {
    type: "grant_revoked";
    grantId: string;
    reason: string;
    clientId?: string;
    clientAddress?: string;
  }
  | { type: "client_forgotten"; clientId: string; clientAddress?: string }
  /** A request turned away, and why (the OAuth error code and its description). */
  | {
    type: "request_refused";
    path: string;
    reason: string;
    clientAddress: string;
    clientId?: string;
  };

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  baseUrl: string;
  issuer: string;
  resource: string;
  origin: string;
  name: string;
  version: string;
  instructions?: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  codeTtlSeconds: number;
  refreshGraceSeconds: number;
  refreshReuseWindowSeconds: number;
  allowedRedirects: string[];
  allowedOrigins: string[];
  scopes: string[];
  trustProxy: boolean;
  insecureClientMetadata: boolean;
  clientMetadataDocuments: boolean;
  maxClients: number;
  maxBodyBytes: number;
  bodyTimeoutSeconds: number;
  mcpBodyTimeoutSeconds: number;
  sseKeepaliveSeconds: number;
  confirmTimeoutSeconds: number;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a URL's host is a loopback name or address. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
