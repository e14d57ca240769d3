/**
 * The `ask` policy through the OAuth-protected endpoint and the SDK client: a held call
 * waits for the owner, runs once confirmed, never runs when declined or timed out, a
 * later confirmation holds for the same call (same arguments) once, an answer is given
 * once, one app holds at most 20 calls, and a store that fails while a call is being
 * held leaves nothing done and nothing kept.
 */
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { z } from "zod";
import { MAX_WAITING_PER_APP } from "../../auth/owner/confirmations.ts";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { type Store, StoreUnavailableError } from "../../store/store.ts";
import { tool } from "../../transport/tools.ts";
import { caller } from "../../transport/caller.ts";
import {
  BASE_URL,
  MCP_URL,
  mcpPost,
  PASSWORD,
  registerClient,
  sdkClientOf,
  tokensFor,
} from "../fixtures.ts";

async function setup(options: { confirmTimeoutSeconds?: number; store?: Store } = {}) {
  const wiped: string[] = [];
  const app = createPersonalMcp({
    wipe: tool({
      description: "Wipes a folder",
      input: { folder: z.string() },
      annotations: { destructiveHint: true },
      run: ({ folder }) => {
        wiped.push(folder);
        return `wiped ${folder}`;
      },
    }),
    // What caller(ctx) says of the call: a tool may refuse on its own as well.
    policy_risky: tool({
      description: "Says its policy",
      annotations: { destructiveHint: true },
      run: (_args, ctx) => JSON.stringify(caller(ctx)?.policy),
    }),
    policy_plain: tool({
      description: "Says its policy",
      annotations: { readOnlyHint: true },
      run: (_args, ctx) => JSON.stringify(caller(ctx)?.policy),
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD, ...options });
  const client = await registerClient(app);
  const token = (await tokensFor(app, client)).access_token;
  const mcp = await sdkClientOf(app, token, "held calls test");
  return { app, mcp, wiped, token, clientId: client.clientId };
}

/** The first call waiting for the owner, once it waits (bounded). */
async function firstPending(app: PersonalMcp, count = 1) {
  for (let i = 0; i < 200; i++) {
    const pending = await app.confirmations.pending();
    if (pending.length >= count) return pending;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no call is waiting");
}

const textOf = (r: { content?: unknown }) =>
  (r.content as { text?: string }[]).map((c) => c.text ?? "").join("\n");

Deno.test("a held call runs once the owner confirms, and the answer is given once", async () => {
  const { app, mcp, wiped, clientId } = await setup();
  try {
    const progress: string[] = [];
    const call = mcp.callTool({ name: "wipe", arguments: { folder: "/tmp/a" } }, {
      onprogress: (p: { message?: string }) => void progress.push(p.message ?? ""),
    });
    const [held] = await firstPending(app);
    assert.equal(held!.tool, "wipe");
    assert.equal(held!.clientId, clientId);
    assert.equal(held!.preview, '{"folder":"/tmp/a"}');
    assert.deepEqual(wiped, [], "nothing runs while it waits");
    assert.ok((await app.confirmations.decide(held!.id, "confirm", "command line")).ok);
    const result = await call;
    assert.equal(textOf(result), "wiped /tmp/a");
    assert.deepEqual(wiped, ["/tmp/a"]);
    assert.match(progress[0] ?? "", new RegExp(`/owner/confirm\\?id=${held!.id}`));
    const replay = await app.confirmations.decide(held!.id, "confirm", "command line");
    assert.deepEqual(replay, { ok: false, reason: "answered" });
    const late = await app.confirmations.decide(held!.id, "decline", "command line");
    assert.deepEqual(late, { ok: false, reason: "answered" });
    assert.deepEqual(wiped, ["/tmp/a"], "a replayed answer runs nothing");
    const [record] = await app.audit.query();
    assert.equal(record?.outcome, "confirmed");
    assert.equal(record?.policy, "ask");
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a declined call never runs", async () => {
  const { app, mcp, wiped } = await setup();
  try {
    const call = mcp.callTool({ name: "wipe", arguments: { folder: "/" } });
    const [held] = await firstPending(app);
    assert.ok((await app.confirmations.decide(held!.id, "decline", "command line")).ok);
    const result = await call;
    assert.equal(result.isError, true);
    assert.match(textOf(result), /declined/);
    assert.deepEqual(wiped, []);
    assert.equal((await app.audit.query())[0]?.outcome, "declined");
    assert.deepEqual(await app.confirmations.pending(), []);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("after the wait, a later confirmation holds for the same arguments, once", async () => {
  const { app, mcp, wiped } = await setup({ confirmTimeoutSeconds: 1 });
  try {
    const first = await mcp.callTool({ name: "wipe", arguments: { folder: "/tmp/b" } });
    assert.equal(first.isError, true);
    const [held] = await app.confirmations.pending();
    assert.match(textOf(first), new RegExp(`${BASE_URL}/owner/confirm\\?id=${held!.id}`));
    assert.deepEqual(wiped, []);
    assert.equal((await app.audit.query())[0]?.outcome, "timeout");
    assert.ok((await app.confirmations.decide(held!.id, "confirm", "command line")).ok);
    // Other arguments are another call: the confirmation does not cover them.
    const other = await mcp.callTool({ name: "wipe", arguments: { folder: "/" } });
    assert.equal(other.isError, true);
    assert.deepEqual(wiped, []);
    // The same arguments (in any key order) run on it, at once, once.
    const again = await mcp.callTool({ name: "wipe", arguments: { folder: "/tmp/b" } });
    assert.equal(textOf(again), "wiped /tmp/b");
    const third = await mcp.callTool({ name: "wipe", arguments: { folder: "/tmp/b" } });
    assert.equal(third.isError, true, "used once");
    assert.deepEqual(wiped, ["/tmp/b"]);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test(`1,000 held calls from one app: ${MAX_WAITING_PER_APP} wait, the rest are refused at once`, async () => {
  const { app, mcp, wiped, token } = await setup({ confirmTimeoutSeconds: 2 });
  try {
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        mcpPost(app, {
          jsonrpc: "2.0",
          id: i,
          method: "tools/call",
          params: { name: "wipe", arguments: { folder: `/f${i}` } },
        }, { authorization: `Bearer ${token}`, accept: "application/json" }).then((r) => r.json())),
    );
    const texts = answers.map((a) => a.result.content[0].text as string);
    const refused = texts.filter((t) => /already wait/.test(t)).length;
    assert.equal(refused, 1000 - MAX_WAITING_PER_APP);
    assert.equal((await app.confirmations.pending()).length, MAX_WAITING_PER_APP);
    assert.deepEqual(wiped, []);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a store that fails while a call is held: nothing done, nothing kept, a clear result", async () => {
  let failing = false;
  const memory = createMemoryStore();
  const store: Store = {
    ...memory,
    write: (ops) =>
      failing ? Promise.reject(new StoreUnavailableError("disk full")) : memory.write(ops),
  };
  const { app, mcp, wiped } = await setup({ store });
  try {
    failing = true;
    const result = await mcp.callTool({ name: "wipe", arguments: { folder: "/x" } });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /could not ask for it/);
    failing = false;
    assert.deepEqual(await app.confirmations.pending(), []);
    assert.deepEqual(wiped, []);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("caller(ctx) says the policy a call runs under: allowed, or confirmed by the owner when", async () => {
  const { app, mcp } = await setup();
  try {
    const plain = await mcp.callTool({ name: "policy_plain", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(plain)), { policy: "allow" });
    const before = Date.now();
    const call = mcp.callTool({ name: "policy_risky", arguments: {} });
    const [held] = await firstPending(app);
    assert.ok((await app.confirmations.decide(held!.id, "confirm", "passkey")).ok);
    const said = JSON.parse(textOf(await call));
    assert.equal(said.policy, "ask");
    assert.equal(said.confirmedBy, "passkey");
    assert.ok(said.confirmedAt >= before && said.confirmedAt <= Date.now());
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a client that declared URL-mode elicitation is asked to open the confirmation link", async () => {
  const app = createPersonalMcp({
    wipe: tool({
      description: "Wipes",
      annotations: { destructiveHint: true },
      run: () => "wiped",
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD });
  const client = await registerClient(app);
  const token = (await tokensFor(app, client)).access_token;
  const mcp = new Client(
    { name: "url elicitation client", version: "1.0.0" },
    { capabilities: { elicitation: { url: {} } } },
  );
  const asked: { url?: string; mode?: string }[] = [];
  mcp.setRequestHandler("elicitation/create", (request) => {
    asked.push(request.params as { url?: string; mode?: string });
    return { action: "accept" };
  });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  try {
    const call = mcp.callTool({ name: "wipe", arguments: {} });
    const [held] = await firstPending(app);
    for (let i = 0; i < 100 && asked.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(asked[0]?.mode, "url");
    assert.equal(asked[0]?.url, `${BASE_URL}/owner/confirm?id=${held!.id}`);
    // The client's answer is not the owner's: the call still waits.
    assert.equal((await app.confirmations.pending()).length, 1);
    assert.ok((await app.confirmations.decide(held!.id, "confirm", "password")).ok);
    assert.equal(textOf(await call), "wiped");
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("a call held by one server is released by a confirmation given through another sharing the store", async () => {
  const store: Store = { ...createMemoryStore(), shared: true };
  const { app, mcp, wiped } = await setup({ store });
  const other = createPersonalMcp({}, { baseUrl: BASE_URL, password: PASSWORD, store });
  try {
    const call = mcp.callTool({ name: "wipe", arguments: { folder: "/shared" } });
    const [held] = await firstPending(other);
    assert.ok((await other.confirmations.decide(held!.id, "confirm", "passkey")).ok);
    assert.equal(textOf(await call), "wiped /shared");
    assert.deepEqual(wiped, ["/shared"]);
  } finally {
    await mcp.close();
    await other.close();
    await app.close();
  }
});

Deno.test("a 2026-07-28 call is held and runs once confirmed", async () => {
  const { app, mcp: legacy, wiped, token } = await setup();
  await legacy.close();
  const mcp = new Client(
    { name: "held calls 2026", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: "2026-07-28" } } },
  );
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  try {
    const call = mcp.callTool({ name: "wipe", arguments: { folder: "/modern" } });
    const [held] = await firstPending(app);
    assert.ok((await app.confirmations.decide(held!.id, "confirm", "password")).ok);
    assert.equal(textOf(await call), "wiped /modern");
    assert.deepEqual(wiped, ["/modern"]);
  } finally {
    await mcp.close();
    await app.close();
  }
});
