/**
 * The calls waiting for the owner (policy `ask`): `pending [--json]`, `confirm <id>`,
 * `decline <id>`. An answer is taken once; a held call's arguments are printed escaped.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import type { ConfirmationRecord, DecideResult } from "../../auth/owner/confirmations.ts";
import { type OwnerCommand, table } from "./command.ts";

function pendingTable(records: ConfirmationRecord[], now: number): string {
  if (records.length === 0) return "No call is waiting.\n";
  return table([
    ["ID", "APP", "TOOL", "ARGUMENTS", "WAITING"],
    ...records.map((r) => [
      r.id,
      logValue(r.clientName ?? r.clientId),
      logValue(r.server ? `${r.tool} (${r.server})` : r.tool),
      logValue(r.preview.length > 60 ? `${r.preview.slice(0, 60)}…` : r.preview),
      `${Math.max(0, Math.round((now - r.createdAt) / 1000))} s`,
    ]),
  ]);
}

/** `pending [--json]`. */
export const pending: OwnerCommand = {
  check: ({ rest }) => rest.length ? "pending takes no argument" : undefined,
  async run({ values }, io, open) {
    const owner = await open();
    const records = await owner.call({ op: "pending" }) as ConfirmationRecord[];
    io.stdout(
      values.json ? `${JSON.stringify(records, null, 2)}\n` : pendingTable(records, Date.now()),
    );
    return 0;
  },
};

function answer(kind: "confirm" | "decline"): OwnerCommand {
  return {
    check: ({ rest }) => rest.length !== 1 ? `${kind} takes the id of a waiting call` : undefined,
    async run({ rest: [id] }, io, open) {
      const owner = await open();
      const result = await owner.call({ op: "decide", id: id!, answer: kind }) as DecideResult;
      if (!result.ok) {
        io.stderr(
          result.reason === "answered"
            ? `error: call ${logValue(id!)} was answered already\n`
            : `error: no call waits under ${logValue(id!)}\n`,
        );
        return 1;
      }
      io.stdout(
        `${kind === "confirm" ? "Confirmed" : "Declined"}: ${logValue(result.record.tool)} for ${
          logValue(result.record.clientName ?? result.record.clientId)
        }.\n`,
      );
      return 0;
    },
  };
}

/** `confirm <id>`: let a waiting call run. */
export const confirm: OwnerCommand = answer("confirm");
/** `decline <id>`: refuse a waiting call. */
export const decline: OwnerCommand = answer("decline");
