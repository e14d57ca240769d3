/**
 * `passkey add [--name <label>]`: print a one-time enrolment link (15 minutes, one
 * passkey); `passkey list [--json]`; `passkey remove <id>`.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import type { PasskeySummary, RemovalResult } from "../../auth/owner/passkeys.ts";
import {
  type CommandFlags,
  type CommandIo,
  day,
  iso,
  type Owner,
  type OwnerCommand,
  table,
} from "./command.ts";

/** A passkey as `passkey list --json` prints it: every field present, times in ISO 8601. */
function passkeyJson(p: PasskeySummary) {
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

async function list(owner: Owner, values: CommandFlags, io: CommandIo): Promise<number> {
  const passkeys = await owner.call({ op: "listPasskeys" }) as PasskeySummary[];
  io.stdout(
    values.json
      ? `${JSON.stringify(passkeys.map(passkeyJson), null, 2)}\n`
      : passkeyTable(passkeys),
  );
  return 0;
}

async function remove(owner: Owner, id: string, io: CommandIo): Promise<number> {
  const result = await owner.call({ op: "removePasskey", id }) as RemovalResult;
  if (result === "unknown") {
    io.stderr(`error: no passkey with id ${logValue(id)} (see passkey list)\n`);
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
  io.stdout(`Removed passkey ${id}.\n`);
  return 0;
}

/** Prints a one-time enrolment link; a running server's own base URL wins over `--base-url`. */
async function add(owner: Owner, values: CommandFlags, io: CommandIo): Promise<number> {
  const link = await owner.call({
    op: "createPasskeyLink",
    ...(values.name !== undefined ? { name: values.name } : {}),
  }) as { url: string; expiresAt: number };
  const given = values["base-url"];
  if (owner.via === "server" && given && new URL(given).origin !== new URL(link.url).origin) {
    io.stderr(
      `warning: the running server's base URL is ${new URL(link.url).origin}, not ${given}, ` +
        `and the running server's wins: the link below uses it. To enrol for ${given}, ` +
        `restart the server with --base-url ${given}.\n`,
    );
  }
  io.stdout(
    `Open this link within 15 minutes in the browser that will hold the passkey (it works once,\n` +
      `until ${day(link.expiresAt)} UTC):\n` +
      `  ${link.url}\n`,
  );
  return 0;
}

/** `passkey add [--name <label>]`, `passkey list [--json]`, `passkey remove <id>`. */
export const passkey: OwnerCommand = {
  ownFlags: ["name"],
  check({ rest: [sub, ...args], values }) {
    const arity = sub === "add" || sub === "list"
      ? args.length === 0
      : sub === "remove" && args.length === 1;
    if (!arity) return "passkey takes add [--name <label>], list [--json] or remove <id>";
    if (values.name !== undefined && sub !== "add") return "--name goes with passkey add";
    return undefined;
  },
  async run({ rest: [sub, ...args], values }, io, open) {
    const owner = await open();
    if (sub === "list") return await list(owner, values, io);
    if (sub === "remove") return await remove(owner, args[0]!, io);
    return await add(owner, values, io);
  },
};
