/**
 * The owner's tool policy per app, enforced on every path to a tool: `tools/list` shows
 * an app the tools it may call, a denied tool answers an `isError` result and is never
 * run, in a session opened before the change (which hears `list_changed`), in a JSON-RPC
 * batch, in a sessionless 2025-era request, through a 2026-07-28 client, and on another
 * server sharing the store. Driven with the official SDK client behind the OAuth flow.
 */
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";
import { tool, type Tools } from "../../transport/tools.ts";
import {
  BASE_URL,
  MCP_URL,
  mcpPost,
  PASSWORD,
  registerClient,
  type TestClient,
  tokensFor,
} from "../fixtures.ts";

/** How many times each tool's `run` was reached. */
type Runs = Record<string, number>;

function ownTools(runs: Runs): Tools {
  const counted = (name: string, annotations?: Record<string, boolean>) =>
    tool({
      description: `The ${name} tool`,
      ...(annotations ? { annotations } : {}),
      run: () => {
        runs[name] = (runs[name] ?? 0) + 1;
        return `${name} ran`;
      },
    });
  return {
    look: counted("look", { readOnlyHint: true }),
    write: counted("write"),
    wipe: counted("wipe", { destructiveHint: true }),
    secret: counted("secret", { readOnlyHint: true }),
  };
}

interface Setup {
  app: PersonalMcp;
  runs: Runs;
  client: TestClient;
  token: string;
}

async function setup(store?: Store, toolPolicy?: Record<string, "allow" | "ask" | "deny">) {
  const runs: Runs = {};
  const app = createPersonalMcp(ownTools(runs), {
    baseUrl: BASE_URL,
    password: PASSWORD,
    // A held call (ask) ends after a second here: tests/endpoints/held_calls_test.ts waits.
    confirmTimeoutSeconds: 1,
    ...(store ? { store } : {}),
    ...(toolPolicy ? { toolPolicy } : {}),
  });
  const client = await registerClient(app);
  const token = (await tokensFor(app, client)).access_token;
  return { app, runs, client, token } satisfies Setup;
}

async function sdkClient(
  app: PersonalMcp,
  token: string,
  versionNegotiation?: { mode: { pin: string } },
): Promise<Client> {
  const client = new Client(
    { name: "permissions test", version: "1.0.0" },
    versionNegotiation ? { versionNegotiation } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

function textOf(result: { content?: unknown }): string {
  return (result.content as { text?: string }[]).map((c) => c.text ?? "").join("\n");
}

const DENIED = /has not allowed this app to use the tool "secret"/;

Deno.test("an app sees allowed and asked tools; a denied tool is not listed and never runs", async () => {
  const { app, runs, client, token } = await setup();
  const mcp = await sdkClient(app, token);
  try {
    const before = await mcp.listTools();
    assert.deepEqual(before.tools.map((t) => t.name).sort(), ["look", "secret", "wipe", "write"]);
    const change = await app.permissions.set(client.clientId, "deny", ["secret"]);
    assert.ok(change.ok);
    const after = await mcp.listTools();
    assert.deepEqual(after.tools.map((t) => t.name).sort(), ["look", "wipe", "write"]);
    const denied = await mcp.callTool({ name: "secret", arguments: {} });
    assert.equal(denied.isError, true);
    assert.match(textOf(denied), DENIED);
    assert.equal(runs.secret, undefined, "the denied tool's run was never reached");
    const ok = await mcp.callTool({ name: "look", arguments: {} });
    assert.equal(textOf(ok), "look ran");
    // A destructive own tool asks by default: unconfirmed, it does not run.
    const asked = await mcp.callTool({ name: "wipe", arguments: {} });
    assert.equal(asked.isError, true);
    assert.equal(runs.wipe, undefined);
    // A name the server does not serve is refused by the gate too.
    const unknown = await mcp.callTool({ name: "nope", arguments: {} });
    assert.equal(unknown.isError, true);
    assert.match(textOf(unknown), /No tool named "nope"/);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a session opened before the change hears list_changed and is refused at once", async () => {
  const { app, runs, client, token } = await setup();
  const mcp = await sdkClient(app, token);
  try {
    assert.equal(textOf(await mcp.callTool({ name: "secret", arguments: {} })), "secret ran");
    const heard = new Promise<void>((resolve) =>
      mcp.setNotificationHandler("notifications/tools/list_changed", () => resolve())
    );
    assert.ok((await app.permissions.set(client.clientId, "deny", ["secret"])).ok);
    await Promise.race([
      heard,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no list_changed")), 5000)),
    ]);
    const denied = await mcp.callTool({ name: "secret", arguments: {} });
    assert.match(textOf(denied), DENIED);
    assert.equal(runs.secret, 1, "only the call before the change ran");
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a denied tool is refused in a JSON-RPC batch, sessionless, and through 2026-07-28", async (t) => {
  const { app, runs, client, token } = await setup();
  assert.ok((await app.permissions.set(client.clientId, "deny", ["secret"])).ok);
  const call = (id: number, name: string) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: {} },
  });
  const auth = { authorization: `Bearer ${token}` };
  try {
    await t.step("in a 2025-03-26 batch, beside an allowed call", async () => {
      const res = await mcpPost(app, [call(1, "secret"), call(2, "look")], {
        ...auth,
        "mcp-protocol-version": "2025-03-26",
        accept: "application/json",
      });
      assert.equal(res.status, 200);
      const answers = await res.json() as {
        id: number;
        result: { isError?: boolean; content: { text: string }[] };
      }[];
      const byId = new Map(answers.map((a) => [a.id, a.result]));
      assert.equal(byId.get(1)?.isError, true);
      assert.match(byId.get(1)!.content[0]!.text, DENIED);
      assert.equal(byId.get(2)?.content[0]?.text, "look ran");
    });
    await t.step("in a lone sessionless request (as Claude.ai sends)", async () => {
      const res = await mcpPost(app, call(3, "secret"), { ...auth, accept: "application/json" });
      assert.equal(res.status, 200);
      const answer = await res.json();
      assert.equal(answer.result.isError, true);
      assert.match(answer.result.content[0].text, DENIED);
    });
    await t.step("through a 2026-07-28 client", async () => {
      const mcp = await sdkClient(app, token, { mode: { pin: "2026-07-28" } });
      try {
        assert.ok(!(await mcp.listTools()).tools.some((t) => t.name === "secret"));
        const denied = await mcp.callTool({ name: "secret", arguments: {} });
        assert.equal(denied.isError, true);
        assert.match(textOf(denied), DENIED);
      } finally {
        await mcp.close();
      }
    });
    assert.equal(runs.secret, undefined, "never reached on any path");
  } finally {
    await app.close();
  }
});

Deno.test("a change made on one server applies at once on another sharing the store", async () => {
  const store: Store = { ...createMemoryStore(), shared: true };
  const a = await setup(store);
  const b = createPersonalMcp(ownTools(a.runs), { baseUrl: BASE_URL, password: PASSWORD, store });
  const mcp = await sdkClient(a.app, a.token);
  try {
    assert.equal(textOf(await mcp.callTool({ name: "secret", arguments: {} })), "secret ran");
    const heard = new Promise<void>((resolve) =>
      mcp.setNotificationHandler("notifications/tools/list_changed", () => resolve())
    );
    assert.ok((await b.permissions.set(a.client.clientId, "deny", ["secret"])).ok);
    // At once: no wait between the change there and the call here.
    assert.match(textOf(await mcp.callTool({ name: "secret", arguments: {} })), DENIED);
    assert.equal(a.runs.secret, 1);
    await Promise.race([
      heard,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no list_changed")), 5000)),
    ]);
  } finally {
    await mcp.close();
    await b.close();
    await a.app.close();
  }
});

Deno.test("the owner's defaults apply to an app nobody decided for, and its decisions win", async () => {
  const { app, runs, client, token } = await setup(undefined, { "*": "deny", look: "allow" });
  const mcp = await sdkClient(app, token);
  try {
    assert.deepEqual((await mcp.listTools()).tools.map((t) => t.name), ["look"]);
    assert.ok((await app.permissions.set(client.clientId, "allow", ["write"])).ok);
    assert.equal(textOf(await mcp.callTool({ name: "write", arguments: {} })), "write ran");
    const view = await app.permissions.show(client.clientId);
    assert.deepEqual(
      view?.tools.map((r) => [r.name, r.policy, r.source]),
      [
        ["look", "allow", "tool"],
        ["secret", "deny", "owner"],
        ["wipe", "deny", "owner"],
        ["write", "allow", "app"],
      ],
    );
    assert.equal(runs.write, 1);
    const refused = await app.permissions.set(client.clientId, "allow", ["nope"]);
    assert.equal(refused.ok, false);
    assert.equal(await app.permissions.show("no-such-app"), undefined);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a bad toolPolicy option is refused when the server is created, naming it", () => {
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        toolPolicy: { look: "sometimes" as "allow" },
      }),
    (e) => e instanceof TypeError && /"toolPolicy.look"/.test(e.message),
  );
});

Deno.test("forgetting an app forgets its tool decisions", async () => {
  const { app, client } = await setup();
  try {
    assert.ok((await app.permissions.set(client.clientId, "deny", ["secret"])).ok);
    assert.ok(await app.store.get(["tool_policy", client.clientId]));
    assert.ok(await app.owner.forgetClient(client.clientId, "test"));
    // Dropped as the forgetting is announced (bounded wait).
    for (let i = 0; i < 100 && await app.store.get(["tool_policy", client.clientId]); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await app.store.get(["tool_policy", client.clientId]), undefined);
  } finally {
    await app.close();
  }
});
