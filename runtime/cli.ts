/**
 * The command line: flags and `PERSONAL_MCP_*` environment variables become
 * {@linkcode ServeOptions}; serves the given tools (the demo `hello` by default).
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type ServeHandle, type ServeOptions, servePersonalMcp } from "./serve.ts";
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
  --trust-proxy         take the caller's address from the right-most X-Forwarded-For
                        entry: turn it on behind a tunnel or reverse proxy (cloudflared,
                        ngrok, tailscale funnel, Caddy), where every request otherwise
                        comes from 127.0.0.1 and one throttle covers everyone; never
                        when clients reach the server directly
  --insecure-client-metadata
                        UNSAFE, development only: accept http:// client metadata
                        document URLs on loopback (refused unless bound to loopback)
  --reset-password      generate and print a new owner password, keep only its hash
  --help                show this text
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
  help: { type: "boolean" },
} as const;

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
): ServeOptions | "help" {
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
  const flag = (name: "reset-password" | "trust-proxy" | "insecure-client-metadata"): boolean =>
    values[name] ??
      ["1", "true", "yes"].includes(
        (env[`PERSONAL_MCP_${name.toUpperCase().replaceAll("-", "_")}`] ?? "").toLowerCase(),
      );
  return {
    port,
    hostname: pick("hostname"),
    baseUrl: pick("base-url"),
    stateDir: pick("state-dir"),
    password: pick("password"),
    resetPassword: flag("reset-password"),
    trustProxy: flag("trust-proxy"),
    insecureClientMetadata: flag("insecure-client-metadata"),
  };
}

/**
 * Runs the CLI: serves `tools` until SIGINT or SIGTERM. `options` are what flags and
 * environment cannot say (e.g. `configureServer` to register resources and prompts);
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
  let parsed: ServeOptions | "help";
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
  // Unset flags parse as undefined (or false for switches) and must not erase `options`.
  const given = Object.fromEntries(
    Object.entries(parsed).filter(([, value]) => value !== undefined && value !== false),
  );
  let handle: ServeHandle;
  try {
    handle = await servePersonalMcp(tools, {
      ...options,
      ...given,
      onEvent: (event) => {
        if (event.type === "error") console.error(`error in ${event.where}:`, event.error);
        else if (event.type === "warning") console.warn(`warning: ${event.message}`);
        else if (event.type === "mcp_rejected") {
          console.warn(`mcp: ${(event.error as Error)?.message ?? event.error}`);
        } else if (event.type === "owner_login_failed") {
          console.warn(`wrong owner password from ${event.clientAddress}`);
        } else if (event.type === "grant_revoked") console.warn(`grant revoked: ${event.reason}`);
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
