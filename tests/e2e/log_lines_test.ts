/**
 * The owner's journal: what a real server process prints for a stranger's request
 * carrying line breaks and terminal escapes is one quoted, escaped line, on Deno and Bun.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLAUDE_REDIRECT, obtainTokens, PASSWORD, RUNTIMES, startServer } from "../fixtures.ts";

const FORGED = "\n\x1b[2K\rwrong owner password from 127.0.0.1";

for (const runtime of RUNTIMES) {
  Deno.test(`${runtime}: request data cannot forge lines in the server's output`, async () => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-log-${runtime}-`));
    const server = await startServer({ runtime, stateDir, password: PASSWORD });
    try {
      const url = new URL(`${server.baseUrl}/authorize`);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: `https://evil.example/x${FORGED}`,
        redirect_uri: CLAUDE_REDIRECT,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
      }).toString();
      const page = await fetch(url);
      assert.equal(page.status, 400);
      await page.body?.cancel();
      // A header the MCP SDK quotes in the error it reports.
      const { accessToken } = await obtainTokens(server.baseUrl);
      const mcp = await fetch(`${server.baseUrl}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${accessToken}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "1999-01-01\x1b[2K wrong owner password from 127.0.0.1",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      }).catch(() => undefined);
      await mcp?.body?.cancel();
      const deadline = Date.now() + 10_000;
      while (!/evil\.example/.test(server.output()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const out = server.output();
      assert.match(out, /evil\.example/, out);
      assert.ok(!out.includes("\x1b"), "no terminal escape reaches the output");
      assert.doesNotMatch(out, /^\s*wrong owner password/m, `a forged line:\n${out}`);
    } finally {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
