/**
 * Events as log lines. Anything a request carried (a client_id, an address from
 * `X-Forwarded-For`, a header the MCP SDK quotes in its error) is escaped and quoted
 * before it reaches a line, so that it can neither start a line of its own nor drive
 * the owner's terminal: a stranger must not forge "wrong owner password" lines.
 *
 * @module
 */
import type { PersonalMcpEvent } from "./options.ts";

// C0 controls, DEL, C1 controls (ESC and CSI drive terminals), line and paragraph
// separators, and invisible format characters (bidi overrides and isolates, zero
// widths, soft hyphen, BOM) that reorder or hide what the reader sees.
const UNSAFE =
  // deno-lint-ignore no-control-regex -- these are exactly the characters looked for
  /[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

/**
 * Escapes `text` for a log line: control and invisible format characters become
 * `\xHH` / `\u{HHHH}`, and a backslash is doubled, so the escaping cannot be faked.
 *
 * @example A forged second line stays on the first
 * ```ts
 * import { escapeForLog } from "./log.ts";
 * const line = escapeForLog("x\n\x1b[31mwrong owner password from 10.0.0.1");
 * if (line.includes("\n") || line.includes("\x1b")) throw new Error("not escaped");
 * ```
 */
export function escapeForLog(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/**
 * A value from a request as it appears in a log line: escaped and in double quotes.
 *
 * @example
 * ```ts
 * import { quoteForLog } from "./log.ts";
 * if (quoteForLog('a"b\r') !== '"a\\"b\\x0d"') throw new Error(quoteForLog('a"b\r'));
 * ```
 */
export function quoteForLog(value: unknown): string {
  return `"${escapeForLog(String(value)).replace(/"/g, '\\"')}"`;
}

/** An error as log text: its message escaped; its stack frames (code, not input) kept. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return quoteForLog(error);
  const head = `${error.name}: ${error.message}`;
  const stack = error.stack ?? "";
  // The stack begins with the message, which may carry request data; the frames do not.
  const frames = stack.startsWith(head) ? stack.slice(head.length) : "";
  const lines = frames.split("\n").filter((l) => l.trim() !== "").map((l) =>
    `\n    ${escapeForLog(l.trim())}`
  );
  return `${error.name}: ${quoteForLog(error.message)}${lines.join("")}`;
}

/**
 * One event as log text, with its level. Every value that came from a request is
 * quoted; what the server wrote itself (reasons, ids it made) is left readable.
 *
 * @example A forged address is quoted on one line
 * ```ts
 * import { formatEvent } from "./log.ts";
 * const { line } = formatEvent({ type: "owner_login_failed", clientAddress: "1.2.3.4\r\nok" });
 * if (line !== 'wrong owner password from "1.2.3.4\\x0d\\x0aok"') throw new Error(line);
 * ```
 */
export function formatEvent(event: PersonalMcpEvent): { level: "error" | "warn"; line: string } {
  switch (event.type) {
    case "error":
      return {
        level: "error",
        line: `error in ${quoteForLog(event.where)}: ${describeError(event.error)}`,
      };
    case "warning":
      // Messages are built with request values already quoted; this catches the rest.
      return { level: "warn", line: `warning: ${escapeForLog(event.message)}` };
    case "mcp_rejected":
      return {
        level: "warn",
        line: `mcp: ${
          quoteForLog(event.error instanceof Error ? event.error.message : String(event.error))
        }`,
      };
    case "owner_login_failed":
      return {
        level: "warn",
        line: `wrong owner password from ${quoteForLog(event.clientAddress)}`,
      };
    case "grant_revoked":
      return { level: "warn", line: `grant revoked: ${escapeForLog(event.reason)}` };
    default: {
      const { type, ...rest } = event as { type: string };
      return { level: "warn", line: `${escapeForLog(type)}: ${quoteForLog(JSON.stringify(rest))}` };
    }
  }
}
