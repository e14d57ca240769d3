/**
 * 2025-era sessions on /mcp: opened by initialize, reachable only with the session id
 * and a token of the grant that opened it; no session id means stateless, and so does
 * an id this process does not hold (restart, idle, eviction), unless the client ended
 * that session with DELETE.
 */
import assert from "node:assert/strict";
import { MAX_SESSIONS } from "../../transport/mcp/endpoint.ts";
import {
  initializeRequest,
  mcpPost,
  registerClient,
  rpcMessage,
  testServer,
  tokensFor,
} from "../fixtures.ts";

const INITIALIZE = initializeRequest("t", { elicitation: {} });
const TOOLS_LIST = { jsonrpc: "2.0", id: 2, method: "tools/list" };
const HELLO_CALL = {
  jsonrpc: "2.0",
  id: 3,
  method: "tools/call",
  params: { name: "hello", arguments: { name: "Claude" } },
};

async function setup() {
  const server = testServer();
  const client = await registerClient(server.app);
  const tokens = await tokensFor(server.app, client);
  const other = await tokensFor(server.app, await registerClient(server.app));
  const bearer = (t: { access_token: string }) => ({ authorization: `Bearer ${t.access_token}` });
  return { ...server, tokens, other, bearer };
}

Deno.test("initialize opens a session whose id later requests can use", async () => {
  const { app, tokens, bearer } = await setup();
  const init = await mcpPost(app, INITIALIZE, bearer(tokens));
  assert.equal(init.status, 200);
  const sessionId = init.headers.get("mcp-session-id");
  assert.ok(sessionId, "the answer names the session");
  assert.equal((await rpcMessage(init)).id, 1);
  const list = await mcpPost(app, TOOLS_LIST, {
    ...bearer(tokens),
    "mcp-session-id": sessionId,
    "mcp-protocol-version": "2025-06-18",
  });
  assert.equal(list.status, 200);
  const message = await rpcMessage(list);
  assert.deepEqual((message.result as { tools: { name: string }[] }).tools.map((t) => t.name), [
    "hello",
  ]);
});

Deno.test("a session id this process does not hold is served statelessly with the caller's token", async (t) => {
  const { app, tokens, bearer } = await setup();
  await t.step("an id never seen here (a restart) answers tools/call", async () => {
    const call = await mcpPost(app, HELLO_CALL, {
      ...bearer(tokens),
      "mcp-session-id": crypto.randomUUID(),
    });
    assert.equal(call.status, 200);
    const message = await rpcMessage(call);
    assert.deepEqual((message.result as { content: unknown[] }).content, [{
      type: "text",
      text: "Hello, Claude!",
    }]);
  });
  await t.step("an evicted session's id still answers", async () => {
    const first = (await mcpPost(app, INITIALIZE, bearer(tokens))).headers.get("mcp-session-id")!;
    for (let i = 0; i < MAX_SESSIONS; i++) {
      await (await mcpPost(app, INITIALIZE, bearer(tokens))).body?.cancel();
    }
    const list = await mcpPost(app, TOOLS_LIST, { ...bearer(tokens), "mcp-session-id": first });
    assert.equal(list.status, 200);
    assert.ok((await rpcMessage(list)).result);
  });
  await t.step("without a token it is still a 401", async () => {
    const call = await mcpPost(app, HELLO_CALL, { "mcp-session-id": crypto.randomUUID() });
    assert.equal(call.status, 401);
    await call.body?.cancel();
  });
});

Deno.test("another grant's session id gets 404", async () => {
  const { app, tokens, other, bearer } = await setup();
  const sessionId = (await mcpPost(app, INITIALIZE, bearer(tokens))).headers.get("mcp-session-id")!;
  const stolen = await mcpPost(app, TOOLS_LIST, { ...bearer(other), "mcp-session-id": sessionId });
  assert.equal(stolen.status, 404, "a session is only reachable with its own grant's token");
  assert.equal(((await stolen.json()).error as { code: number }).code, -32001);
});

Deno.test("DELETE with the session id ends the session", async () => {
  const { app, tokens, bearer } = await setup();
  const sessionId = (await mcpPost(app, INITIALIZE, bearer(tokens))).headers.get("mcp-session-id")!;
  const del = await app.fetch(
    new Request("http://127.0.0.1:8787/mcp", {
      method: "DELETE",
      headers: {
        ...bearer(tokens),
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
      },
    }),
  );
  assert.equal(del.status, 200);
  await del.body?.cancel();
  const after = await mcpPost(app, TOOLS_LIST, { ...bearer(tokens), "mcp-session-id": sessionId });
  assert.equal(after.status, 404, "a session the client ended stays ended");
  await after.body?.cancel();
  const call = await mcpPost(app, HELLO_CALL, { ...bearer(tokens), "mcp-session-id": sessionId });
  assert.equal(call.status, 404);
  await call.body?.cancel();
});

Deno.test("DELETE of a session id this process does not hold gets 404", async () => {
  const { app, tokens, bearer } = await setup();
  const del = await app.fetch(
    new Request("http://127.0.0.1:8787/mcp", {
      method: "DELETE",
      headers: { ...bearer(tokens), "mcp-session-id": crypto.randomUUID() },
    }),
  );
  assert.equal(del.status, 404);
  await del.body?.cancel();
});

Deno.test("requests without a session id are served statelessly, even after an initialize", async () => {
  const { app, tokens, bearer } = await setup();
  await (await mcpPost(app, INITIALIZE, bearer(tokens))).body?.cancel();
  const call = await mcpPost(app, {
    jsonrpc: "2.0",
    id: 3,
    method: "tools/call",
    params: { name: "hello", arguments: { name: "Claude" } },
  }, { ...bearer(tokens), "mcp-protocol-version": "2025-06-18" });
  assert.equal(call.status, 200);
  const message = await rpcMessage(call);
  assert.deepEqual((message.result as { content: unknown[] }).content, [{
    type: "text",
    text: "Hello, Claude!",
  }]);
});

Deno.test("a body that is not JSON gets a JSON-RPC parse error, and an oversized one 413", async () => {
  const { app, tokens, bearer } = await setup();
  const bad = await app.fetch(
    new Request("http://127.0.0.1:8787/mcp", {
      method: "POST",
      headers: {
        ...bearer(tokens),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: "{not json",
    }),
  );
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, -32700);
  const big = await app.fetch(
    new Request("http://127.0.0.1:8787/mcp", {
      method: "POST",
      headers: {
        ...bearer(tokens),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "ping",
        params: { pad: "x".repeat(5 * 1024 * 1024) },
      }),
    }),
  );
  assert.equal(big.status, 413);
  await big.body?.cancel();
});

Deno.test("a sessionless call is answered in JSON, or as a stream when it asks for progress", async () => {
  const { app, tokens, bearer } = await setup();
  const call = (meta?: Record<string, unknown>) =>
    mcpPost(app, {
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: { name: "hello", arguments: { name: "Ada" }, ...(meta ? { _meta: meta } : {}) },
    }, bearer(tokens));
  const plain = await call();
  assert.equal(plain.status, 200);
  assert.match(plain.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(
    ((await plain.json()).result as { content: { text: string }[] }).content[0]!.text,
    "Hello, Ada!",
  );
  const progress = await call({ progressToken: "p1" });
  assert.equal(progress.status, 200);
  assert.match(progress.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.equal(
    ((await rpcMessage(progress)).result as { content: { text: string }[] }).content[0]!.text,
    "Hello, Ada!",
  );
});
