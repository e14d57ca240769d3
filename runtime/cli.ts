/**
 * The command line: flags and `PERSONAL_MCP_*` environment variables become
 * {@linkcode ServeOptions}; serves the given tools (the demo `hello` by default) and
 * prints the activity log, one line per event. A first argument `grants`, `revoke`
 * or `password` runs an owner command instead (owner_commands.ts).
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { describeError } from "../server/log.ts";
import { type ServeHandle, type ServeOptions, servePersonalMcp } from "./serve.ts";
import { formatEvent } from "../auth/activity.ts";
import { OWNER_COMMANDS, runOwnerCommand } from "./owner_commands.ts";
import type { Tools } from "../transport/tools.ts";

const USAGE = `Usage: deno run -A mod.ts [options]   (or: bun run mod.ts [options])

Options (each also read from PERSONAL_MCP_<NAME>, e.g. PERSONAL_MCP_BASE_URL):
  --port <n>            TCP port (default 8787; 0 = any free port)
  --hostname <host>     interface to listen on (default 127.0.0.1)
  --base-url <url>      public origin clients use, e.g. https://me.example.com
                        (default http://<hostname>:<port>)
  --state-dir <dir>     folder for grants, clients and token hashes (default .oauth-state)
  --password <pw>       owner password for the consent page (prefer the environment
                        variable: flags are visible to other local users)
  --insecure-client-metadata
                        UNSAFE, development only: accept http:// client metadata
                        document URLs on loopback (refused unless bound to loopback)
  --no-client-metadata-documents
                        accept no Client ID Metadata Documents and stop advertising
                        them, so every client registers (use when the documents'
                        hosts cannot be reached from this server; see the README)
  --reset-password      generate and print a new owner password, keep only its hash
  --log-format <fmt>    activity log on the console: text (default) or json (JSON lines)
  --help                show this text

Owner commands: grants [--json], revoke <id> | --all, password (see --help of each:
deno run -A mod.ts grants --help). The owner page is at <base-url>/owner.
`;

const FLAGS = {
  port: { type: "string" },
  hostname: { type: "string" },
  "base-url": { type: "string" },
  "state-dir": { type: "string" },
  password: { type: "string" },
  "reset-password": { type: "boolean" },
  "insecure-client-metadata": { type: "boolean" },
  "no-client-metadata-documents": { type: "boolean" },
  "log-format": { type: "string" },
  help: { type: "boolean" },
} as const;

/** The serve options the command line gives, and how it prints the activity log. */
export interface CliOptions extends ServeOptions {
  /** One text line per event, or JSON lines. @default "text" */
  logFormat?: "text" | "json";
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
    name: "reset-password" | "insecure-client-metadata" | "no-client-metadata-documents",
  ): boolean =>
    values[name] ??
      ["1", "true", "yes"].includes(
        (env[`PERSONAL_MCP_${name.toUpperCase().replaceAll("-", "_")}`] ?? "").toLowerCase(),
      );
  const logFormat = pick("log-format");
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") {
    throw new RangeError(`--log-format must be text or json, got ${JSON.stringify(logFormat)}`);
  }
  return {
    port,
    logFormat,
    hostname: pick("hostname"),
    baseUrl: pick("base-url"),
    stateDir: pick("state-dir"),
    password: pick("password"),
    resetPassword: flag("reset-password"),
    insecureClientMetadata: flag("insecure-client-metadata"),
    // Only ever false: unset leaves the option's default (true) alone.
    clientMetadataDocuments: flag("no-client-metadata-documents") ? false : undefined,
  };
}

/**
 * Runs the CLI: serves `tools` until SIGINT or SIGTERM. `options` are what flags and
 * environment cannot say (e.g. `resources`, `prompts` or `configureServer`);
 * a flag or variable that is set wins over them.
 *
 * @example Serving your own tools with the CLI's flags
 * ```ts ignore
 * import { runCli, tool } from "../mod.ts";
 * import { z } from "zod";
 *
 * // deno run -A my_tools.ts --base-url https://me.example.com
 * await runCli({
 *   echo: tool({ description: "Echo text", input: { text: z.string() }, run: ({ text }) => text }),
 * });
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
    console.error(`error: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return undefined;
  }
  if (parsed === "help") {
    console.log(USAGE);
    return undefined;
  }
  // Unset flags parse as undefined (or false for switches) and must not erase `options`;
  // clientMetadataDocuments is false only when its off switch was given.
  const { logFormat = "text", ...serve } = parsed;
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
        // error's stack frames follow it, its message escaped (server/log.ts).
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
