/**
 * Deadlines and keepalives in the fetch handler (tests/e2e/availability_test.ts runs the
 * same against real Deno and Bun servers with a raw socket): a body that stalls is
 * answered 408 and changes nothing; a quiet SSE stream gets comment lines.
 */
import assert from "node:assert/strict";
import {
  BASE_URL,
  initializeRequest,
  MCP_URL,
  PASSKEY_BASE_URL,
  registerClient,
  snapshot,
  testServer,
  tokensFor,
} from "../fixtures.ts";

/** A body that sends one byte and then nothing, ever (until cancelled). */
function stalledBody(): { body: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  return {
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("{"));
      },
      cancel() {
        cancelled = true;
      },
    }),
    cancelled: () => cancelled,
  };
}

Deno.test("a body that stalls is answered 408 with Connection: close and changes nothing", async (t) => {
  const server = testServer({ bodyTimeoutSeconds: 1, mcpBodyTimeoutSeconds: 1 });
  const client = await registerClient(server.app);
  const tokens = await tokensFor(server.app, client);
  const form = "application/x-www-form-urlencoded";
  const cases: [path: string, type: string, headers: Record<string, string>, json: boolean][] = [
    ["/register", "application/json", {}, true],
    ["/token", form, {}, true],
    ["/revoke", form, {}, true],
    ["/authorize", form, { origin: BASE_URL }, false],
    ["/owner", form, { origin: BASE_URL }, false],
    ["/mcp", "application/json", {
      authorization: `Bearer ${tokens.access_token}`,
      accept: "application/json, text/event-stream",
    }, true],
  ];
  // A served call stamps the grant's last use (at most once a minute): made before the
  // snapshots, so that they compare only what the stalled bodies could change.
  const served = await server.app.fetch(
    new Request(`${BASE_URL}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    }),
    { remoteAddress: "198.51.100.7" },
  );
  assert.equal(served.status, 200);
  await served.body?.cancel();
  for (const [path, type, headers, json] of cases) {
    await t.step(path, async () => {
      const before = await snapshot(server.store);
      const { body } = stalledBody();
      const res = await server.app.fetch(
        new Request(`${BASE_URL}${path}`, {
          method: "POST",
          headers: { "content-type": type, ...headers },
          body,
          duplex: "half",
        } as RequestInit),
        { remoteAddress: "198.51.100.7" },
      );
      const text = await res.text();
      assert.equal(res.status, 408, text.slice(0, 200));
      assert.equal(res.headers.get("connection"), "close");
      if (json) assert.ok(JSON.parse(text), "a JSON error body");
      else assert.match(text, /did not arrive in time/);
      assert.equal(await snapshot(server.store), before);
    });
  }
  await server.app.close();
});

Deno.test("a stalled body on the passkey enrolment page is answered 408 with Connection: close", async () => {
  // A host name, not an IP: only then is there an RP ID and the form read at all.
  const server = testServer({ baseUrl: PASSKEY_BASE_URL, bodyTimeoutSeconds: 1 });
  const before = await snapshot(server.store);
  const res = await server.app.fetch(
    new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: PASSKEY_BASE_URL },
      body: stalledBody().body,
      duplex: "half",
    } as RequestInit),
    { remoteAddress: "198.51.100.7" },
  );
  const text = await res.text();
  assert.equal(res.status, 408, text.slice(0, 200));
  assert.equal(res.headers.get("connection"), "close");
  assert.match(text, /did not arrive in time/);
  assert.equal(await snapshot(server.store), before);
  await server.app.close();
});

Deno.test("a body that arrives in time is read as before", async () => {
  const server = testServer({ bodyTimeoutSeconds: 1 });
  const chunks = ['{"client_name":"slow but steady",', '"redirect_uris":["https://claude.ai/cb"]}'];
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = chunks.shift();
      if (next === undefined) return controller.close();
      await new Promise((r) => setTimeout(r, 100));
      controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const res = await server.app.fetch(
    new Request(`${BASE_URL}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit),
    { remoteAddress: "198.51.100.7" },
  );
  assert.equal(res.status, 201, await res.text());
  await server.app.close();
});

Deno.test("a quiet MCP SSE stream gets keepalive comments", async () => {
  const server = testServer({ sseKeepaliveSeconds: 1 });
  const tokens = await tokensFor(server.app, await registerClient(server.app));
  const headers = {
    authorization: `Bearer ${tokens.access_token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  const init = await server.app.fetch(
    new Request(MCP_URL, {
      method: "POST",
      headers,
      body: JSON.stringify(initializeRequest("keepalive")),
    }),
  );
  await init.text();
  const session = init.headers.get("mcp-session-id")!;
  assert.ok(session);
  const stream = await server.app.fetch(
    new Request(MCP_URL, {
      headers: { ...headers, "mcp-session-id": session, accept: "text/event-stream" },
    }),
  );
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  let seen = "";
  while (!seen.includes(": keepalive\n\n")) {
    const { done, value } = await reader.read();
    assert.ok(!done, "the stream stays open");
    seen += new TextDecoder().decode(value);
  }
  await reader.cancel();
  await server.app.close();
});
