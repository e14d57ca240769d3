/**
 * Revocation is final: a revoked grant keeps no session or event stream open on /mcp,
 * a token lookup already in flight cannot bring a revoked token back, a grant ends
 * with its newest refresh token, and an evicted client takes its grants with it.
 */
import assert from "node:assert/strict";
import { createPersonalMcp } from "../../server/create.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Key, Store } from "../../store/store.ts";
import { tool } from "../../transport/tools.ts";
import {
  BASE_URL,
  clientCredentials,
  initializeRequest,
  MCP_URL,
  mcpPost,
  mcpStatus,
  PASSWORD,
  postForm,
  readUntil,
  refreshWith,
  registerClient,
  type TestClient,
  testServer,
  tokenSet,
  tokensFor,
} from "../fixtures.ts";

const INITIALIZE = initializeRequest("t", { elicitation: {} });

/** How long an ended stream may take to report its end: a bound on waiting, not a timing claim. */
const STREAM_END_BOUND_MS = 5000;

/** Reads a stream until it ends; "open" if it has not ended within the bound. */
async function streamOutcome(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<"ended" | "open"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = new Promise<"open">((resolve) => {
    timer = setTimeout(() => resolve("open"), STREAM_END_BOUND_MS);
  });
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) return "ended" as const;
    } catch {
      return "ended" as const;
    }
  })();
  try {
    return await Promise.race([ended, open]);
  } finally {
    clearTimeout(timer);
  }
}

/** A server with a tool that reports progress, then waits until the test lets it finish. */
function serverWithWaitingTool() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const app = createPersonalMcp({
    wait: tool({
      description: "Reports progress, then waits",
      run: async (_args, ctx) => {
        const progressToken = ctx.mcpReq._meta?.progressToken;
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress: 1, total: 2 },
          });
        }
        await released;
        await ctx.mcpReq.log("info", "after the wait").catch(() => {});
        return "done";
      },
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD, store: createMemoryStore() });
  return { app, release };
}

async function revokeRefresh(
  app: { fetch(r: Request): Promise<Response> },
  client: TestClient,
  token: string,
) {
  const res = await postForm(
    app as Parameters<typeof postForm>[0],
    "/revoke",
    { ...clientCredentials(client), token },
  );
  assert.equal(res.status, 200);
}

const callWait = (id: number) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "wait", arguments: {}, _meta: { progressToken: `p${id}` } },
});

Deno.test("revoking a grant ends its session's open streams at once, and no other grant's", async () => {
  const { app, release } = serverWithWaitingTool();
  try {
    const client = await registerClient(app);
    const tokens = await tokensFor(app, client);
    const other = await tokensFor(app, await registerClient(app));
    const bearer = (t: { access_token: string }) => ({ authorization: `Bearer ${t.access_token}` });
    const session = async (t: { access_token: string }) => {
      const init = await mcpPost(app, INITIALIZE, bearer(t));
      await init.body?.cancel();
      const id = init.headers.get("mcp-session-id");
      assert.ok(id);
      const headers = { ...bearer(t), "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" };
      // The standalone stream a 2025-era client opens for server-initiated messages.
      const get = await app.fetch(
        new Request(MCP_URL, { headers: { ...headers, accept: "text/event-stream" } }),
      );
      assert.equal(get.status, 200);
      // A tool call in the session, still running.
      const call = await mcpPost(app, callWait(2), headers);
      assert.equal(call.status, 200);
      const callReader = call.body!.getReader();
      await readUntil(callReader, /notifications\/progress/);
      return { standalone: get.body!.getReader(), call: callReader };
    };
    const mine = await session(tokens);
    const theirs = await session(other);

    await revokeRefresh(app, client, tokens.refresh_token);

    assert.equal(await streamOutcome(mine.standalone), "ended", "the session's GET stream");
    assert.equal(await streamOutcome(mine.call), "ended", "the running call's stream");
    // Another grant's streams are untouched: the running call still answers.
    release();
    assert.match(await readUntil(theirs.call, /"result"/), /done/);
    await theirs.standalone.cancel();
  } finally {
    release();
    await app.close();
  }
});

Deno.test("revoking a grant ends a sessionless call's progress stream while the tool still runs", async () => {
  const { app, release } = serverWithWaitingTool();
  try {
    const client = await registerClient(app);
    const tokens = await tokensFor(app, client);
    const call = await mcpPost(app, callWait(3), {
      authorization: `Bearer ${tokens.access_token}`,
    });
    assert.equal(call.status, 200);
    assert.match(call.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = call.body!.getReader();
    await readUntil(reader, /notifications\/progress/);
    await revokeRefresh(app, client, tokens.refresh_token);
    assert.equal(await streamOutcome(reader), "ended");
  } finally {
    release();
    await app.close();
  }
});

Deno.test("a grant revoked for refresh-token reuse also loses its open streams", async () => {
  const { app, release } = serverWithWaitingTool();
  try {
    const client = await registerClient(app);
    const first = await tokensFor(app, client);
    const call = await mcpPost(app, callWait(4), { authorization: `Bearer ${first.access_token}` });
    assert.equal(call.status, 200);
    const reader = call.body!.getReader();
    await readUntil(reader, /notifications\/progress/);
    const second = await tokenSet(await refreshWith(app, client, first.refresh_token));
    await tokenSet(await refreshWith(app, client, second.refresh_token));
    // The first token again, after its successor was used: someone else holds a copy.
    // RFC 9700 4.14.2: the grant is revoked, and with it everything it holds open.
    const reused = await refreshWith(app, client, first.refresh_token);
    assert.equal(reused.status, 400);
    await reused.body?.cancel();
    assert.equal(await streamOutcome(reader), "ended");
  } finally {
    release();
    await app.close();
  }
});

/** A memory store whose next read of an access record answers only when the test says. */
function storeWithSlowAccessRead() {
  const inner = createMemoryStore();
  let armed = false;
  let reading!: () => void;
  let release!: () => void;
  const started = new Promise<void>((resolve) => (reading = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const store: Store = {
    ...inner,
    async get<T>(key: Key) {
      // The value is read now, before anything the test does next, and handed back later.
      const value = await inner.get<T>(key);
      if (armed && key[0] === "access") {
        armed = false;
        reading();
        await gate;
      }
      return value;
    },
  };
  return { store, arm: () => (armed = true), started, release };
}

Deno.test("a revocation wins over a token lookup that was already in flight", async () => {
  const slow = storeWithSlowAccessRead();
  const { app } = testServer({ store: slow.store });
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  slow.arm();
  // The first /mcp call reads the token's record from the store; the read has seen the
  // record, and answers only after the grant is revoked.
  const inFlight = mcpStatus(app, tokens.access_token);
  await slow.started;
  await revokeRefresh(app, client, tokens.refresh_token);
  slow.release();
  assert.equal(await inFlight, 401, "the lookup that raced the revocation");
  assert.equal(await mcpStatus(app, tokens.access_token), 401, "every later request");
  await app.close();
});

Deno.test("a grant is stored only as long as its newest refresh token lives", async () => {
  let offsetMs = 0;
  const store = createMemoryStore({ now: () => Date.now() + offsetMs });
  const { app } = testServer({ store, refreshTokenTtlSeconds: 3600, accessTokenTtlSeconds: 600 });
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  assert.equal((await app.store.list(["grant"])).length, 1);
  offsetMs = 3599_000;
  assert.equal((await app.store.list(["grant"])).length, 1, "alive while its refresh token is");
  offsetMs = 3601_000;
  assert.equal((await app.store.list(["grant"])).length, 0, "gone with its last refresh token");
  const res = await refreshWith(app, client, tokens.refresh_token);
  assert.equal(res.status, 400);
  await res.body?.cancel();
  await app.close();
});

Deno.test("an evicted client's grants and tokens go with it", async () => {
  const { app } = testServer({ maxClients: 2 });
  const a = await registerClient(app);
  const aTokens = await tokensFor(app, a);
  const b = await registerClient(app);
  const bTokens = await tokensFor(app, b);
  // A third registration makes room: the least recently used client is dropped.
  await registerClient(app);
  const kept = new Set(
    (await app.store.list<{ clientId: string }>(["client"])).map((e) => e.value.clientId),
  );
  const [evicted, survivor] = kept.has(a.clientId) ? [bTokens, aTokens] : [aTokens, bTokens];
  assert.equal(kept.size, 2);
  assert.ok(!(kept.has(a.clientId) && kept.has(b.clientId)), "one of the two was evicted");
  assert.equal(await mcpStatus(app, evicted.access_token), 401, "the evicted client's token");
  assert.equal(await mcpStatus(app, survivor.access_token), 200, "the other client's token");
  const grants = await app.store.list<{ clientId: string }>(["grant"]);
  assert.equal(grants.length, 1, "only the surviving client's grant is left");
  assert.equal((await app.store.list(["access"])).length, 1);
  await app.close();
});

Deno.test("/token: a refresh token used more often inside its grace than a lost answer explains revokes the grant", async () => {
  const { app, events } = testServer();
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  const children = [];
  for (let i = 0; i < 3; i++) {
    children.push(await tokenSet(await refreshWith(app, client, tokens.refresh_token)));
  }
  const fourth = await refreshWith(app, client, tokens.refresh_token);
  assert.equal(fourth.status, 400);
  assert.equal((await fourth.json()).error, "invalid_grant");
  for (const child of children) assert.equal(await mcpStatus(app, child.access_token), 401);
  assert.equal((await app.store.list(["grant"])).length, 0);
  assert.ok(events.some((e) => e.type === "grant_revoked" && e.reason === "refresh token reused"));
  await app.close();
});
