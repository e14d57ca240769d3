/**
 * `app.owner`, the API under the owner page and the owner commands: grants with their
 * last use (code exchange, refresh, /mcp at most once a minute), revocation effective
 * at once here and within a second in another process sharing the store, forgetting a
 * client, the activity log, and what tools learn about their caller.
 */
import assert from "node:assert/strict";
import { ACTIVITY_LIMIT } from "../../auth/owner/activity.ts";
import { REVOCATION_NOTICE_POLL_MS } from "../../auth/grants/token_index.ts";
import { createUsageRecorder, USE_WRITE_INTERVAL_MS } from "../../auth/grants/usage.ts";
import { createPersonalMcp } from "../../server/create.ts";
import type { PersonalMcpEvent } from "../../core/config.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";
import { caller } from "../../transport/caller.ts";
import { tool } from "../../transport/tools.ts";
import {
  authorize,
  BASE_URL,
  callHello,
  clientCredentials,
  mcpPost,
  mcpStatus,
  PASSWORD,
  registerClient,
  rpcMessage,
  type TestClient,
  testServer,
  tokenSet,
  tokensFor,
} from "../fixtures.ts";

/** A /token form post from a given address. */
async function tokenFrom(
  app: ReturnType<typeof testServer>["app"],
  fields: Record<string, string>,
  remoteAddress: string,
) {
  return await app.fetch(
    new Request(`${BASE_URL}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
    }),
    { remoteAddress },
  );
}

async function tokensFrom(
  app: ReturnType<typeof testServer>["app"],
  client: TestClient,
  remoteAddress: string,
) {
  const { code, verifier } = await authorize(app, client);
  return await tokenSet(
    await tokenFrom(app, {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: client.redirectUris[0]!,
      ...clientCredentials(client),
    }, remoteAddress),
  );
}

/** Runs `fn` with Date.now moved `ms` ahead. */
async function later<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  const t = realNow() + ms;
  Date.now = () => t;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

Deno.test("app.owner.listGrants describes each grant, with its last use by exchange, refresh and /mcp", async (t) => {
  const { app } = testServer();
  const client = await registerClient(app, { client_name: "Laptop" });
  const tokens = await tokensFrom(app, client, "198.51.100.1");
  const [grant] = await app.owner.listGrants();
  await t.step("after the code exchange", () => {
    assert.ok(grant);
    assert.equal(grant.clientId, client.clientId);
    assert.equal(grant.clientName, "Laptop");
    assert.equal(grant.registered, true);
    assert.equal(grant.redirectUri, client.redirectUris[0]);
    assert.deepEqual(grant.scopes, ["mcp", "offline_access"]);
    assert.equal(grant.lastAddress, "198.51.100.1");
    assert.ok(grant.lastUsedAt! >= grant.createdAt);
    assert.equal(grant.liveTokens, true);
  });
  await t.step("after a refresh", async () => {
    await later(5000, async () => {
      await tokenSet(
        await tokenFrom(app, {
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token,
          ...clientCredentials(client),
        }, "198.51.100.2"),
      );
    });
    const [after] = await app.owner.listGrants();
    assert.equal(after!.lastAddress, "198.51.100.2");
    assert.ok(after!.lastUsedAt! >= grant!.lastUsedAt! + 5000);
  });
  await t.step("/mcp use is written at most once a minute per grant", async () => {
    const fresh = await tokensFrom(app, client, "198.51.100.3");
    const id = (await app.owner.listGrants()).find((g) => g.lastAddress === "198.51.100.3")!.id;
    const call = (address: string) =>
      app.fetch(
        new Request(`${BASE_URL}/mcp`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${fresh.access_token}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
        }),
        { remoteAddress: address },
      ).then((r) => r.body?.cancel());
    const lastOf = async () => (await app.owner.listGrants()).find((g) => g.id === id)!;
    await call("203.0.113.1");
    await new Promise((r) => setTimeout(r, 10)); // the write is not awaited by the call
    assert.equal((await lastOf()).lastAddress, "203.0.113.1");
    await call("203.0.113.2");
    await new Promise((r) => setTimeout(r, 10));
    assert.equal((await lastOf()).lastAddress, "203.0.113.1", "not written again within a minute");
    await later(USE_WRITE_INTERVAL_MS + 1000, async () => {
      await call("203.0.113.3");
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await lastOf()).lastAddress, "203.0.113.3");
    });
  });
});

Deno.test("/mcp use never writes back a grant revoked meanwhile", async () => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  await tokensFor(app, client);
  const [grant] = await app.owner.listGrants();
  // The gate accepted a token of this grant; the revocation lands before the use is written.
  const usage = createUsageRecorder(store);
  await app.owner.revokeGrant(grant!.id);
  usage.used(grant!.id, "192.0.2.1");
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(await store.get(["grant", grant!.id]), undefined);
});

Deno.test("app.owner revokes one grant, all grants, or a forgotten client's grants", async (t) => {
  const { app, events } = testServer();
  const a = await registerClient(app, { client_name: "A" });
  const b = await registerClient(app, { client_name: "B" });
  const a1 = await tokensFor(app, a);
  const a2 = await tokensFor(app, a);
  const b1 = await tokensFor(app, b);
  await t.step("revokeGrant", async () => {
    const grant = (await app.owner.listGrants()).find((g) => g.clientId === b.clientId)!;
    assert.equal(await app.owner.revokeGrant(grant.id, "192.0.2.1"), true);
    assert.equal(await app.owner.revokeGrant(grant.id), false, "already gone");
    assert.equal(await mcpStatus(app, b1.access_token), 401);
    assert.equal(await mcpStatus(app, a1.access_token), 200);
  });
  await t.step("listClients counts grants", async () => {
    const clients = await app.owner.listClients();
    assert.deepEqual(
      clients.map((c) => [c.clientName, c.grants]).sort(),
      [["A", 2], ["B", 0]],
    );
  });
  await t.step("forgetClient", async () => {
    assert.equal(await app.owner.forgetClient(a.clientId, "192.0.2.1"), true);
    assert.equal(await app.owner.forgetClient(a.clientId), false);
    assert.equal(await mcpStatus(app, a1.access_token), 401);
    assert.equal(await mcpStatus(app, a2.access_token), 401);
    assert.deepEqual((await app.owner.listClients()).map((c) => c.clientName), ["B"]);
    assert.ok(events.some((e) => e.type === "client_forgotten" && e.clientId === a.clientId));
  });
  await t.step("revokeAll", async () => {
    const c = await tokensFor(app, b);
    const d = await tokensFor(app, b);
    assert.equal(await app.owner.revokeAll(), 2);
    assert.equal(await mcpStatus(app, c.access_token), 401);
    assert.equal(await mcpStatus(app, d.access_token), 401);
  });
});

Deno.test("a code approved before its client was forgotten cannot be exchanged after", async () => {
  const { app } = testServer();
  const client = await registerClient(app, { token_endpoint_auth_method: "none" });
  const { code, verifier } = await authorize(app, client);
  await app.owner.forgetClient(client.clientId);
  const res = await tokenFrom(app, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: client.redirectUris[0]!,
    client_id: client.clientId,
  }, "192.0.2.1");
  assert.equal(res.status, 401);
  await res.body?.cancel();
  assert.deepEqual(await app.owner.listGrants(), []);
});

Deno.test("a forget that lands between a code exchange's client check and its write leaves no grant", async () => {
  // The store runs the owner's forget just before the exchange's transaction, as a
  // concurrent Forget on the owner page would.
  const inner = createMemoryStore();
  let forgetFirst: string | undefined;
  const store: Store = {
    ...inner,
    async transact(keys, plan) {
      if (forgetFirst && keys[0]?.[0] === "code") {
        await inner.write([{ op: "delete", key: ["client", forgetFirst] }]);
        forgetFirst = undefined;
      }
      return await inner.transact(keys, plan);
    },
  };
  const { app } = testServer({ store });
  const client = await registerClient(app, { token_endpoint_auth_method: "none" });
  const { code, verifier } = await authorize(app, client);
  forgetFirst = client.clientId;
  const res = await tokenFrom(app, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: client.redirectUris[0]!,
    client_id: client.clientId,
  }, "192.0.2.1");
  assert.equal(res.status, 400);
  await res.body?.cancel();
  assert.deepEqual(await app.owner.listGrants(), []);
});

Deno.test("a grant revoked by another server sharing the store stops working there within a second", async () => {
  // Two servers on one store: an owner command on Deno KV, or two isolates.
  const store = createMemoryStore();
  const a = testServer({ store });
  const b = testServer({ store });
  const client = await registerClient(a.app);
  const tokens = await tokensFor(a.app, client);
  assert.equal(await mcpStatus(b.app, tokens.access_token), 200, "b indexes the token in memory");
  const [grant] = await a.app.owner.listGrants();
  await a.app.owner.revokeGrant(grant!.id);
  assert.equal(await mcpStatus(a.app, tokens.access_token), 401, "at once where it was revoked");
  const status = await later(
    REVOCATION_NOTICE_POLL_MS + 10,
    () => mcpStatus(b.app, tokens.access_token),
  );
  assert.equal(status, 401);
});

Deno.test("app.owner.recentEvents and onEvent see the same events, newest first, with addresses", async () => {
  const { app, events } = testServer();
  const client = await registerClient(app, { client_name: "Events" });
  const tokens = await tokensFrom(app, client, "198.51.100.5");
  await tokenFrom(app, {
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    ...clientCredentials(client),
  }, "198.51.100.6").then((r) => r.body?.cancel());
  const bad = await tokenFrom(
    app,
    { grant_type: "refresh_token", refresh_token: "nope" },
    "198.51.100.7",
  );
  await bad.body?.cancel();
  const recent = await app.owner.recentEvents();
  const auth = events.filter((e) => e.type !== "error" && e.type !== "warning");
  assert.deepEqual(
    recent.map(({ id: _id, at: _at, ...event }) => event).reverse(),
    auth,
  );
  assert.deepEqual(recent.map((e) => e.type).reverse(), [
    "client_registered",
    "consent_shown",
    "consent_approved",
    "token_issued",
    "token_refreshed",
    "request_refused",
  ]);
  const refused = recent[0]!;
  assert.equal(refused.type, "request_refused");
  assert.equal(refused.clientAddress, "198.51.100.7");
  assert.match((refused as { reason: string }).reason, /^invalid_client/);
  const issued = recent.find((e) => e.type === "token_issued")!;
  assert.equal(issued.clientAddress, "198.51.100.5");
  for (const entry of recent) assert.ok(entry.at <= Date.now());
});

Deno.test("no event carries a token, code, secret or password", async () => {
  const { app, events } = testServer();
  const client = await registerClient(app);
  const { code, verifier } = await authorize(app, client);
  const tokens = await tokenSet(
    await tokenFrom(app, {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: client.redirectUris[0]!,
      ...clientCredentials(client),
    }, "192.0.2.1"),
  );
  await callHello(app, tokens.access_token).then((r) => r.body?.cancel());
  await callHello(app, tokens.access_token + "x").then((r) => r.body?.cancel());
  await tokenFrom(app, {
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    ...clientCredentials(client),
  }, "192.0.2.1").then((r) => r.body?.cancel());
  // Reuse after the grace and the reuse window (refreshReuseWindowSeconds, 4 h):
  // detected, the grant revoked.
  await later(5 * 3600_000, () =>
    tokenFrom(app, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      ...clientCredentials(client),
    }, "192.0.2.1").then((r) => r.body?.cancel()));
  const types = new Set(events.map((e) => e.type));
  for (
    const type of ["token_issued", "token_refreshed", "refresh_reuse_detected", "grant_revoked"]
  ) {
    assert.ok(types.has(type as PersonalMcpEvent["type"]), type);
  }
  const text = JSON.stringify([events, await app.owner.recentEvents()]);
  for (
    const secret of [
      tokens.access_token,
      tokens.refresh_token,
      code,
      verifier,
      client.clientSecret!,
      PASSWORD,
    ]
  ) {
    assert.ok(!text.includes(secret), "a secret reached the activity log");
  }
});

Deno.test("the activity log keeps the last few hundred events, in memory and in the store", async () => {
  const { app, store } = testServer();
  for (let i = 0; i < ACTIVITY_LIMIT + 50; i++) {
    await tokenFrom(
      app,
      { grant_type: "refresh_token", refresh_token: `x${i}` },
      `192.0.2.${i % 250}`,
    )
      .then((r) => r.body?.cancel());
  }
  await app.close();
  const recent = await app.owner.recentEvents();
  assert.equal(recent.length, ACTIVITY_LIMIT);
  assert.ok((await store.list(["activity"])).length <= ACTIVITY_LIMIT);
  // Writes are batched: far fewer than one per event.
});

Deno.test("a tool's context says who called: grant id, client id and the client's name", async () => {
  const store = createMemoryStore();
  const app = createPersonalMcp({
    whoami: tool({
      description: "Who am I",
      run: (_args, ctx) => JSON.stringify(caller(ctx) ?? null),
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD, store });
  const client = await registerClient(app, { client_name: "Caller app" });
  const tokens = await tokensFor(app, client);
  const [grant] = await app.owner.listGrants();
  const message = await rpcMessage(
    await mcpPost(app, {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "whoami", arguments: {} },
    }, { authorization: `Bearer ${tokens.access_token}` }),
  );
  const result = message.result as { content: { text: string }[] };
  assert.deepEqual(JSON.parse(result.content[0]!.text), {
    grantId: grant!.id,
    clientId: client.clientId,
    clientName: "Caller app",
    scopes: ["mcp", "offline_access"],
    policy: { policy: "allow" },
  });
  await app.close();
});
