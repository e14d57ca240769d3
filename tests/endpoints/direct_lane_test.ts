/**
 * The direct lane (issue 23) answers plain sessionless 2025-era `tools/call` and
 * `tools/list` requests without the SDK's dispatch bookkeeping. It must answer exactly
 * as the dispatch does: two endpoints built alike, one with the lane and one without,
 * are sent the same few hundred requests (valid and invalid, both protocol eras, tools
 * that succeed, fail, break their output schema, log, ask the client, are refused by the
 * gate) and must answer alike in status, content type and body, byte for byte.
 */
import assert from "node:assert/strict";
import {
  type AuthInfo,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type McpServer,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { createMcpEndpoint, type McpEndpoint } from "../../transport/mcp/endpoint.ts";
import type { ToolGate } from "../../transport/mcp/servers.ts";
import { tool, type Tools } from "../../transport/tools.ts";

const MCP_URL = "http://127.0.0.1:8787/mcp";

const tools: Tools = {
  hello: tool({
    description: "Say hello",
    input: { name: z.string(), times: z.number().int().min(1).max(3).optional() },
    run: ({ name, times }) => `Hello, ${name}!`.repeat(times ?? 1),
  }),
  add: tool({
    description: "Add two numbers",
    input: {
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"],
    },
    run: ({ a, b }) => String(Number(a) + Number(b)),
  }),
  plain: tool({ description: "No input", annotations: { readOnlyHint: true }, run: () => "ok" }),
  sum: tool({
    description: "Structured output",
    input: { values: z.array(z.number()) },
    output: { sum: z.number(), count: z.number() },
    run: ({ values }) => ({ sum: values.reduce((a, b) => a + b, 0), count: values.length }),
  }),
  broken: tool({
    description: "Breaks its output schema",
    output: { n: z.number() },
    run: () => ({ n: "not a number" }) as unknown as { n: number },
  }),
  fails: tool({
    description: "Throws",
    run: () => {
      throw new Error('boom <b>"quoted"</b>');
    },
  }),
  rich: tool({
    description: "Returns a full result with extra fields",
    run: () => ({
      content: [
        { type: "text", text: "t", annotations: { audience: ["user"], priority: 0.5 } },
        { type: "image", data: "aGk=", mimeType: "image/png" },
        { type: "text", text: "x", extra: { kept: true } } as never,
      ],
      _meta: { "example.com/trace": 1 },
      isError: false,
    }),
  }),
  array_structured: tool({
    description: "Structured content that is not an object",
    run: () => ({ content: [], structuredContent: [1, 2] as never }),
  }),
  not_a_result: tool({ description: "Returns nothing usable", run: () => 42 as never }),
  context: tool({
    description: "Reports what its context offers",
    run: async (_args, ctx) => {
      await ctx.mcpReq.log("info", "working");
      await ctx.mcpReq.notify({ method: "notifications/progress", params: { progress: 1 } })
        .catch((e: Error) => e.message);
      const asked = await ctx.mcpReq.elicitInput({
        mode: "form",
        message: "Sure?",
        requestedSchema: { type: "object", properties: {} },
      }).then(() => "answered", (e: Error) => `refused: ${e.message}`);
      return JSON.stringify({
        method: ctx.mcpReq.method,
        meta: ctx.mcpReq._meta ?? null,
        aborted: ctx.mcpReq.signal.aborted,
        session: ctx.sessionId ?? null,
        header: ctx.http?.req?.headers.get("x-probe") ?? null,
        asked,
      });
    },
  }),
  secret: tool({ description: "The gate refuses it", run: () => "never" }),
};

/** A gate that refuses one tool and hides it, and runs the rest. */
const gate: ToolGate = {
  listed: (authInfo, names) =>
    Promise.resolve(new Set(authInfo ? names.filter((n) => n !== "secret") : [])),
  call: (call, run) =>
    call.name === "secret" || !call.authInfo
      ? Promise.resolve({ content: [{ type: "text", text: "refused" }], isError: true })
      : run({ policy: "allow" }),
};

function endpoint(directLane: boolean): McpEndpoint {
  return createMcpEndpoint(tools, {
    name: "differential",
    version: "1.0.0",
    bodyTimeoutSeconds: 10,
    toolGate: gate,
    directLane,
    // A tool of the SDK's own registration (what configureServer code adds) rides along.
    configureServer: (server: McpServer) => {
      server.registerTool("sdk_tool", { description: "Registered through the SDK" }, () => ({
        content: [{ type: "text", text: "from the SDK" }],
      }));
    },
  });
}

const authInfo: AuthInfo = {
  token: "",
  clientId: "client-1",
  scopes: ["mcp"],
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  resource: new URL(MCP_URL),
  extra: { grantId: "grant-1", clientName: "Differential" },
};

interface Case {
  body: unknown;
  headers?: Record<string, string>;
}

function request(c: Case): Request {
  return new Request(MCP_URL, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      "x-probe": "probe",
      ...c.headers,
    },
    body: typeof c.body === "string" ? c.body : JSON.stringify(c.body),
  });
}

const call = (id: unknown, name: unknown, args?: unknown, extra: object = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, ...(args === undefined ? {} : { arguments: args }), ...extra },
});

function cases(): Case[] {
  const out: Case[] = [];
  const argumentsOf: Record<string, unknown[]> = {
    hello: [{ name: "Ada" }, { name: "Ada", times: 2 }, { name: "Ada", times: 9 }, { name: 5 }, {}],
    add: [{ a: 1, b: 2 }, { a: "1", b: 2 }, { a: 1 }],
    plain: [{}, { unexpected: true }],
    sum: [{ values: [1, 2, 3] }, { values: [] }, { values: ["x"] }],
    broken: [{}],
    fails: [{}],
    rich: [{}],
    array_structured: [{}],
    not_a_result: [{}],
    context: [{}],
    secret: [{}],
    sdk_tool: [{}],
    missing: [{}],
  };
  const ids: unknown[] = [1, "a", 0, -7, "", Number.MAX_SAFE_INTEGER, "x".repeat(200)];
  let n = 0;
  for (const [name, variants] of Object.entries(argumentsOf)) {
    for (const args of variants) {
      for (const id of ids) out.push({ body: call(id, name, args) });
      out.push({ body: call(n++, name, args, { _meta: {} }) });
      out.push({ body: call(n++, name, args, { extra: "kept or dropped alike" }) });
    }
    // Arguments of the wrong kind, absent, and with other parameters around them.
    for (const args of [undefined, null, [], "text", 5, { nested: { deep: [1, { a: null }] } }]) {
      out.push({ body: call(n++, name, args) });
    }
  }
  // Names that are not tool names, and requests that are not quite requests.
  for (const name of [undefined, 5, null, "", "hello ", "héllo", "x".repeat(300), ["hello"]]) {
    out.push({ body: call(n++, name, {}) });
  }
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "tools/call" } });
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "tools/call", params: [] } });
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "tools/call", params: "x" } });
  out.push({ body: { jsonrpc: "1.0", id: n++, method: "tools/call", params: { name: "plain" } } });
  out.push({ body: { id: n++, method: "tools/call", params: { name: "plain" } } });
  out.push({
    body: { jsonrpc: "2.0", id: { no: 1 }, method: "tools/call", params: { name: "plain" } },
  });
  out.push({ body: { jsonrpc: "2.0", id: 1.5, method: "tools/call", params: { name: "plain" } } });
  out.push({ body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"plain"' });
  for (const params of [undefined, {}, { cursor: "x" }, { _meta: {} }, { cursor: 5 }, []]) {
    out.push({
      body: { jsonrpc: "2.0", id: n++, method: "tools/list", ...(params ? { params } : {}) },
    });
  }
  // Held to the same answers outside the lane: other methods, progress (an event
  // stream), versions the server does not speak, no version header, the 2026-07-28 era.
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "resources/list" } });
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "ping" } });
  out.push({ body: { jsonrpc: "2.0", id: n++, method: "no/such/method" } });
  out.push({ body: call(n++, "hello", { name: "Ada" }, { _meta: { progressToken: 3 } }) });
  out.push({
    body: call(n++, "hello", { name: "Ada" }),
    headers: { "mcp-protocol-version": "1999-01-01" },
  });
  out.push({
    body: call(n++, "hello", { name: "Ada" }),
    headers: { "mcp-protocol-version": "2024-11-05" },
  });
  out.push({
    body: call(n++, "hello", { name: "Ada" }),
    headers: { "content-type": "text/plain" },
  });
  out.push({ body: call(n++, "hello", { name: "Ada" }), headers: { accept: "application/json" } });
  const envelope = {
    [PROTOCOL_VERSION_META_KEY]: "2026-07-28",
    [CLIENT_INFO_META_KEY]: { name: "differential-client", version: "1.0.0" },
    [CLIENT_CAPABILITIES_META_KEY]: {},
  };
  const modern = { "mcp-protocol-version": "2026-07-28" };
  for (const name of ["hello", "sum", "fails", "broken", "context", "secret", "missing"]) {
    out.push({
      body: call(n++, name, name === "sum" ? { values: [1] } : { name: "Ada" }, {
        _meta: envelope,
      }),
      headers: { ...modern, "mcp-method": "tools/call", "mcp-name": name },
    });
  }
  out.push({
    body: { jsonrpc: "2.0", id: n++, method: "tools/list", params: { _meta: envelope } },
    headers: { ...modern, "mcp-method": "tools/list" },
  });
  return out;
}

Deno.test("the direct lane answers as the SDK's dispatch does, byte for byte", async () => {
  const lane = endpoint(true);
  const dispatch = endpoint(false);
  const all = cases();
  assert.ok(all.length >= 300, `${all.length} cases`);
  let laneAnswers = 0;
  try {
    for (const c of all) {
      const [a, b] = [
        await lane.fetch(request(c), authInfo),
        await dispatch.fetch(request(c), authInfo),
      ];
      const what = JSON.stringify(c).slice(0, 300);
      assert.equal(a.status, b.status, what);
      assert.equal(a.headers.get("content-type"), b.headers.get("content-type"), what);
      assert.equal(a.headers.get("www-authenticate"), b.headers.get("www-authenticate"), what);
      const [textA, textB] = [await a.text(), await b.text()];
      assert.equal(textA, textB, what);
      if (a.status === 200 && textA.startsWith("{")) laneAnswers++;
    }
  } finally {
    await lane.close();
    await dispatch.close();
  }
  // The comparison is about the lane: most cases are answered as JSON by it.
  assert.ok(laneAnswers > 250, `${laneAnswers} JSON answers`);
});

Deno.test("an answer through the lane: the tool ran with the SDK's context", async () => {
  const lane = endpoint(true);
  try {
    const res = await lane.fetch(request({ body: call(1, "context", {}) }), authInfo);
    const text = (await res.json()).result.content[0].text;
    const seen = JSON.parse(text);
    assert.equal(seen.method, "tools/call");
    assert.equal(seen.header, "probe");
    assert.equal(seen.aborted, false);
    assert.match(seen.asked, /^refused: /);
  } finally {
    await lane.close();
  }
});
