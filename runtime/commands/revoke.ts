/**
 * `revoke <grant id or client id>` / `revoke --all`: disconnect.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import { disconnected, type OwnerCommand } from "./command.ts";
import { listGrants } from "./grants.ts";

/** `revoke <grant id or client id>` (every grant of a client id), or `revoke --all`. */
export const revoke: OwnerCommand = {
  check: ({ rest, values }) =>
    (values.all ? rest.length !== 0 : rest.length !== 1)
      ? "revoke takes one grant id or client id, or --all"
      : undefined,
  async run({ rest, values }, io, open) {
    const owner = await open();
    if (values.all) {
      io.stdout(disconnected(await owner.call({ op: "revokeAll" }) as number));
      return 0;
    }
    const id = rest[0]!;
    const targets = (await listGrants(owner)).filter((g) => g.id === id || g.clientId === id);
    if (targets.length === 0) {
      io.stderr(`error: no grant or client with id ${logValue(id)}\n`);
      return 1;
    }
    let n = 0;
    for (const g of targets) if (await owner.call({ op: "revokeGrant", id: g.id })) n++;
    const name = targets[0]!.clientName;
    io.stdout(disconnected(n, name === undefined ? "" : ` of ${logValue(name)}`));
    return 0;
  },
};
