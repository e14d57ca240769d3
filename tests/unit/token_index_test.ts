/**
 * The access-token index is a store decorator: whatever deletes an access record, by
 * whichever store call, the next `/mcp` lookup must not find it in memory.
 */
import assert from "node:assert/strict";
import { createGrants } from "../../auth/grants.ts";
import type { AccessRecord, GrantRecord } from "../../auth/records.ts";
import { withAccessIndex } from "../../auth/token_index.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";

const record: AccessRecord = {
  grantId: "g1",
  clientId: "c1",
  scope: "mcp",
  resource: "http://127.0.0.1:8787/mcp",
  expiresAt: Date.now() + 3_600_000,
};

/** A store and its indexed view, with `h1` cached in the index. */
async function indexed(): Promise<{ inner: Store; store: ReturnType<typeof withAccessIndex> }> {
  const inner = createMemoryStore();
  const store = withAccessIndex(inner);
  const grant: GrantRecord = {
    grantId: "g1",
    clientId: "c1",
    scope: "mcp",
    resource: record.resource,
    createdAt: 0,
    refresh: [{ hash: "r1", expiresAt: record.expiresAt, accessHash: "h1" }],
  };
  await store.write([
    { op: "set", key: ["access", "h1"], value: record },
    { op: "set", key: ["grant", "g1"], value: grant },
  ]);
  assert.ok(await store.findAccess("h1"), "indexed");
  return { inner, store };
}

Deno.test("the access index forgets a token deleted by any path", async (t) => {
  await t.step("a plain write", async () => {
    const { inner, store } = await indexed();
    await store.write([{ op: "delete", key: ["access", "h1"] }]);
    assert.equal(await inner.get(["access", "h1"]), undefined);
    assert.equal(await store.findAccess("h1"), undefined);
  });

  await t.step("a transaction plan", async () => {
    const { store } = await indexed();
    await store.transact([["access", "h1"]], () => ({
      ops: [{ op: "delete", key: ["access", "h1"] }],
      result: null,
    }));
    assert.equal(await store.findAccess("h1"), undefined);
  });

  await t.step("the grants service revoking the grant", async () => {
    const { store } = await indexed();
    const revoked: string[] = [];
    const grants = createGrants(store, (grantId) => revoked.push(grantId));
    assert.equal(await grants.revoke("g1", "test"), true);
    assert.deepEqual(revoked, ["g1"]);
    assert.equal(await store.findAccess("h1"), undefined);
    assert.equal(await grants.revoke("g1", "again"), false, "a second revocation finds nothing");
    assert.deepEqual(revoked, ["g1"]);
  });

  await t.step("a failed write forgets nothing", async () => {
    const { inner, store } = await indexed();
    const failing = withAccessIndex({
      ...inner,
      write: () => Promise.reject(new Error("disk full")),
    });
    assert.ok(await failing.findAccess("h1"));
    await assert.rejects(failing.write([{ op: "delete", key: ["access", "h1"] }]));
    assert.ok(await failing.findAccess("h1"), "the store still holds it, so does the index");
    assert.ok(await store.findAccess("h1"));
  });
});

Deno.test("without the decorator a deletion leaves the token usable from memory", async () => {
  // The counter-test: the same deletion through the undecorated store is invisible
  // to the index, which is why every write must go through the decorator.
  const { inner, store } = await indexed();
  await inner.write([{ op: "delete", key: ["access", "h1"] }]);
  assert.ok(await store.findAccess("h1"), "cached until re-read");
});
