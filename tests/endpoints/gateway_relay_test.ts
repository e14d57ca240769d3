/**
 * The gateway's relay (issue 21), in process: the `servers` option with real upstreams
 * (server-everything, an MCP App, a probe of our own) started by the runtime's spawner,
 * the server's own fetch handler behind the bearer gate, the SDK client downstream in
 * both protocol eras; a direct SDK client of the same program to compare with. Everything an upstream offers passes through whole:
 * definitions, every result kind, progress, sampling and elicitation round trips,
 * resources, prompts, list_changed; an upstream that cannot answer gives a clear error.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { z } from "zod";
import type { PersonalMcpEvent, PersonalMcpOptions } from "../../mod.ts";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { createPersonalMcpOn } from "../../server/create.ts";
import { serveUpstreams } from "../../server/gateway.ts";
import { resolveServers } from "../../server/options.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { resource } from "../../transport/resources.ts";
import { tool } from "../../transport/tools.ts";
import {
  BASE_URL,
  freePort,
  MCP_URL,
  mcpPost,
  PASSWORD,
  registerClient,
  ROOT,
  rpcMessage,
  spawnChild,
  testServer,
  tokensFor,
  waitForListener,
} from "../fixtures.ts";

const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
/** A real MCP Apps server: its tool points at a `ui://` resource through `_meta.ui`. */
const APPS = `${ROOT}node_modules/@modelcontextprotocol/server-basic-vanillajs/dist/index.js`;
/** Our own small upstream: waits, logs and asks for sampling on demand. */
const PROBE = `${ROOT}tests/upstreams/probe_server.mjs`;

/**
 * The server as servePersonalMcp() builds it (the runtime's spawner for stdio upstreams),
 * with the `hello` tool of the fixtures' testServer, its events kept.
 */
function gatewayServer(options: Partial<PersonalMcpOptions>) {
  const events: PersonalMcpEvent[] = [];
  const app = createPersonalMcpOn({
    hello: tool({
      description: "Say hello",
      input: { name: z.string() },
      run: ({ name }) => `Hello, ${name}!`,
    }),
  }, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
    onEvent: (event) => events.push(event),
    // What passes through, not the owner's say: every upstream tool allowed, as an owner
    // may set in code (tests/endpoints/permissions_test.ts holds the policy itself).
    toolPolicy: { "*": "allow" },
    ...options,
  }, { spawn: createStdioSpawner() });
  return { app, events };
}

/** A direct SDK client of an upstream, to compare what the gateway passes on. */
async function directEverything(args = [EVERYTHING, "stdio"]): Promise<Client> {
  const client = new Client({ name: "direct", version: "test" }, {
    capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} },
  });
  await client.connect(
    new StdioClientTransport({ command: "node", args, stderr: "ignore" }),
  );
  return client;
}

async function setup(probe: { timeoutMs: number; file?: string } = { timeoutMs: 10_000 }) {
  const server = gatewayServer({
    servers: {
      everything: { command: "node", args: [EVERYTHING, "stdio"] },
      apps: { command: "node", args: [APPS, "--stdio"], prefix: "app-" },
      probe: {
        command: "node",
        args: [PROBE],
        timeoutMs: probe.timeoutMs,
        ...(probe.file ? { env: { PROBE_FILE: probe.file } } : {}),
      },
    },
  });
  await server.app.ready();
  const tokens = await tokensFor(server.app, await registerClient(server.app));
  const fetchApp = (input: string | URL | Request, init?: RequestInit) =>
    server.app.fetch(new Request(input, init));
  async function connect(
    options: ConstructorParameters<typeof Client>[1] = {},
    setupClient?: (client: Client) => void,
    accessToken = tokens.access_token,
  ): Promise<Client> {
    const client = new Client({ name: "downstream", version: "1.0.0" }, options);
    setupClient?.(client);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(MCP_URL), {
        fetch: fetchApp,
        requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
      }),
    );
    return client;
  }
  const closeAll = () => server.app.close();
  /** What the activity log got of an upstream's log messages. */
  const logged = (upstream: string) =>
    server.events.filter((e) => e.type === "upstream_log" && e.server === upstream);
  return { server, tokens, connect, closeAll, logged };
}

const withoutName = <T extends { name: string }>(x: T) => ({ ...x, name: "" });

Deno.test("the gateway passes server-everything through whole, in a 2025-era session", async (t) => {
  const { connect, closeAll } = await setup();
  const direct = await directEverything();
  const client = await connect({
    capabilities: { sampling: {}, elicitation: { form: {}, url: {} } },
  }, (c) => {
    c.setRequestHandler("sampling/createMessage", (request) => ({
      role: "assistant",
      model: "test-model",
      content: {
        type: "text",
        text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}`,
      },
    }));
    c.setRequestHandler(
      "elicitation/create",
      (request) =>
        request.params.mode === "url" ? { action: "accept" } : {
          action: "accept",
          content: {
            name: "Ada",
            check: true,
            email: "ada@example.com",
            integer: 7,
            number: 1.5,
            color: "red",
          },
        },
    );
  });
  try {
    await t.step("tools: the owner's own and every upstream tool, definitions whole", async () => {
      const { tools } = await client.listTools();
      const upstream = (await direct.listTools()).tools;
      assert.ok(tools.some((tool) => tool.name === "hello"));
      for (const original of upstream) {
        const exposed = tools.find((tool) => tool.name === `everything_${original.name}`);
        assert.ok(exposed, `everything_${original.name} listed`);
        assert.deepEqual(withoutName(exposed), withoutName(original));
      }
      assert.equal(
        tools.filter((t) => t.name === "hello" || t.name.startsWith("everything_")).length,
        upstream.length + 1,
      );
    });

    await t.step(
      "an MCP App passes through: its tool's _meta.ui and its ui:// resource",
      async () => {
        const direct = await directEverything([APPS, "--stdio"]);
        try {
          const { tools } = await client.listTools();
          const originals = (await direct.listTools()).tools;
          assert.ok(originals.length > 0);
          for (const original of originals) {
            const exposed = tools.find((tool) => tool.name === `app-${original.name}`);
            assert.deepEqual(withoutName(exposed!), withoutName(original));
          }
          const ui = (originals.find((tool) => tool._meta?.ui)?._meta?.ui) as {
            resourceUri?: string;
          };
          assert.match(String(ui?.resourceUri), /^ui:\/\//);
          const read = await client.readResource({ uri: ui.resourceUri! });
          assert.deepEqual(read, await direct.readResource({ uri: ui.resourceUri! }));
          assert.match(JSON.stringify(read), /html/i);
          const name = originals[0]!.name;
          const result = await client.callTool({ name: `app-${name}`, arguments: {} });
          assert.notEqual(result.isError, true, JSON.stringify(result));
        } finally {
          await direct.close();
        }
      },
    );

    const cases: [name: string, args: Record<string, unknown>][] = [
      ["echo", { message: "hi" }],
      ["get-tiny-image", {}],
      ["get-structured-content", { location: "Chicago" }],
      ["get-resource-links", { count: 3 }],
      ["get-annotated-message", { messageType: "error", includeImage: true }],
      ["get-resource-reference", { resourceType: "Text", resourceId: 2 }],
      ["get-sum", { a: 2, b: 40 }],
    ];
    for (const [name, args] of cases) {
      await t.step(`${name}: the result is the upstream's, whole`, async () => {
        const through = await client.callTool({ name: `everything_${name}`, arguments: args });
        const straight = await direct.callTool({ name, arguments: args });
        assert.deepEqual(through, straight);
      });
    }

    await t.step("the owner's own tool still answers", async () => {
      const result = await client.callTool({ name: "hello", arguments: { name: "Ada" } });
      assert.deepEqual(result.content, [{ type: "text", text: "Hello, Ada!" }]);
    });

    await t.step("progress from trigger-long-running-operation reaches the client", async () => {
      const seen: number[] = [];
      const result = await client.callTool(
        { name: "everything_trigger-long-running-operation", arguments: { duration: 1, steps: 4 } },
        { onprogress: (p) => void seen.push(p.progress) },
      );
      // Every step, the last included: the SDK's own stdio client loses the last one
      // (notification handlers run a microtask late); our stdio transport does not, and
      // the gateway sends it before the result that ends the stream.
      assert.deepEqual(seen, [1, 2, 3, 4]);
      assert.match(JSON.stringify(result.content), /Long running operation completed/);
    });

    await t.step("a sampling round trip: the upstream asks, this client answers", async () => {
      const result = await client.callTool({
        name: "everything_trigger-sampling-request",
        arguments: { prompt: "capital of France?", maxTokens: 5 },
      });
      assert.match(JSON.stringify(result.content), /sampled: .*capital of France/);
      assert.match(JSON.stringify(result.content), /test-model/);
    });

    await t.step("an elicitation round trip", async () => {
      const result = await client.callTool({
        name: "everything_trigger-elicitation-request",
        arguments: {},
      });
      assert.notEqual(result.isError, true, JSON.stringify(result));
      assert.match(JSON.stringify(result.content), /Ada/);
    });

    await t.step("roots: the gateway declares them and answers an empty list", async () => {
      const result = await client.callTool({ name: "everything_get-roots-list", arguments: {} });
      assert.match(
        JSON.stringify(result.content),
        /supports roots but no roots are currently configured/,
      );
    });

    await t.step("URL elicitation: the request path and the -32042 error path", async () => {
      const asked = await client.callTool({
        name: "everything_trigger-url-elicitation",
        arguments: { url: "https://example.com/consent" },
      });
      assert.notEqual(asked.isError, true, JSON.stringify(asked));
      assert.match(JSON.stringify(asked.content), /accept/);
      // The upstream's UrlElicitationRequired error reaches the client as that error.
      await assert.rejects(
        client.callTool({
          name: "everything_trigger-url-elicitation",
          arguments: { url: "https://example.com/first", errorPath: true },
        }),
        (error: { code?: number }) => error.code === -32042,
      );
    });

    await t.step("resources, templates and reads route to the upstream", async () => {
      // Upstreams in configuration order: everything's, then the MCP App's.
      const { resources } = await client.listResources();
      const upstream = (await direct.listResources()).resources;
      assert.deepEqual(resources.slice(0, upstream.length), upstream);
      assert.ok(resources.slice(upstream.length).every((r) => r.uri.startsWith("ui://")));
      const { resourceTemplates } = await client.listResourceTemplates();
      const templates = (await direct.listResourceTemplates()).resourceTemplates;
      assert.deepEqual(resourceTemplates.slice(0, templates.length), templates);
      const listed = resources[0]!;
      assert.deepEqual(
        await client.readResource({ uri: listed.uri }),
        await direct.readResource({ uri: listed.uri }),
      );
      // A URI no list names, matching the upstream's template.
      const byTemplate = "demo://resource/dynamic/text/7";
      assert.deepEqual(
        await client.readResource({ uri: byTemplate }),
        await direct.readResource({ uri: byTemplate }),
      );
      await assert.rejects(client.readResource({ uri: "nowhere://x" }), /not found/i);
    });

    await t.step("prompts are namespaced and answered by the upstream", async () => {
      const { prompts } = await client.listPrompts();
      const upstream = (await direct.listPrompts()).prompts;
      for (const original of upstream) {
        const exposed = prompts.find((p) => p.name === `everything_${original.name}`);
        assert.deepEqual(withoutName(exposed!), withoutName(original));
      }
      const args = { city: "Paris", state: "IDF" };
      assert.deepEqual(
        await client.getPrompt({ name: "everything_args-prompt", arguments: args }),
        await direct.getPrompt({ name: "args-prompt", arguments: args }),
      );
    });

    await t.step("completions of an upstream's prompt and resource template", async () => {
      const prompt = await client.complete({
        ref: { type: "ref/prompt", name: "everything_completable-prompt" },
        argument: { name: "department", value: "S" },
      });
      assert.deepEqual(
        prompt,
        await direct.complete({
          ref: { type: "ref/prompt", name: "completable-prompt" },
          argument: { name: "department", value: "S" },
        }),
      );
      assert.ok(prompt.completion.values.includes("Sales"));
      const template = (await direct.listResourceTemplates()).resourceTemplates[0]!;
      const variable = /\{(\w+)\}/.exec(template.uriTemplate)![1]!;
      const args = {
        ref: { type: "ref/resource" as const, uri: template.uriTemplate },
        argument: { name: variable, value: "1" },
      };
      assert.deepEqual(await client.complete(args), await direct.complete(args));
    });

    await t.step("list_changed: a resource the upstream adds reaches this session", async () => {
      let changed = 0;
      client.setNotificationHandler("notifications/resources/list_changed", () => void changed++);
      const data = `data:text/plain;base64,${btoa("hello gateway")}`;
      await client.callTool({
        name: "everything_gzip-file-as-resource",
        arguments: { name: "gw.txt.gz", data, outputType: "resourceLink" },
      });
      const deadline = Date.now() + 5000;
      while (changed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(changed > 0, "resources/list_changed arrived");
      const { resources } = await client.listResources();
      assert.ok(resources.some((r) => r.name === "gw.txt.gz"), "the new resource is listed");
    });
  } finally {
    await client.close();
    await direct.close();
    await closeAll();
  }
});

Deno.test("sessionless 2025-era and 2026-07-28 requests reach the upstream too", async (t) => {
  const { connect, closeAll, server, tokens } = await setup();
  try {
    await t.step("a lone 2025-era tools/call (as Claude.ai sends it)", async () => {
      const res = await mcpPost(server.app, {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "everything_echo", arguments: { message: "lone" } },
      }, { authorization: `Bearer ${tokens.access_token}` });
      assert.equal(res.status, 200);
      const body = await rpcMessage(res) as { result: { content: unknown } };
      assert.deepEqual(body.result.content, [{ type: "text", text: "Echo: lone" }]);
    });
    await t.step("a 2026-07-28 client lists and calls", async () => {
      const client = await connect({ versionNegotiation: { mode: { pin: "2026-07-28" } } });
      try {
        const { tools } = await client.listTools();
        assert.ok(tools.some((tool) => tool.name === "everything_echo"));
        const result = await client.callTool({
          name: "everything_echo",
          arguments: { message: "modern" },
        });
        assert.deepEqual(result.content, [{ type: "text", text: "Echo: modern" }]);
        const { resources } = await client.listResources();
        assert.ok(resources.length > 0);
      } finally {
        await client.close();
      }
    });
    await t.step(
      "a 2026-07-28 client answers the upstream's sampling and elicitation in rounds",
      async () => {
        const client = await connect({
          versionNegotiation: { mode: { pin: "2026-07-28" } },
          capabilities: { sampling: {}, elicitation: { form: {} } },
        }, (c) => {
          c.setRequestHandler("sampling/createMessage", () => ({
            role: "assistant",
            model: "modern-model",
            content: { type: "text", text: "sampled in rounds" },
          }));
          c.setRequestHandler("elicitation/create", () => ({
            action: "accept",
            content: {
              name: "Ada",
              check: true,
              email: "ada@example.com",
              integer: 1,
              number: 1,
              color: "red",
            },
          }));
        });
        try {
          const sampled = await client.callTool({
            name: "everything_trigger-sampling-request",
            arguments: { prompt: "hi", maxTokens: 5 },
          });
          assert.match(JSON.stringify(sampled.content), /sampled in rounds/);
          const elicited = await client.callTool({
            name: "everything_trigger-elicitation-request",
            arguments: {},
          });
          assert.match(JSON.stringify(elicited.content), /Ada/);
        } finally {
          await client.close();
        }
      },
    );
    await t.step(
      "a 2026-07-28 client that did not declare sampling: the upstream is told so",
      async () => {
        const client = await connect({ versionNegotiation: { mode: { pin: "2026-07-28" } } });
        try {
          const result = await client.callTool({
            name: "everything_trigger-sampling-request",
            arguments: { prompt: "hi", maxTokens: 5 },
          });
          assert.equal(result.isError, true);
          assert.match(JSON.stringify(result.content), /did not declare sampling/);
        } finally {
          await client.close();
        }
      },
    );

    await t.step(
      "sampling without a session: the upstream is told why, the call errs clearly",
      async () => {
        const res = await mcpPost(server.app, {
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: { name: "everything_trigger-sampling-request", arguments: { prompt: "x" } },
        }, { authorization: `Bearer ${tokens.access_token}` });
        const body = await rpcMessage(res);
        assert.match(JSON.stringify(body), /without a session/);
      },
    );
  } finally {
    await closeAll();
  }
});

Deno.test("an upstream killed mid-call: the call errs at once, naming it; after its restart calls work", async (t) => {
  const { connect, closeAll, server } = await setup();
  const client = await connect();
  const pidOf = () => server.app.owner.listServers().find((u) => u.name === "everything")?.pid;
  try {
    await t.step("kill -9 during a long call: an isError result within a second", async () => {
      const call = client.callTool({
        name: "everything_trigger-long-running-operation",
        arguments: { duration: 10, steps: 10 },
      });
      await new Promise((r) => setTimeout(r, 300));
      const killed = Date.now();
      process.kill(pidOf()!, "SIGKILL");
      const result = await call;
      assert.ok(Date.now() - killed < 1000, `erred after ${Date.now() - killed} ms`);
      assert.equal(result.isError, true);
      assert.match(JSON.stringify(result.content), /everything/);
    });
    await t.step(
      "while it waits out its backoff: named with its state; the owner's tool answers",
      async () => {
        // The first restart waits 0.5 s: these run inside it.
        const result = await client.callTool({
          name: "everything_echo",
          arguments: { message: "x" },
        });
        assert.equal(result.isError, true);
        assert.match(JSON.stringify(result.content), /everything.*restarting/);
        await assert.rejects(
          client.getPrompt({ name: "everything_simple-prompt" }),
          /everything.*restarting/,
        );
        const own = await client.callTool({ name: "hello", arguments: { name: "B" } });
        assert.deepEqual(own.content, [{ type: "text", text: "Hello, B!" }]);
      },
    );
    await t.step("after the restart the next call works", async () => {
      const deadline = Date.now() + 10_000;
      while (
        server.app.owner.listServers().find((u) => u.name === "everything")?.state !== "running"
      ) {
        assert.ok(Date.now() < deadline, "restarted within 10 s");
        await new Promise((r) => setTimeout(r, 50));
      }
      const result = await client.callTool({
        name: "everything_echo",
        arguments: { message: "back" },
      });
      assert.deepEqual(result.content, [{ type: "text", text: "Echo: back" }]);
    });
    await t.step("an upstream's own JSON-RPC error passes as it is", async () => {
      await assert.rejects(
        client.getPrompt({ name: "everything_args-prompt", arguments: {} }),
        /city/i,
      );
    });
  } finally {
    await client.close();
    await closeAll();
  }
});

const sampler = (answer: string) => (client: Client) =>
  client.setRequestHandler("sampling/createMessage", () => ({
    role: "assistant",
    model: "m",
    content: { type: "text", text: answer },
  }));

Deno.test("what an upstream asks or tells while a call runs reaches the right client", async (t) => {
  // node: APIs, not Deno's: tests/e2e/bun_in_process_test.ts runs this file under Bun too.
  const dir = mkdtempSync(join(tmpdir(), "pmcp-probe-"));
  const file = join(dir, "probe.log");
  await writeFile(file, "");
  const { connect, closeAll, logged } = await setup({ timeoutMs: 800, file });
  const a = await connect({ capabilities: { sampling: {} } }, sampler("from A"));
  const b = await connect({ capabilities: { sampling: {} } }, sampler("from B"));
  const plain = await connect();
  try {
    await t.step("cancellation: the client's abort reaches the upstream", async () => {
      const controller = new AbortController();
      const call = a.callTool({ name: "probe_wait", arguments: {} }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(call);
      const deadline = Date.now() + 3000;
      while (!(await readFile(file, "utf8")).includes("cancelled") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.match(await readFile(file, "utf8"), /^cancelled /m);
    });

    await t.step(
      "a hung upstream errs after its timeoutMs; the others answer meanwhile",
      async () => {
        const started = Date.now();
        const hung = a.callTool({ name: "probe_wait", arguments: {} });
        const echo = await b.callTool({
          name: "everything_echo",
          arguments: { message: "meanwhile" },
        });
        assert.deepEqual(echo.content, [{ type: "text", text: "Echo: meanwhile" }]);
        assert.ok(Date.now() - started < 500, "the echo did not wait for the hung call");
        const result = await hung;
        assert.equal(result.isError, true);
        assert.match(JSON.stringify(result.content), /"probe\\" did not answer within 800 ms/);
        assert.ok(Date.now() - started >= 750);
      },
    );

    await t.step("a log message goes to the session whose call is in flight", async () => {
      const seen: unknown[] = [];
      a.setNotificationHandler("notifications/message", (n) => void seen.push(n.params.data));
      await a.callTool({ name: "probe_log", arguments: {} });
      const deadline = Date.now() + 2000;
      while (seen.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(seen, ["from upstream"]);
      // Under the level the client set: an info message no longer reaches it.
      await a.setLoggingLevel("warning");
      await a.callTool({ name: "probe_log", arguments: {} });
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen, ["from upstream"]);
      await a.setLoggingLevel("debug");
      // Not also on the activity log (which takes what no call can: everything's own, at start).
      assert.deepEqual(logged("probe"), []);
    });

    await t.step("a log message with no call in flight goes to the activity log", async () => {
      await a.callTool({ name: "probe_log-later", arguments: { ms: 100 } });
      const deadline = Date.now() + 2000;
      while (logged("probe").length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(logged("probe"), [{
        type: "upstream_log",
        server: "probe",
        level: "warning",
        data: '{"note":"later \u202e"}',
      }]);
    });

    await t.step("sampling goes to the one client whose call asked", async () => {
      const result = await b.callTool({ name: "probe_ask", arguments: {} });
      assert.deepEqual(result.content, [{ type: "text", text: "sampled: from B" }]);
    });

    await t.step(
      "two clients' calls in flight: the upstream's request is refused, not guessed",
      async () => {
        const [first, second] = await Promise.all([
          a.callTool({ name: "probe_ask", arguments: { ms: 500 } }),
          b.callTool({ name: "probe_ask", arguments: { ms: 500 } }),
        ]);
        for (const result of [first, second]) {
          assert.equal(result.isError, true);
          assert.match(JSON.stringify(result.content), /several clients/);
        }
      },
    );

    await t.step("the upstream cancels its request: the client's handler is aborted", async () => {
      let aborted: unknown;
      const patient = await connect(
        { capabilities: { sampling: {} } },
        (c) =>
          c.setRequestHandler(
            "sampling/createMessage",
            (_request, ctx) =>
              new Promise((resolve) => {
                ctx.mcpReq.signal.addEventListener("abort", () => {
                  aborted = ctx.mcpReq.signal.reason ?? true;
                  resolve({
                    role: "assistant",
                    model: "m",
                    content: { type: "text", text: "late" },
                  });
                });
              }),
          ),
      );
      try {
        const result = await patient.callTool({ name: "probe_ask-cancel", arguments: { ms: 200 } });
        assert.deepEqual(result.content, [{ type: "text", text: "cancelled asking" }]);
        const deadline = Date.now() + 2000;
        while (aborted === undefined && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(aborted !== undefined, "the downstream sampling request was cancelled");
      } finally {
        await patient.close();
      }
    });

    await t.step("a client that did not declare sampling: the upstream is told so", async () => {
      const result = await plain.callTool({ name: "probe_ask", arguments: {} });
      assert.equal(result.isError, true);
      assert.match(JSON.stringify(result.content), /did not declare sampling/);
    });
  } finally {
    await Promise.all([a.close(), b.close(), plain.close()]);
    await closeAll();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("a 2026-07-28 client hears list_changed through its subscription", async () => {
  const { connect, closeAll } = await setup();
  let heard: string[] | undefined;
  const client = await connect({
    versionNegotiation: { mode: { pin: "2026-07-28" } },
    listChanged: {
      resources: {
        debounceMs: 0,
        onChanged: (_error, resources) => void (heard = resources?.map((r) => r.name)),
      },
    },
  });
  try {
    // An open subscription first: the SDK client opens it on connect; give it a moment.
    await new Promise((r) => setTimeout(r, 300));
    await client.callTool({
      name: "everything_gzip-file-as-resource",
      arguments: {
        name: "modern.gz",
        data: `data:text/plain;base64,${btoa("m")}`,
        outputType: "resourceLink",
      },
    });
    const deadline = Date.now() + 5000;
    while (!heard?.includes("modern.gz") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(heard?.includes("modern.gz"), `heard ${heard}`);
  } finally {
    await client.close();
    await closeAll();
  }
});

Deno.test("an HTTP upstream (everything's streamableHttp) passes through as a stdio one does", async () => {
  const port = await freePort();
  const everything = spawnChild("node", [EVERYTHING, "streamableHttp"], {
    env: { PORT: String(port) },
  });
  await waitForListener(port, 20_000);
  const server = testServer({
    servers: {
      lab: { type: "http", url: `http://127.0.0.1:${port}/mcp`, headers: { "x-lab": "1" } },
    },
  });
  try {
    await server.app.ready();
    const tokens = await tokensFor(server.app, await registerClient(server.app));
    const client = new Client({ name: "downstream", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(MCP_URL), {
        fetch: (input, init) => server.app.fetch(new Request(input, init)),
        requestInit: { headers: { authorization: `Bearer ${tokens.access_token}` } },
      }),
    );
    try {
      const echo = await client.callTool({ name: "lab_echo", arguments: { message: "over http" } });
      assert.deepEqual(echo.content, [{ type: "text", text: "Echo: over http" }]);
      const seen: number[] = [];
      await client.callTool(
        { name: "lab_trigger-long-running-operation", arguments: { duration: 0.6, steps: 3 } },
        { onprogress: (p) => void seen.push(p.progress) },
      );
      assert.deepEqual(seen, [1, 2, 3]);
      const structured = await client.callTool({
        name: "lab_get-structured-content",
        arguments: { location: "Los Angeles" },
      });
      assert.equal(
        typeof (structured.structuredContent as { temperature?: unknown }).temperature,
        "number",
      );
    } finally {
      await client.close();
    }
  } finally {
    await server.app.close();
    await everything.stop();
  }
});

Deno.test("names that do not fit one namespace refuse the start, listing every offender", async (t) => {
  const servers = {
    a: { command: "node", args: [PROBE] },
    // Onto a's name, and onto the owner's own tool.
    b: { command: "node", args: [PROBE], rename: { wait: "a_wait", log: "hello" } },
    // A tool name with characters Claude and OpenAI refuse, and one too long once prefixed.
    c: { command: "node", args: [PROBE], env: { PROBE_EXTRA_TOOL: "read file" } },
    d: { command: "node", args: [PROBE], env: { PROBE_EXTRA_TOOL: "x".repeat(63) } },
  };
  await t.step("ready() rejects with every offender", async () => {
    const server = gatewayServer({ servers });
    try {
      await assert.rejects(server.app.ready(), (error: Error) => {
        assert.match(error.message, /"prefix" or a "rename"/);
        assert.match(
          error.message,
          /server "b": tool "wait" as "a_wait" collides with tool "wait" of server "a"/,
        );
        assert.match(
          error.message,
          /server "b": tool "log" as "hello" collides with the server's own tool/,
        );
        assert.match(error.message, /server "c": tool "read file" as "c_read file" does not match/);
        assert.match(error.message, /server "d": tool "x{63}" as "d_x{63}" does not match/);
        assert.doesNotMatch(error.message, /^\s*server "a":/m, "a holds its names: no offender");
        return true;
      });
    } finally {
      await server.app.close();
    }
  });
  await t.step("servePersonalMcp refuses to start, and leaves no upstream running", async () => {
    const { servePersonalMcp } = await import("../../mod.ts");
    await assert.rejects(
      servePersonalMcp({}, {
        port: 0,
        store: "memory",
        password: "owner-password-for-tests",
        banner: false,
        servers,
      }),
      /collides/,
    );
    const left = spawnSync("pgrep", ["-f", PROBE], { encoding: "utf8" });
    assert.equal(left.stdout.trim(), "", "no probe process left");
  });
});

Deno.test("the client's access token never reaches an upstream; the configured credentials do", async () => {
  const port = await freePort();
  const upstream = spawnChild("node", [`${ROOT}tests/upstreams/probe_http.mjs`], {
    env: { PORT: String(port) },
  });
  await waitForListener(port, 20_000);
  const server = gatewayServer({
    servers: {
      lab: {
        type: "http",
        url: `http://127.0.0.1:${port}/mcp`,
        headers: { authorization: "Bearer lab-credential", "x-lab": "from config" },
      },
    },
  });
  try {
    await server.app.ready();
    const tokens = await tokensFor(server.app, await registerClient(server.app));
    const res = await mcpPost(server.app, {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "lab_headers", arguments: {} },
    }, { authorization: `Bearer ${tokens.access_token}` });
    const body = await rpcMessage(res) as { result: { content: Array<{ text: string }> } };
    const seen = JSON.parse(body.result.content[0]!.text);
    assert.deepEqual(seen, { authorization: "Bearer lab-credential", lab: "from config" });
    assert.ok(!JSON.stringify(seen).includes(tokens.access_token));
  } finally {
    await server.app.close();
    await upstream.stop();
  }
});

Deno.test("the owner's resources come before an upstream's URI template that also matches", async () => {
  const server = gatewayServer({
    servers: { everything: { command: "node", args: [EVERYTHING, "stdio"] } },
    resources: {
      mine: resource({ uri: "demo://resource/dynamic/text/mine", read: () => "the owner's own" }),
    },
  });
  try {
    await server.app.ready();
    const tokens = await tokensFor(server.app, await registerClient(server.app));
    const read = async (uri: string) =>
      await rpcMessage(
        await mcpPost(server.app, {
          jsonrpc: "2.0",
          id: 1,
          method: "resources/read",
          params: { uri },
        }, { authorization: `Bearer ${tokens.access_token}` }),
      ) as { result?: { contents: Array<{ text?: string }> } };
    // everything's template demo://resource/dynamic/text/{resourceId} matches both.
    assert.equal(
      (await read("demo://resource/dynamic/text/mine")).result?.contents[0]?.text,
      "the owner's own",
    );
    assert.match(
      String((await read("demo://resource/dynamic/text/3")).result?.contents[0]?.text),
      /3/,
    );
  } finally {
    await server.app.close();
  }
});

Deno.test("the upstream tools' facts for the owner's per-app policy: name, server, annotations", async () => {
  const served = serveUpstreams(
    {
      configs: resolveServers(
        { everything: { command: "node", args: [EVERYTHING, "stdio"] } },
        {},
        true,
        "",
      ),
      spawn: createStdioSpawner(),
    },
    { tools: {} },
    () => {},
    () => {},
  );
  try {
    await served.ready();
    const direct = await directEverything();
    try {
      const echo = (await direct.listTools()).tools.find((t) => t.name === "echo")!;
      assert.deepEqual(served.toolFacts.facts("everything_echo"), {
        name: "everything_echo",
        server: "everything",
        annotations: echo.annotations,
      });
      assert.equal(served.toolFacts.facts("echo"), undefined);
      assert.equal(served.toolFacts.all().length, (await direct.listTools()).tools.length);
    } finally {
      await direct.close();
    }
  } finally {
    await served.close();
  }
});

Deno.test("a 2026-07-28 round's requestState answers only the grant that was given it", async () => {
  const { connect, closeAll, server } = await setup();
  const other = await tokensFor(server.app, await registerClient(server.app));
  const modern = {
    versionNegotiation: { mode: { pin: "2026-07-28" as const } },
    capabilities: { sampling: {} },
  };
  const a = await connect(modern);
  const b = await connect(modern, undefined, other.access_token);
  const call = {
    name: "everything_trigger-sampling-request",
    arguments: { prompt: "hi", maxTokens: 5 },
  };
  const answer = { role: "assistant", model: "m", content: { type: "text", text: "from A" } };
  try {
    const first = await a.callTool(call, { allowInputRequired: true }) as unknown as {
      resultType: string;
      requestState: string;
    };
    assert.equal(first.resultType, "input_required");
    // Another app holding the state (it leaked, or was guessed) is refused...
    await assert.rejects(
      b.callTool(
        {
          ...call,
          inputResponses: { upstream: answer },
          requestState: first.requestState,
        } as never,
      ),
      /Invalid or expired requestState/,
    );
    // ... and the app that was given it still finishes its call.
    const done = await a.callTool(
      { ...call, inputResponses: { upstream: answer }, requestState: first.requestState } as never,
    );
    assert.match(JSON.stringify(done.content), /from A/);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await closeAll();
  }
});
