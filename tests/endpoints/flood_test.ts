/**
 * Registration floods: the state stays bounded under thousands of registrations.
 */
import assert from "node:assert/strict";
import { createMemoryStore, createPersonalMcp, demoTools } from "../../mod.ts";

const BASE = "http://127.0.0.1:8787";

function register(app: ReturnType<typeof createPersonalMcp>, address: string) {
  return app.fetch(
    new Request(`${BASE}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "flood",
        redirect_uris: ["http://127.0.0.1:9/cb"],
        token_endpoint_auth_method: "none",
      }),
    }),
    { remoteAddress: address },
  );
}

Deno.test("one address may register 20 clients a minute, then gets 429 with Retry-After", async () => {
  const store = createMemoryStore();
  const app = createPersonalMcp(demoTools, { baseUrl: BASE, password: "flood-password", store });
  for (let i = 0; i < 20; i++) assert.equal((await register(app, "198.51.100.7")).status, 201);
  const refused = await register(app, "198.51.100.7");
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.equal(refused.headers.get("cache-control"), "no-store");
  assert.equal((await refused.json()).error, "slow_down");
  assert.equal(
    (await store.list(["client"])).length,
    20,
    "the refused registration stored nothing",
  );
  assert.equal(
    (await register(app, "198.51.100.8")).status,
    201,
    "another address is not affected",
  );
  await app.close();
});

Deno.test("thousands of registrations from many addresses keep at most maxClients", async () => {
  const store = createMemoryStore();
  const app = createPersonalMcp(demoTools, {
    baseUrl: BASE,
    password: "flood-password",
    store,
    maxClients: 100,
  });
  for (let i = 0; i < 3000; i++) {
    const res = await register(app, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    assert.equal(res.status, 201);
    await res.body?.cancel();
  }
  assert.equal((await store.list(["client"])).length, 100);
  await app.close();
});

Deno.test("a client that never obtains a token is gone after a day", async () => {
  let now = Date.now();
  const store = createMemoryStore({ now: () => now });
  const app = createPersonalMcp(demoTools, { baseUrl: BASE, password: "flood-password", store });
  const res = await register(app, "198.51.100.9");
  const { client_id } = await res.json();
  assert.equal((await store.list(["client"])).length, 1);
  now += 25 * 3600 * 1000;
  assert.equal((await store.list(["client"])).length, 0);
  assert.equal(await store.get(["client", client_id]), undefined);
  await app.close();
});
