/**
 * The README's tables say what the code does: every option of PersonalMcpOptions and
 * ServeOptions has a row in "Options", every command-line flag a row in "Command line",
 * and no row names something the code does not have.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT } from "../fixtures.ts";

const readme = readFileSync(`${ROOT}README.md`, "utf8");

/** The member names of an exported interface, read from its source. */
function interfaceMembers(path: string, name: string): string[] {
  const source = readFileSync(`${ROOT}${path}`, "utf8");
  const start = source.indexOf(`export interface ${name} `);
  assert.ok(start >= 0, `${name} in ${path}`);
  const body = source.slice(source.indexOf("{", start) + 1);
  const members: string[] = [];
  let depth = 0;
  for (const line of body.split("\n")) {
    if (depth === 0) {
      const m = /^ {2}(?:readonly )?([A-Za-z]\w*)\??[:(]/.exec(line);
      if (m) members.push(m[1]!);
      if (/^\}/.test(line)) break;
    }
    depth += (line.match(/[{(]/g) ?? []).length - (line.match(/[})]/g) ?? []).length;
    if (depth < 0) break;
  }
  return members;
}

/** The backticked names in the first column of a README section's table. */
function tableNames(section: string): string[] {
  const start = readme.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README section ${section}`);
  const end = readme.indexOf("\n## ", start + 1);
  const names: string[] = [];
  for (const line of readme.slice(start, end).split("\n")) {
    if (!line.startsWith("| ") || line.startsWith("| ---")) continue;
    const first = line.split("|")[1]!;
    for (const m of first.matchAll(/`([^`]+)`/g)) names.push(m[1]!);
  }
  return names;
}

Deno.test("the README's options table lists exactly the options", () => {
  const options = interfaceMembers("server/options.ts", "PersonalMcpOptions");
  const serve = interfaceMembers("runtime/serve.ts", "ServeOptions");
  const code = new Set([...options, ...serve]);
  const documented = new Set(tableNames("Options"));
  assert.ok(options.length > 10 && serve.length > 3, "the interfaces were read");
  assert.deepEqual([...code].filter((o) => !documented.has(o)).sort(), [], "undocumented");
  assert.deepEqual([...documented].filter((o) => !code.has(o)).sort(), [], "not in the code");
});

Deno.test("the README's command-line table lists exactly the flags", () => {
  const source = readFileSync(`${ROOT}runtime/cli.ts`, "utf8");
  const block = source.slice(source.indexOf("const FLAGS = {"), source.indexOf("} as const;"));
  const flags = [...block.matchAll(/^ {2}"?([a-z][a-z-]*)"?: \{ type:/gm)].map((m) => `--${m[1]}`);
  assert.ok(flags.length > 5, "the flags were read");
  const documented = tableNames("Command line").filter((n) => n.startsWith("--"));
  assert.deepEqual([...new Set(flags)].sort(), [...new Set(documented)].sort());
});
