/**
 * Both protocol eras through the official SDK client: the 2025 handshake (initialize,
 * session) and the 2026-07-28 revision (server/discover, per-request envelope, no
 * session), against the same endpoint behind the bearer gate.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import assert from "node:assert/strict";
import { MCP_URL, registerClient, testServer, tokensFor } from "../fixtures.ts";

async function connect(versionNegotiation?: { mode: "legacy" | "auto" | { pin: string } }) {
  const server = testServer();
  const tokens = await tokensFor(server.app, await registerClient(server.app));
  const seen: { method: string; version: string | null; session: string | null; rpc: string }[] =
    [];
  const fetchApp = async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    const body = request.method === "POST" ? await request.clone().text() : "";
    seen.push({
      method: request.method,
      version: request.headers.get("mcp-protocol-version"),
      session: request.headers.get("mcp-session-id"),
      rpc: body ? (JSON.parse(body).method ?? "(response)") : "",
    });
    return await server.app.fetch(request);
  };
  const client = new Client(
    { name: "revisions-test", version: "1.0.0" },
    versionNegotiation ? { versionNegotiation } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: fetchApp,
      requestInit: { headers: { authorization: `Bearer ${tokens.access_token}` } },
    }),
  );
  return { client, seen, server };
}

Deno.test("a 2026-07-28 client discovers, lists and calls tools without a session", async () => {
  const { client, seen } = await connect({ mode: { pin: "2026-07-28" } });
  const tools = await client.listTools();
  assert.deepEqual(tools.tools.map((t) => t.name), ["hello"]);
  const result = await client.callTool({ name: "hello", arguments: { name: "2026" } });
  assert.deepEqual(result.content, [{ type: "text", text: "Hello, 2026!" }]);
  assert.ok(seen.some((r) => r.rpc === "server/discover"), "the modern handshake was used");
  assert.ok(!seen.some((r) => r.rpc === "initialize"), "no 2025 initialize");
  assert.ok(seen.every((r) => r.session === null), "no session id on any request");
  await client.close();
});

Deno.test("a 2025 client initializes, gets a session and calls tools in it", async () => {
  const { client, seen } = await connect();
  const result = await client.callTool({ name: "hello", arguments: { name: "2025" } });
  assert.deepEqual(result.content, [{ type: "text", text: "Hello, 2025!" }]);
  assert.equal(seen[0]!.rpc, "initialize");
  const call = seen.find((r) => r.rpc === "tools/call")!;
  assert.ok(call.session, "the call carried the session id");
  assert.match(call.version ?? "", /^2025-/);
  await client.close();
});

Deno.test("a client in auto mode settles on an era the server serves", async () => {
  const { client } = await connect({ mode: "auto" });
  const result = await client.callTool({ name: "hello", arguments: { name: "auto" } });
  assert.deepEqual(result.content, [{ type: "text", text: "Hello, auto!" }]);
  await client.close();
});
