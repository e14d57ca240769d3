/**
 * RFC 7009 token revocation at /revoke: effective at once on /mcp, a refresh token
 * takes its whole grant with it, and nobody learns whether a token existed.
 */
import assert from "node:assert/strict";
import { ACCESS_INDEX_FRESH_MS } from "../../auth/grants/token_index.ts";
import { createMemoryStore } from "../../store/memory.ts";
import {
  BASE_URL,
  clientCredentials,
  mcpStatus,
  postForm,
  postJson,
  refreshWith,
  registerClient,
  snapshot,
  type TestClient,
  testServer,
  tokenSet,
  tokensFor,
} from "../fixtures.ts";

async function revoke(
  app: ReturnType<typeof testServer>["app"],
  client: TestClient,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await postForm(app, "/revoke", { ...clientCredentials(client), ...fields }, headers);
}

async function assertRevokeOk(res: Response) {
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(await res.text(), "");
}

Deno.test("/revoke of an access token closes /mcp to it at once", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  assert.equal(await mcpStatus(app, tokens.access_token), 200, "the token was cached as valid");
  await assertRevokeOk(
    await revoke(app, client, { token: tokens.access_token, token_type_hint: "access_token" }),
  );
  assert.equal(await mcpStatus(app, tokens.access_token), 401);
});

Deno.test("/revoke of a refresh token revokes its grant and every token of it", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  assert.equal(await mcpStatus(app, tokens.access_token), 200, "the token was cached as valid");
  await assertRevokeOk(
    await revoke(app, client, { token: tokens.refresh_token, token_type_hint: "refresh_token" }),
  );
  assert.equal(await mcpStatus(app, tokens.access_token), 401);
  const res = await refreshWith(app, client, tokens.refresh_token);
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "invalid_grant");
});

Deno.test("/revoke of an already rotated refresh token still revokes the grant", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const first = await tokensFor(app, client);
  const second = await tokenSet(await refreshWith(app, client, first.refresh_token));
  assert.equal(await mcpStatus(app, second.access_token), 200);
  await assertRevokeOk(await revoke(app, client, { token: first.refresh_token }));
  assert.equal(await mcpStatus(app, second.access_token), 401);
});

Deno.test("/revoke treats token_type_hint as a hint only", async (t) => {
  await t.step("an access token sent as refresh_token is revoked", async () => {
    const { app } = testServer();
    const client = await registerClient(app);
    const tokens = await tokensFor(app, client);
    await assertRevokeOk(
      await revoke(app, client, { token: tokens.access_token, token_type_hint: "refresh_token" }),
    );
    assert.equal(await mcpStatus(app, tokens.access_token), 401);
  });
  await t.step("a refresh token sent as access_token is revoked", async () => {
    const { app } = testServer();
    const client = await registerClient(app);
    const tokens = await tokensFor(app, client);
    await assertRevokeOk(
      await revoke(app, client, { token: tokens.refresh_token, token_type_hint: "access_token" }),
    );
    assert.equal(await mcpStatus(app, tokens.access_token), 401);
  });
});

Deno.test("/revoke answers 200 for an unknown token and changes nothing", async () => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  await tokensFor(app, client);
  const before = await snapshot(store);
  await assertRevokeOk(await revoke(app, client, { token: "A".repeat(43) }));
  assert.equal(await snapshot(store), before);
});

Deno.test("/revoke answers 200 for another client's token but does not revoke it", async (t) => {
  const { app, store } = testServer();
  const owner = await registerClient(app);
  const other = await registerClient(app, { client_name: "Other" });
  const tokens = await tokensFor(app, owner);
  for (
    const [kind, token] of [["access", tokens.access_token], ["refresh", tokens.refresh_token]]
  ) {
    await t.step(`${kind} token`, async () => {
      const before = await snapshot(store);
      await assertRevokeOk(await revoke(app, other, { token: token! }));
      assert.equal(await snapshot(store), before);
      assert.equal(await mcpStatus(app, tokens.access_token), 200);
    });
  }
  await t.step("the owner's refresh token still works", async () => {
    await tokenSet(await refreshWith(app, owner, tokens.refresh_token));
  });
});

Deno.test("/revoke refuses a bad request and changes nothing", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;
  const cases: [why: string, send: () => Promise<Response>, status: number, error: string][] = [
    ["no token", () => revoke(app, client, {}), 400, "invalid_request"],
    ["an empty token", () => revoke(app, client, { token: "" }), 400, "invalid_request"],
    [
      "an unknown client",
      () => postForm(app, "/revoke", { token: tokens.access_token, client_id: "no-such-client" }),
      401,
      "invalid_client",
    ],
    [
      "no client at all",
      () => postForm(app, "/revoke", { token: tokens.access_token }),
      401,
      "invalid_client",
    ],
    [
      "a wrong client secret",
      () =>
        postForm(app, "/revoke", {
          token: tokens.access_token,
          client_id: client.clientId,
          client_secret: "wrong",
        }),
      401,
      "invalid_client",
    ],
    [
      "a wrong secret via Basic",
      () =>
        postForm(app, "/revoke", { token: tokens.access_token }, {
          authorization: basic(client.clientId, "wrong"),
        }),
      401,
      "invalid_client",
    ],
    [
      "a JSON body",
      () => postJson(app, "/revoke", { token: tokens.access_token, ...clientCredentials(client) }),
      400,
      "invalid_request",
    ],
  ];
  for (const [why, send, status, error] of cases) {
    await t.step(`${why} -> ${status} ${error}`, async () => {
      const before = await snapshot(store);
      const res = await send();
      const body = await res.json();
      assert.equal(res.status, status);
      assert.equal(body.error, error);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.equal(await snapshot(store), before);
      assert.equal(await mcpStatus(app, tokens.access_token), 200);
    });
  }
  await t.step("GET -> 405", async () => {
    const res = await app.fetch(new Request(`${BASE_URL}/revoke`));
    assert.equal(res.status, 405);
    await res.body?.cancel();
  });
});

Deno.test("a token revoked by another server sharing the store stops working within the index's freshness", async () => {
  // Two servers on one store, as Deno Deploy isolates share one KV database.
  const store = createMemoryStore();
  const a = testServer({ store });
  const b = testServer({ store });
  const client = await registerClient(a.app);
  const tokens = await tokensFor(a.app, client);
  assert.equal(await mcpStatus(b.app, tokens.access_token), 200, "b indexes the token in memory");
  await assertRevokeOk(await revoke(a.app, client, { token: tokens.access_token }));
  // b trusts its index for a while, then reads the store again and sees the revocation.
  const realNow = Date.now;
  const later = realNow() + ACCESS_INDEX_FRESH_MS + 1000;
  Date.now = () => later;
  try {
    assert.equal(await mcpStatus(b.app, tokens.access_token), 401);
  } finally {
    Date.now = realNow;
  }
});
