/**
 * `permissions <grant or client id> [--json]`: an app's tools and the policy of each;
 * `permissions <id> --allow|--ask|--deny <tool>...`: set it.
 *
 * @module
 */
import { logValue } from "../../auth/owner/activity.ts";
import type { AppToolPermissions, PermissionChange } from "../../auth/grants/app_permissions.ts";
import type { ToolPolicy } from "../../auth/grants/permissions.ts";
import { type CommandFlags, type OwnerCommand, table } from "./command.ts";

function policyOf(values: CommandFlags): ToolPolicy | undefined {
  const chosen = (["allow", "ask", "deny"] as const).filter((p) => values[p]);
  return chosen.length === 1 ? chosen[0] : undefined;
}

function permissionTable(app: AppToolPermissions): string {
  const name = app.clientName === undefined ? "(unnamed)" : logValue(app.clientName);
  if (app.tools.length === 0) return `${name} (${logValue(app.clientId)}): no tool.\n`;
  return `${name} (${logValue(app.clientId)})\n` + table([
    ["TOOL", "SERVER", "KIND", "POLICY", "FROM", ""],
    ...app.tools.map((t) => [
      logValue(t.name),
      t.server === undefined ? "(yours)" : logValue(t.server),
      t.kind,
      t.policy,
      t.source === "app" ? "set for this app" : `default (${t.source})`,
      t.isNew ? "new" : "",
    ]),
  ]);
}

/** `permissions <id> [--json]` / `permissions <id> --allow|--ask|--deny <tool>...`. */
export const permissions: OwnerCommand = {
  ownFlags: ["allow", "ask", "deny"],
  check({ rest, values }) {
    const flags = (["allow", "ask", "deny"] as const).filter((p) => values[p]).length;
    if (rest.length === 0) return "permissions takes a grant id or client id";
    if (flags > 1) return "permissions takes one of --allow, --ask, --deny";
    if (flags === 1 && rest.length < 2) return "name the tools to set after the id";
    if (flags === 0 && rest.length > 1) return "to set tools, give --allow, --ask or --deny";
    return undefined;
  },
  async run({ rest: [id, ...tools], values }, io, open) {
    const owner = await open();
    const policy = policyOf(values);
    if (policy) {
      const change = await owner.call({
        op: "setPermissions",
        id: id!,
        policy,
        tools,
      }) as PermissionChange;
      if (!change.ok) {
        io.stderr(`error: ${logValue(change.reason)}\n`);
        return 1;
      }
      io.stdout(
        values.json ? `${JSON.stringify(change.app, null, 2)}\n` : permissionTable(change.app),
      );
      return 0;
    }
    const app = await owner.call({ op: "permissions", id: id! }) as AppToolPermissions | null;
    if (!app) {
      io.stderr(`error: no grant or client with id ${logValue(id!)}\n`);
      return 1;
    }
    io.stdout(values.json ? `${JSON.stringify(app, null, 2)}\n` : permissionTable(app));
    return 0;
  },
};
