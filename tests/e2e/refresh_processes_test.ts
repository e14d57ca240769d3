/**
 * Codex and Claude Code keep a copy of the refresh token in each process. Against real
 * server processes under Deno and Bun (grace shortened to 1 s so that it can pass): one
 * process rotates, the other presents the previous token after the grace and still gets
 * an access token, the live token keeps rotating, and a copy two generations back
 * still revokes the grant.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  callHelloAt,
  obtainTokens,
  PASSWORD,
  ROOT,
  RUNTIMES,
  type ServerProcess,
  startServer,
  tokenRequest,
} from "../fixtures.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server script: the CLI with the hello tool, a 1 s grace and a one-hour reuse window. */
function serverScript(): string {
  return `import { runCli, tool } from ${JSON.stringify(new URL("mod.ts", `file://${ROOT}`).href)};
await runCli({
  hello: tool({
    description: "Say hello",
    input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
    run: ({ name }) => \`Hello, \${name}!\`,
  }),
}, undefined, { refreshGraceSeconds: 1, refreshReuseWindowSeconds: 3600 });
`;
}

for (const runtime of RUNTIMES) {
  Deno.test(`the previous refresh token presented by a second process after the grace still works under ${runtime}`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-refresh-${runtime}-`));
    let server: ServerProcess | undefined;
    try {
      const script = join(stateDir, "server.ts");
      await writeFile(script, serverScript());
      server = await startServer({
        runtime,
        stateDir: join(stateDir, "state"),
        script,
        password: PASSWORD,
      });
      const { baseUrl } = server;
      const mcpUrl = `${baseUrl}/mcp`;
      const { refreshToken: shared, clientId } = await obtainTokens(baseUrl, "Codex");
      const refresh = (token: string) =>
        tokenRequest(baseUrl, {
          grant_type: "refresh_token",
          refresh_token: token,
          client_id: clientId,
        });

      let liveRefresh!: string;
      await t.step("process A rotates the shared refresh token", async () => {
        const a = await refresh(shared);
        assert.equal(a.status, 200, JSON.stringify(a.body));
        liveRefresh = a.body.refresh_token as string;
        assert.equal((await callHelloAt(mcpUrl, a.body.access_token as string, "A")).status, 200);
      });

      await sleep(1500);
      await t.step(
        "process B presents its copy after the grace and gets an access token",
        async () => {
          const b = await refresh(shared);
          assert.equal(b.status, 200, JSON.stringify(b.body));
          assert.equal(b.body.refresh_token, undefined, "no new refresh token: B keeps its own");
          const hello = await callHelloAt(mcpUrl, b.body.access_token as string, "B");
          assert.equal(hello.text, "Hello, B!");
        },
      );

      let latest!: string;
      await t.step("the live token still rotates and its access token works", async () => {
        const next = await refresh(liveRefresh);
        assert.equal(next.status, 200, JSON.stringify(next.body));
        latest = next.body.access_token as string;
        assert.equal((await callHelloAt(mcpUrl, latest, "A")).text, "Hello, A!");
      });

      await t.step("the copy is now two generations back: reuse revokes the grant", async () => {
        const late = await refresh(shared);
        assert.equal(late.status, 400);
        assert.equal(late.body.error, "invalid_grant");
        assert.equal((await callHelloAt(mcpUrl, latest, "A")).status, 401);
      });
    } finally {
      await server?.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
