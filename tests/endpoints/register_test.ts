/**
 * RFC 7591 Dynamic Client Registration at /register: what a client gets back, every
 * refusal with its RFC error code, and the cap on stored clients.
 */
import assert from "node:assert/strict";
import type { ClientRecord } from "../../auth/records.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";
import {
  type ApplicationType,
  redirectSuitsApplicationType,
} from "../../auth/endpoints/register.ts";
import {
  authorize,
  BASE_URL,
  CLAUDE_REDIRECT,
  exchangeCode,
  LOOPBACK_REDIRECT,
  postJson,
  registerClient,
  snapshot,
  testServer,
} from "../fixtures.ts";

Deno.test("/register answers 201 with the registered metadata echoed", async () => {
  const { app } = testServer();
  const res = await postJson(app, "/register", {
    client_name: "Claude",
    redirect_uris: [CLAUDE_REDIRECT, "https://claude.com/api/mcp/auth_callback"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
    scope: "mcp offline_access",
    client_uri: "https://claude.ai/",
    software_id: "claude",
    software_version: "1.2.3",
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.equal(typeof body.client_id, "string");
  assert.ok(body.client_id.length >= 16);
  assert.ok(Number.isInteger(body.client_id_issued_at));
  assert.ok(Math.abs(body.client_id_issued_at - Date.now() / 1000) < 60);
  assert.deepEqual(body.redirect_uris, [
    CLAUDE_REDIRECT,
    "https://claude.com/api/mcp/auth_callback",
  ]);
  assert.equal(body.client_name, "Claude");
  assert.equal(body.token_endpoint_auth_method, "client_secret_post");
  assert.deepEqual(body.grant_types, ["authorization_code", "refresh_token"]);
  assert.deepEqual(body.response_types, ["code"]);
  assert.equal(body.scope, "mcp offline_access");
  assert.equal(body.client_uri, "https://claude.ai/");
  assert.equal(body.software_id, "claude");
  assert.equal(body.software_version, "1.2.3");
});

Deno.test('/register omits empty metadata instead of answering null or ""', async () => {
  const { app } = testServer();
  const res = await postJson(app, "/register", {
    redirect_uris: [LOOPBACK_REDIRECT],
    token_endpoint_auth_method: "none",
    client_name: "",
    client_uri: null,
    logo_uri: "",
    scope: "",
    software_id: null,
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  for (const [field, value] of Object.entries(body)) {
    assert.ok(value !== null && value !== "", `${field} is ${JSON.stringify(value)}`);
  }
  for (const field of ["client_name", "client_uri", "logo_uri", "scope", "software_id"]) {
    assert.ok(!(field in body), `${field} is omitted`);
  }
});

Deno.test("/register gives a secret only to clients that asked for a secret method", async (t) => {
  const cases: [method: string | undefined, secret: boolean][] = [
    ["none", false],
    ["client_secret_post", true],
    ["client_secret_basic", true],
    // RFC 7591 2: the default method is client_secret_basic.
    [undefined, true],
  ];
  for (const [method, secret] of cases) {
    await t.step(`token_endpoint_auth_method ${method ?? "(omitted)"}`, async () => {
      const { app } = testServer();
      const metadata: Record<string, unknown> = { redirect_uris: [CLAUDE_REDIRECT] };
      if (method) metadata.token_endpoint_auth_method = method;
      const res = await postJson(app, "/register", metadata);
      assert.equal(res.status, 201);
      const body = await res.json();
      assert.equal(body.token_endpoint_auth_method, method ?? "client_secret_basic");
      if (secret) {
        assert.equal(typeof body.client_secret, "string");
        assert.ok(body.client_secret.length >= 32);
        assert.ok(Number.isInteger(body.client_secret_expires_at));
        assert.equal(body.client_secret_expires_at, 0);
      } else {
        assert.ok(!("client_secret" in body));
        assert.ok(!("client_secret_expires_at" in body));
      }
    });
  }
});

Deno.test("/register stores the client secret only as a hash", async () => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const stored = await store.get<ClientRecord>(["client", client.clientId]);
  assert.ok(stored?.secretHash);
  assert.ok(!JSON.stringify(await store.list([])).includes(client.clientSecret!));
});

Deno.test("/register accepts Cursor's three redirect URIs at once", async () => {
  const { app } = testServer();
  const uris = [
    "cursor://anysphere.cursor-retrieval/oauth/user-abc/callback",
    "http://localhost:3000/callback",
    "https://vscode.dev/redirect",
  ];
  const client = await registerClient(app, { redirect_uris: uris });
  assert.deepEqual(client.redirectUris, uris);
});

Deno.test("/register accepts a JSON content type with parameters", async () => {
  const { app } = testServer();
  const res = await postJson(app, "/register", { redirect_uris: [CLAUDE_REDIRECT] }, {
    "content-type": "Application/JSON; charset=utf-8",
  });
  assert.equal(res.status, 201);
  assert.deepEqual((await res.json()).redirect_uris, [CLAUDE_REDIRECT]);
});

Deno.test("/register refuses bad metadata with the RFC 7591 error and stores nothing", async (t) => {
  const valid = {
    redirect_uris: [CLAUDE_REDIRECT],
    token_endpoint_auth_method: "client_secret_post",
  };
  const cases: [why: string, body: unknown, error: string, contentType?: string][] = [
    ["a body that is not JSON", "{redirect_uris:", "invalid_client_metadata"],
    ["an empty body", "", "invalid_client_metadata"],
    ["a JSON array", [valid], "invalid_client_metadata"],
    ["a JSON string", '"hello"', "invalid_client_metadata"],
    ["JSON null", "null", "invalid_client_metadata"],
    ["a form content type", JSON.stringify(valid), "invalid_client_metadata", "text/plain"],
    [
      "a form-encoded body",
      `redirect_uris=${encodeURIComponent(CLAUDE_REDIRECT)}`,
      "invalid_client_metadata",
      "application/x-www-form-urlencoded",
    ],
    ["redirect_uris missing", { token_endpoint_auth_method: "none" }, "invalid_redirect_uri"],
    ["redirect_uris empty", { ...valid, redirect_uris: [] }, "invalid_redirect_uri"],
    ["redirect_uris null", { ...valid, redirect_uris: null }, "invalid_redirect_uri"],
    [
      "a redirect not on the allowlist",
      { ...valid, redirect_uris: ["https://evil.example/cb"] },
      "invalid_redirect_uri",
    ],
    [
      "one bad redirect among good ones",
      { ...valid, redirect_uris: [CLAUDE_REDIRECT, "https://claude.ai.evil.example/cb"] },
      "invalid_redirect_uri",
    ],
    [
      "a javascript: redirect",
      { ...valid, redirect_uris: ["javascript:alert(1)"] },
      "invalid_redirect_uri",
    ],
    [
      "a redirect with a fragment",
      { ...valid, redirect_uris: [`${CLAUDE_REDIRECT}#x`] },
      "invalid_redirect_uri",
    ],
    [
      "eleven redirect URIs",
      { ...valid, redirect_uris: Array.from({ length: 11 }, (_, i) => `${CLAUDE_REDIRECT}${i}`) },
      "invalid_redirect_uri",
    ],
    [
      "an unknown auth method",
      { ...valid, token_endpoint_auth_method: "private_key_jwt" },
      "invalid_client_metadata",
    ],
    [
      "an auth method that is not a string",
      { ...valid, token_endpoint_auth_method: 1 },
      "invalid_client_metadata",
    ],
    [
      "the implicit grant",
      { ...valid, grant_types: ["implicit"] },
      "invalid_client_metadata",
    ],
    [
      "client_credentials among good grants",
      { ...valid, grant_types: ["authorization_code", "client_credentials"] },
      "invalid_client_metadata",
    ],
    ["an empty grant list", { ...valid, grant_types: [] }, "invalid_client_metadata"],
    [
      "grant_types not an array",
      { ...valid, grant_types: "authorization_code" },
      "invalid_client_metadata",
    ],
    [
      "the token response type",
      { ...valid, response_types: ["token"] },
      "invalid_client_metadata",
    ],
    [
      "a client_name that is not a string",
      { ...valid, client_name: { en: "x" } },
      "invalid_client_metadata",
    ],
    [
      "an overlong client_name",
      { ...valid, client_name: "x".repeat(201) },
      "invalid_client_metadata",
    ],
    [
      "a javascript: client_uri",
      { ...valid, client_uri: "javascript:alert(1)" },
      "invalid_client_metadata",
    ],
  ];
  for (const [why, body, error, contentType] of cases) {
    await t.step(`${why} -> ${error}`, async () => {
      const { app, store } = testServer();
      const before = await snapshot(store);
      const res = await postJson(
        app,
        "/register",
        body,
        contentType ? { "content-type": contentType } : {},
      );
      assert.equal(res.status, 400);
      assert.equal(res.headers.get("cache-control"), "no-store");
      const answer = await res.json();
      assert.equal(answer.error, error);
      assert.equal(typeof answer.error_description, "string");
      assert.equal(await snapshot(store), before);
    });
  }
});

const CURSOR_REDIRECT = "cursor://anysphere.cursor-mcp/oauth/callback";
const VSCODE_WEB_REDIRECT = "https://vscode.dev/redirect";

Deno.test("redirectSuitsApplicationType: web takes https off loopback only; native and absent take what the allowlist takes", async (t) => {
  const cases: Array<[ApplicationType | undefined, string, boolean]> = [
    ["web", CLAUDE_REDIRECT, true],
    ["web", "https://chatgpt.com/connector_platform_oauth_redirect", true],
    ["web", LOOPBACK_REDIRECT, false],
    ["web", "http://localhost:6274/oauth/callback", false],
    ["web", "http://[::1]:8080/cb", false],
    ["web", "https://localhost/cb", false],
    ["web", "https://127.0.0.1:8443/cb", false],
    ["web", CURSOR_REDIRECT, false],
    ["web", "not a url", false],
    ["native", LOOPBACK_REDIRECT, true],
    ["native", CURSOR_REDIRECT, true],
    ["native", VSCODE_WEB_REDIRECT, true],
    [undefined, LOOPBACK_REDIRECT, true],
    [undefined, CURSOR_REDIRECT, true],
    [undefined, CLAUDE_REDIRECT, true],
  ];
  for (const [type, uri, expected] of cases) {
    await t.step(`${type ?? "absent"} ${uri} -> ${expected}`, () => {
      assert.equal(redirectSuitsApplicationType(uri, type), expected);
    });
  }
});

Deno.test("/register honours application_type (MCP 2026-07-28) and keeps DCR as it was for clients that omit it", async (t) => {
  const cases: Array<[why: string, type: unknown, redirects: string[], outcome: number | string]> =
    [
      ["web with Claude's https callback", "web", [CLAUDE_REDIRECT], 201],
      ["web with a loopback callback", "web", [LOOPBACK_REDIRECT], "invalid_redirect_uri"],
      [
        "web with localhost",
        "web",
        ["http://localhost:6274/oauth/callback"],
        "invalid_redirect_uri",
      ],
      ["web with a private scheme", "web", [CURSOR_REDIRECT], "invalid_redirect_uri"],
      [
        "web with one loopback among https",
        "web",
        [VSCODE_WEB_REDIRECT, "http://127.0.0.1:33418/"],
        "invalid_redirect_uri",
      ],
      ["native with a loopback callback", "native", [LOOPBACK_REDIRECT], 201],
      ["native with a private scheme", "native", [CURSOR_REDIRECT], 201],
      // VS Code's real body (tests/e2e/client_shapes_test.ts): RFC 8252 7.2 claimed https.
      [
        "native with VS Code's https relay and loopback",
        "native",
        ["https://insiders.vscode.dev/redirect", VSCODE_WEB_REDIRECT, "http://127.0.0.1/"],
        201,
      ],
      [
        "native outside the allowlist",
        "native",
        ["https://evil.example/cb"],
        "invalid_redirect_uri",
      ],
      ["absent, loopback (mcp-remote)", undefined, [LOOPBACK_REDIRECT], 201],
      ["absent, a private scheme (Cursor)", undefined, [CURSOR_REDIRECT], 201],
      ["absent, https (Claude)", undefined, [CLAUDE_REDIRECT], 201],
      ["null, as absent", null, [LOOPBACK_REDIRECT], 201],
      ["an unknown type", "browser", [CLAUDE_REDIRECT], "invalid_client_metadata"],
      ["an empty type", "", [CLAUDE_REDIRECT], "invalid_client_metadata"],
      ["a type that is not a string", 1, [CLAUDE_REDIRECT], "invalid_client_metadata"],
    ];
  for (const [why, type, redirects, outcome] of cases) {
    await t.step(`${why} -> ${outcome}`, async () => {
      const { app, store } = testServer();
      const before = await snapshot(store);
      const body: Record<string, unknown> = {
        redirect_uris: redirects,
        token_endpoint_auth_method: "none",
      };
      if (type !== undefined) body.application_type = type;
      const res = await postJson(app, "/register", body);
      const answer = await res.json();
      if (typeof outcome === "number") {
        assert.equal(res.status, outcome, JSON.stringify(answer));
        // RFC 7591 3.2.1: echoed when given, never invented when absent.
        assert.equal(answer.application_type, typeof type === "string" ? type : undefined);
        assert.deepEqual(answer.redirect_uris, redirects);
      } else {
        assert.equal(res.status, 400);
        assert.equal(answer.error, outcome);
        if (outcome === "invalid_redirect_uri" && type === "web" && !why.includes("allowlist")) {
          assert.match(answer.error_description, /registers as application_type native/);
        }
        assert.equal(await snapshot(store), before, "a refusal stores nothing");
      }
    });
  }
});

Deno.test("/register refuses an oversized body with 413 and stores nothing", async (t) => {
  for (const declared of [true, false]) {
    await t.step(declared ? "with Content-Length" : "streamed", async () => {
      const { app, store } = testServer({ maxBodyBytes: 1024 });
      const before = await snapshot(store);
      const text = JSON.stringify({
        redirect_uris: [CLAUDE_REDIRECT],
        client_name: "x".repeat(2000),
      });
      const body = declared ? text : new Blob([text]).stream();
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (declared) headers["content-length"] = String(text.length);
      const res = await app.fetch(
        new Request(`${BASE_URL}/register`, { method: "POST", headers, body }),
      );
      assert.equal(res.status, 413);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.equal((await res.json()).error, "invalid_request");
      assert.equal(await snapshot(store), before);
    });
  }
});

Deno.test("/register refuses GET with 405", async () => {
  const { app } = testServer();
  const res = await app.fetch(new Request(`${BASE_URL}/register`));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  await res.body?.cancel();
});

Deno.test("/register keeps at most maxClients, dropping never-used clients first", async () => {
  const { app, store } = testServer({ maxClients: 3 });
  const used = await registerClient(app, { client_name: "used" });
  const idle1 = await registerClient(app, { client_name: "idle 1" });
  const idle2 = await registerClient(app, { client_name: "idle 2" });
  const { code, verifier } = await authorize(app, used);
  const exchanged = await exchangeCode(app, used, code, verifier);
  assert.equal(exchanged.status, 200);
  await exchanged.body?.cancel();

  const ids = async () => (await store.list<ClientRecord>(["client"])).map((e) => e.value.clientId);

  const late1 = await registerClient(app, { client_name: "late 1" });
  assert.deepEqual(
    new Set(await ids()),
    new Set([used.clientId, idle2.clientId, late1.clientId]),
    "the oldest never-used client went first, the used one stayed",
  );
  const late2 = await registerClient(app, { client_name: "late 2" });
  assert.deepEqual(new Set(await ids()), new Set([used.clientId, late1.clientId, late2.clientId]));
  assert.ok(!(await ids()).includes(idle1.clientId));
});

Deno.test("the Code tab's claude:// redirect is refused by default and admitted by the README's one-line opt-in", async (t) => {
  const CODE_TAB = "claude://claude.ai/mcp-auth-callback/sdk";
  const metadata = {
    client_name: "Claude Code",
    redirect_uris: [CODE_TAB],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  await t.step("refused by default", async () => {
    const { app } = testServer();
    const res = await postJson(app, "/register", metadata);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "invalid_redirect_uri");
  });
  await t.step(
    'admitted with allowedRedirects: [...DEFAULT_REDIRECT_ALLOWLIST, "claude:"]',
    async () => {
      const { app } = testServer({ allowedRedirects: [...DEFAULT_REDIRECT_ALLOWLIST, "claude:"] });
      const client = await registerClient(app, metadata);
      const { location } = await authorize(app, client);
      assert.equal(`${location.protocol}//${location.host}${location.pathname}`, CODE_TAB);
    },
  );
});
