/**
 * What every owner command is built on: where it reads and writes (`CommandIo`), the
 * owner controls it acts through (in this process or in the running server), its
 * arguments, and the table layout the listings share.
 *
 * @module
 */
import type { ControlRequest } from "../control.ts";

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
export interface Owner {
  call(req: ControlRequest): Promise<unknown>;
  close(): Promise<void>;
  /** In this process (the store opened here) or through the running server. */
  via: "store" | "server";
}

/** The flags of the owner commands, as parsed. */
export interface CommandFlags {
  json?: boolean;
  all?: boolean;
  "disconnect-all"?: boolean;
  remove?: boolean;
  name?: string;
  "base-url"?: string;
  allow?: boolean;
  ask?: boolean;
  deny?: boolean;
  app?: string;
  since?: string;
}

/** The flags that belong to one command only. */
export type OwnFlag = "remove" | "name" | "allow" | "ask" | "deny" | "app" | "since";

/** One command's arguments: what follows its name, and the flags. */
export interface CommandArgs {
  rest: string[];
  values: CommandFlags;
  /** The state folder (`--state-dir`), for a command that only a running server answers. */
  stateDir: string;
}

/** One owner command. The dispatcher (../owner_commands.ts) parses, checks and runs it. */
export interface OwnerCommand {
  /** The flags only this command takes: every other command refuses them. */
  ownFlags?: OwnFlag[];
  /** What is wrong with the arguments, if anything: a usage error (exit 2). */
  check(args: CommandArgs): string | undefined;
  /**
   * Runs the command; 0 done, 1 failed. `open` opens the state (or reaches the server)
   * when the command is ready to, so that what it asks first (a new password) comes
   * before. An error thrown is printed and exits 1.
   */
  run(args: CommandArgs, io: CommandIo, open: () => Promise<Owner>): Promise<number>;
}

/** Rows as an aligned table. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") +
    "\n";
}

/** A time as `YYYY-MM-DD HH:MM` (UTC), or "never". */
export const day = (t: number | undefined): string =>
  t === undefined ? "never" : new Date(t).toISOString().slice(0, 16).replace("T", " ");

/** A time in ISO 8601, or null, for JSON output. */
export const iso = (t: number | undefined): string | null =>
  t === undefined ? null : new Date(t).toISOString();

/** "Disconnected N grant(s)" and what follows, as the revoking commands say it. */
export function disconnected(n: number, tail = ""): string {
  return `Disconnected ${n} grant${n === 1 ? "" : "s"}${tail}.\n`;
}
