/**
 * mcp-remote (what Claude Desktop runs for a remote server) against a real server
 * process, under Deno and under Bun: `mcp-remote-client` discovers, registers with DCR,
 * prints the authorization URL; the owner approves, and the browser's redirect reaches
 * mcp-remote's own loopback callback, which exchanges the code, lists the tools and
 * exits 0.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  NODE_BIN,
  PASSWORD,
  ROOT,
  RUNTIMES,
  spawnChild,
  submitConsent,
  withServer,
} from "../fixtures.ts";

const MCP_REMOTE_CLIENT = `${ROOT}node_modules/.bin/mcp-remote-client`;
const WAIT_MS = 60_000;

for (const runtime of RUNTIMES) {
  Deno.test(`mcp-remote signs in through its own callback and lists hello under ${runtime}`, async (t) => {
    await withServer(runtime, async (server) => {
      const configDir = await mkdtemp(join(tmpdir(), "mcp-remote-"));
      const callbackPort = await freePort();
      const run = () =>
        spawnChild(
          NODE_BIN,
          [MCP_REMOTE_CLIENT, `${server.baseUrl}/mcp`, String(callbackPort), "--host", "127.0.0.1"],
          {
            env: {
              MCP_REMOTE_CONFIG_DIR: configDir,
              // Its "open the browser" step must not start a real browser here.
              BROWSER: "true",
              DISPLAY: "",
            },
          },
        );
      const cli = run();
      let again: ReturnType<typeof run> | undefined;
      try {
        let authorize!: URL;
        await t.step("it prints an authorization URL for this server", async () => {
          const [, url] = await cli.waitFor(
            /Please authorize this client by visiting:\s+(\S+)/,
            WAIT_MS,
          );
          authorize = new URL(url!);
          assert.equal(authorize.origin + authorize.pathname, `${server.baseUrl}/authorize`);
          assert.equal(
            authorize.searchParams.get("redirect_uri"),
            `http://127.0.0.1:${callbackPort}/oauth/callback`,
          );
          assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
        });

        await t.step(
          "the owner approves and the redirect reaches mcp-remote's callback",
          async () => {
            const consent = await submitConsent(authorize, PASSWORD);
            // A loopback callback: the answer is the page that navigates on to it.
            assert.equal(consent.status, 200, consent.body);
            assert.ok(consent.location, consent.body);
            const landing = new URL(consent.location!);
            assert.equal(landing.origin, `http://127.0.0.1:${callbackPort}`);
            assert.ok(landing.searchParams.get("code"));
            assert.equal(landing.searchParams.get("state"), authorize.searchParams.get("state"));
            assert.equal(landing.searchParams.get("iss"), server.baseUrl);
            // The browser goes on to mcp-remote's own callback server.
            const res = await fetch(landing, { signal: AbortSignal.timeout(WAIT_MS) });
            assert.equal(res.status, 200);
            assert.match(await res.text(), /Authorization successful/);
          },
        );

        await t.step("it exchanges the code, lists tools including hello and exits 0", async () => {
          const code = await cli.exit(WAIT_MS);
          const output = cli.output();
          assert.equal(code, 0, output);
          assert.match(output, /Connected successfully!/);
          const tools = output.slice(output.indexOf("Tools:"));
          assert.ok(output.includes("Tools:"), output);
          assert.match(tools, /"name": "hello"/);
        });

        await t.step("a second run reuses the stored tokens without asking again", async () => {
          again = run();
          const code = await again.exit(WAIT_MS);
          const output = again.output();
          assert.equal(code, 0, output);
          assert.doesNotMatch(output, /Please authorize this client/);
          assert.match(output.slice(output.indexOf("Tools:")), /"name": "hello"/);
        });
      } finally {
        await again?.stop();
        await cli.stop();
        await rm(configDir, { recursive: true, force: true });
      }
    });
  });
}
