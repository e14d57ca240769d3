/**
 * The command line: flags and `PERSONAL_MCP_*` environment variables become
 * {@linkcode ServeOptions}; serves the given tools (the demo `hello` by default) and
 * prints the activity log, one line per event. A first argument `grants`, `revoke`,
 * `password` or `passkey` runs an owner command instead (owner_commands.ts).
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { describeError } from "../core/log.ts";
import { type ServeHandle, type ServeOptions, servePersonalMcp } from "./serve.ts";
import { nearest, OWNER_COMMAND, refusedWord } from "./hints.ts";
import { formatEvent } from "../auth/owner/activity.ts";
import { OWNER_COMMANDS, runOwnerCommand } from "./owner_commands.ts";
import { type Tools, validateTools } from "../transport/tools.ts";
import { resolve } from "node:path";
import { readFile } from "node:fs/promises";
import {
  parseServers,
  readServersJson,
  type ServersOption,
} from "../transport/upstreams/config.ts";
import { pathToFileURL } from "node:url";

const USAGE = `Usage: ${OWNER_COMMAND} [options]
  (the same: npm start -- [options], deno run -A mod.ts [options], bun run mod.ts [options])

Options (each also read from PERSONAL_MCP_<NAME>, e.g. PERSONAL_MCP_BASE_URL):
  --port <n>            TCP port (default 8787; 0 = any free port)
  --hostname <host>     interface to listen on (default 127.0.0.1)
  --base-url <url>      public origin clients use, e.g. https://me.example.com
                        (default http://<hostname>:<port>)
  --state-dir <dir>     folder for grants, clients and token hashes (default .oauth-state)
  --password <pw>       owner password for the consent page (prefer the environment
                        variable: flags are visible to other local users)
  --trust-proxy         take the caller's address from the right-most X-Forwarded-For
                        entry: turn it on behind a tunnel or reverse proxy (cloudflared,
                        ngrok, tailscale funnel, Caddy), where every request otherwise
                        comes from 127.0.0.1 and one throttle covers everyone; never
                        when clients reach the server directly
  --insecure-client-metadata
                        UNSAFE, development only: accept http:// client metadata
                        document URLs on loopback (refused unless bound to loopback)
  --no-client-metadata-documents
                        accept no Client ID Metadata Documents and stop advertising
                        them, so every client registers (use when the documents'
                        hosts cannot be reached from this server; see the README)
  --reset-password      generate and print a new owner password, keep only its hash
  --log-format <fmt>    activity log on the console: text (default) or json (JSON lines)
  --tools <module>      serve the tools a module exports by default (a path or URL),
                        e.g. --tools ./tools.ts, instead of the demo
  --servers <file>      also serve the MCP servers listed in a Claude Desktop, Cursor
                        or VS Code config file ("mcpServers" or "servers"), e.g.
                        --servers ~/.config/Claude/claude_desktop_config.json
  --confirm-timeout <s> how long a tool call whose policy is "ask" waits for your
                        confirmation, in seconds (default 120, at most 600)
  --audit-arguments     keep each tool call's arguments in its audit record (its
                        SHA-256 is always kept)
  --help                show this text

Owner commands: grants [--json], revoke <id> | --all, password [--remove],
passkey add [--name <label>] | list | remove <id>, servers [--json], permissions <id>
[--allow|--ask|--deny <tool>...], audit, pending, confirm <id>, decline <id> (see --help of each:
${OWNER_COMMAND} grants --help). The owner page is at <base-url>/owner.
`;

const FLAGS = {
  port: { type: "string" },
  hostname: { type: "string" },
  "base-url": { type: "string" },
  "state-dir": { type: "string" },
  password: { type: "string" },
  "reset-password": { type: "boolean" },
  "trust-proxy": { type: "boolean" },
  "insecure-client-metadata": { type: "boolean" },
  "no-client-metadata-documents": { type: "boolean" },
  "log-format": { type: "string" },
  tools: { type: "string" },
  servers: { type: "string" },
  "confirm-timeout": { type: "string" },
  "audit-arguments": { type: "boolean" },
  help: { type: "boolean" },
} as const;

/** The serve options the command line gives, and how it prints the activity log. */
export interface CliOptions extends ServeOptions {
  /** One text line per event, or JSON lines. @default "text" */
  logFormat?: "text" | "json";
  /** A module whose default export is the tools to serve, instead of the given ones. */
  toolsModule?: string;
  /** A servers file (`mcpServers` or VS Code `servers`) whose servers are served too. */
  serversFile?: string;
}

/**
 * Reads flags, then the environment, into serve options; throws on bad input.
 *
 * @example Flags win over the environment
 * ```ts
 * import { parseCli } from "./cli.ts";
 * const options = parseCli(["--port", "9000"], { PERSONAL_MCP_PORT: "8000", PERSONAL_MCP_HOSTNAME: "0.0.0.0" });
 * if (options === "help" || options.port !== 9000 || options.hostname !== "0.0.0.0") throw new Error("unexpected");
 * ```
 */
export function parseCli(
  argv: string[],
  env: Record<string, string | undefined>,
): CliOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    options: FLAGS,
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  const pick = (flag: keyof typeof FLAGS): string | undefined => {
    const value = values[flag];
    if (typeof value === "string") return value;
    return env[`PERSONAL_MCP_${flag.toUpperCase().replaceAll("-", "_")}`] || undefined;
  };
  const portText = pick("port");
  // Plain decimal digits only: Number() would read "" as 0 and "0x50" as 80.
  const port = portText === undefined || !/^\d{1,5}$/.test(portText) ? undefined : Number(portText);
  if (portText !== undefined && (port === undefined || port > 65535)) {
    throw new RangeError(
      `--port must be an integer from 0 to 65535, got ${JSON.stringify(portText)}`,
    );
  }
  const flag = (
    name:
      | "reset-password"
      | "trust-proxy"
      | "insecure-client-metadata"
      | "no-client-metadata-documents"
      | "audit-arguments",
  ): boolean =>
    values[name] ??
      ["1", "true", "yes"].includes(
        (env[`PERSONAL_MCP_${name.toUpperCase().replaceAll("-", "_")}`] ?? "").toLowerCase(),
      );
  const logFormat = pick("log-format");
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") {
    throw new RangeError(`--log-format must be text or json, got ${JSON.stringify(logFormat)}`);
  }
  const confirmText = pick("confirm-timeout");
  if (confirmText !== undefined && !/^\d{1,4}$/.test(confirmText)) {
    throw new RangeError(
      `--confirm-timeout must be a number of seconds, got ${JSON.stringify(confirmText)}`,
    );
  }
  return {
    port,
    logFormat,
    ...(confirmText !== undefined ? { confirmTimeoutSeconds: Number(confirmText) } : {}),
    ...(flag("audit-arguments") ? { auditArguments: true } : {}),
    toolsModule: pick("tools"),
    serversFile: pick("servers"),
    hostname: pick("hostname"),
    baseUrl: pick("base-url"),
    stateDir: pick("state-dir"),
    password: pick("password"),
    resetPassword: flag("reset-password"),
    trustProxy: flag("trust-proxy"),
    insecureClientMetadata: flag("insecure-client-metadata"),
    // Only ever false: unset leaves the option's default (true) alone.
    clientMetadataDocuments: flag("no-client-metadata-documents") ? false : undefined,
  };
}

/**
 * What is wrong with a command line that {@linkcode parseCli} refused, in one line: an
 * unknown flag or word with the nearest known one ("did you mean"), and where the options
 * are listed (the usage itself would scroll the error off the screen).
 *
 * @example A mistyped flag
 * ```ts
 * import { describeCliError, parseCli } from "./cli.ts";
 * let text = "";
 * try {
 *   parseCli(["--prot", "9000"], {});
 * } catch (error) {
 *   text = describeCliError(error as Error);
 * }
 * if (text !== "unknown option --prot (did you mean --port?); --help lists every option") {
 *   throw new Error(text);
 * }
 * ```
 */
export function describeCliError(error: Error): string {
  const refused = refusedWord(error);
  let text = error.message;
  if (refused?.kind === "option") {
    text = `unknown option ${refused.word}`;
    const near = nearest(refused.word, Object.keys(FLAGS).map((flag) => `--${flag}`));
    if (near !== undefined) text += ` (did you mean ${near}?)`;
  } else if (refused?.kind === "argument") {
    text = `unexpected argument ${JSON.stringify(refused.word)}`;
    const near = nearest(refused.word, OWNER_COMMANDS);
    text += near !== undefined
      ? ` (did you mean ${near}?)`
      : ` (the server takes options only; the owner commands are ${OWNER_COMMANDS.join(", ")})`;
  }
  return `${text}; --help lists every option`;
}

/**
 * Loads the tools a module exports by default (`export default { hello: tool(...) }`),
 * or as `tools`; a path is taken relative to the working folder. Throws with a message
 * that says what is wrong with the module or its export.
 *
 * @example A module that exports no tools is refused
 * ```ts
 * import { loadTools } from "./cli.ts";
 * const url = `data:text/javascript,${encodeURIComponent("export default 42;")}`;
 * const error = await loadTools(url).then(() => undefined, (e: Error) => e);
 * if (!error?.message.includes("default export")) throw new Error("accepted a module without tools");
 * ```
 */
export async function loadTools(specifier: string): Promise<Tools> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(specifier) && !/^[a-z]:[\\/]/i.test(specifier)
    ? specifier
    : pathToFileURL(resolve(specifier)).href;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new Error(`the module could not be loaded: ${(error as Error).message}`);
  }
  const exported = module.default ?? module.tools;
  if (exported === undefined) {
    throw new TypeError(
      "the module has no default export (export default { hello: tool({ ... }) })",
    );
  }
  try {
    return validateTools(exported);
  } catch (error) {
    throw new TypeError(`its default export is not a tools object: ${(error as Error).message}`);
  }
}

/**
 * Reads and checks a servers file: any mistake is one message naming the file, the
 * server and the key, before anything starts.
 */
export async function loadServers(
  path: string,
  env: Record<string, string | undefined>,
): Promise<ServersOption> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const value = readServersJson(text, path);
  parseServers(value, path, env);
  return value as ServersOption;
}

/**
 * Runs the CLI: serves `tools` until SIGINT or SIGTERM. `options` are what flags and
 * environment cannot say (e.g. `resources`, `prompts` or `configureServer`);
 * a flag or variable that is set wins over them.
 *
 * @example Serving your own tools with the CLI's flags
 * ```ts
 * import { runCli, tool } from "../mod.ts";
 * import { z } from "zod";
 *
 * // In my_tools.ts, run as `deno run -A my_tools.ts --base-url https://me.example.com`,
 * // this is `await runCli({ echo })`: the flags come from the command line.
 * const echo = tool({ description: "Echo text", input: { text: z.string() }, run: ({ text }) => text });
 * const server = await runCli({ echo }, ["--port", "0"], {
 *   password: "correct horse battery",
 *   store: "memory",
 *   banner: false,
 * });
 * if (!server?.url.endsWith("/mcp")) throw new Error("not serving");
 * await server.shutdown();
 * ```
 */
export async function runCli(
  tools: Tools,
  argv: string[] = process.argv.slice(2),
  options: Partial<ServeOptions> = {},
): Promise<ServeHandle | undefined> {
  if (argv[0] !== undefined && OWNER_COMMANDS.includes(argv[0])) {
    process.exitCode = await runOwnerCommand(argv);
    return undefined;
  }
  let parsed: CliOptions | "help";
  try {
    parsed = parseCli(argv, process.env);
  } catch (error) {
    console.error(`error: ${describeCliError(error as Error)}`);
    process.exitCode = 2;
    return undefined;
  }
  if (parsed === "help") {
    console.log(USAGE);
    return undefined;
  }
  if (parsed.toolsModule !== undefined) {
    try {
      tools = await loadTools(parsed.toolsModule);
    } catch (error) {
      console.error(`error: --tools ${parsed.toolsModule}: ${(error as Error).message}`);
      process.exitCode = 2;
      return undefined;
    }
  }
  // Unset flags parse as undefined (or false for switches) and must not erase `options`;
  // clientMetadataDocuments is false only when its off switch was given.
  if (parsed.serversFile !== undefined) {
    try {
      options = { ...options, servers: await loadServers(parsed.serversFile, process.env) };
    } catch (error) {
      console.error(`error: ${(error as Error).message}`);
      process.exitCode = 2;
      return undefined;
    }
  }
  const { logFormat = "text", toolsModule: _, serversFile: __, ...serve } = parsed;
  const given = Object.fromEntries(
    Object.entries(serve).filter(([key, value]) =>
      value !== undefined && (value !== false || key === "clientMetadataDocuments")
    ),
  );
  let handle: ServeHandle;
  try {
    handle = await servePersonalMcp(tools, {
      ...options,
      ...given,
      onEvent: (event) => {
        // One line per event; values a client sent are escaped by formatEvent, and an
        // error's stack frames follow it, its message escaped (core/log.ts).
        const line = formatEvent(event, Date.now(), logFormat);
        if (event.type === "error") {
          console.error(line);
          if (logFormat === "text") console.error(describeError(event.error));
        } else console.log(line);
        options.onEvent?.(event);
      },
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
    return undefined;
  }
  const stop = () => {
    handle.shutdown().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return handle;
}
