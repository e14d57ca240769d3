/**
 * The endpoint's server instances: every one is built with the same registrations and
 * `configureServer`, and `servers()` reaches each one alive (the shared one, one per
 * session), so that what changes on all of them (the gateway's tool list) is offered
 * by every path a request can take; a session's instance leaves with the session.
 */
import assert from "node:assert/strict";
import {
  type AuthInfo,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type McpServer,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/server";
import { createMcpEndpoint } from "../../transport/mcp/endpoint.ts";
import { tool } from "../../transport/tools.ts";
import { initializeRequest, MCP_URL, mcpRequest, rpcMessage } from "../fixtures.ts";

const AUTH: AuthInfo = { token: "t", clientId: "c", scopes: [], extra: { grantId: "g" } };
const TOOLS = { hello: tool({ description: "Says hello", run: () => "hello" }) };

async function toolNames(response: Response): Promise<string[]> {
  const message = await rpcMessage(response);
  return (message.result as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
}

Deno.test("servers() reaches every live instance, and a session's leaves with it", async () => {
  const configured: McpServer[] = [];
  const endpoint = createMcpEndpoint(TOOLS, {
    name: "t",
    version: "1",
    bodyTimeoutSeconds: 5,
    configureServer: (server) => configured.push(server),
  });
  try {
    assert.equal(endpoint.servers().length, 1, "the shared server is built at once");
    const init = await endpoint.fetch(mcpRequest(initializeRequest("c")), AUTH);
    const sessionId = init.headers.get("mcp-session-id")!;
    await init.body?.cancel();
    assert.ok(sessionId);
    const live = endpoint.servers();
    assert.equal(live.length, 2);
    assert.deepEqual(new Set(live), new Set(configured), "configureServer ran on each");

    for (const server of live) {
      server.registerTool("added", { description: "Added later" }, () => ({
        content: [{ type: "text", text: "added" }],
      }));
    }
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    const inSession = await endpoint.fetch(mcpRequest(list, { "mcp-session-id": sessionId }), AUTH);
    assert.deepEqual(await toolNames(inSession), ["added", "hello"]);
    assert.deepEqual(await toolNames(await endpoint.fetch(mcpRequest(list), AUTH)), [
      "added",
      "hello",
    ]);

    const end = await endpoint.fetch(
      new Request(MCP_URL, {
        method: "DELETE",
        headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" },
      }),
      AUTH,
    );
    assert.equal(end.status, 200);
    assert.equal(endpoint.servers().length, 1, "the session's instance is gone");
  } finally {
    await endpoint.close();
  }
  assert.equal(endpoint.servers().length, 0, "a closed endpoint keeps no instance");
});

Deno.test("an initialize the transport refuses opens no session and keeps no instance", async () => {
  const endpoint = createMcpEndpoint(TOOLS, { name: "t", version: "1", bodyTimeoutSeconds: 5 });
  try {
    for (let i = 0; i < 3; i++) {
      const refused = await endpoint.fetch(
        mcpRequest(initializeRequest("c"), { "content-type": "text/plain" }),
        AUTH,
      );
      assert.equal(refused.status, 415);
      assert.equal(refused.headers.get("mcp-session-id"), null);
      await refused.body?.cancel();
    }
    assert.equal(endpoint.servers().length, 1, "only the shared server is alive");
  } finally {
    await endpoint.close();
  }
});

Deno.test("a burst of 50 concurrent 2026-07-28 requests is served again from the pool, building nothing", async () => {
  let built = 0;
  const endpoint = createMcpEndpoint(TOOLS, {
    name: "t",
    version: "1",
    bodyTimeoutSeconds: 5,
    configureServer: () => built++,
  });
  const envelope = {
    [PROTOCOL_VERSION_META_KEY]: "2026-07-28",
    [CLIENT_INFO_META_KEY]: { name: "burst", version: "1" },
    [CLIENT_CAPABILITIES_META_KEY]: {},
  };
  const burst = () =>
    Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const response = await endpoint.fetch(
        mcpRequest(
          {
            jsonrpc: "2.0",
            id: i,
            method: "tools/call",
            params: { name: "hello", arguments: {}, _meta: envelope },
          },
          { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "hello" },
        ),
        AUTH,
      );
      const message = await rpcMessage(response);
      assert.equal((message.result as { content: { text: string }[] }).content[0]!.text, "hello");
    }));
  try {
    await burst();
    const afterFirst = built;
    assert.ok(afterFirst >= 50, `${afterFirst} instances for 50 requests in flight`);
    await burst();
    // Building an instance (registrations, the gate) was most of a 2026-07-28 call's cost
    // under load when the pool kept 16.
    assert.equal(built, afterFirst, "the second burst built no instance");
  } finally {
    await endpoint.close();
  }
});
