/**
 * What the runtime tells the owner to type: the command that runs this package's CLI
 * where it was installed, and the way out of a port that is taken. Each message names
 * the command as it runs right after `npm install`, where Deno is only in
 * node_modules/.bin.
 *
 * @module
 */

/**
 * How the owner runs a command of this package's CLI (`grants`, `passkey add`, ...) right
 * after `npm install` in a clone, where Deno is only in node_modules/.bin: the package's
 * `bin` entry (scripts/personal-mcp.mjs). Loaded from JSR, the package's own specifier.
 *
 * @example In a clone
 * ```ts
 * import { OWNER_COMMAND } from "./hints.ts";
 * if (OWNER_COMMAND !== "npx personal-mcp") throw new Error(OWNER_COMMAND);
 * ```
 */
export const OWNER_COMMAND: string = import.meta.url.startsWith("file:")
  ? "npx personal-mcp"
  : "deno run -A jsr:@x/personal-mcp";

/**
 * A path as one shell word, quoted only when it needs to be.
 *
 * @example A path with a space
 * ```ts
 * import { quoteForShell } from "./hints.ts";
 * if (quoteForShell("/home/me/my state") !== "'/home/me/my state'") throw new Error("unquoted");
 * ```
 */
export function quoteForShell(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/**
 * The error to show when listening failed because the port is taken, or undefined for
 * any other failure. Deno says only "Address already in use (os error 98)" and Bun
 * "Failed to start server. Is port 8787 in use?": name the port and the way out.
 *
 * @example Deno's error for a taken port
 * ```ts
 * import { portInUse } from "./hints.ts";
 * const error = Object.assign(new Error("Address already in use (os error 98)"), { code: "EADDRINUSE" });
 * if (!portInUse(error, "127.0.0.1", 8787)?.message.includes("--port")) throw new Error("no advice");
 * ```
 */
export function portInUse(error: unknown, hostname: string, port: number): Error | undefined {
  if ((error as { code?: unknown } | null)?.code !== "EADDRINUSE") return undefined;
  return new Error(
    `port ${port} on ${hostname} is already in use (another server, or this one started ` +
      `earlier?): stop it, or choose another port with --port (0 picks a free one)`,
    { cause: error },
  );
}
