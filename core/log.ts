/**
 * Events as log lines. Anything a request carried (a client_id, an address from
 * `X-Forwarded-For`, a header the MCP SDK quotes in its error) is escaped and quoted
 * before it reaches a line, so that it can neither start a line of its own nor drive
 * the owner's terminal: a stranger must not forge "wrong owner password" lines.
 *
 * @module
 */
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
 * @example A value with a quote and a carriage return
 * ```ts
 * import { quoteForLog } from "./log.ts";
 * if (quoteForLog('a"b\r') !== '"a\\"b\\x0d"') throw new Error(quoteForLog('a"b\r'));
 * ```
 */
export function quoteForLog(value: unknown): string {
  return `"${escapeForLog(String(value)).replace(/"/g, '\\"')}"`;
}

/**
 * An error as log text: its message escaped and quoted (it may quote a request); its
 * stack frames (code, not input) kept, one per line.
 *
 * @example
 * ```ts
 * import { describeError } from "./log.ts";
 * if (describeError(new Error("a\nb")).split("\n")[0] !== 'Error: "a\\x0ab"') throw new Error("not escaped");
 * ```
 */
export function describeError(error: unknown): string {
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
