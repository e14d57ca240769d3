/**
 * `grants [--json]`: the connected apps.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import type { GrantSummary } from "../../auth/owner/controls.ts";
import { day, iso, type Owner, type OwnerCommand, table } from "./command.ts";

/** The grants, from the owner controls. */
export async function listGrants(owner: Owner): Promise<GrantSummary[]> {
  return await owner.call({ op: "listGrants" }) as GrantSummary[];
}

/** A grant as `grants --json` prints it: every field present, times in ISO 8601. */
function grantJson(g: GrantSummary) {
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

/** `grants [--json]`. */
export const grants: OwnerCommand = {
  check: ({ rest }) => rest.length ? "grants takes no argument" : undefined,
  async run({ values }, io, open) {
    const owner = await open();
    const list = await listGrants(owner);
    io.stdout(values.json ? `${JSON.stringify(list.map(grantJson), null, 2)}\n` : grantTable(list));
    return 0;
  },
};
