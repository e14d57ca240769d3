/**
 * ChatGPT identifies itself with metadata documents that declare `private_key_jwt`:
 * its stable document (`https://chatgpt.com/oauth/client.json`, which also offers
 * `none`) and per-connector documents (`https://chatgpt.com/oauth/<id>/client.json`,
 * `private_key_jwt` only). Both shapes, their ids rebased onto a loopback host that also
 * serves the key set (the server runs with --insecure-client-metadata), go through
 * consent, the token endpoint and a tool call against real server processes under Deno
 * and Bun; the per-connector shape must sign, once per assertion, with its own key.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { JWT_BEARER_ASSERTION } from "../../auth/clients/assertion.ts";
import { CHATGPT_DOCUMENT } from "../../auth/clients/builtin_documents.ts";
import {
  approveAndGetCode,
  authorizeUrlAt,
  callHelloAt,
  freePort,
  PASSWORD,
  pkcePair,
  RUNTIMES,
  type ServerProcess,
  startServer,
  tokenRequest,
} from "../fixtures.ts";

const CONNECTOR = "tU1UVEq8rRTK";
const STABLE_REDIRECT = "https://chatgpt.com/connector_platform_oauth_redirect";
const CONNECTOR_REDIRECT = `https://chatgpt.com/connector/oauth/${CONNECTOR}`;

const chatgptKey = await generateKeyPair("RS256");
const ecKey = await generateKeyPair("ES256");
const foreignKey = await generateKeyPair("RS256");
const KEY_SET = {
  keys: [
    { ...await exportJWK(chatgptKey.publicKey), kid: "cimd-test-rsa", use: "sig", alg: "RS256" },
    { ...await exportJWK(ecKey.publicKey), kid: "cimd-test-ec", use: "sig", alg: "ES256" },
  ],
};

/** Serves ChatGPT's two document shapes and its key set, rebased onto `base`. */
async function serveChatGpt(
  port: number,
): Promise<{ server: Server; stable: string; connector: string }> {
  const base = `http://127.0.0.1:${port}`;
  // ChatGPT's published stable document, with its ids moved onto the loopback host.
  const stableDoc = JSON.parse(
    JSON.stringify(CHATGPT_DOCUMENT).replaceAll(
      "https://chatgpt.com/oauth/",
      `${base}/oauth/`,
    ),
  );
  // The per-connector shape (Altinity/altinity-mcp#118): private_key_jwt only.
  const connectorDoc = {
    client_id: `${base}/oauth/${CONNECTOR}/client.json`,
    client_uri: "https://chatgpt.com/",
    redirect_uris: [CONNECTOR_REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    client_name: "ChatGPT",
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "RS256",
    jwks_uri: `${base}/oauth/jwks.json`,
  };
  const routes: Record<string, unknown> = {
    "/oauth/client.json": stableDoc,
    [`/oauth/${CONNECTOR}/client.json`]: connectorDoc,
    "/oauth/jwks.json": KEY_SET,
  };
  const server = createServer((req, res) => {
    const body = routes[req.url ?? ""];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { server, stable: stableDoc.client_id, connector: connectorDoc.client_id };
}

/** A client assertion as ChatGPT signs it; `claims` override, `key`/`alg`/`kid` choose the signer. */
async function assertion(
  clientId: string,
  aud: string,
  options: { key?: CryptoKey; alg?: string; kid?: string; jti?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ jti: options.jti ?? crypto.randomUUID() })
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? "cimd-test-rsa" })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(options.key ?? chatgptKey.privateKey);
}

for (const runtime of RUNTIMES) {
  Deno.test(`ChatGPT's two metadata-document shapes connect under ${runtime}`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-chatgpt-${runtime}-`));
    const docs = await serveChatGpt(await freePort());
    let server: ServerProcess | undefined;
    try {
      server = await startServer({
        runtime,
        stateDir,
        password: PASSWORD,
        extraArgs: ["--insecure-client-metadata"],
      });
      const { baseUrl } = server;
      const tokenEndpoint = `${baseUrl}/token`;
      const resource = `${baseUrl}/mcp`;

      /** The owner approves `clientId` on the consent page; the code and its verifier. */
      const consent = async (clientId: string, redirectUri: string) => {
        const { verifier, challenge } = await pkcePair();
        const { code, location } = await approveAndGetCode(
          authorizeUrlAt(baseUrl, {
            response_type: "code",
            client_id: clientId,
            redirect_uri: redirectUri,
            code_challenge: challenge,
            code_challenge_method: "S256",
            state: "chatgpt-state",
            resource,
          }),
          PASSWORD,
        );
        assert.equal(`${location.origin}${location.pathname}`, redirectUri);
        assert.equal(location.searchParams.get("iss"), baseUrl);
        return { code, verifier };
      };

      await t.step("the server offers private_key_jwt with RS256 and ES256", async () => {
        const meta = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`))
          .json();
        assert.ok(meta.token_endpoint_auth_methods_supported.includes("private_key_jwt"));
        assert.ok(meta.token_endpoint_auth_methods_supported.includes("none"));
        assert.deepEqual(meta.token_endpoint_auth_signing_alg_values_supported, ["RS256", "ES256"]);
      });

      let stableRefresh!: string;
      await t.step(
        "the stable document (offers none): consent, a token with no credential, a tool call",
        async () => {
          const { code, verifier } = await consent(docs.stable, STABLE_REDIRECT);
          const answer = await tokenRequest(baseUrl, {
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: STABLE_REDIRECT,
            client_id: docs.stable,
            resource,
          });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          stableRefresh = answer.body.refresh_token as string;
          const hello = await callHelloAt(
            `${baseUrl}/mcp`,
            answer.body.access_token as string,
            "ChatGPT",
          );
          assert.equal(hello.text, "Hello, ChatGPT!");
        },
      );

      await t.step(
        "the stable document may sign too: a good assertion refreshes, a foreign one is refused",
        async () => {
          const foreign = await tokenRequest(baseUrl, {
            grant_type: "refresh_token",
            refresh_token: stableRefresh,
            client_assertion_type: JWT_BEARER_ASSERTION,
            client_assertion: await assertion(docs.stable, tokenEndpoint, {
              key: foreignKey.privateKey,
            }),
          });
          assert.equal(foreign.status, 401, JSON.stringify(foreign.body));
          assert.equal(foreign.body.error, "invalid_client");
          const signed = await tokenRequest(baseUrl, {
            grant_type: "refresh_token",
            refresh_token: stableRefresh,
            client_assertion_type: JWT_BEARER_ASSERTION,
            client_assertion: await assertion(docs.stable, baseUrl),
          });
          assert.equal(signed.status, 200, JSON.stringify(signed.body));
        },
      );

      let code!: string;
      let verifier!: string;
      await t.step("the per-connector document (private_key_jwt only): consent", async () => {
        ({ code, verifier } = await consent(docs.connector, CONNECTOR_REDIRECT));
      });

      const exchange = (extra: Record<string, string | undefined>) =>
        tokenRequest(baseUrl, {
          grant_type: "authorization_code",
          code,
          code_verifier: verifier,
          redirect_uri: CONNECTOR_REDIRECT,
          resource,
          ...extra,
        });

      const used = crypto.randomUUID();
      await t.step(
        "its token request is refused with no assertion, a foreign key, or ES256 where RS256 is named",
        async () => {
          const refusals: [string, Record<string, string | undefined>][] = [
            ["no assertion", { client_id: docs.connector }],
            ["a foreign key", {
              client_assertion_type: JWT_BEARER_ASSERTION,
              client_assertion: await assertion(docs.connector, tokenEndpoint, {
                key: foreignKey.privateKey,
              }),
            }],
            ["ES256 where the document names RS256", {
              client_assertion_type: JWT_BEARER_ASSERTION,
              client_assertion: await assertion(docs.connector, tokenEndpoint, {
                key: ecKey.privateKey,
                alg: "ES256",
                kid: "cimd-test-ec",
              }),
            }],
            ["the stable document's assertion", {
              client_id: docs.connector,
              client_assertion_type: JWT_BEARER_ASSERTION,
              client_assertion: await assertion(docs.stable, tokenEndpoint),
            }],
          ];
          for (const [why, extra] of refusals) {
            const answer = await exchange(extra);
            assert.equal(answer.status, 401, `${why}: ${JSON.stringify(answer.body)}`);
            assert.equal(answer.body.error, "invalid_client", why);
          }
        },
      );

      let tokens!: Record<string, unknown>;
      await t.step("a signed RS256 assertion gets the token, and the tool call works", async () => {
        const answer = await exchange({
          client_id: docs.connector,
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: await assertion(docs.connector, tokenEndpoint, { jti: used }),
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        tokens = answer.body;
        const hello = await callHelloAt(
          `${baseUrl}/mcp`,
          tokens.access_token as string,
          "connector",
        );
        assert.equal(hello.text, "Hello, connector!");
      });

      await t.step("a replayed jti is refused; a fresh assertion refreshes", async () => {
        const replay = await tokenRequest(baseUrl, {
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token as string,
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: await assertion(docs.connector, tokenEndpoint, { jti: used }),
        });
        assert.equal(replay.status, 401, JSON.stringify(replay.body));
        assert.equal(replay.body.error, "invalid_client");
        const bare = await tokenRequest(baseUrl, {
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token as string,
          client_id: docs.connector,
        });
        assert.equal(bare.status, 401, "no assertion, no refresh");
        const fresh = await tokenRequest(baseUrl, {
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token as string,
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: await assertion(docs.connector, baseUrl),
        });
        assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
        tokens = fresh.body;
      });

      await t.step("/revoke asks for the assertion too", async () => {
        const revoke = async (form: Record<string, string>) =>
          await fetch(`${baseUrl}/revoke`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ token: tokens.refresh_token as string, ...form }),
          });
        const bare = await revoke({ client_id: docs.connector });
        assert.equal(bare.status, 401);
        await bare.body?.cancel();
        assert.equal(
          (await callHelloAt(`${baseUrl}/mcp`, tokens.access_token as string, "x")).status,
          200,
        );
        const signed = await revoke({
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: await assertion(docs.connector, tokenEndpoint),
        });
        assert.equal(signed.status, 200);
        await signed.body?.cancel();
        assert.equal(
          (await callHelloAt(`${baseUrl}/mcp`, tokens.access_token as string, "x")).status,
          401,
        );
      });
    } finally {
      await server?.stop();
      await new Promise((resolve) => docs.server.close(resolve));
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
