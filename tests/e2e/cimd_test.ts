/**
 * Client ID Metadata Documents end to end: the official SDK client identifies itself
 * with a metadata-document URL instead of registering, served over https from a real
 * local server (the MCP server runs with --insecure-client-metadata, which admits
 * loopback document hosts, and trusts the test CA as a deployment would trust a real one).
 */
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  makeLocalTls,
  startServer,
  submitConsent,
  TestOAuthProvider,
} from "../fixtures.ts";

const PASSWORD = "owner-password-for-cimd";

/** Serves the document over https with a certificate from a throwaway local CA. */
async function serveDocument(
  port: number,
  tls: { cert: string; key: string },
  doc: () => unknown,
): Promise<Server> {
  const server = createServer(tls, (req, res) => {
    if (req.url === "/client.json") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" });
      res.end(JSON.stringify(doc()));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`a client identified by a metadata document connects under ${runtime}`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-cimd-${runtime}-`));
    const docPort = await freePort();
    const clientId = `https://127.0.0.1:${docPort}/client.json`;
    const tls = await makeLocalTls(stateDir);
    const redirect = "http://127.0.0.1:53999/callback";
    const docServer = await serveDocument(docPort, tls, () => ({
      client_id: clientId,
      client_name: "Metadata Document Client",
      redirect_uris: [redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }));
    const server = await startServer({
      runtime,
      stateDir,
      password: PASSWORD,
      extraArgs: ["--insecure-client-metadata"],
      // Deno reads extra roots from DENO_CERT, Bun (like Node) from NODE_EXTRA_CA_CERTS.
      env: { DENO_CERT: tls.caPath, NODE_EXTRA_CA_CERTS: tls.caPath },
    });
    try {
      await t.step("the server advertises metadata-document support", async () => {
        const meta = await (await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`))
          .json();
        assert.equal(meta.client_id_metadata_document_supported, true);
      });

      await t.step(
        "the SDK client uses the document URL as client_id, with no registration",
        async () => {
          const provider = new TestOAuthProvider(PASSWORD, {
            client_name: "Metadata Document Client",
            redirect_uris: [redirect],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          }, { clientMetadataUrl: clientId });
          const mcpUrl = new URL(`${server.baseUrl}/mcp`);
          const first = new Client({ name: "cimd-test", version: "1.0.0" });
          await assert.rejects(
            first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })),
            UnauthorizedError,
          );
          assert.equal(provider.clientInfo?.client_id, clientId);
          await new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }).finishAuth(
            provider.lastRedirect!.searchParams,
          );
          const client = new Client({ name: "cimd-test", version: "1.0.0" });
          await client.connect(
            new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }),
          );
          const result = await client.callTool({ name: "hello", arguments: { name: "CIMD" } });
          assert.deepEqual(result.content, [{ type: "text", text: "Hello, CIMD!" }]);
          await client.close();
        },
      );

      await t.step("the consent page names the host that publishes the document", async () => {
        const url = new URL(`${server.baseUrl}/authorize`);
        url.search = new URLSearchParams({
          response_type: "code",
          client_id: clientId,
          redirect_uri: redirect,
          code_challenge: "a".repeat(43),
          code_challenge_method: "S256",
        }).toString();
        const html = await (await fetch(url)).text();
        assert.match(html, /Published by<\/dt><dd>127\.0\.0\.1:\d+<\/dd>/);
        assert.match(html, /Metadata Document Client/);
      });

      await t.step(
        "a redirect the document does not list gets an error page, not a redirect",
        async () => {
          const url = new URL(`${server.baseUrl}/authorize`);
          url.search = new URLSearchParams({
            response_type: "code",
            client_id: clientId,
            redirect_uri: "https://claude.ai/api/mcp/auth_callback",
            code_challenge: "a".repeat(43),
            code_challenge_method: "S256",
          }).toString();
          const result = await submitConsent(url, PASSWORD);
          assert.equal(result.status, 400);
          assert.equal(result.location, undefined);
        },
      );
    } finally {
      await server.stop();
      await new Promise((resolve) => docServer.close(resolve));
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
