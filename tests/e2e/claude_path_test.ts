/**
 * The whole Claude.ai path against a real server process, under Deno and under Bun:
 * the official SDK client discovers, registers (client_secret_post, Claude's
 * redirect), gets consent with the owner password, exchanges the code with PKCE and
 * calls `hello` without a session; then refresh rotation, revocation, and a restart
 * on the same state folder.
 */
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callHelloAt, CLAUDE_REDIRECT, startServer, TestOAuthProvider } from "../fixtures.ts";

const PASSWORD = "owner-password-for-tests";

async function connectWithOAuth(mcpUrl: string, provider: TestOAuthProvider): Promise<Client> {
  const client = new Client({ name: "claude-path-test", version: "1.0.0" });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
    );
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  assert.ok(provider.lastCode, "the SDK went through the consent page and got a code");
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  // The whole callback query, so the SDK checks RFC 9207 `iss` as a real client does.
  await transport.finishAuth(provider.lastRedirect!.searchParams);
  const connected = new Client({ name: "claude-path-test", version: "1.0.0" });
  await connected.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
  );
  return connected;
}

async function refresh(baseUrl: string, clientId: string, secret: string, refreshToken: string) {
  const res = await fetch(`${baseUrl}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: clientId,
      client_secret: secret,
    }),
  });
  return {
    status: res.status,
    body: await res.json(),
    cacheControl: res.headers.get("cache-control"),
  };
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await allFiles(p));
    else out.push(p);
  }
  return out;
}

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`the Claude.ai path works end to end under ${runtime}`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-${runtime}-`));
    let server = await startServer({ runtime, stateDir, password: PASSWORD });
    const mcpUrl = `${server.baseUrl}/mcp`;
    const provider = new TestOAuthProvider(PASSWORD, {
      client_name: "Claude",
      redirect_uris: [CLAUDE_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    });
    try {
      let client!: Client;
      await t.step(
        "the SDK client registers, gets consent with the password and connects",
        async () => {
          client = await connectWithOAuth(mcpUrl, provider);
          assert.equal(
            provider.lastRedirect?.origin + provider.lastRedirect!.pathname,
            CLAUDE_REDIRECT,
          );
          assert.equal(provider.lastRedirect?.searchParams.get("iss"), server.baseUrl);
          assert.ok(
            provider.clientInfo?.client_secret,
            "client_secret_post registration returned a secret",
          );
        },
      );

      await t.step("tools/list and tools/call hello work through the SDK", async () => {
        const tools = await client.listTools();
        assert.deepEqual(tools.tools.map((x) => x.name), ["hello"]);
        const result = await client.callTool({ name: "hello", arguments: { name: "Ada" } });
        assert.deepEqual(result.content, [{ type: "text", text: "Hello, Ada!" }]);
        await client.close();
      });

      const tokens = provider.savedTokens!;
      await t.step("a lone tools/call without a session id works", async () => {
        const res = await callHelloAt(mcpUrl, tokens.access_token, "Claude");
        assert.equal(res.status, 200);
        assert.match(res.text ?? "", /Hello, Claude!/);
      });

      let rotated!: { access_token: string; refresh_token: string };
      await t.step("refresh rotates the refresh token and the new access token works", async () => {
        const clientId = provider.clientInfo!.client_id;
        const secret = provider.clientInfo!.client_secret!;
        const first = await refresh(server.baseUrl, clientId, secret, tokens.refresh_token!);
        assert.equal(first.status, 200, JSON.stringify(first.body));
        assert.equal(first.cacheControl, "no-store");
        assert.notEqual(first.body.refresh_token, tokens.refresh_token);
        rotated = first.body;
        const res = await callHelloAt(mcpUrl, rotated.access_token, "Claude");
        assert.equal(res.status, 200);
      });

      await t.step("tokens stay valid after a restart on the same state folder", async () => {
        await server.stop();
        server = await startServer({ runtime, stateDir, password: PASSWORD, port: server.port });
        const res = await callHelloAt(mcpUrl, rotated.access_token, "Claude");
        assert.equal(res.status, 200);
        assert.match(res.text ?? "", /Hello, Claude!/);
      });

      await t.step("revoking the refresh token revokes the grant at once", async () => {
        const res = await fetch(`${server.baseUrl}/revoke`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            token: rotated.refresh_token,
            token_type_hint: "refresh_token",
            client_id: provider.clientInfo!.client_id,
            client_secret: provider.clientInfo!.client_secret!,
          }),
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
        const after = await callHelloAt(mcpUrl, rotated.access_token, "Claude");
        assert.equal(after.status, 401);
        assert.match(after.wwwAuthenticate ?? "", /error="invalid_token"/);
        const again = await refresh(
          server.baseUrl,
          provider.clientInfo!.client_id,
          provider.clientInfo!.client_secret!,
          rotated.refresh_token,
        );
        assert.equal(again.status, 400);
        assert.equal(again.body.error, "invalid_grant");
      });

      await t.step(
        "the state folder holds no token, secret or password, and only the owner can read it",
        async () => {
          await server.stop();
          const secrets = [
            PASSWORD,
            tokens.access_token,
            tokens.refresh_token!,
            rotated.access_token,
            rotated.refresh_token,
            provider.clientInfo!.client_secret!,
            provider.lastCode!,
          ];
          assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
          const files = await allFiles(stateDir);
          assert.ok(files.length > 0);
          for (const file of files) {
            assert.equal((await stat(file)).mode & 0o077, 0, `${file} is readable by others`);
            const content = await readFile(file, "latin1");
            for (const s of secrets) {
              assert.ok(!content.includes(s), `${file} contains a raw secret`);
            }
          }
        },
      );
    } finally {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
