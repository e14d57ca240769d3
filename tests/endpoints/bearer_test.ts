/**
 * The gate in front of /mcp and the MCP endpoint behind it: the 401 challenge MCP
 * clients need, header-only bearer tokens bound to this resource, the Origin check,
 * CORS, and the streamable HTTP leniencies SPEC.md asks for.
 */
import assert from "node:assert/strict";
import { hashSecret } from "../../core/crypto.ts";
import type { AccessRecord } from "../../auth/records.ts";
import {
  BASE_URL,
  callHello,
  MCP_URL,
  mcpPost,
  registerClient,
  RESOURCE_METADATA_URL,
  rpcMessage,
  testServer,
  tokensFor,
} from "../fixtures.ts";

const CHALLENGE = `Bearer resource_metadata="${RESOURCE_METADATA_URL}", scope="mcp offline_access"`;

async function withTokens(options: Parameters<typeof testServer>[0] = {}) {
  const server = testServer(options);
  const client = await registerClient(server.app);
  const tokens = await tokensFor(server.app, client);
  return { ...server, client, tokens };
}

function helloText(message: Record<string, unknown>): string {
  const result = message.result as { content: { type: string; text: string }[] };
  assert.ok(result, `a result: ${JSON.stringify(message)}`);
  return result.content[0]!.text;
}

Deno.test("/mcp without a token answers 401 with the resource_metadata challenge", async (t) => {
  const { app } = testServer();
  const requests: [label: string, init: RequestInit][] = [
    ["POST tools/call", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    }],
    // The challenge comes before the body is read: a broken body still gets it.
    ["POST with a body that is not JSON", { method: "POST", body: "{{{" }],
    ["GET", { headers: { accept: "text/event-stream" } }],
    ["DELETE", { method: "DELETE" }],
  ];
  for (const [label, init] of requests) {
    await t.step(label, async () => {
      const res = await app.fetch(new Request(MCP_URL, init));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), CHALLENGE);
      assert.equal(res.headers.get("cache-control"), "no-store");
      // RFC 6750 3.1: no error code for a request without credentials; the words
      // "Unauthorized" for clients that look for them (MCP Inspector 0.15).
      const body = await res.json();
      assert.equal(body.error, "unauthorized");
      assert.match(body.error_description, /^Unauthorized: /);
    });
  }
});

Deno.test('/mcp refuses a token it does not know with error="invalid_token"', async (t) => {
  const { app, store } = await withTokens();
  const foreign = "foreign-audience-token-" + "x".repeat(20);
  const expired = "expired-token-" + "x".repeat(30);
  const record = (resource: string, expiresAt: number): AccessRecord => ({
    grantId: "g",
    clientId: "c",
    scope: "mcp",
    resource,
    expiresAt,
  });
  // Written without store-level expiry, so the gate's own checks are what refuse them.
  await store.write([
    {
      op: "set",
      key: ["access", await hashSecret(foreign)],
      value: record("https://other.example/mcp", Date.now() + 60_000),
    },
    {
      op: "set",
      key: ["access", await hashSecret(expired)],
      value: record(MCP_URL, Date.now() - 1000),
    },
  ]);
  const cases: [why: string, authorization: string][] = [
    ["a random token", `Bearer ${"A".repeat(43)}`],
    ["a token for another resource (RFC 8707)", `Bearer ${foreign}`],
    ["an expired token", `Bearer ${expired}`],
    ["a bearer scheme without a token", "Bearer"],
    ["two tokens", `Bearer ${"A".repeat(43)} ${"B".repeat(43)}`],
    ["characters outside the token68 syntax", 'Bearer a"b'],
  ];
  for (const [why, authorization] of cases) {
    await t.step(why, async () => {
      const res = await callHello(app, "unused", { authorization });
      assert.equal(res.status, 401);
      const challenge = res.headers.get("www-authenticate") ?? "";
      assert.ok(challenge.startsWith(CHALLENGE), challenge);
      assert.match(challenge, /error="invalid_token"/);
      const body = await res.json();
      assert.equal(body.error, "invalid_token");
      assert.match(body.error_description, /^Unauthorized: /);
    });
  }
});

// BUG: auth/grants/bearer.ts authenticateBearer treats credentials of another scheme (Basic)
// as a malformed bearer token and adds error="invalid_token"; RFC 6750 3.1 says a
// request that used an unsupported authentication method SHOULD NOT get an error code.
Deno.test({
  name: "/mcp answers credentials of another scheme with the plain challenge",
  ignore: false,
  fn: async () => {
    const { app } = testServer();
    const res = await callHello(app, "unused", { authorization: `Basic ${btoa("user:pass")}` });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), CHALLENGE);
    await res.body?.cancel();
  },
});

Deno.test("/mcp stops accepting a token when it expires, even one it has seen before", async () => {
  const { app, store } = testServer();
  const token = "short-lived-token-" + "x".repeat(25);
  const record: AccessRecord = {
    grantId: "g",
    clientId: "c",
    scope: "mcp",
    resource: MCP_URL,
    expiresAt: Date.now() + 300,
  };
  await store.write([{ op: "set", key: ["access", await hashSecret(token)], value: record }]);
  const first = await callHello(app, token);
  assert.equal(first.status, 200);
  await first.body?.cancel();
  await new Promise((resolve) => setTimeout(resolve, 350));
  const later = await callHello(app, token);
  assert.equal(later.status, 401);
  assert.match(later.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
  await later.body?.cancel();
});

Deno.test("/mcp takes the bearer token from the Authorization header only", async (t) => {
  const { app, tokens } = await withTokens();
  await t.step("not from the query string", async () => {
    const res = await app.fetch(
      new Request(`${MCP_URL}?access_token=${tokens.access_token}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      }),
    );
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), CHALLENGE);
    await res.body?.cancel();
  });
  await t.step("the auth scheme is case-insensitive", async () => {
    const res = await callHello(app, "unused", { authorization: `bearer ${tokens.access_token}` });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

Deno.test("/mcp with a valid token runs tools/call hello without a session", async () => {
  const { app, tokens } = await withTokens();
  const res = await callHello(app, tokens.access_token);
  assert.equal(res.status, 200);
  const message = await rpcMessage(res);
  assert.equal(message.id, 7);
  assert.equal(helloText(message), "Hello, Ada!");
});

Deno.test("/mcp lists the tools", async () => {
  const { app, tokens } = await withTokens();
  const res = await mcpPost(app, { jsonrpc: "2.0", id: 2, method: "tools/list" }, {
    authorization: `Bearer ${tokens.access_token}`,
  });
  assert.equal(res.status, 200);
  const result = (await rpcMessage(res)).result as { tools: { name: string }[] };
  assert.deepEqual(result.tools.map((x) => x.name), ["hello"]);
});

// BUG: the SDK's transport answers 406 unless Accept names both application/json and
// text/event-stream; SPEC.md asks to be lenient when a client sends only one of them.
// transport/mcp/endpoint.ts passes the request through unchanged.
Deno.test({
  name: "/mcp accepts a client that only accepts application/json",
  ignore: false,
  fn: async () => {
    const { app, tokens } = await withTokens();
    const res = await callHello(app, tokens.access_token, { accept: "application/json" });
    assert.equal(res.status, 200);
    assert.equal(helloText(await rpcMessage(res)), "Hello, Ada!");
  },
});

// BUG: same cause as above, for a client that sends only text/event-stream.
Deno.test({
  name: "/mcp accepts a client that only accepts text/event-stream",
  ignore: false,
  fn: async () => {
    const { app, tokens } = await withTokens();
    const res = await callHello(app, tokens.access_token, { accept: "text/event-stream" });
    assert.equal(res.status, 200);
    assert.equal(helloText(await rpcMessage(res)), "Hello, Ada!");
  },
});

Deno.test("/mcp negotiates an unknown protocol version in initialize", async (t) => {
  const { app, tokens } = await withTokens();
  const cases: [header: string | undefined, requested: string][] = [
    [undefined, "2099-01-01"],
    ["2025-01-01", "2025-01-01"],
    ["2025-06-18", "2025-01-01"],
  ];
  for (const [header, requested] of cases) {
    await t.step(`header ${header ?? "(none)"}, initialize asks ${requested}`, async () => {
      const headers: Record<string, string> = { authorization: `Bearer ${tokens.access_token}` };
      if (header) headers["mcp-protocol-version"] = header;
      const res = await app.fetch(
        new Request(MCP_URL, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            ...headers,
          },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 1,
            method: "initialize",
            params: {
              protocolVersion: requested,
              capabilities: {},
              clientInfo: { name: "future-client", version: "1.0.0" },
            },
          }),
        }),
      );
      assert.equal(res.status, 200);
      const result = (await rpcMessage(res)).result as {
        protocolVersion: string;
        serverInfo: { name: string };
      };
      assert.match(result.protocolVersion, /^\d{4}-\d{2}-\d{2}$/);
      assert.notEqual(result.protocolVersion, requested);
      assert.equal(result.serverInfo.name, "personal-mcp");
    });
  }
});

Deno.test("/mcp refuses a foreign Origin with 403, even with a valid token", async (t) => {
  const { app, tokens } = await withTokens();
  for (const origin of ["https://evil.example", "http://localhost.evil.example", "null"]) {
    await t.step(origin, async () => {
      const res = await callHello(app, tokens.access_token, { origin });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get("access-control-allow-origin"), null);
      const body = await res.json();
      assert.equal(body.error.code, -32600);
    });
  }
});

Deno.test("/mcp serves an allowed browser Origin with CORS headers", async (t) => {
  const { app, tokens } = await withTokens({
    allowedOrigins: ["loopback", "https://inspector.example"],
  });
  for (const origin of ["http://localhost:6274", "https://inspector.example", BASE_URL]) {
    await t.step(origin, async () => {
      const res = await callHello(app, tokens.access_token, { origin });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), origin);
      assert.match(res.headers.get("access-control-expose-headers") ?? "", /www-authenticate/);
      assert.match(res.headers.get("access-control-expose-headers") ?? "", /mcp-session-id/);
      assert.match(res.headers.get("vary") ?? "", /Origin/i);
      assert.equal(helloText(await rpcMessage(res)), "Hello, Ada!");
    });
  }
  await t.step("a 401 is readable by the allowed origin, challenge included", async () => {
    const res = await callHello(app, "A".repeat(43), { origin: "http://localhost:6274" });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:6274");
    assert.match(res.headers.get("access-control-expose-headers") ?? "", /www-authenticate/);
    await res.body?.cancel();
  });
});

Deno.test("OPTIONS preflights are answered for /mcp and the OAuth endpoints", async (t) => {
  const { app } = testServer();
  const preflight = (path: string, origin: string) =>
    app.fetch(
      new Request(`${BASE_URL}${path}`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, mcp-protocol-version",
        },
      }),
    );
  const allowHeaders = [
    "authorization",
    "content-type",
    "mcp-protocol-version",
    "mcp-session-id",
    "last-event-id",
  ];
  await t.step("/mcp from an allowed origin", async () => {
    const res = await preflight("/mcp", "http://localhost:6274");
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:6274");
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").split(/,\s*/);
    for (const header of allowHeaders) assert.ok(allowed.includes(header), header);
  });
  await t.step("/mcp from a foreign origin is refused", async () => {
    const res = await preflight("/mcp", "https://evil.example");
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });
  for (const path of ["/token", "/register", "/revoke"]) {
    await t.step(`${path} from any origin`, async () => {
      const res = await preflight(path, "https://inspector.example");
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
      const allowed = (res.headers.get("access-control-allow-headers") ?? "").split(/,\s*/);
      assert.ok(allowed.includes("content-type"));
      assert.ok(allowed.includes("authorization"));
    });
  }
});

Deno.test("/token answers a browser origin with CORS headers", async () => {
  const { app } = testServer();
  const res = await app.fetch(
    new Request(`${BASE_URL}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: "https://inspector.example",
      },
      body: "grant_type=refresh_token&refresh_token=x&client_id=nope",
    }),
  );
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  await res.body?.cancel();
});

Deno.test("/mcp answers a token without the scope that opens it with 403 insufficient_scope", async () => {
  // Every grant includes the first offered scope; a token lacking it can only come from
  // a store written otherwise, so write one.
  const { store, tokens } = await withTokens();
  const hash = await hashSecret(tokens.access_token);
  const record = await store.get<Record<string, unknown>>(["access", hash]);
  assert.ok(record);
  await store.write([{
    op: "set",
    key: ["access", hash],
    value: { ...record, scope: "offline_access" },
  }]);
  // A fresh server on the same store: nothing is cached in memory.
  const fresh = testServer({ store });
  const res = await callHello(fresh.app, tokens.access_token);
  assert.equal(res.status, 403);
  assert.match(res.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);
  await res.body?.cancel();
});
