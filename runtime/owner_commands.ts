/**
 * The owner's commands, on the same state as the server, for a terminal or a script:
 *
 * - `grants [--json]`: the connected apps;
 * - `revoke <grant id or client id>` / `revoke --all`: disconnect;
 * - `password [--disconnect-all]`: set the owner password (from `PERSONAL_MCP_PASSWORD`
 *   or standard input, never a flag; only its hash is kept).
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
import { logValue } from "../auth/activity.ts";
import { type GrantSummary, ownerControlsOn } from "../auth/owner_controls.ts";
import { hasFileState, openFileStore, prepareStateDir, StateLockedError } from "../store/file.ts";
import { kvAvailable, openKvStore } from "../store/kv.ts";
import { callControl, COMMAND_LINE, type ControlRequest } from "./control.ts";

/** The first positional arguments that are owner commands rather than flags of the server. */
export const OWNER_COMMANDS: readonly string[] = ["grants", "revoke", "password"];

/** The local Deno KV database of a state folder. */
export const KV_FILE = "kv.sqlite3";

const USAGE = `Owner commands (on the state of --state-dir, whether the server runs or not):
  grants [--json]                       list the connected apps
  revoke <grant id or client id>        disconnect one app (every grant of a client id)
  revoke --all                          disconnect every app
  password [--disconnect-all]           set the owner password, read from
                                        PERSONAL_MCP_PASSWORD or standard input
Options:
  --state-dir <dir>   the server's state folder (default .oauth-state, or PERSONAL_MCP_STATE_DIR)
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
async function openOwner(stateDir: string): Promise<Owner> {
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
  const { controls, close } = ownerControlsOn(store);
  return {
    via: "store",
    close,
    async call(req) {
      switch (req.op) {
        case "listGrants":
          return await controls.listGrants();
        case "listClients":
          return await controls.listClients();
        case "revokeGrant":
          return await controls.revokeGrant(req.id, COMMAND_LINE);
        case "revokeAll":
          return await controls.revokeAll(COMMAND_LINE);
        case "forgetClient":
          return await controls.forgetClient(req.id, COMMAND_LINE);
        case "setPassword":
          await controls.setPassword(req.password);
          return { passwordFromOptions: false };
      }
    },
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

/** The grants as a table; every value a client sent is escaped like a log value. */
function grantTable(grants: GrantSummary[]): string {
  if (grants.length === 0) return "No app is connected.\n";
  const day = (t: number | undefined) =>
    t === undefined ? "never" : new Date(t).toISOString().slice(0, 16).replace("T", " ");
  const rows = [
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
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") +
    "\n";
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
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        all: { type: "boolean" },
        "disconnect-all": { type: "boolean" },
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
  if (!command || !OWNER_COMMANDS.includes(command)) return usage("unknown command");

  let password: string | undefined;
  if (command === "password") {
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
    owner = await openOwner(stateDir);
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
