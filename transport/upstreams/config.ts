/**
 * The owner's existing MCP servers as configuration: the `mcpServers` object of Claude
 * Desktop and Cursor, or VS Code's `servers` object, read into validated
 * {@linkcode UpstreamConfig} entries. Pure: the environment comes in as a value, and
 * every mistake is one `Error` naming the file, the server and the key, so that the
 * start stops with a message the owner can act on.
 *
 * @module
 */
import { readServersJson } from "./jsonc.ts";

export { readServersJson };

/** How a stdio upstream is started: one process, JSON-RPC over its stdin and stdout. */
export interface StdioTarget {
  /** The kind of connection. */
  type: "stdio";
  /** The program, found on `PATH` as a shell would (`npx`, `node`, `uvx`). */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Variables set for it, on top of the few it inherits (PATH, HOME, ...). */
  env: Record<string, string>;
  /** Its working folder; the server's own when absent. */
  cwd?: string;
}

/** An upstream reached over HTTP: streamable HTTP, or the 2024-11-05 HTTP+SSE transport. */
export interface HttpTarget {
  /** `"http"`: MCP streamable HTTP; `"sse"`: the older HTTP+SSE transport. */
  type: "http" | "sse";
  /** Its endpoint, `http:` or `https:`. */
  url: string;
  /** Headers sent with every request (credentials for that server come only from here). */
  headers: Record<string, string>;
}

/** One validated server entry. */
export interface UpstreamConfig {
  /** The entry's key in `mcpServers` (or `servers`). */
  name: string;
  /** How to reach it. */
  transport: StdioTarget | HttpTarget;
  /** How long a request may wait for its answer; progress restarts it. @default 60_000 */
  timeoutMs: number;
  /** The namespace prefix used instead of `<name>_` (may be empty). */
  prefix?: string;
  /** Upstream tool or prompt name -> the name exposed downstream. */
  rename?: Record<string, string>;
  /** The largest message accepted from it, in bytes. @default 16 MiB */
  maxMessageBytes: number;
}

/** The default of {@linkcode UpstreamConfig.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** The default of {@linkcode UpstreamConfig.maxMessageBytes}. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * One server entry as the owner writes it (Claude Desktop, Cursor, VS Code): `command`
 * (with `args`, `env`, `cwd`) for a stdio server, or `url` (with `headers`) for an HTTP
 * one. String values may hold `${VAR}`, read from the environment.
 */
export interface ServerEntry {
  /** `"stdio"`, `"http"` (also `"streamable-http"`, `"streamableHttp"`) or `"sse"`; inferred when absent. */
  type?: "stdio" | "http" | "streamable-http" | "streamableHttp" | "sse";
  /** The program of a stdio server. */
  command?: string;
  /** Its arguments. */
  args?: string[];
  /** Variables set for it. */
  env?: Record<string, string>;
  /** Its working folder. */
  cwd?: string;
  /** The endpoint of an HTTP server. */
  url?: string;
  /** Headers sent to it (its credentials). */
  headers?: Record<string, string>;
  /** How long a request may wait for its answer, in ms; progress restarts it. @default 60000 */
  timeoutMs?: number;
  /** Namespace prefix instead of `<name>_`. */
  prefix?: string;
  /** Upstream tool or prompt name -> exposed name. */
  rename?: Record<string, string>;
  /** The largest message accepted from it, in bytes. @default 16777216 */
  maxMessageBytes?: number;
  /** Leaves the server out. @default false */
  disabled?: boolean;
}

/**
 * The `servers` option: the content of a servers file (`{ "mcpServers": {...} }`, or VS
 * Code's `{ "servers": {...} }`), or the map of server name to entry itself.
 */
export type ServersOption =
  | { mcpServers?: Record<string, ServerEntry>; servers?: Record<string, ServerEntry> }
  | Record<string, ServerEntry>;

/** The environment `${VAR}` is read from. */
export type Environment = Record<string, string | undefined>;

const COMMON_KEYS = ["type", "timeoutMs", "prefix", "rename", "maxMessageBytes", "disabled"];
const STDIO_KEYS = ["command", "args", "env", "cwd"];
const HTTP_KEYS = ["url", "headers"];
/**
 * Keys other clients write that change nothing here (VS Code's `dev` watch mode, Cline's
 * auto-approval lists: this server asks its own policy), accepted so that the owner's
 * file can be used as it is.
 */
const IGNORED_KEYS = ["description", "dev", "autoApprove", "alwaysAllow"];
const KNOWN_KEYS = [...COMMON_KEYS, ...STDIO_KEYS, ...HTTP_KEYS, ...IGNORED_KEYS];
/** Keys with a meaning this server does not offer, and what to write instead. */
const UNSUPPORTED: Record<string, string> = {
  envFile: 'put the variables in "env" (${VAR} reads them from the environment)',
};
/** `${VAR}`, `${env:VAR}` (VS Code), `${VAR:-default}`; any other `${...}` is refused. */
const VARIABLE = /\$\{([^}]*)\}/g;
const VARIABLE_NAME = /^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
const PREFIX = /^[a-zA-Z0-9_-]{0,63}$/;
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
const MAX_NAME_LENGTH = 128;

/**
 * A mistake at one key of an entry, said as `"<key>" <problem>`; `parseServers` adds
 * the file and the server.
 */
class EntryError extends Error {
  constructor(key: string, problem: string) {
    super(`${JSON.stringify(key)} ${problem}`);
    this.name = "EntryError";
  }
}

/**
 * Reads a servers file (Claude Desktop, Cursor or VS Code JSON; VS Code's comments and
 * trailing commas are accepted).
 *
 * @param text the file's content
 * @param source how the file is named in messages (its path)
 * @param env where `${VAR}` is looked up
 * @throws Error naming `source`, the server and the key, for any mistake
 *
 * @example A Claude Desktop file
 * ```ts
 * import { parseServersFile } from "./config.ts";
 * const [memory] = parseServersFile(
 *   '{"mcpServers": {"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}}}',
 *   "claude_desktop_config.json",
 *   {},
 * );
 * if (memory?.transport.type !== "stdio") throw new Error("not read");
 * ```
 */
export function parseServersFile(text: string, source: string, env: Environment): UpstreamConfig[] {
  return parseServers(readServersJson(text, source), source, env);
}

/**
 * Reads the parsed content of a servers file, or the `servers` option given in code:
 * an object with `mcpServers` and/or `servers` (other keys ignored), or, with
 * `bareMap`, directly the map of server name to entry.
 *
 * @throws Error naming `source`, the server and the key, for any mistake
 *
 * @example VS Code's `servers` with a variable
 * ```ts
 * import { parseServers } from "./config.ts";
 * const [lab] = parseServers(
 *   { servers: { lab: { type: "http", url: "http://127.0.0.1:3000/mcp", headers: { Authorization: "Bearer ${LAB_TOKEN}" } } } },
 *   "mcp.json",
 *   { LAB_TOKEN: "t0k" },
 * );
 * if (lab?.transport.type !== "http" || lab.transport.headers.Authorization !== "Bearer t0k") throw new Error("not read");
 * ```
 */
export function parseServers(
  value: unknown,
  source: string,
  env: Environment,
  options: { bareMap?: boolean } = {},
): UpstreamConfig[] {
  if (!isObject(value)) throw new Error(`${source}: expected a JSON object`);
  const maps: Array<[string, unknown]> = [];
  if ("mcpServers" in value) maps.push(["mcpServers", value.mcpServers]);
  if ("servers" in value) maps.push(["servers", value.servers]);
  // In code, `servers: { memory: {...} }` is the map itself.
  if (maps.length === 0 && options.bareMap) maps.push(["servers", value]);
  if (maps.length === 0) {
    throw new Error(`${source}: no "mcpServers" (or VS Code "servers") object`);
  }
  const out: UpstreamConfig[] = [];
  const seen = new Set<string>();
  for (const [key, map] of maps) {
    if (!isObject(map)) throw new Error(`${source}: "${key}" must be an object`);
    for (const [name, entry] of Object.entries(map)) {
      const where = `${source}: server ${JSON.stringify(name)}`;
      if (name === "" || name.length > MAX_NAME_LENGTH) {
        throw new Error(`${where}: a server name has 1 to ${MAX_NAME_LENGTH} characters`);
      }
      if (seen.has(name)) throw new Error(`${where}: listed twice`);
      seen.add(name);
      try {
        const config = parseEntry(name, entry, env);
        if (config) out.push(config);
      } catch (error) {
        if (error instanceof EntryError) throw new Error(`${where}: ${error.message}`);
        throw error;
      }
    }
  }
  return out;
}

/** One entry, or undefined when it says `"disabled": true`. */
function parseEntry(name: string, entry: unknown, env: Environment): UpstreamConfig | undefined {
  if (!isObject(entry)) throw new EntryError(name, "must be an object");
  for (const key of Object.keys(entry)) {
    if (key in UNSUPPORTED) throw new EntryError(key, `is not supported: ${UNSUPPORTED[key]}`);
    if (!KNOWN_KEYS.includes(key)) {
      const near = KNOWN_KEYS.find((k) => editDistance(k, key) <= 2);
      const hint = near
        ? `did you mean ${JSON.stringify(near)}?`
        : `known: ${KNOWN_KEYS.join(", ")}`;
      const error = new EntryError(key, "");
      error.message = `unknown key ${JSON.stringify(key)} (${hint})`;
      throw error;
    }
  }
  if (optional(entry, "disabled", "boolean") === true) return undefined;
  const config: UpstreamConfig = {
    name,
    transport: parseTarget(entry, env),
    timeoutMs: integer(entry, "timeoutMs", 1, MAX_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS,
    maxMessageBytes: integer(entry, "maxMessageBytes", 1024, 2 ** 30) ??
      DEFAULT_MAX_MESSAGE_BYTES,
  };
  const prefix = optional(entry, "prefix", "string");
  if (prefix !== undefined) {
    if (!PREFIX.test(prefix)) {
      throw new EntryError("prefix", "must have up to 63 of a-z, A-Z, 0-9, _ and -");
    }
    config.prefix = prefix;
  }
  if (entry.rename !== undefined) config.rename = stringMap(entry.rename, "rename");
  return config;
}

function parseTarget(entry: Record<string, unknown>, env: Environment): StdioTarget | HttpTarget {
  const declared = optional(entry, "type", "string");
  const type = declared === undefined
    ? ("command" in entry ? "stdio" : "url" in entry ? "http" : undefined)
    : TYPES[declared];
  if (declared !== undefined && type === undefined) {
    throw new EntryError("type", `must be one of ${Object.keys(TYPES).join(", ")}`);
  }
  if (type === undefined) {
    throw new EntryError("command", 'is missing (or "url" for an HTTP server)');
  }
  const foreign = (type === "stdio" ? HTTP_KEYS : STDIO_KEYS).find((k) => k in entry);
  if (foreign) throw new EntryError(foreign, `does not apply to a ${type} server`);
  if (type === "stdio") {
    const command = expand(required(entry, "command", "string"), "command", env);
    if (command.trim() === "") throw new EntryError("command", "is empty");
    const args = entry.args === undefined ? [] : stringList(entry.args, "args");
    const target: StdioTarget = {
      type,
      command,
      args: args.map((a, i) => expand(a, `args[${i}]`, env)),
      env: expandMap(entry.env === undefined ? {} : stringMap(entry.env, "env"), "env", env),
    };
    const cwd = optional(entry, "cwd", "string");
    if (cwd !== undefined) target.cwd = expand(cwd, "cwd", env);
    return target;
  }
  const url = expand(required(entry, "url", "string"), "url", env);
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new EntryError("url", "must be an absolute http: or https: URL");
  }
  const headers = expandMap(
    entry.headers === undefined ? {} : stringMap(entry.headers, "headers"),
    "headers",
    env,
  );
  for (const [key, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key) || /[\r\n\0]/.test(value)) {
      throw new EntryError(`headers.${key}`, "is not a valid HTTP header");
    }
  }
  return { type, url, headers };
}

/**
 * Accepted values of `"type"`. Cursor, Windsurf and Cline write `streamable-http` or
 * `streamableHttp` for what VS Code calls `http`; `sse` is the 2024-11-05 transport.
 */
const TYPES: Record<string, "stdio" | "http" | "sse"> = {
  stdio: "stdio",
  http: "http",
  "streamable-http": "http",
  streamableHttp: "http",
  sse: "sse",
};

/** Replaces each `${VAR}` in `text` from `env`. */
function expand(text: string, key: string, env: Environment): string {
  return text.replace(VARIABLE, (_, inner: string) => {
    const m = VARIABLE_NAME.exec(inner);
    if (!m) {
      throw new EntryError(
        key,
        `uses \${${inner}}: only \${NAME}, \${env:NAME} and \${NAME:-default} are read`,
      );
    }
    const value = env[m[1]!] ?? m[2];
    if (value === undefined) throw new EntryError(key, `uses \${${m[1]}}, which is not set`);
    return value;
  });
}

function expandMap(
  map: Record<string, string>,
  key: string,
  env: Environment,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) out[k] = expand(v, `${key}.${k}`, env);
  return out;
}

function required<T extends "string" | "boolean">(
  entry: Record<string, unknown>,
  key: string,
  type: T,
): T extends "string" ? string : boolean {
  const value = optional(entry, key, type);
  if (value === undefined) throw new EntryError(key, "is missing");
  return value;
}

function optional<T extends "string" | "boolean">(
  entry: Record<string, unknown>,
  key: string,
  type: T,
): (T extends "string" ? string : boolean) | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  // deno-lint-ignore valid-typeof -- `type` is "string" or "boolean"
  if (typeof value !== type) throw new EntryError(key, `must be a ${type}, not ${kind(value)}`);
  return value as T extends "string" ? string : boolean;
}

function integer(entry: Record<string, unknown>, key: string, min: number, max: number) {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new EntryError(key, `must be a whole number from ${min} to ${max}, not ${kind(value)}`);
  }
  return value;
}

function stringList(value: unknown, key: string): string[] {
  if (!Array.isArray(value)) {
    throw new EntryError(key, `must be a list of strings, not ${kind(value)}`);
  }
  value.forEach((v, i) => {
    if (typeof v !== "string") {
      throw new EntryError(`${key}[${i}]`, `must be a string, not ${kind(v)}`);
    }
  });
  return value;
}

function stringMap(value: unknown, key: string): Record<string, string> {
  if (!isObject(value)) {
    throw new EntryError(key, `must be an object of strings, not ${kind(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new EntryError(`${key}.${k}`, `must be a string, not ${kind(v)}`);
    }
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  return `${typeof value} ${String(value).slice(0, 20)}`;
}

/** Levenshtein distance, for "did you mean" (keys are short). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length]!;
}
