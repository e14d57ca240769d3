/**
 * `audit [--json] [--app <id>] [--since <time>]`: the tool calls made, newest first.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import type { AuditRecord } from "../../auth/owner/audit.ts";
import { type OwnerCommand, table } from "./command.ts";

/** Most records printed. */
const AUDIT_PRINTED = 1000;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO 8601 time, or an age such as `30m`, `12h`, `7d`; undefined if neither. */
export function readSince(text: string, now: number): number | undefined {
  const age = /^(\d{1,6})([smhd])$/.exec(text);
  if (age) return now - Number(age[1]) * UNITS[age[2]!]!;
  if (!/^\d{4}-\d\d-\d\d/.test(text)) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

function auditTable(records: AuditRecord[]): string {
  if (records.length === 0) return "No tool call recorded.\n";
  return table([
    ["WHEN (UTC)", "APP", "GRANT", "TOOL", "OUTCOME", "POLICY", "MS", "ARGUMENTS SHA-256"],
    ...records.map((r) => [
      new Date(r.at).toISOString().slice(0, 19).replace("T", " "),
      r.clientName === undefined ? logValue(r.clientId) : logValue(r.clientName),
      r.grantId,
      logValue(r.tool),
      r.outcome,
      r.policy,
      String(r.durationMs),
      r.argumentsSha256,
    ]),
  ]);
}

/** `audit [--json] [--app <id>] [--since <time>]`. */
export const audit: OwnerCommand = {
  ownFlags: ["app", "since"],
  check({ rest, values }) {
    if (rest.length) return "audit takes no argument (use --app <id>)";
    if (values.since !== undefined && readSince(values.since, Date.now()) === undefined) {
      return "--since takes an ISO time (2026-12-01T10:00Z) or an age (30m, 12h, 7d)";
    }
    return undefined;
  },
  async run({ values }, io, open) {
    const owner = await open();
    const since = values.since === undefined ? undefined : readSince(values.since, Date.now());
    const records = await owner.call({
      op: "audit",
      ...(values.app !== undefined ? { app: values.app } : {}),
      ...(since !== undefined ? { since } : {}),
      limit: AUDIT_PRINTED,
    }) as AuditRecord[];
    io.stdout(values.json ? `${JSON.stringify(records, null, 2)}\n` : auditTable(records));
    return 0;
  },
};
