/**
 * `mod.ts --tools ./tools.ts` (and PERSONAL_MCP_TOOLS) serves the tools a module
 * exports by default: the whole set-up for someone who writes only tools. A module
 * that cannot be loaded, or exports no tools, stops the start with a clear message.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  callHelloAt,
  obtainTokens,
  PASSWORD,
  ROOT,
  runMod,
  RUNTIMES,
  startServer,
} from "../fixtures.ts";

/** A tools module as a person writes it, in a folder of its own. */
const TOOLS_MODULE = `import { tool } from ${JSON.stringify(`${ROOT}mod.ts`)};
export default {
  hello: tool({
    description: "Greets like a cowboy",
    input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
    run: ({ name }) => \`Howdy, \${name}!\`,
  }),
};
`;

for (const runtime of RUNTIMES) {
  Deno.test(`--tools serves a module's default export, under ${runtime}`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-tools-"));
    try {
      const module = join(dir, "tools.ts");
      await writeFile(module, TOOLS_MODULE);
      const ways: [string, { extraArgs?: string[]; env?: Record<string, string> }][] = [
        ["the flag", { extraArgs: ["--tools", module] }],
        ["PERSONAL_MCP_TOOLS", { env: { PERSONAL_MCP_TOOLS: module } }],
      ];
      for (const [how, extra] of ways) {
        await t.step(how, async () => {
          const server = await startServer({
            runtime,
            stateDir: join(dir, `state-${how.length}`),
            password: PASSWORD,
            ...extra,
          });
          try {
            const { accessToken } = await obtainTokens(server.baseUrl);
            const answer = await callHelloAt(`${server.baseUrl}/mcp`, accessToken, "Ada");
            assert.equal(answer.status, 200);
            assert.equal(answer.text, "Howdy, Ada!", "the module's tool, not the demo's");
          } finally {
            await server.stop();
          }
        });
      }

      const run = (args: string[]) => runMod(runtime, args);
      await t.step("a module that does not exist: exit 2, and why", () => {
        const r = run(["--tools", join(dir, "missing.ts"), "--port", "0"]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /--tools .*missing\.ts: the module could not be loaded/);
      });
      await t.step("a module whose default export is not tools: exit 2, and why", async () => {
        const bad = join(dir, "bad.ts");
        await writeFile(bad, "export default { hello: () => 'not made with tool()' };\n");
        const r = run(["--tools", bad, "--port", "0"]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(
          r.stderr,
          /its default export is not a tools object: tools\.hello must be made with tool\(\)/,
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
