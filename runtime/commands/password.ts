/**
 * `password [--disconnect-all]`: set the owner password (from `PERSONAL_MCP_PASSWORD`
 * or standard input, never a flag; only its hash is kept); `password --remove`: remove
 * it once a passkey is enrolled.
 *
 * @module
 */
import { type CommandIo, disconnected, type Owner, type OwnerCommand } from "./command.ts";

const MIN_PASSWORD_LENGTH = 8;

const STARTED_WITH_PASSWORD = "warning: the running server was started with a password " +
  "(--password or PERSONAL_MCP_PASSWORD) and ";

/** The new password: from the environment, a pipe, or typed twice on the terminal. */
async function readNewPassword(io: CommandIo): Promise<string> {
  const fromEnv = io.env.PERSONAL_MCP_PASSWORD;
  if (fromEnv) return fromEnv;
  if (!io.stdinIsTerminal) {
    const line = (await io.readStdin()).split(/\r?\n/)[0] ?? "";
    // Nothing given at all is not a short password: say the three ways to give one.
    if (line === "") {
      throw new Error(
        "no password given: set PERSONAL_MCP_PASSWORD, write it on standard input, or run " +
          "the command in a terminal to type it. Nothing was changed",
      );
    }
    return line;
  }
  const first = await io.ask("New owner password: ", true);
  const again = await io.ask("Type it again: ", true);
  if (first !== again) throw new Error("the two passwords differ; nothing was changed");
  return first;
}

/** `password --remove`: only a passkey approves from then on. */
async function removePassword(owner: Owner, io: CommandIo): Promise<number> {
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
    io.stderr(`${STARTED_WITH_PASSWORD}keeps accepting it until it is started without.\n`);
  }
  return 0;
}

/** Sets the password, then disconnects every app if asked to (a flag, or yes on the terminal). */
async function setPassword(
  owner: Owner,
  password: string,
  disconnectAll: boolean,
  io: CommandIo,
): Promise<number> {
  const answer = await owner.call({ op: "setPassword", password }) as {
    passwordFromOptions: boolean;
  };
  io.stdout("The owner password was changed (only its hash is kept).\n");
  if (answer.passwordFromOptions) {
    io.stderr(`${STARTED_WITH_PASSWORD}keeps using that one until it is started without.\n`);
  }
  let disconnect = disconnectAll;
  if (!disconnect && io.stdinIsTerminal) {
    disconnect = /^y(es)?$/i.test(
      (await io.ask("Disconnect every connected app too? [y/N] ", false)).trim(),
    );
  }
  if (disconnect) {
    io.stdout(disconnected(await owner.call({ op: "revokeAll" }) as number));
  } else {
    io.stdout("Connected apps stay connected (revoke --all disconnects them).\n");
  }
  return 0;
}

/** `password [--disconnect-all]` and `password --remove`. */
export const password: OwnerCommand = {
  ownFlags: ["remove"],
  check: ({ rest, values }) =>
    rest.length
      ? "password takes no argument: set PERSONAL_MCP_PASSWORD or type it"
      : values.remove && values["disconnect-all"]
      ? "--remove goes with password alone"
      : undefined,
  async run({ values }, io, open) {
    if (values.remove) return await removePassword(await open(), io);
    // Asked before the state is opened: a typo costs nothing.
    const chosen = await readNewPassword(io);
    if (chosen.length < MIN_PASSWORD_LENGTH) {
      throw new Error(`the owner password must have at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    return await setPassword(await open(), chosen, values["disconnect-all"] ?? false, io);
  },
};
