/**
 * Claude connects even when claude.ai's metadata documents cannot be fetched, against
 * real server processes under Deno and Bun. The server's network is unreachable as in
 * CI (names do not resolve; where they do, every https fetch goes through a proxy on a
 * loopback port that refuses connections), so the built-in copies must carry the
 * Claude.ai connector's exact flow and Claude Code's. A local document host answering
 * a challenge page falls back to the stored copy; one answering 404 is refused; an
 * unknown metadata URL with no copy gets a page naming the host and the failure; and
 * `--no-client-metadata-documents` (or its variable) makes every client register.
 */
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  approveAndGetCode,
  authorizeUrlAt,
  callHelloAt,
  CLAUDE_REDIRECT,
  freePort,
  pkcePair,
  RUNTIMES,
  type ServerProcess,
  startServer,
  TestOAuthProvider,
  tokenRequest,
} from "../fixtures.ts";

const PASSWORD = "owner-password-for-offline";
const CONNECTOR = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const CLAUDE_CODE = "https://claude.ai/oauth/claude-code-client-metadata";

/** The SDK client's whole flow: 401, discovery, consent (as the owner), code, token. */
async function connect(mcpUrl: string, provider: TestOAuthProvider): Promise<Client> {
  const first = new Client({ name: "offline-test", version: "1.0.0" });
  await assert.rejects(
    first.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })),
    UnauthorizedError,
  );
  // The whole callback query, so the SDK checks RFC 9207 `iss` as a real client does.
  await new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })
    .finishAuth(provider.lastRedirect!.searchParams);
  const client = new Client({ name: "offline-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
  );
  return client;
}

/** A public client's refresh, as Claude sends it (client_id, no secret). */
async function refreshAt(baseUrl: string, clientId: string, refreshToken: string) {
  return await tokenRequest(baseUrl, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: clientId,
  });
}

async function pageAt(url: URL): Promise<{ status: number; html: string }> {
  const res = await fetch(url, { redirect: "manual" });
  assert.equal(res.headers.get("location"), null, "a page, never a redirect");
  return { status: res.status, html: await res.text() };
}

async function authorizePage(server: ServerProcess, clientId: string, redirectUri: string) {
  return await pageAt(authorizeUrlAt(server.baseUrl, {
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: (await pkcePair()).challenge,
    code_challenge_method: "S256",
  }));
}

/** Consent as the owner and a code exchange, as a raw public client. */
async function codeAndTokens(server: ServerProcess, clientId: string, redirectUri: string) {
  const { verifier, challenge } = await pkcePair();
  const { code, location } = await approveAndGetCode(
    authorizeUrlAt(server.baseUrl, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "s",
      resource: `${server.baseUrl}/mcp`,
    }),
    PASSWORD,
  );
  assert.equal(location.searchParams.get("iss"), server.baseUrl);
  const answer = await tokenRequest(server.baseUrl, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    client_id: clientId,
    resource: `${server.baseUrl}/mcp`,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body as { access_token: string; refresh_token: string };
}

async function withStateDir<T>(runtime: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `pmcp-offline-${runtime}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const runtime of RUNTIMES) {
  Deno.test(`Claude's connector and Claude Code connect with claude.ai unreachable under ${runtime}`, async (t) => {
    const refusing = `http://127.0.0.1:${await freePort()}`;
    await withStateDir(runtime, async (stateDir) => {
      const server = await startServer({
        runtime,
        stateDir,
        password: PASSWORD,
        env: {
          HTTPS_PROXY: refusing,
          https_proxy: refusing,
          HTTP_PROXY: refusing,
          http_proxy: refusing,
          NO_PROXY: "",
          no_proxy: "",
        },
      });
      const mcpUrl = `${server.baseUrl}/mcp`;
      try {
        await t.step(
          "the Claude.ai connector: metadata URL, callback, consent, code with iss, token, tools/call, refresh",
          async () => {
            const provider = new TestOAuthProvider(PASSWORD, {
              client_name: "Claude",
              redirect_uris: [CLAUDE_REDIRECT],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "none",
            }, { clientMetadataUrl: CONNECTOR });
            const client = await connect(mcpUrl, provider);
            await client.close();
            assert.equal(provider.clientInfo?.client_id, CONNECTOR, "no registration");
            const landed = provider.lastRedirect!;
            assert.equal(landed.origin + landed.pathname, CLAUDE_REDIRECT);
            assert.equal(landed.searchParams.get("iss"), server.baseUrl);
            const tokens = provider.savedTokens!;
            const call = await callHelloAt(mcpUrl, tokens.access_token, "Claude");
            assert.equal(call.status, 200);
            assert.equal(call.text, "Hello, Claude!");
            const refreshed = await refreshAt(server.baseUrl, CONNECTOR, tokens.refresh_token!);
            assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
            assert.notEqual(refreshed.body.refresh_token, tokens.refresh_token);
            const again = await callHelloAt(
              mcpUrl,
              refreshed.body.access_token as string,
              "Claude",
            );
            assert.equal(again.text, "Hello, Claude!");
          },
        );

        await t.step(
          "the consent page says claude.ai could not be reached and the built-in copy is used",
          async () => {
            const { status, html } = await authorizePage(server, CONNECTOR, CLAUDE_REDIRECT);
            assert.equal(status, 200);
            assert.match(
              html,
              /<h1>Allow <bdi>Claude<\/bdi> from claude\.ai to use personal-mcp\?<\/h1>/,
            );
            assert.match(html, /Published by<\/dt><dd>claude\.ai<\/dd>/);
            assert.match(html, /claude\.ai could not be reached; using the built-in copy/);
            assert.match(server.output(), /transport failure: .*; using the built-in copy/);
          },
        );

        await t.step(
          "Claude Code: its metadata URL and http://localhost:<any port>/callback",
          async () => {
            const redirect = `http://localhost:${await freePort()}/callback`;
            const provider = new TestOAuthProvider(PASSWORD, {
              client_name: "Claude Code",
              redirect_uris: [redirect],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "none",
            }, { clientMetadataUrl: CLAUDE_CODE });
            const client = await connect(mcpUrl, provider);
            const result = await client.callTool({ name: "hello", arguments: { name: "Code" } });
            assert.deepEqual(result.content, [{ type: "text", text: "Hello, Code!" }]);
            await client.close();
            assert.equal(provider.clientInfo?.client_id, CLAUDE_CODE);
            assert.equal(provider.lastRedirect!.origin + provider.lastRedirect!.pathname, redirect);
            const tokens = provider.savedTokens!;
            const refreshed = await refreshAt(server.baseUrl, CLAUDE_CODE, tokens.refresh_token!);
            assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
          },
        );

        await t.step(
          "an unknown metadata URL is refused with a page naming the host and the failure",
          async () => {
            const { status, html } = await authorizePage(
              server,
              "https://unknown-client.example/oauth/client.json",
              CLAUDE_REDIRECT,
            );
            assert.equal(status, 503, "temporary: try again");
            assert.match(html, /<h1>Could not reach unknown-client\.example<\/h1>/);
            assert.match(
              html,
              /could not be fetched from unknown-client\.example: (the name did not resolve|could not connect)/,
            );
            assert.doesNotMatch(html, /not registered/);
          },
        );
      } finally {
        await server.stop();
      }
    });
  });

  Deno.test(`a document host answering a challenge falls back to the stored copy, a 404 is refused, under ${runtime}`, async (t) => {
    const doc = { answer: (_req: IncomingMessage, _res: ServerResponse) => {} };
    const host = createServer((req, res) => doc.answer(req, res));
    await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
    const hostPort = (host.address() as AddressInfo).port;
    const clientId = `http://127.0.0.1:${hostPort}/client.json`;
    const redirect = "http://127.0.0.1:53999/callback";
    const document = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({
        client_id: clientId,
        client_name: "Local Document Client",
        redirect_uris: [redirect],
        token_endpoint_auth_method: "none",
      }));
    };
    const challenge = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(403, {
        "content-type": "text/html",
        "cf-mitigated": "challenge",
        "cf-ray": "8f00aa11bb22cc33-FRA",
      });
      res.end("<!DOCTYPE html><title>Just a moment...</title>");
    };
    await withStateDir(runtime, async (stateDir) => {
      const start = () =>
        startServer({
          runtime,
          stateDir,
          password: PASSWORD,
          extraArgs: ["--insecure-client-metadata"],
        });
      let server = await start();
      try {
        let tokens!: { access_token: string; refresh_token: string };
        await t.step("connected once while the host serves the document", async () => {
          doc.answer = document;
          tokens = await codeAndTokens(server, clientId, redirect);
        });

        await t.step(
          "behind a challenge: the stored copy, said on the page and in the log",
          async () => {
            doc.answer = challenge;
            const { status, html } = await authorizePage(server, clientId, redirect);
            assert.equal(status, 200);
            assert.ok(
              html.includes(`127.0.0.1:${hostPort} could not be reached; using the copy from `),
              html,
            );
            const fresh = await codeAndTokens(server, clientId, redirect);
            assert.equal(
              (await callHelloAt(`${server.baseUrl}/mcp`, fresh.access_token, "x")).status,
              200,
            );
            const refreshed = await refreshAt(server.baseUrl, clientId, tokens.refresh_token);
            assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
            tokens = refreshed.body as typeof tokens;
            assert.match(
              server.output(),
              // The activity log quotes the line, so its own quotes arrive escaped.
              /transport failure: .*cf-mitigated=\\"challenge\\" cf-ray=\\"8f00aa11bb22cc33-FRA\\"; using the stored copy fetched/,
            );
          },
        );

        await t.step("a 404 is final: refused with a page naming the host", async () => {
          // A failure is remembered for a minute (the negative cache, in memory); a
          // restart stands for that minute passing, and the stored copy survives it.
          await server.stop();
          server = await start();
          doc.answer = (_req, res) => res.writeHead(404).end();
          const { status, html } = await authorizePage(server, clientId, redirect);
          assert.equal(status, 400);
          assert.ok(html.includes(`127.0.0.1:${hostPort}`) && /answered 404/.test(html), html);
          assert.doesNotMatch(html, /not registered/);
          const refused = await refreshAt(server.baseUrl, clientId, tokens.refresh_token);
          assert.equal(refused.status, 401);
          assert.equal(refused.body.error, "invalid_client");
          assert.match(server.output(), /final failure: answered 404; client refused/);
        });
      } finally {
        await server.stop();
        await new Promise((resolve) => {
          host.close(resolve);
          host.closeAllConnections();
        });
      }
    });
  });

  Deno.test(`the off switch makes Claude register instead, under ${runtime}`, async (t) => {
    await withStateDir(runtime, async (stateDir) => {
      // The flag under Deno, the environment variable under Bun: both reach the server.
      const server = await startServer(
        runtime === "deno"
          ? { runtime, stateDir, password: PASSWORD, extraArgs: ["--no-client-metadata-documents"] }
          : {
            runtime,
            stateDir,
            password: PASSWORD,
            env: { PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS: "1" },
          },
      );
      try {
        await t.step("metadata documents are no longer advertised", async () => {
          const meta =
            await (await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`))
              .json();
          assert.equal(meta.client_id_metadata_document_supported, undefined);
        });

        await t.step(
          "the SDK client with Claude's metadata URL registers instead, and connects",
          async () => {
            const provider = new TestOAuthProvider(PASSWORD, {
              client_name: "Claude",
              redirect_uris: [CLAUDE_REDIRECT],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "client_secret_post",
            }, { clientMetadataUrl: CONNECTOR });
            const client = await connect(`${server.baseUrl}/mcp`, provider);
            await client.close();
            assert.ok(provider.clientInfo?.client_id);
            assert.notEqual(provider.clientInfo.client_id, CONNECTOR);
            assert.ok(provider.clientInfo.client_secret, "a registered client");
          },
        );

        await t.step("a URL client_id gets a page that says documents are off", async () => {
          const { status, html } = await authorizePage(server, CONNECTOR, CLAUDE_REDIRECT);
          assert.equal(status, 400);
          assert.match(html, /set not to accept metadata documents/);
        });
      } finally {
        await server.stop();
      }
    });
  });
}
