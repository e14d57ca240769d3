/**
 * What the runtime tells the owner to type: the command that runs this package's CLI
 * where it was installed, the passkey offered at a first start, the way out of a port
 * that is taken, and the flag or command a typo meant. Each message names the command
 * as it runs right after `npm install`, where Deno is only in node_modules/.bin.
 *
 * @module
 */
import { resolve } from "node:path";
import { passkeyRpId } from "../auth/owner/passkeys.ts";
import type { PersonalMcp } from "../server/create.ts";

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

/**
 * The word node:util's `parseArgs` refused (Deno and Bun quote it alike), as typed up
 * to any `=value`: an unknown option, or an argument where none is taken.
 *
 * @example An unknown option
 * ```ts
 * import { parseArgs } from "node:util";
 * import { refusedWord } from "./hints.ts";
 * let refused;
 * try {
 *   parseArgs({ args: ["--prot=80"], options: { port: { type: "string" } } });
 * } catch (error) {
 *   refused = refusedWord(error as Error);
 * }
 * if (refused?.kind !== "option" || refused.word !== "--prot") throw new Error(String(refused?.word));
 * ```
 */
export function refusedWord(
  error: Error,
): { kind: "option" | "argument"; word: string } | undefined {
  const code = (error as { code?: unknown }).code;
  const word = /'([^']*)'/.exec(error.message)?.[1]?.split("=")[0];
  if (word === undefined) return undefined;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return { kind: "option", word };
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return { kind: "argument", word };
  return undefined;
}

/**
 * The known word closest to `word`, if it is close enough to be a typo of it (or
 * `word` is the start of it).
 *
 * @example A mistyped flag
 * ```ts
 * import { nearest } from "./hints.ts";
 * if (nearest("--prot", ["--port", "--password"]) !== "--port") throw new Error("no match");
 * if (nearest("--zzz", ["--port"]) !== undefined) throw new Error("a far word matched");
 * ```
 */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = candidate.startsWith(word) && word.length >= 4
      ? 1
      : editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 4)) ? best : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i]!;
      row[j] = Math.min(
        rows[i - 1]![j]! + 1,
        row[j - 1]! + 1,
        rows[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The owner is at the machine right now, reading the password: the moment to offer a
 * passkey too. Later links come from `passkey add` only.
 */
export async function offerPasskey(app: PersonalMcp, stateDir: string): Promise<void> {
  if (!passkeyRpId(app.baseUrl)) return;
  const { url } = await app.owner.createPasskeyLink(undefined, "server start");
  // The command as it runs right after `npm install`, on this server's own state folder.
  console.log(
    `To approve with a passkey (this device's screen lock or a security key) instead of\n` +
      `the password, open this link within 15 minutes (it works once):\n  ${url}\n` +
      `Later: ${OWNER_COMMAND} passkey add --base-url ${app.baseUrl} ` +
      `--state-dir ${quoteForShell(resolve(stateDir))}\n`,
  );
}
