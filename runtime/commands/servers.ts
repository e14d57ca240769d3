/**
 * `servers [--json]`: the running server's upstream MCP servers, asked through its
 * local control endpoint (../control.ts) whatever the store: only the server knows them. Names, errors and stderr lines come from the
 * configuration and from the upstreams themselves: every one is escaped as a log value
 * (table) or with its invisible and bidirectional characters as `\uXXXX` (JSON), so that
 * an upstream cannot drive or mislead the owner's terminal.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { logValue } from "../../auth/owner/activity.ts";
import type { UpstreamStatus } from "../../core/config.ts";
import { callControl, CONTROL_FILE } from "../control.ts";
import type { OwnerCommand } from "./command.ts";

/** How many stderr lines the table shows per server (`--json` gives all that are kept). */
const TABLE_STDERR_LINES = 5;

/** What JSON.stringify leaves raw that a terminal would act on or hide. */
const UNSAFE_IN_JSON =
  /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

/** `servers [--json]`. */
export const servers: OwnerCommand = {
  check: ({ rest }) => rest.length ? "servers takes no argument" : undefined,
  async run({ values, stateDir }, io) {
    if (!existsSync(join(stateDir, CONTROL_FILE))) {
      io.stderr(
        `error: no server is running on ${stateDir} (servers lists a running server's ` +
          `upstream MCP servers; start it with --servers <file>)\n`,
      );
      return 1;
    }
    const list = await callControl(stateDir, { op: "listServers" }) as UpstreamStatus[];
    io.stdout(values.json ? serversJson(list) : serversTable(list));
    return 0;
  },
};

/** `--json`: one array, every field present; text escaped for a terminal. */
export function serversJson(list: UpstreamStatus[]): string {
  const rows = list.map((s) => ({
    name: s.name,
    type: s.type,
    state: s.state,
    pid: s.pid ?? null,
    restarts: s.restarts,
    tools: s.tools,
    lastError: s.lastError ?? null,
    stderr: s.stderr,
  }));
  return `${
    JSON.stringify(rows, null, 2).replace(
      UNSAFE_IN_JSON,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    )
  }\n`;
}

/** The table, then each server's last error and stderr lines, every value escaped. */
export function serversTable(list: UpstreamStatus[]): string {
  if (list.length === 0) return "No upstream MCP server is configured (--servers <file>).\n";
  const rows = [
    ["SERVER", "TYPE", "STATE", "PID", "RESTARTS", "TOOLS"],
    ...list.map((s) => [
      logValue(s.name),
      s.type,
      s.state,
      s.pid === undefined ? "" : String(s.pid),
      String(s.restarts),
      String(s.tools),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  let out = rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n") + "\n";
  for (const s of list) {
    const lines = s.stderr.slice(-TABLE_STDERR_LINES);
    if (s.lastError === undefined && lines.length === 0) continue;
    out += `\n${logValue(s.name)}:\n`;
    if (s.lastError !== undefined) out += `  last error: ${logValue(s.lastError)}\n`;
    for (const line of lines) out += `  stderr: ${logValue(line)}\n`;
  }
  return out;
}
