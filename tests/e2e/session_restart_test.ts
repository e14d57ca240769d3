/**
 * Claude Code keeps the `Mcp-Session-Id` it was given and does not initialize again
 * after a 404, so a restarted server must answer the old id: against real server
 * processes under Deno and Bun, a session opened before a restart on the same state
 * folder still gets its tool calls answered afterwards (statelessly, with the token).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  initializeRequest,
  mcpPostAt,
  obtainTokens,
  PASSWORD,
  rpcMessage,
  RUNTIMES,
  type ServerProcess,
  startServer,
} from "../fixtures.ts";

const HELLO = (id: number) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "hello", arguments: { name: "Claude Code" } },
});

for (const runtime of RUNTIMES) {
  Deno.test(`a tool call with a session id from before a restart answers 200 under ${runtime}`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-restart-${runtime}-`));
    let server: ServerProcess | undefined;
    try {
      server = await startServer({ runtime, stateDir, password: PASSWORD });
      const mcpUrl = `${server.baseUrl}/mcp`;
      const { accessToken } = await obtainTokens(server.baseUrl, "Claude Code");
      let sessionId!: string;

      await t.step("initialize opens a session and a call in it works", async () => {
        const init = await mcpPostAt(mcpUrl, accessToken, initializeRequest("claude-code"));
        assert.equal(init.status, 200);
        sessionId = init.headers.get("mcp-session-id")!;
        assert.ok(sessionId);
        await init.body?.cancel();
        const call = await mcpPostAt(mcpUrl, accessToken, HELLO(2), sessionId);
        assert.equal(call.status, 200);
        await call.body?.cancel();
      });

      await t.step("after a restart the same session id still gets the tool answered", async () => {
        const port = server!.port;
        await server!.stop();
        server = await startServer({ runtime, stateDir, password: PASSWORD, port });
        const call = await mcpPostAt(mcpUrl, accessToken, HELLO(3), sessionId);
        assert.equal(call.status, 200);
        const message = await rpcMessage(call);
        assert.deepEqual((message.result as { content: unknown[] }).content, [{
          type: "text",
          text: "Hello, Claude Code!",
        }]);
      });

      await t.step(
        "tools/list with the old id works too, and a bad token is still 401",
        async () => {
          const list = await mcpPostAt(
            mcpUrl,
            accessToken,
            { jsonrpc: "2.0", id: 4, method: "tools/list" },
            sessionId,
          );
          assert.equal(list.status, 200);
          assert.ok((await rpcMessage(list)).result);
          const stranger = await mcpPostAt(mcpUrl, "A".repeat(43), HELLO(5), sessionId);
          assert.equal(stranger.status, 401);
          await stranger.body?.cancel();
        },
      );
    } finally {
      await server?.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
