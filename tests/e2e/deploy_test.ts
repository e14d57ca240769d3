/**
 * examples/deploy.ts as Deno Deploy runs it: `deno serve --unstable-kv` with the
 * configuration in PERSONAL_MCP_* variables and the state in Deno KV; the whole OAuth
 * flow and a tool call, then a restart on the same KV keeps the grant.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  callHelloAt,
  DENO_BIN,
  freePort,
  obtainTokens,
  PASSWORD,
  ROOT,
  spawnChild,
} from "../fixtures.ts";

Deno.test("examples/deploy.ts under deno serve --unstable-kv: OAuth flow, tool call, restart", async (t) => {
  // DENO_DIR holds the default KV database (openKvStore() with no path, as on Deploy).
  const denoDir = await mkdtemp(join(tmpdir(), "pmcp-deploy-"));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const serve = () =>
    spawnChild(DENO_BIN, [
      "serve",
      "-A",
      "--unstable-kv",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "examples/deploy.ts",
    ], {
      cwd: ROOT,
      env: {
        DENO_DIR: denoDir,
        PERSONAL_MCP_BASE_URL: baseUrl,
        PERSONAL_MCP_PASSWORD: PASSWORD,
      },
    });
  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`${baseUrl}/.well-known/oauth-authorization-server`);
        await res.body?.cancel();
        if (res.ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error("deno serve did not become ready");
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let server = serve();
  try {
    await ready();
    let accessToken = "";
    await t.step("the OAuth flow and a tool call", async () => {
      ({ accessToken } = await obtainTokens(baseUrl, "deploy test"));
      const answer = await callHelloAt(`${baseUrl}/mcp`, accessToken, "Deploy");
      assert.equal(answer.status, 200);
      assert.equal(answer.text, "Hello, Deploy!");
    });
    await t.step("a new isolate on the same KV keeps the grant", async () => {
      await server.stop();
      server = serve();
      await ready();
      const answer = await callHelloAt(`${baseUrl}/mcp`, accessToken, "again");
      assert.equal(answer.status, 200, server.output());
    });
  } finally {
    await server.stop();
    await rm(denoDir, { recursive: true, force: true });
  }
});
