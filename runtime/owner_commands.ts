/**
 * The owner's commands, on the same state as the server, for a terminal or a script:
 *
 * - `grants [--json]`: the connected apps;
 * - `revoke <grant id or client id>` / `revoke --all`: disconnect;
 * - `password [--disconnect-all]`: set the owner password (from `PERSONAL_MCP_PASSWORD`
 *   or standard input, never a flag; only its hash is kept); `password --remove`: remove
 *   it once a passkey is enrolled;
 * - `passkey add [--name <label>]`: print a one-time enrolment link (15 minutes, one
 *   passkey); `passkey list [--json]`; `passkey remove <id>`;
 * - `servers [--json]`: the running server's upstream MCP servers.
 *
 * They work whether the server is stopped or running. Stopped, or on Deno KV (which
 * several processes may open; the server sees the revocation notice within a second):
 * they open the store themselves. Running on the file store, whose lock keeps a second
 * process out: they ask the server through its local control endpoint (control.ts).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { CommandArgs, CommandIo, OwnerCommand, OwnFlag } from "./commands/command.ts";
import { audit } from "./commands/audit.ts";
import { confirm, decline, pending } from "./commands/held.ts";
import { permissions } from "./commands/permissions.ts";
import { grants } from "./commands/grants.ts";
import { openOwner, readBaseUrl } from "./open_store.ts";
import { passkey } from "./commands/passkey.ts";
import { password } from "./commands/password.ts";
import { revoke } from "./commands/revoke.ts";
import { servers } from "./commands/servers.ts";
import { processIo } from "./terminal.ts";
import { nearest, refusedWord } from "./hints.ts";

export type { CommandIo };

/** The owner commands by name: a new command is one file in commands/ and one entry here. */
const COMMANDS: Readonly<Record<string, OwnerCommand>> = {
  grants,
  revoke,
  password,
  passkey,
  servers,
  permissions,
  audit,
  pending,
  confirm,
  decline,
};

/** The first positional arguments that are owner commands rather than flags of the server. */
export const OWNER_COMMANDS: readonly string[] = Object.keys(COMMANDS);

/** Whom each command-specific flag belongs to, for the message when it is misplaced. */
const FLAG_OWNERS: Record<OwnFlag, string> = {
  remove: "password alone",
  name: "passkey add",
  allow: "permissions",
  ask: "permissions",
  deny: "permissions",
  app: "audit",
  since: "audit",
};

const USAGE = `Owner commands (on the state of --state-dir, whether the server runs or not):
  grants [--json]                       list the connected apps
  revoke <grant id or client id>        disconnect one app (every grant of a client id)
  revoke --all                          disconnect every app
  password [--disconnect-all]           set the owner password, read from
                                        PERSONAL_MCP_PASSWORD or standard input
  password --remove                     remove the owner password (once a passkey is
                                        enrolled): from then on only a passkey approves
  passkey add [--name <label>]          print a one-time link that enrols a passkey
                                        (valid 15 minutes, for one passkey)
  passkey list [--json]                 list the passkeys
  passkey remove <id>                   remove a passkey
  servers [--json]                      the running server's upstream MCP servers: state,
                                        pid, restarts, tools, last stderr lines
  permissions <grant or client id> [--json]
                                        an app's tools and the policy of each
  permissions <grant or client id> --allow|--ask|--deny <tool>...
                                        set the policy of those tools for that app
  audit [--json] [--app <id>] [--since <time>]
                                        the tool calls made (newest first); --since
                                        takes an ISO time or an age (30m, 12h, 7d)
  pending [--json]                      the tool calls waiting for your confirmation
  confirm <id>                          let a waiting call run
  decline <id>                          refuse a waiting call
Options:
  --state-dir <dir>   the server's state folder (default .oauth-state, or PERSONAL_MCP_STATE_DIR)
  --base-url <url>    the server's public URL, for passkey add on a stopped server or
                      on Deno KV (default PERSONAL_MCP_BASE_URL); a running server on
                      the file store answers with its own
On Deno KV, run them with --unstable-kv as the server: npx deno run -A --unstable-kv mod.ts grants
`;

/** Every owner command's flags (each command checks which are its own). */
const FLAG_TYPES = {
  "state-dir": { type: "string" },
  json: { type: "boolean" },
  all: { type: "boolean" },
  "disconnect-all": { type: "boolean" },
  remove: { type: "boolean" },
  "base-url": { type: "string" },
  name: { type: "string" },
  allow: { type: "boolean" },
  ask: { type: "boolean" },
  deny: { type: "boolean" },
  app: { type: "string" },
  since: { type: "string" },
  help: { type: "boolean" },
} as const;

/**
 * The arguments as parsed. Grant and client ids are base64url and may begin with "-":
 * there are no short options, so such an argument is an id, not a flag.
 */
function parse(argv: string[]) {
  const ids = argv.filter((a) => /^-[A-Za-z0-9_][A-Za-z0-9_-]+$/.test(a));
  const args = ids.length === 0 ? argv : [...argv.filter((a) => !ids.includes(a)), "--", ...ids];
  return parseArgs({
    args,
    options: FLAG_TYPES,
    strict: true,
    allowPositionals: true,
  });
}

/** What is wrong with a command line, if anything: the message of a usage error. */
function misuse(name: string | undefined, args: CommandArgs): string | undefined {
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) return "unknown command";
  for (const flag of Object.keys(FLAG_OWNERS) as OwnFlag[]) {
    if (args.values[flag] !== undefined && !command.ownFlags?.includes(flag)) {
      return `--${flag} goes with ${FLAG_OWNERS[flag]}`;
    }
  }
  return command.check(args);
}

/**
 * Runs one owner command; returns the exit code (0 done, 1 failed or not found, 2 usage).
 *
 * @example Listing the grants of an empty state folder as JSON
 * ```ts
 * import { runOwnerCommand } from "./owner_commands.ts";
 * const dir = await Deno.makeTempDir();
 * let out = "";
 * const io = { env: {}, stdout: (t: string) => (out += t), stderr: () => {}, stdinIsTerminal: false,
 *   readStdin: () => Promise.resolve(""), ask: () => Promise.resolve("") };
 * const code = await runOwnerCommand(["grants", "--json", "--state-dir", dir], io);
 * if (code !== 0 || JSON.parse(out).length !== 0) throw new Error(out);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runOwnerCommand(
  argv: string[],
  io: CommandIo = processIo(),
): Promise<number> {
  // One line, as the server's own flags: the usage would push the error off the screen.
  const usage = (message: string) => {
    io.stderr(`error: ${message}; grants --help lists every owner command and option\n`);
    return 2;
  };
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    const refused = refusedWord(error as Error);
    if (refused?.kind !== "option") return usage((error as Error).message);
    const near = nearest(refused.word, Object.keys(FLAG_TYPES).map((flag) => `--${flag}`));
    return usage(`unknown option ${refused.word}${near ? ` (did you mean ${near}?)` : ""}`);
  }
  const { values, positionals: [name, ...rest] } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const stateDir = values["state-dir"] ?? (io.env.PERSONAL_MCP_STATE_DIR || ".oauth-state");
  const args: CommandArgs = { rest, values, stateDir };
  const problem = misuse(name, args);
  if (problem !== undefined) return usage(problem);
  let baseUrl: string | undefined;
  try {
    baseUrl = readBaseUrl(values["base-url"] ?? io.env.PERSONAL_MCP_BASE_URL);
  } catch (error) {
    return usage((error as Error).message);
  }
  let owner: Awaited<ReturnType<typeof openOwner>> | undefined;
  try {
    return await COMMANDS[name!]!.run(args, io, async () => {
      owner ??= await openOwner(stateDir, baseUrl);
      return owner;
    });
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await owner?.close();
  }
}
