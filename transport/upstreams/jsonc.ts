/**
 * Servers files as their owners have them: JSON, or VS Code's JSON with comments and
 * trailing commas.
 *
 * @module
 */

/**
 * The JSON value of a servers file (JSON, or VS Code's JSON with comments).
 *
 * @throws Error naming `source` when it does not parse
 *
 * @example
 * ```ts
 * import { readServersJson } from "./jsonc.ts";
 * const value = readServersJson('{"servers": {}, // VS Code\n}', "mcp.json");
 * if (JSON.stringify(value) !== '{"servers":{}}') throw new Error("not read");
 * ```
 */
export function readServersJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (strict) {
    try {
      return JSON.parse(stripJsonComments(text));
    } catch {
      throw new Error(`${source}: not valid JSON (${(strict as Error).message})`);
    }
  }
}

/**
 * JSON with comments (`//`, `/* *\/`) and trailing commas, as VS Code writes `mcp.json`,
 * turned into JSON; strings are copied untouched.
 */
function stripJsonComments(text: string): string {
  // Comments first, then the commas they may have stood between: `{"a": 1, // x\n}`.
  return outsideStrings(
    outsideStrings(text, (t, i) => {
      if (t[i] === "/" && t[i + 1] === "/") {
        const end = t.indexOf("\n", i);
        return [end < 0 ? t.length : end, ""];
      }
      if (t[i] === "/" && t[i + 1] === "*") {
        const end = t.indexOf("*/", i + 2);
        return [end < 0 ? t.length : end + 2, " "];
      }
      return undefined;
    }),
    (t, i) => t[i] === "," && /^\s*[}\]]/.test(t.slice(i + 1, i + 1000)) ? [i + 1, ""] : undefined,
  );
}

/**
 * Copies `text`, letting `rule` replace what starts at an index outside a JSON string:
 * it returns where to go on and what to write, or undefined to copy the character.
 */
function outsideStrings(
  text: string,
  rule: (text: string, i: number) => [next: number, write: string] | undefined,
): string {
  let out = "";
  for (let i = 0; i < text.length;) {
    if (text[i] === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end;
      continue;
    }
    const replaced = rule(text, i);
    if (replaced) {
      out += replaced[1];
      i = replaced[0];
    } else out += text[i++];
  }
  return out;
}

/** The index just past the JSON string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}
