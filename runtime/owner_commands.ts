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
 * - `servers [--json]`: the running server's upstream MCP servers (servers_command.ts).
 *
 * They work whether the server is stopped or running. Stopped, or on Deno KV (which
 * several processes may open; the server sees the revocation notice within a second):
 * they open the store themselves. Running on the file store, whose lock keeps a second
 * process out: they ask the server through its local control endpoint (control.ts).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { logValue } from "../auth/owner/activity.ts";
import { type GrantSummary, ownerControlsOn } from "../auth/owner/controls.ts";
import type { PasskeySummary, RemovalResult } from "../auth/owner/passkeys.ts";
import { hasFileState, openFileStore, prepareStateDir, StateLockedError } from "../store/file.ts";
import { kvAvailable, openKvStore } from "../store/kv.ts";
import { callControl, type ControlRequest, performControl } from "./control.ts";
import { serversCommand } from "./servers_command.ts";

/** The first positional arguments that are owner commands rather than flags of the server. */
export const OWNER_COMMANDS: readonly string[] = [
  "grants",
  "revoke",
  "password",
  "passkey",
  "servers",
];

/** The local Deno KV database of a state folder. */
export const KV_FILE = "kv.sqlite3";

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
Options:
  --state-dir <dir>   the server's state folder (default .oauth-state, or PERSONAL_MCP_STATE_DIR)
  --base-url <url>    the server's public URL, for passkey add on a stopped server or
                      on Deno KV (default PERSONAL_MCP_BASE_URL); a running server on
                      the file store answers with its own
On Deno KV, run them with --unstable-kv as the server: deno run -A --unstable-kv mod.ts grants
`;

/** Where the commands read and write. */
export interface CommandIo {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether standard input is a terminal (prompts) or a pipe (read whole). */
  stdinIsTerminal: boolean;
  /** Reads standard input to its end (pipes). */
  readStdin(): Promise<string>;
  /** Asks on the terminal; `hidden` for passwords. */
  ask(question: string, hidden: boolean): Promise<string>;
}

/** What the commands need of the owner controls, wherever they live. */
interface Owner {
  call(req: ControlRequest): Promise<unknown>;
  close(): Promise<void>;
  via: "store" | "server";
}

/** Opens the state folder as the server would, or reaches the server that holds it. */
async function openOwner(stateDir: string, baseUrl: string | undefined): Promise<Owner> {
  const hasKv = existsSync(join(stateDir, KV_FILE));
  const hasFile = hasFileState(stateDir);
  if (!kvAvailable() && hasKv && !hasFile) {
    throw new Error(
      `the state in ${stateDir} is in Deno KV: run the command with deno run -A --unstable-kv`,
    );
  }
  let store;
  if (kvAvailable() && (hasKv || !hasFile)) {
    await prepareStateDir(stateDir);
    store = await openKvStore(join(stateDir, KV_FILE));
  } else {
    try {
      store = await openFileStore(stateDir);
    } catch (error) {
      if (!(error instanceof StateLockedError)) throw error;
      return { call: (req) => callControl(stateDir, req), close: async () => {}, via: "server" };
    }
  }
  const { controls, close } = ownerControlsOn(store, { baseUrl });
  return {
    via: "store",
    close,
    call: (req) => performControl(controls, req),
  };
}

/** A grant as `grants --json` prints it: every field present, times in ISO 8601. */
function grantJson(g: GrantSummary) {
  const iso = (t: number | undefined) => t === undefined ? null : new Date(t).toISOString();
  return {
    id: g.id,
    clientId: g.clientId,
    clientName: g.clientName ?? null,
    clientIdHost: g.clientIdHost ?? null,
    registered: g.registered,
    redirectUri: g.redirectUri ?? null,
    scopes: g.scopes,
    createdAt: iso(g.createdAt),
    lastUsedAt: iso(g.lastUsedAt),
    lastAddress: g.lastAddress ?? null,
    liveTokens: g.liveTokens,
  };
}

/** A passkey as `passkey list --json` prints it: every field present, times in ISO 8601. */
function passkeyJson(p: PasskeySummary) {
  const iso = (t: number | undefined) => t === undefined ? null : new Date(t).toISOString();
  return {
    id: p.id,
    name: p.name,
    createdAt: iso(p.createdAt),
    createdFrom: p.createdFrom,
    lastUsedAt: iso(p.lastUsedAt),
    lastAddress: p.lastAddress ?? null,
    backedUp: p.backedUp,
  };
}

/** Rows as an aligned table. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") +
    "\n";
}

const day = (t: number | undefined) =>
  t === undefined ? "never" : new Date(t).toISOString().slice(0, 16).replace("T", " ");

/** The passkeys as a table; names were typed in a browser, so they are escaped too. */
function passkeyTable(passkeys: PasskeySummary[]): string {
  if (passkeys.length === 0) return "No passkey is enrolled.\n";
  return table([
    ["ID", "NAME", "ADDED", "LAST USED", "FROM"],
    ...passkeys.map((p) => [
      p.id,
      logValue(p.name),
      day(p.createdAt),
      day(p.lastUsedAt),
      p.lastAddress === undefined ? "" : logValue(p.lastAddress),
    ]),
  ]);
}

/** The base URL given to a command: an http(s) origin, without a trailing slash. */
function readBaseUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === "") return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`--base-url must be an absolute http(s) URL, got ${logValue(text)}`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/") {
    throw new TypeError(`--base-url must be an http(s) origin with no path, got ${logValue(text)}`);
  }
  return url.origin;
}

/** The grants as a table; every value a client sent is escaped like a log value. */
function grantTable(grants: GrantSummary[]): string {
  if (grants.length === 0) return "No app is connected.\n";
  return table([
    ["GRANT", "APP (name given by the app)", "CLIENT", "APPROVED", "LAST USED", "FROM", "TOKENS"],
    ...grants.map((g) => [
      g.id,
      g.clientName === undefined ? "(unnamed)" : logValue(g.clientName),
      logValue(g.clientIdHost ?? g.clientId),
      day(g.createdAt),
      day(g.lastUsedAt),
      g.lastAddress === undefined ? "" : logValue(g.lastAddress),
      g.liveTokens ? "live" : "none",
    ]),
  ]);
}

async function readNewPassword(io: CommandIo): Promise<string> {
  const fromEnv = io.env.PERSONAL_MCP_PASSWORD;
  if (fromEnv) return fromEnv;
  if (!io.stdinIsTerminal) {
    return (await io.readStdin()).split(/\r?\n/)[0] ?? "";
  }
  const first = await io.ask("New owner password: ", true);
  const again = await io.ask("Type it again: ", true);
  if (first !== again) throw new Error("the two passwords differ; nothing was changed");
  return first;
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
  let parsed;
  // Grant and client ids are base64url and may begin with "-": there are no short
  // options, so such an argument is an id, not a flag.
  const ids = argv.filter((a) => /^-[A-Za-z0-9_][A-Za-z0-9_-]+$/.test(a));
  const args = ids.length === 0 ? argv : [...argv.filter((a) => !ids.includes(a)), "--", ...ids];
  try {
    parsed = parseArgs({
      args,
      options: {
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        all: { type: "boolean" },
        "disconnect-all": { type: "boolean" },
        remove: { type: "boolean" },
        "base-url": { type: "string" },
        name: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const stateDir = values["state-dir"] ?? (io.env.PERSONAL_MCP_STATE_DIR || ".oauth-state");
  const usage = (message: string) => {
    io.stderr(`error: ${message}\n\n${USAGE}`);
    return 2;
  };
  if (command === "grants" && rest.length) return usage("grants takes no argument");
  if (command === "revoke" && (values.all ? rest.length !== 0 : rest.length !== 1)) {
    return usage("revoke takes one grant id or client id, or --all");
  }
  if (command === "password" && rest.length) {
    return usage("password takes no argument: set PERSONAL_MCP_PASSWORD or type it");
  }
  if (values.remove && (command !== "password" || values["disconnect-all"])) {
    return usage("--remove goes with password alone");
  }
  const [sub, ...subArgs] = rest;
  if (
    command === "passkey" &&
    !(sub === "add" || sub === "list"
      ? subArgs.length === 0
      : sub === "remove" && subArgs.length === 1)
  ) {
    return usage("passkey takes add [--name <label>], list [--json] or remove <id>");
  }
  if (values.name !== undefined && !(command === "passkey" && sub === "add")) {
    return usage("--name goes with passkey add");
  }
  if (!command || !OWNER_COMMANDS.includes(command)) return usage("unknown command");
  if (command === "servers") {
    if (rest.length) return usage("servers takes no argument");
    return await serversCommand(stateDir, values.json === true, io);
  }
  let baseUrl: string | undefined;
  try {
    baseUrl = readBaseUrl(values["base-url"] ?? io.env.PERSONAL_MCP_BASE_URL);
  } catch (error) {
    return usage((error as Error).message);
  }

  let password: string | undefined;
  if (command === "password" && !values.remove) {
    try {
      password = await readNewPassword(io);
    } catch (error) {
      io.stderr(`error: ${(error as Error).message}\n`);
      return 1;
    }
    if (password.length < 8) {
      io.stderr("error: the owner password must have at least 8 characters\n");
      return 1;
    }
  }

  let owner: Owner;
  try {
    owner = await openOwner(stateDir, baseUrl);
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 1;
  }
  try {
    const grants = async () => await owner.call({ op: "listGrants" }) as GrantSummary[];
    if (command === "grants") {
      const list = await grants();
      io.stdout(
        values.json ? `${JSON.stringify(list.map(grantJson), null, 2)}\n` : grantTable(list),
      );
      return 0;
    }
    if (command === "revoke") {
      if (values.all) {
        const n = await owner.call({ op: "revokeAll" }) as number;
        io.stdout(`Disconnected ${n} grant${n === 1 ? "" : "s"}.\n`);
        return 0;
      }
      const id = rest[0]!;
      const targets = (await grants()).filter((g) => g.id === id || g.clientId === id);
      if (targets.length === 0) {
        io.stderr(`error: no grant or client with id ${logValue(id)}\n`);
        return 1;
      }
      let n = 0;
      for (const g of targets) if (await owner.call({ op: "revokeGrant", id: g.id })) n++;
      const name = targets[0]!.clientName;
      io.stdout(
        `Disconnected ${n} grant${n === 1 ? "" : "s"}${
          name === undefined ? "" : ` of ${logValue(name)}`
        }.\n`,
      );
      return 0;
    }
    if (command === "passkey") return await passkeyCommand(owner, sub!, subArgs, values, io);
    if (values.remove) {
      const answer = await owner.call({ op: "removePassword" }) as {
        removed: boolean;
        passwordFromOptions: boolean;
      };
      if (!answer.removed) {
        io.stderr(
          "error: no passkey is enrolled, so the password is the only way to approve: add a " +
            "passkey first (passkey add). Nothing was changed.\n",
        );
        return 1;
      }
      io.stdout(
        "The owner password was removed: from now on only a passkey approves. Owner pages " +
          "were signed out.\nIf every passkey is lost: passkey add (on this machine) prints " +
          "a new enrolment link, or password sets a new password.\n",
      );
      if (answer.passwordFromOptions) {
        io.stderr(
          "warning: the running server was started with a password (--password or " +
            "PERSONAL_MCP_PASSWORD) and keeps accepting it until it is started without.\n",
        );
      }
      return 0;
    }
    // password
    const answer = await owner.call({ op: "setPassword", password: password! }) as {
      passwordFromOptions: boolean;
    };
    io.stdout("The owner password was changed (only its hash is kept).\n");
    if (answer.passwordFromOptions) {
      io.stderr(
        "warning: the running server was started with a password (--password or " +
          "PERSONAL_MCP_PASSWORD) and keeps using that one until it is started without.\n",
      );
    }
    let disconnect = values["disconnect-all"] ?? false;
    if (!disconnect && io.stdinIsTerminal) {
      disconnect = /^y(es)?$/i.test(
        (await io.ask("Disconnect every connected app too? [y/N] ", false)).trim(),
      );
    }
    if (disconnect) {
      const n = await owner.call({ op: "revokeAll" }) as number;
      io.stdout(`Disconnected ${n} grant${n === 1 ? "" : "s"}.\n`);
    } else {
      io.stdout("Connected apps stay connected (revoke --all disconnects them).\n");
    }
    return 0;
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await owner.close();
  }
}

/** `passkey add | list | remove <id>`, on an opened state. */
async function passkeyCommand(
  owner: Owner,
  sub: string,
  args: string[],
  values: { json?: boolean; name?: string; "base-url"?: string },
  io: CommandIo,
): Promise<number> {
  if (sub === "list") {
    const list = await owner.call({ op: "listPasskeys" }) as PasskeySummary[];
    io.stdout(
      values.json ? `${JSON.stringify(list.map(passkeyJson), null, 2)}\n` : passkeyTable(list),
    );
    return 0;
  }
  if (sub === "remove") {
    const result = await owner.call({ op: "removePasskey", id: args[0]! }) as RemovalResult;
    if (result === "unknown") {
      io.stderr(`error: no passkey with id ${logValue(args[0]!)} (see passkey list)\n`);
      return 1;
    }
    if (result === "last") {
      io.stderr(
        "error: this is the only passkey and no password is kept, so nobody could approve " +
          "any more: add another passkey (passkey add) or set a password first. Nothing was " +
          "changed.\n",
      );
      return 1;
    }
    io.stdout(`Removed passkey ${args[0]}.\n`);
    return 0;
  }
  const link = await owner.call({
    op: "createPasskeyLink",
    ...(values.name !== undefined ? { name: values.name } : {}),
  }) as { url: string; expiresAt: number };
  const given = values["base-url"];
  if (owner.via === "server" && given && new URL(given).origin !== new URL(link.url).origin) {
    io.stderr(
      `warning: the running server's base URL is ${new URL(link.url).origin}, not ${given}; ` +
        "the link uses the server's.\n",
    );
  }
  io.stdout(
    `Open this link within 15 minutes in the browser that will hold the passkey (it works once,\n` +
      `until ${new Date(link.expiresAt).toISOString().slice(0, 16).replace("T", " ")} UTC):\n` +
      `  ${link.url}\n`,
  );
  return 0;
}

/** Asks on the terminal; without echo when `hidden` (raw mode). */
function askOnTerminal(question: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  if (hidden) stdin.setRawMode?.(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = "";
    const done = () => {
      stdin.off("data", onData);
      if (hidden) {
        stdin.setRawMode?.(false);
        process.stderr.write("\n");
      }
      stdin.pause();
    };
    const onData = (chunk: unknown) => {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n") {
          done();
          return resolve(text);
        }
        if (ch === "\u0003" || ch === "\u0004") {
          done();
          return reject(new Error("cancelled; nothing was changed"));
        }
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** The process's own standard streams and environment. */
export function processIo(): CommandIo {
  return {
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdinIsTerminal: process.stdin.isTTY === true,
    async readStdin() {
      let text = "";
      for await (const chunk of process.stdin) text += String(chunk);
      return text;
    },
    ask: askOnTerminal,
  };
}
