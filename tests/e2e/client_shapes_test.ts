/**
 * What each real client sends, byte for byte where it matters (registration body,
 * redirect URIs, scope or no scope, client authentication), through the whole flow
 * against a real server process under Deno and under Bun: register, owner consent,
 * code exchange, then a sessionless `tools/call hello` with the token.
 */
import assert from "node:assert/strict";
import {
  approveAndGetCode,
  authorizeUrlAt,
  callHelloAt,
  CLAUDE_REDIRECT,
  PASSWORD,
  pkcePair,
  registerAt,
  type Registration,
  RUNTIMES,
  submitConsent,
  type TokenAnswer,
  tokenRequest,
  withServer,
} from "../fixtures.ts";

const CURSOR_RETRIEVAL = "cursor://anysphere.cursor-retrieval/oauth/user-callback";
const CHATGPT_REDIRECT = "https://chatgpt.com/connector_platform_oauth_redirect";

/** How one client talks to the server. */
interface ClientShape {
  /** The RFC 7591 body it POSTs to /register. */
  registration(baseUrl: string): Record<string, unknown>;
  /** The redirect_uri it sends on /authorize and /token. */
  redirectUri: string;
  /** The scope it sends on /authorize; undefined: no scope parameter at all. */
  scope?: string;
  /** Whether it sends RFC 8707 `resource` (the URL the user typed). */
  sendsResource: boolean;
}

interface FlowResult {
  client: Registration;
  redirect: URL;
  tokens: TokenAnswer;
}

/** Client authentication as the registered method prescribes. */
function clientCredentials(client: Registration) {
  const form: Record<string, string | undefined> = { client_id: client.client_id };
  const headers: Record<string, string> = {};
  switch (client.token_endpoint_auth_method) {
    case "client_secret_post":
      form.client_secret = client.client_secret;
      break;
    case "client_secret_basic":
      delete form.client_id;
      headers.authorization = `Basic ${
        btoa(
          `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret!)}`,
        )
      }`;
      break;
  }
  return { form, headers };
}

/** Registers, gets the owner's consent and exchanges the code, as `shape` does. */
async function runFlow(baseUrl: string, shape: ClientShape): Promise<FlowResult> {
  const client = await registerAt(baseUrl, shape.registration(baseUrl));
  const { verifier, challenge } = await pkcePair();
  const state = crypto.randomUUID();
  const resource = shape.sendsResource ? `${baseUrl}/mcp` : undefined;
  const { code, location } = await approveAndGetCode(
    authorizeUrlAt(baseUrl, {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: shape.redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state,
      scope: shape.scope,
      resource,
    }),
    PASSWORD,
  );
  assert.equal(location.searchParams.get("state"), state);
  assert.equal(location.searchParams.get("iss"), baseUrl);
  const { form, headers } = clientCredentials(client);
  const tokens = await tokenRequest(baseUrl, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: shape.redirectUri,
    resource,
    ...form,
  }, headers);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.equal(tokens.headers.get("cache-control"), "no-store");
  return { client, redirect: location, tokens };
}

async function refreshWith(baseUrl: string, client: Registration, refreshToken: string) {
  const { form, headers } = clientCredentials(client);
  return await tokenRequest(baseUrl, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...form,
  }, headers);
}

async function assertHelloWorks(baseUrl: string, tokens: TokenAnswer, name: string) {
  const hello = await callHelloAt(`${baseUrl}/mcp`, tokens.body.access_token as string, name);
  assert.equal(hello.status, 200);
  assert.equal(hello.text, `Hello, ${name}!`);
}

/** The redirect target without its query, e.g. `https://claude.ai/api/mcp/auth_callback`. */
function landing(url: URL): string {
  return url.href.split("?")[0]!;
}

for (const runtime of RUNTIMES) {
  Deno.test(`real clients' request shapes complete the flow under ${runtime}`, async (t) => {
    await withServer(runtime, async (server) => {
      const base = server.baseUrl;

      await t.step(
        "Claude.ai: DCR with client_secret_post, Claude's redirect, resource",
        async () => {
          const { client, redirect, tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "Claude",
              redirect_uris: [CLAUDE_REDIRECT],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "client_secret_post",
            }),
            redirectUri: CLAUDE_REDIRECT,
            scope: "mcp offline_access",
            sendsResource: true,
          });
          assert.equal(client.token_endpoint_auth_method, "client_secret_post");
          assert.ok(client.client_secret, "a secret for client_secret_post");
          assert.equal(client.client_secret_expires_at, 0);
          assert.equal(landing(redirect), CLAUDE_REDIRECT);
          assert.ok(tokens.body.refresh_token);
          await assertHelloWorks(base, tokens, "Claude");
          const refreshed = await refreshWith(base, client, tokens.body.refresh_token as string);
          assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
          await assertHelloWorks(base, refreshed, "Claude again");
        },
      );

      await t.step("Claude.ai: a wrong client_secret is invalid_client (401)", async () => {
        const client = await registerAt(base, {
          client_name: "Claude",
          redirect_uris: [CLAUDE_REDIRECT],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_post",
        });
        const answer = await tokenRequest(base, {
          grant_type: "refresh_token",
          refresh_token: "whatever",
          client_id: client.client_id,
          client_secret: `${client.client_secret}x`,
        });
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error, "invalid_client");
        assert.equal(answer.headers.get("cache-control"), "no-store");
      });

      await t.step(
        "Claude Code: public client, localhost on a random port, offline_access",
        async () => {
          const port = 40000 + Math.floor(Math.random() * 20000);
          const redirectUri = `http://localhost:${port}/callback`;
          const { client, redirect, tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "Claude Code (personal)",
              redirect_uris: [redirectUri],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "none",
              scope: "mcp offline_access",
            }),
            redirectUri,
            scope: "mcp offline_access",
            sendsResource: true,
          });
          assert.equal(client.token_endpoint_auth_method, "none");
          assert.equal(client.client_secret, undefined, "no secret for a public client");
          assert.equal(landing(redirect), redirectUri);
          assert.match(tokens.body.scope as string, /\boffline_access\b/);
          assert.ok(tokens.body.refresh_token);
          await assertHelloWorks(base, tokens, "Claude Code");
          const refreshed = await refreshWith(base, client, tokens.body.refresh_token as string);
          assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
          assert.notEqual(refreshed.body.refresh_token, tokens.body.refresh_token);
        },
      );

      await t.step(
        "ChatGPT: no scope parameter on authorize still yields a refresh token",
        async () => {
          const { client, redirect, tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "ChatGPT",
              redirect_uris: [CHATGPT_REDIRECT],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "none",
            }),
            redirectUri: CHATGPT_REDIRECT,
            scope: undefined,
            sendsResource: true,
          });
          assert.equal(landing(redirect), CHATGPT_REDIRECT);
          assert.ok(tokens.body.refresh_token, "a refresh token without asking for a scope");
          assert.match(tokens.body.scope as string, /\boffline_access\b/);
          await assertHelloWorks(base, tokens, "ChatGPT");
          const refreshed = await refreshWith(base, client, tokens.body.refresh_token as string);
          assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
          await assertHelloWorks(base, refreshed, "ChatGPT again");
        },
      );

      await t.step("ChatGPT: a per-connector callback on chatgpt.com is accepted too", async () => {
        const redirectUri = "https://chatgpt.com/connector/oauth/OUbdUMlL15Ct";
        const { redirect, tokens } = await runFlow(base, {
          registration: () => ({
            client_name: "ChatGPT",
            redirect_uris: [redirectUri],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          }),
          redirectUri,
          scope: undefined,
          sendsResource: false,
        });
        assert.equal(landing(redirect), redirectUri);
        assert.ok(tokens.body.refresh_token);
        await assertHelloWorks(base, tokens, "ChatGPT connector");
      });

      await t.step("Cursor: three redirect URIs in one registration, cursor:// used", async () => {
        const port = 40000 + Math.floor(Math.random() * 20000);
        const { client, redirect, tokens } = await runFlow(base, {
          registration: () => ({
            client_name: "Cursor",
            redirect_uris: [
              CURSOR_RETRIEVAL,
              "cursor://anysphere.cursor-mcp/oauth/callback",
              `http://localhost:${port}/callback`,
            ],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          }),
          redirectUri: CURSOR_RETRIEVAL,
          scope: "mcp offline_access",
          sendsResource: true,
        });
        assert.equal(client.redirect_uris.length, 3);
        assert.equal(redirect.protocol, "cursor:");
        assert.equal(landing(redirect), CURSOR_RETRIEVAL);
        await assertHelloWorks(base, tokens, "Cursor");
      });

      await t.step(
        "Cursor: the consent page names the cursor app and lets the form land on cursor:",
        async () => {
          const client = await registerAt(base, {
            client_name: "Cursor",
            redirect_uris: [CURSOR_RETRIEVAL],
            token_endpoint_auth_method: "none",
          });
          const { challenge } = await pkcePair();
          const page = await fetch(authorizeUrlAt(base, {
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: CURSOR_RETRIEVAL,
            code_challenge: challenge,
            code_challenge_method: "S256",
          }));
          const html = await page.text();
          assert.equal(page.status, 200);
          assert.match(html, /cursor/);
          assert.match(
            page.headers.get("content-security-policy") ?? "",
            /form-action[^;]*cursor:/,
          );
        },
      );

      await t.step({
        name: "Cursor: its current registration (cursor-mcp, www.cursor.com, localhost) succeeds",
        fn: async () => {
          const { redirect, tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "Cursor",
              redirect_uris: [
                "cursor://anysphere.cursor-mcp/oauth/callback",
                "https://www.cursor.com/agents/mcp/oauth/callback",
                "http://localhost:8787/callback",
              ],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "none",
            }),
            redirectUri: "cursor://anysphere.cursor-mcp/oauth/callback",
            scope: "mcp offline_access",
            sendsResource: true,
          });
          assert.equal(landing(redirect), "cursor://anysphere.cursor-mcp/oauth/callback");
          await assertHelloWorks(base, tokens, "Cursor");
        },
      });

      await t.step(
        "VS Code: registers 127.0.0.1:33418 and vscode.dev, authorizes on another port",
        async () => {
          const port = 40000 + Math.floor(Math.random() * 20000);
          const redirectUri = `http://127.0.0.1:${port}/`;
          const { client, redirect, tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "Visual Studio Code",
              client_uri: "https://code.visualstudio.com",
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              redirect_uris: ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
              token_endpoint_auth_method: "none",
            }),
            redirectUri,
            scope: "mcp offline_access",
            sendsResource: true,
          });
          assert.deepEqual(client.redirect_uris, [
            "http://127.0.0.1:33418/",
            "https://vscode.dev/redirect",
          ]);
          assert.equal(landing(redirect), redirectUri, "RFC 8252 7.3: any loopback port");
          await assertHelloWorks(base, tokens, "VS Code");
        },
      );

      await t.step(
        "VS Code: its current registration body (native, four URIs) is accepted",
        async () => {
          const port = 40000 + Math.floor(Math.random() * 20000);
          const redirectUri = `http://127.0.0.1:${port}/`;
          const { tokens } = await runFlow(base, {
            registration: () => ({
              client_name: "Visual Studio Code",
              client_uri: "https://code.visualstudio.com",
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              // src/vs/base/common/oauth.ts fetchDynamicRegistration; grant_types are the
              // server's grant_types_supported filtered by what VS Code knows.
              redirect_uris: [
                "https://insiders.vscode.dev/redirect",
                "https://vscode.dev/redirect",
                "http://127.0.0.1/",
                "http://127.0.0.1:33418/",
              ],
              scope: "mcp offline_access",
              token_endpoint_auth_method: "none",
              application_type: "native",
            }),
            redirectUri,
            scope: "mcp offline_access",
            sendsResource: true,
          });
          await assertHelloWorks(base, tokens, "VS Code");
        },
      );

      await t.step("a loopback redirect on another path is refused as a page", async () => {
        const client = await registerAt(base, {
          client_name: "Visual Studio Code",
          redirect_uris: ["http://127.0.0.1:33418/"],
          token_endpoint_auth_method: "none",
        });
        const { challenge } = await pkcePair();
        const result = await submitConsent(
          authorizeUrlAt(base, {
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: "http://127.0.0.1:40001/elsewhere",
            code_challenge: challenge,
            code_challenge_method: "S256",
          }),
          PASSWORD,
        );
        assert.equal(result.status, 400);
        assert.equal(result.location, undefined, "never redirected to an unregistered URI");
      });
    });
  });
}
