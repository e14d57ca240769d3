/**
 * A write that fails (a full or failing disk) changes nothing, in memory or on disk:
 * the endpoint answers 503 and the client may try again; what a restart reads is what
 * the running server believed. The failure is real: the state folder is swapped for a
 * plain file, so every write under it fails (ENOTDIR) even for root, who ignores modes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFileStore, readStateFile } from "../../store/file.ts";
import { type Store, StoreUnavailableError } from "../../store/store.ts";
import {
  authorize,
  authorizeUrl,
  clientCredentials,
  exchangeCode,
  mcpStatus,
  openConsent,
  pkcePair,
  postConsent,
  postForm,
  refreshWith,
  registerClient,
  testServer,
  tokenSet,
  tokensFor,
} from "../fixtures.ts";

/** A state folder whose writes can be made to fail, and made to work again. */
async function failingFolder() {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-failing-"));
  const away = `${dir}.away`;
  return {
    dir,
    async fail() {
      await rename(dir, away);
      await writeFile(dir, "not a folder");
    },
    async repair() {
      await rm(dir);
      await rename(away, dir);
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
      await rm(away, { recursive: true, force: true });
    },
  };
}

/** What the state file holds (what a restart would read), in the form `store.list([])` gives. */
async function onDisk(dir: string): Promise<string> {
  const { records, tornBytes } = await readStateFile(dir);
  assert.equal(tornBytes, 0, "no half-written change is left in the file");
  return canonical(records.map((r) => [r.key, r.value]));
}

async function inMemory(store: Store): Promise<string> {
  return canonical((await store.list([])).map((e) => [e.key, e.value]));
}

function canonical(entries: unknown[][]): string {
  return JSON.stringify(
    entries.sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0]))),
  );
}

async function oauthError(res: Response, status: number, error: string) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error, error);
  return body;
}

Deno.test("a write that fails changes nothing in memory, and writes queued behind it fail too", async () => {
  const folder = await failingFolder();
  const store = await openFileStore(folder.dir);
  try {
    await store.write([{ op: "set", key: ["k", "kept"], value: 1 }]);
    const before = await inMemory(store);
    await folder.fail();
    // The first starts writing (and waits for the disk); the second is planned on top of
    // the first's change and queued behind that write (group commit).
    const first = store.write([{ op: "set", key: ["k", "a"], value: 2 }]);
    for (let i = 0; i < 10; i++) await null;
    const second = store.transact([["k", "a"]], ([a]) => ({
      ops: [{ op: "set", key: ["k", "b"], value: (a as number) + 1 }],
      result: a,
    }));
    const outcomes = await Promise.allSettled([first, second]);
    for (const o of outcomes) {
      assert.equal(o.status, "rejected");
      assert.ok((o as PromiseRejectedResult).reason instanceof StoreUnavailableError);
    }
    assert.equal(await inMemory(store), before, "memory is back to what the disk holds");
    await folder.repair();
    assert.equal(await onDisk(folder.dir), before);
    // The store works again once the disk does.
    await store.write([{ op: "set", key: ["k", "c"], value: 3 }]);
    assert.equal(await onDisk(folder.dir), await inMemory(store));
  } finally {
    await store.close();
    await folder.remove();
  }
});

Deno.test("/revoke on a failing disk answers 503 and revokes nothing; a retry that is stored survives a restart", async () => {
  const folder = await failingFolder();
  let store = await openFileStore(folder.dir);
  let server = testServer({ store });
  try {
    const client = await registerClient(server.app);
    const tokens = await tokensFor(server.app, client);
    const revoke = () =>
      postForm(server.app, "/revoke", {
        ...clientCredentials(client),
        token: tokens.refresh_token,
      });

    await folder.fail();
    const failed = await revoke();
    // RFC 7009 2.2.1: 503 when the token cannot be revoked now; the client retries.
    await oauthError(failed, 503, "temporarily_unavailable");
    assert.ok(failed.headers.get("retry-after"));
    assert.equal(
      await mcpStatus(server.app, tokens.access_token),
      200,
      "memory still holds the grant, as the disk does",
    );
    await folder.repair();
    // The call's last-use stamp is written in the background (and may have failed with
    // the disk); an empty write waits for it.
    await store.write([]).catch(() => {});
    assert.equal(await onDisk(folder.dir), await inMemory(store));

    const retried = await revoke();
    assert.equal(retried.status, 200);
    assert.equal(await mcpStatus(server.app, tokens.access_token), 401);

    await server.app.close();
    store = await openFileStore(folder.dir);
    server = testServer({ store });
    assert.equal(await mcpStatus(server.app, tokens.access_token), 401, "after a restart too");
    await oauthError(
      await refreshWith(server.app, client, tokens.refresh_token),
      400,
      "invalid_grant",
    );
  } finally {
    await server.app.close();
    await folder.remove();
  }
});

Deno.test("a code exchange whose write failed can be retried, and is not taken for a replay", async () => {
  const folder = await failingFolder();
  let store = await openFileStore(folder.dir);
  let server = testServer({ store });
  try {
    const client = await registerClient(server.app);
    const { code, verifier } = await authorize(server.app, client);
    await folder.fail();
    await oauthError(
      await exchangeCode(server.app, client, code, verifier),
      503,
      "temporarily_unavailable",
    );
    assert.equal(await server.app.store.list(["grant"]).then((g) => g.length), 0);
    await folder.repair();
    const tokens = await tokenSet(await exchangeCode(server.app, client, code, verifier));
    assert.equal(await mcpStatus(server.app, tokens.access_token), 200);
    // The call's last-use stamp is written in the background; an empty write waits for it.
    await store.write([]);
    assert.equal(await onDisk(folder.dir), await inMemory(store));

    await server.app.close();
    store = await openFileStore(folder.dir);
    server = testServer({ store });
    assert.equal(await mcpStatus(server.app, tokens.access_token), 200, "the retried grant");
  } finally {
    await server.app.close();
    await folder.remove();
  }
});

Deno.test("a consent approval that cannot be stored answers a 503 page and issues no code", async () => {
  const folder = await failingFolder();
  const store = await openFileStore(folder.dir);
  const { app } = testServer({ store });
  try {
    const client = await registerClient(app);
    // The consent page's signing key is stored on first use: make it exist first.
    await authorize(app, client);
    await folder.fail();
    const page = await openConsent(app, authorizeUrl(client, (await pkcePair()).challenge));
    const res = await postConsent(app, page);
    assert.equal(res.status, 503);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("location"), null);
    await res.body?.cancel();
    await folder.repair();
    assert.equal(await onDisk(folder.dir), await inMemory(store));
  } finally {
    await app.close();
    await folder.remove();
  }
});
