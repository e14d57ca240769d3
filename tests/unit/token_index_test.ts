/**
 * The access-token index is a store decorator: whatever deletes an access record, by
 * whichever store call, the next `/mcp` lookup must not find it in memory.
 */
import assert from "node:assert/strict";
import { createGrants } from "../../auth/grants/grants.ts";
import type { AccessRecord, GrantRecord } from "../../auth/records.ts";
import {
  REVOCATION_LOG_TTL_MS,
  REVOCATION_NOTICE_POLL_MS,
  withAccessIndex,
} from "../../auth/grants/token_index.ts";
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

/** Two processes' views of one store: each with its own index, as two servers have. */
async function twoIndexes(inner: Store = createMemoryStore(), now?: () => number) {
  const a = withAccessIndex(inner, now, { announce: ["mcp_session"] });
  const b = withAccessIndex(inner, now, { announce: ["mcp_session"] });
  await a.write([
    { op: "set", key: ["access", "h1"], value: record },
    { op: "set", key: ["grant", "g1"], value: { grantId: "g1" } },
  ]);
  assert.ok(await b.findAccess("h1"), "b indexed the token");
  const heardByA: unknown[] = [];
  const heardByB: unknown[] = [];
  a.onRemoteDeletions((deleted) => heardByA.push(deleted));
  b.onRemoteDeletions((deleted) => heardByB.push(deleted));
  return { a, b, heardByA, heardByB };
}

/** Lets the store's watchers and the reads they start run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

Deno.test("another process's deletions reach the listeners and the index, and no one hears its own", async (t) => {
  await t.step("a revoked grant: its token and its id", async () => {
    const { a, b, heardByA, heardByB } = await twoIndexes();
    await a.write([
      { op: "delete", key: ["grant", "g1"] },
      { op: "delete", key: ["access", "h1"] },
      { op: "delete", key: ["refresh", "r1"] },
    ]);
    await settle();
    assert.deepEqual(
      heardByB,
      [[["grant", "g1"], ["access", "h1"]]],
      "refresh keys are not announced",
    );
    assert.deepEqual(heardByA, [], "a's own write is not announced back to a");
    // The store is watched: b forgets the token without waiting for a poll.
    assert.equal(await b.findAccess("h1"), undefined);
  });

  await t.step("an ended session, under a prefix the caller announced", async () => {
    const { a, heardByB } = await twoIndexes();
    await a.write([{ op: "delete", key: ["mcp_session", "g1", "s1"] }]);
    await settle();
    assert.deepEqual(heardByB, [[["mcp_session", "g1", "s1"]]]);
  });

  await t.step("writes that delete nothing announced write no log entry", async () => {
    const inner = createMemoryStore();
    const { a, heardByB } = await twoIndexes(inner);
    await a.write([{ op: "set", key: ["access", "h2"], value: record }]);
    await a.write([{ op: "delete", key: ["code", "c1"] }]);
    await settle();
    assert.deepEqual(heardByB, []);
    assert.deepEqual(await inner.list(["server", "revocation-log"]), []);
  });
});

Deno.test("a process that may have missed log entries drops its index and has everything checked", async () => {
  let t = Date.now();
  const inner = createMemoryStore({ now: () => t });
  const { a, b, heardByB } = await twoIndexes(inner, () => t);
  t += REVOCATION_LOG_TTL_MS; // b did not look for longer than the log keeps entries
  await a.write([{ op: "delete", key: ["access", "other"] }]);
  await settle();
  assert.deepEqual(heardByB, [undefined]);
  assert.ok(await b.findAccess("h1"), "read again from the store: still live");
});

Deno.test("without a watch, the notice is read on the next lookup, at most once a second", async () => {
  let t = Date.now();
  const inner = createMemoryStore({ now: () => t });
  const unwatchable: Store = { ...inner, watch: undefined };
  const a = withAccessIndex(unwatchable, () => t);
  const b = withAccessIndex(unwatchable, () => t);
  await a.write([{ op: "set", key: ["access", "h1"], value: record }]);
  assert.ok(await b.findAccess("h1"));
  const heard: unknown[] = [];
  b.onRemoteDeletions((deleted) => heard.push(deleted));
  await a.write([{ op: "delete", key: ["access", "h1"] }]);
  assert.ok(await b.findAccess("h1"), "trusted until the notice is read again");
  t += REVOCATION_NOTICE_POLL_MS;
  assert.equal(await b.findAccess("h1"), undefined);
  assert.deepEqual(heard, [[["access", "h1"]]]);
});
