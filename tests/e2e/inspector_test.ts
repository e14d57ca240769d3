/**
 * The MCP Inspector CLI (1.x) against a real server process, under Deno and under Bun,
 * with a bearer token obtained through the HTTP flow (DCR, PKCE, owner consent, code
 * exchange): it lists `hello` and calls it.
 */
import assert from "node:assert/strict";
import { obtainTokens, ROOT, RUNTIMES, spawnChild, withServer } from "../fixtures.ts";

/**
 * The CLI as the README gives it: its bin with `--cli`, run from a subfolder of the
 * clone, because 1.0.3 looks for its own package.json one level above the working folder
 * (`Cannot find module .../@modelcontextprotocol/package.json` from the root).
 */
const INSPECTOR_CLI = `${ROOT}node_modules/.bin/mcp-inspector-cli`;
const INSPECTOR_CWD = `${ROOT}tests`;
const WAIT_MS = 30_000;

async function inspector(mcpUrl: string, args: string[], token?: string) {
  const headers = token ? ["--header", `Authorization: Bearer ${token}`] : [];
  // Its bin runs the client in a second node process: stop() reaches both.
  const cli = spawnChild(
    INSPECTOR_CLI,
    ["--cli", mcpUrl, "--transport", "http", ...args, ...headers],
    { cwd: INSPECTOR_CWD, group: true },
  );
  try {
    const code = await cli.exit(WAIT_MS);
    return { code, output: cli.output() };
  } finally {
    await cli.stop();
  }
}

for (const runtime of RUNTIMES) {
  Deno.test(`the MCP Inspector CLI lists and calls hello with a bearer token under ${runtime}`, async (t) => {
    await withServer(runtime, async (server) => {
      const mcpUrl = `${server.baseUrl}/mcp`;
      const { accessToken } = await obtainTokens(server.baseUrl, "MCP Inspector");

      await t.step("tools/list shows hello", async () => {
        const { code, output } = await inspector(mcpUrl, ["--method", "tools/list"], accessToken);
        assert.equal(code, 0, output);
        const listed = JSON.parse(output.slice(output.indexOf("{")));
        assert.deepEqual(listed.tools.map((x: { name: string }) => x.name), ["hello"]);
      });

      await t.step("tools/call hello name=Inspector returns the greeting", async () => {
        const { code, output } = await inspector(mcpUrl, [
          "--method",
          "tools/call",
          "--tool-name",
          "hello",
          "--tool-arg",
          "name=Inspector",
        ], accessToken);
        assert.equal(code, 0, output);
        const result = JSON.parse(output.slice(output.indexOf("{")));
        assert.deepEqual(result.content, [{ type: "text", text: "Hello, Inspector!" }]);
      });

      await t.step("without a token the Inspector is refused", async () => {
        const { code, output } = await inspector(mcpUrl, ["--method", "tools/list"]);
        assert.notEqual(code, 0, output);
        assert.match(output, /invalid_token|401|Unauthorized/i);
      });
    });
  });
}
