/**
 * One MCP server answers every sessionless 2025-era request of the process (issue 9):
 * built once, not per request, with concurrent exchanges kept apart, and nothing one
 * client sends reaching another client's request. Resources and prompts are offered next
 * to tools. Driven over the server's own fetch handler, as Claude.ai calls it (no session).
 */
import assert from "node:assert/strict";
import {
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type McpServer,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { createPersonalMcp } from "../../server/create.ts";
import { isModernHeader, isPlainLegacyRequest } from "../../transport/mcp/endpoint.ts";
import { prompt } from "../../transport/prompts.ts";
import { resource } from "../../transport/resources.ts";
import { tool, type Tools } from "../../transport/tools.ts";
import { BASE_URL, mcpPost, PASSWORD, registerClient, rpcMessage, tokensFor } from "../fixtures.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function setup(extra: { configureServer?: (server: McpServer) => void } = {}) {
  let cancelled = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const tools: Tools = {
    echo: tool({
      description: "Answers with what it was given, after a while",
      input: { text: z.string(), delayMs: z.number() },
      run: async ({ text, delayMs }) => {
        await sleep(delayMs);
        return text;
      },
    }),
    wait: tool({
      description: "Waits until released or cancelled",
      run: async (_args, ctx) => {
        await Promise.race([released, aborted(ctx.mcpReq.signal)]);
        if (ctx.mcpReq.signal.aborted) cancelled++;
        return "released";
      },
    }),
    chatty: tool({
      description: "Logs at info level, then answers",
      run: async (_args, ctx) => {
        await ctx.mcpReq.log("info", "working on it");
        return "done";
      },
    }),
  };
  const app = createPersonalMcp(tools, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    resources: {
      today: resource({
        uri: "notes://today",
        title: "Today",
        mimeType: "text/plain",
        read: () => "Buy milk",
      }),
      day: resource({
        template: "notes://day/{date}",
        description: "The notes of one day",
        read: (_uri, { date }) => ({
          contents: [{ uri: `notes://day/${date}`, text: `Notes of ${date}` }],
        }),
      }),
    },
    prompts: {
      review: prompt({
        description: "Review a text",
        args: { text: z.string() },
        run: ({ text }) => `Please review: ${text}`,
      }),
      hello: prompt({ description: "Say hello", run: () => "Hello!" }),
    },
    ...extra,
  });
  return { app, release, cancelled: () => cancelled };
}

async function bearer(app: ReturnType<typeof setup>["app"]): Promise<Record<string, string>> {
  const tokens = await tokensFor(app, await registerClient(app));
  return { authorization: `Bearer ${tokens.access_token}` };
}

function call(id: unknown, name: string, args: Record<string, unknown> = {}, meta?: unknown) {
  return {
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
  };
}

Deno.test("sessionless requests are answered by one server built once, not one per request", async () => {
  let built = 0;
  const { app } = setup({ configureServer: () => void built++ });
  const auth = await bearer(app);
  for (let i = 0; i < 10; i++) {
    const res = await mcpPost(app, call(1, "echo", { text: `n${i}`, delayMs: 0 }), auth);
    assert.equal(
      ((await rpcMessage(res)).result as { content: { text: string }[] }).content[0]!
        .text,
      `n${i}`,
    );
  }
  assert.equal(built, 1, "configureServer ran once for ten sessionless requests");
  await app.close();
});

Deno.test("concurrent sessionless calls with the same JSON-RPC id each get their own answer", async () => {
  const { app } = setup();
  const auth = await bearer(app);
  const texts = Array.from({ length: 30 }, (_, i) => `caller-${i}`);
  // Every call uses id 1, and they finish in the reverse order of their start.
  const answers = await Promise.all(texts.map(async (text, i) => {
    const res = await mcpPost(app, call(1, "echo", { text, delayMs: (30 - i) * 2 }), auth);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    return await res.json();
  }));
  answers.forEach((answer, i) => {
    assert.equal(answer.id, 1);
    assert.equal(answer.result.content[0].text, texts[i]);
  });
  // String ids too, as some clients send them.
  const res = await mcpPost(app, call("abc", "echo", { text: "s", delayMs: 0 }), auth);
  assert.equal((await res.json()).id, "abc");
  await app.close();
});

Deno.test("a client's cancellation cannot reach another client's call on the shared server", async () => {
  const { app, release, cancelled } = setup();
  const auth = await bearer(app);
  const waiting = mcpPost(app, call(5, "wait"), auth);
  await sleep(20);
  // Whatever id a stranger names, it is an id of the shared server's, never its own.
  for (const requestId of [1, 2, 3, 5, "5"]) {
    const res = await mcpPost(app, {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId, reason: "mischief" },
    }, auth);
    assert.equal(res.status, 202);
  }
  // A posted JSON-RPC response names no request of ours either.
  const posted = await mcpPost(app, { jsonrpc: "2.0", id: 0, result: {} }, auth);
  assert.equal(posted.status, 202);
  await posted.body?.cancel();
  release();
  const answer = await rpcMessage(await waiting);
  assert.equal((answer.result as { content: { text: string }[] }).content[0]!.text, "released");
  assert.equal(cancelled(), 0);
  await app.close();
});

Deno.test("a client that closes its progress stream cancels its own call on the shared server", async () => {
  const { app, cancelled } = setup();
  const auth = await bearer(app);
  const res = await mcpPost(app, call(9, "wait", {}, { progressToken: "p1" }), auth);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  await sleep(20);
  await res.body!.cancel();
  for (let i = 0; i < 50 && cancelled() === 0; i++) await sleep(10);
  assert.equal(cancelled(), 1, "the tool saw its request cancelled");
  await app.close();
});

Deno.test("a sessionless logging/setLevel is answered but does not change another client's log messages", async () => {
  const { app } = setup();
  const auth = await bearer(app);
  const set = await mcpPost(app, {
    jsonrpc: "2.0",
    id: 1,
    method: "logging/setLevel",
    params: { level: "emergency" },
  }, auth);
  assert.deepEqual((await set.json()).result, {});
  // Another call that asks for progress gets its own log message on its stream.
  const res = await mcpPost(app, call(2, "chatty", {}, { progressToken: "p" }), auth);
  const text = await res.text();
  assert.match(text, /notifications\/message/);
  assert.match(text, /working on it/);
  await app.close();
});

Deno.test("an unsupported MCP-Protocol-Version header or media type is refused by the shared path", async () => {
  const { app } = setup();
  const auth = await bearer(app);
  const version = await mcpPost(app, call(1, "echo", { text: "x", delayMs: 0 }), {
    ...auth,
    "mcp-protocol-version": "1999-01-01",
  });
  assert.equal(version.status, 400);
  assert.match((await version.json()).error.message, /Unsupported protocol version/);
  const media = await mcpPost(app, call(1, "echo", { text: "x", delayMs: 0 }), {
    ...auth,
    "content-type": "text/plain",
  });
  assert.equal(media.status, 415);
  await media.body?.cancel();
  await app.close();
});

Deno.test("resources and prompts given as options are listed, read and got without a session", async (t) => {
  const { app } = setup();
  const auth = await bearer(app);
  const rpc = async (method: string, params: Record<string, unknown> = {}) =>
    (await rpcMessage(await mcpPost(app, { jsonrpc: "2.0", id: 1, method, params }, auth)))
      .result as Record<string, unknown>;

  await t.step("resources/list names the fixed resource", async () => {
    const { resources } = await rpc("resources/list") as { resources: { uri: string }[] };
    assert.deepEqual(resources.map((r) => r.uri), ["notes://today"]);
  });
  await t.step("resources/templates/list names the template", async () => {
    const { resourceTemplates } = await rpc("resources/templates/list") as {
      resourceTemplates: { uriTemplate: string; description: string }[];
    };
    assert.equal(resourceTemplates[0]!.uriTemplate, "notes://day/{date}");
    assert.equal(resourceTemplates[0]!.description, "The notes of one day");
  });
  await t.step("resources/read returns text with its MIME type, and fills templates", async () => {
    const today = await rpc("resources/read", { uri: "notes://today" });
    assert.deepEqual(today.contents, [{
      uri: "notes://today",
      mimeType: "text/plain",
      text: "Buy milk",
    }]);
    const day = await rpc("resources/read", { uri: "notes://day/2026-01-02" }) as {
      contents: { text: string }[];
    };
    assert.equal(day.contents[0]!.text, "Notes of 2026-01-02");
  });
  await t.step("prompts/list and prompts/get, with validated arguments", async () => {
    const { prompts } = await rpc("prompts/list") as { prompts: { name: string }[] };
    assert.deepEqual(prompts.map((p) => p.name).sort(), ["hello", "review"]);
    const got = await rpc("prompts/get", { name: "review", arguments: { text: "my essay" } });
    assert.deepEqual(got.messages, [{
      role: "user",
      content: { type: "text", text: "Please review: my essay" },
    }]);
    const bad = await rpcMessage(
      await mcpPost(app, {
        jsonrpc: "2.0",
        id: 1,
        method: "prompts/get",
        params: { name: "review", arguments: {} },
      }, auth),
    );
    assert.ok(bad.error, "a missing argument is a JSON-RPC error");
  });
  await app.close();
});

Deno.test("resource() and prompt() refuse definitions that cannot work, at creation", () => {
  assert.throws(() => resource({ uri: "not a uri", read: () => "" }), /absolute URI/);
  assert.throws(
    () => resource({ read: () => "" } as unknown as Parameters<typeof resource>[0]),
    /"uri" or a "template"/,
  );
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        resources: { x: {} } as never,
      }),
    /resources\.x must be made with resource\(\)/,
  );
  assert.throws(
    () =>
      createPersonalMcp({}, { baseUrl: BASE_URL, password: PASSWORD, prompts: { x: 1 } as never }),
    /prompts\.x must be made with prompt\(\)/,
  );
});

Deno.test("the plain-request shortcut never routes a body the SDK's classifier would route elsewhere", async (t) => {
  const call = {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "x", arguments: {} },
  };
  const envelope = { [PROTOCOL_VERSION_META_KEY]: "2026-07-28" };
  const cases: [string, unknown, string | null, boolean][] = [
    // name, body, MCP-Protocol-Version header, whether the shortcut takes it
    ["tools/call, 2025-11-25", call, "2025-11-25", true],
    ["tools/call, no header", call, null, true],
    ["tools/call, 2024-11-05", call, "2024-11-05", true],
    ["string id", { ...call, id: "a" }, "2025-06-18", true],
    ["no params", { jsonrpc: "2.0", id: 2, method: "tools/list" }, "2025-11-25", true],
    [
      "progress token",
      { ...call, params: { ...call.params, _meta: { progressToken: 1 } } },
      "2025-11-25",
      true,
    ],
    ["2026-07-28 header", call, "2026-07-28", false],
    ["unknown header", call, "1999-01-01", false],
    ["envelope claim", { ...call, params: { ...call.params, _meta: envelope } }, null, false],
    [
      "other _meta",
      { ...call, params: { ...call.params, _meta: { "x-trace": 1 } } },
      "2025-11-25",
      false,
    ],
    ["initialize", { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, null, false],
    ["notification", { jsonrpc: "2.0", method: "notifications/initialized" }, null, false],
    ["response", { jsonrpc: "2.0", id: 1, result: {} }, null, false],
    ["batch", [call], null, false],
    ["not JSON-RPC 2.0", { ...call, jsonrpc: "1.0" }, null, false],
    ["null id", { ...call, id: null }, null, false],
    ["array params", { ...call, params: [] }, null, false],
    ["a string", "tools/call", null, false],
  ];
  for (const [name, body, header, taken] of cases) {
    await t.step(name, () => {
      assert.equal(isPlainLegacyRequest(body, header), taken);
      if (!taken) return;
      const route = classifyInboundRequest({
        httpMethod: "POST",
        protocolVersionHeader: header ?? undefined,
        body,
      });
      assert.equal(route.kind, "legacy");
      assert.equal((route as { reason?: string }).reason, "no-claim");
    });
  }
});

Deno.test("a 2026-07-28-or-later header never reaches the SDK's 2025-era leg as a request or notification", () => {
  const call = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } };
  const envelope = {
    [PROTOCOL_VERSION_META_KEY]: "2026-07-28",
    [CLIENT_INFO_META_KEY]: { name: "c", version: "1" },
    [CLIENT_CAPABILITIES_META_KEY]: {},
  };
  const bodies: unknown[] = [
    call,
    { ...call, params: { ...call.params, _meta: envelope } },
    { ...call, params: { ...call.params, _meta: { progressToken: 1 } } },
    { jsonrpc: "2.0", id: 2, method: "tools/list" },
    { jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: envelope } },
    { jsonrpc: "2.0", id: 3, method: "initialize", params: {} },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 1, _meta: envelope },
    },
    { jsonrpc: "2.0", id: 1, result: {} },
    { jsonrpc: "2.0", id: 1, error: { code: -1, message: "x" } },
    [call],
    { ...call, jsonrpc: "1.0" },
    "tools/call",
    null,
  ];
  const headers = ["2026-07-28", "2026-12-01", "2099-01-01", "9", "2026-07-28x"];
  for (const header of headers) {
    assert.ok(isModernHeader(header), header);
    for (const body of bodies) {
      const route = classifyInboundRequest({
        httpMethod: "POST",
        protocolVersionHeader: header,
        body,
      });
      const reason = (route as { reason?: string }).reason;
      assert.ok(
        route.kind !== "legacy" || (reason !== "no-claim" && reason !== "notification"),
        `${header} ${JSON.stringify(body)}: ${route.kind} ${reason}`,
      );
    }
  }
  for (const header of [null, "2025-11-25", "2024-11-05", "1999-01-01", "2026-07-27"]) {
    assert.ok(!isModernHeader(header), String(header));
  }
});
