/**
 * One contract suite for the `Store` interface, run against every adapter (memory,
 * JSON file, Deno KV), plus the file store's own promises: modes, lock, corruption
 * handling, durability and group commit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  LEGACY_STATE_FILE,
  LOCK_FILE,
  openFileStore,
  readStateFile,
  STATE_FILE,
  StateFileError,
} from "../../store/file.ts";
import { openKvStore } from "../../store/kv.ts";
import { createMapCore, createMemoryStore, SWEEP_BATCH } from "../../store/memory.ts";
import type { Entry, Key, Store } from "../../store/store.ts";

/** A clock the test moves by hand, so expiry needs no sleeping. */
function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** Opens a fresh, empty store on the given clock; `dispose` closes it and removes its files. */
type OpenStore = (now: () => number) => Promise<{ store: Store; dispose: () => Promise<void> }>;

const ADAPTERS: [name: string, open: OpenStore][] = [
  ["memory", (now) => {
    const store = createMemoryStore({ now });
    return Promise.resolve({ store, dispose: () => store.close() });
  }],
  ["file", async (now) => {
    const dir = await Deno.makeTempDir({ prefix: "store_test_" });
    const store = await openFileStore(dir, { now });
    return {
      store,
      dispose: async () => {
        await store.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  }],
  ["kv", async (now) => {
    const store = await openKvStore(":memory:", { now });
    return { store, dispose: () => store.close() };
  }],
];

/** Resolves once `done()` holds; fails after a bound (a bound on waiting, not a timing claim). */
async function settled(done: () => boolean, boundMs = 3000): Promise<void> {
  const deadline = Date.now() + boundMs;
  await new Promise((resolve) => setTimeout(resolve, 0));
  while (!done()) {
    if (Date.now() > deadline) throw new Error("the watch was not called");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Entries in a stable order, since adapters need not agree on listing order. */
function sorted<T>(entries: Entry<T>[]): { key: string[]; value: T }[] {
  return entries
    .map((e) => ({ key: [...e.key], value: e.value }))
    .sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
}

async function setAll(store: Store, records: [Key, unknown][]): Promise<void> {
  await store.write(records.map(([key, value]) => ({ op: "set", key, value })));
}

function increment(key: Key) {
  return (values: unknown[]) => {
    const next = ((values[0] as number | undefined) ?? 0) + 1;
    return { ops: [{ op: "set" as const, key, value: next }], result: next };
  };
}

for (const [adapter, open] of ADAPTERS) {
  Deno.test(`${adapter} store keeps the Store contract`, async (t) => {
    /** Runs one step on a fresh store, always disposing of it. */
    function step(
      name: string,
      body: (store: Store, clock: ReturnType<typeof fakeClock>) => Promise<void>,
    ) {
      return t.step(name, async () => {
        const clock = fakeClock();
        const { store, dispose } = await open(clock.now);
        try {
          await body(store, clock);
        } finally {
          await dispose();
        }
      });
    }

    await step(
      "watch hears a write and a transaction of its key, and nothing once stopped",
      async (store) => {
        assert.ok(store.watch, "every adapter can be watched");
        let calls = 0;
        const stop = store.watch(["server", "notice"], () => calls++);
        await settled(() => true);
        let before = calls;
        await store.write([{ op: "set", key: ["server", "notice"], value: "a" }]);
        await settled(() => calls > before);
        before = calls;
        await store.transact([["server", "notice"]], () => ({
          ops: [{ op: "set", key: ["server", "notice"], value: "b" }],
          result: null,
        }));
        await settled(() => calls > before);
        stop();
        before = calls;
        await store.write([{ op: "set", key: ["server", "notice"], value: "c" }]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(calls, before, "a stopped watch hears nothing");
      },
    );

    await step(
      "a watch of one key hears it while another key of its kind is watched and stopped",
      async (store) => {
        let a = 0, b = 0;
        const stopA = store.watch!(["server", "a"], () => a++);
        const stopB = store.watch!(["server", "b"], () => b++);
        await settled(() => true);
        stopB();
        const bStopped = b; // Deno KV's watch also hears the value there was at its start
        const before = a;
        await store.write([
          { op: "set", key: ["server", "a"], value: 1 },
          { op: "set", key: ["other", "a"], value: 1 },
        ]);
        await settled(() => a > before);
        stopA();
        // Watched again after every watch of its kind stopped: heard again.
        let c = 0;
        const stopC = store.watch!(["server", "a"], () => c++);
        await settled(() => true);
        await store.write([{ op: "set", key: ["server", "a"], value: 2 }]);
        await settled(() => c > 0);
        stopC();
        assert.equal(b, bStopped, "a stopped watch hears nothing");
      },
    );

    await step("get returns undefined for a key never written", async (store) => {
      assert.equal(await store.get(["client", "nobody"]), undefined);
    });

    await step("get returns what write set, and a delete removes it", async (store) => {
      await store.write([{
        op: "set",
        key: ["client", "c1"],
        value: { name: "one", uris: ["x"] },
      }]);
      assert.deepEqual(await store.get(["client", "c1"]), { name: "one", uris: ["x"] });

      await store.write([{ op: "delete", key: ["client", "c1"] }]);
      assert.equal(await store.get(["client", "c1"]), undefined);
      assert.deepEqual(await store.list(["client"]), []);
    });

    await step("a second set replaces the first value", async (store) => {
      await setAll(store, [[["k"], { v: 1 }]]);
      await setAll(store, [[["k"], { v: 2 }]]);
      assert.deepEqual(await store.get(["k"]), { v: 2 });
    });

    await step("deleting an absent key is not an error", async (store) => {
      await store.write([{ op: "delete", key: ["never", "there"] }]);
      assert.equal(await store.get(["never", "there"]), undefined);
    });

    await step("keys are paths: keys that join to the same text stay distinct", async (store) => {
      await setAll(store, [[["a", "b"], 1], [["a,b"], 2], [["ab"], 3], [["a/b"], 4]]);
      assert.equal(await store.get(["a", "b"]), 1);
      assert.equal(await store.get(["a,b"]), 2);
      assert.equal(await store.get(["ab"]), 3);
      assert.equal(await store.get(["a/b"]), 4);
    });

    await step(
      "mutating a value after writing it does not change the stored record",
      async (store) => {
        const value = { scopes: ["read"], nested: { n: 1 } };
        await store.write([{ op: "set", key: ["grant", "g1"], value }]);
        value.scopes.push("write");
        value.nested.n = 99;
        assert.deepEqual(await store.get(["grant", "g1"]), { scopes: ["read"], nested: { n: 1 } });
      },
    );

    await step(
      "mutating a value returned by get or list does not change the stored record",
      async (store) => {
        await setAll(store, [[["grant", "g1"], { scopes: ["read"] }]]);

        const got = await store.get<{ scopes: string[] }>(["grant", "g1"]);
        got?.scopes.push("from-get");
        const [listed] = await store.list<{ scopes: string[] }>(["grant"]);
        listed?.value.scopes.push("from-list");

        assert.deepEqual(await store.get(["grant", "g1"]), { scopes: ["read"] });
        assert.deepEqual(sorted(await store.list(["grant"])), [
          { key: ["grant", "g1"], value: { scopes: ["read"] } },
        ]);
      },
    );

    await step(
      "mutating a value the plan received does not change the stored record",
      async (store) => {
        await setAll(store, [[["k"], { n: 1 }]]);
        await store.transact([["k"]], ([value]) => {
          (value as { n: number }).n = 42;
          return { ops: [], result: undefined };
        });
        assert.deepEqual(await store.get(["k"]), { n: 1 });
      },
    );

    await step(
      "list returns exactly the live records whose key path starts with the prefix",
      async (store) => {
        await setAll(store, [
          [["a", "1"], "a1"],
          [["a", "2"], "a2"],
          [["a", "x", "deep"], "deep"],
          [["ab", "1"], "ab1"], // shares a string prefix with "a", not a path prefix
          [["b", "1"], "b1"],
        ]);
        assert.deepEqual(sorted(await store.list(["a"])), [
          { key: ["a", "1"], value: "a1" },
          { key: ["a", "2"], value: "a2" },
          { key: ["a", "x", "deep"], value: "deep" },
        ]);
        assert.deepEqual(sorted(await store.list(["a", "x"])), [{
          key: ["a", "x", "deep"],
          value: "deep",
        }]);
        assert.deepEqual(await store.list(["c"]), []);
      },
    );

    await step("list does not include the record stored at the prefix itself", async (store) => {
      await setAll(store, [[["client"], "at-prefix"], [["client", "c1"], "below"]]);
      assert.deepEqual(sorted(await store.list(["client"])), [{
        key: ["client", "c1"],
        value: "below",
      }]);
    });

    await step(
      "a record reads as present before its expiresAt and absent from then on",
      async (store, clock) => {
        await store.write([
          { op: "set", key: ["code", "c1"], value: "soon", expiresAt: clock.now() + 60_000 },
          { op: "set", key: ["code", "c2"], value: "forever" },
        ]);
        clock.advance(59_999);
        assert.equal(await store.get(["code", "c1"]), "soon");

        clock.advance(1);
        assert.equal(await store.get(["code", "c1"]), undefined);
        assert.equal(await store.get(["code", "c2"]), "forever");
      },
    );

    await step("an expired record is not listed", async (store, clock) => {
      await store.write([
        { op: "set", key: ["token", "old"], value: 1, expiresAt: clock.now() + 1_000 },
        { op: "set", key: ["token", "new"], value: 2, expiresAt: clock.now() + 5_000 },
      ]);
      assert.equal((await store.list(["token"])).length, 2);
      clock.advance(1_000);
      assert.deepEqual(sorted(await store.list(["token"])), [{ key: ["token", "new"], value: 2 }]);
    });

    await step(
      "a record written with an expiresAt already past reads as absent",
      async (store, clock) => {
        await store.write([{ op: "set", key: ["k"], value: 1, expiresAt: clock.now() - 1 }]);
        assert.equal(await store.get(["k"]), undefined);
        assert.deepEqual(await store.list(["k"]), []);
        assert.deepEqual(await store.list([]), []);
      },
    );

    await step(
      "setting a record again without expiresAt makes it permanent",
      async (store, clock) => {
        await store.write([{ op: "set", key: ["k"], value: 1, expiresAt: clock.now() + 1_000 }]);
        await store.write([{ op: "set", key: ["k"], value: 2 }]);
        clock.advance(10_000);
        assert.equal(await store.get(["k"]), 2);
      },
    );

    await step("a transact plan sees an expired record as undefined", async (store, clock) => {
      await store.write([{
        op: "set",
        key: ["code", "c1"],
        value: "x",
        expiresAt: clock.now() + 1_000,
      }]);
      clock.advance(1_000);
      const seen = await store.transact(
        [["code", "c1"]],
        (values) => ({ ops: [], result: values }),
      );
      assert.deepEqual(seen, [undefined]);
    });

    await step(
      "transact hands the plan the current values in key order, undefined when absent",
      async (store) => {
        await setAll(store, [[["a"], { n: 1 }], [["c"], "three"]]);
        const seen = await store.transact(
          [["c"], ["b"], ["a"]],
          (values) => ({ ops: [], result: values }),
        );
        assert.deepEqual(seen, ["three", undefined, { n: 1 }]);
      },
    );

    await step("transact with no keys still runs the plan and applies its ops", async (store) => {
      const seen = await store.transact([], (values) => ({
        ops: [{ op: "set", key: ["k"], value: "made" }],
        result: values,
      }));
      assert.deepEqual(seen, []);
      assert.equal(await store.get(["k"]), "made");
    });

    await step("transact applies the plan's ops together and returns its result", async (store) => {
      await setAll(store, [[["code", "c1"], { grant: "g1" }]]);
      const result = await store.transact([["code", "c1"]], ([code]) => ({
        ops: [
          { op: "delete", key: ["code", "c1"] },
          { op: "set", key: ["token", "t1"], value: code },
          { op: "set", key: ["token", "t2"], value: "second" },
        ],
        result: { issued: "t1" },
      }));
      assert.deepEqual(result, { issued: "t1" });
      assert.equal(await store.get(["code", "c1"]), undefined);
      assert.deepEqual(await store.get(["token", "t1"]), { grant: "g1" });
      assert.equal(await store.get(["token", "t2"]), "second");
    });

    await step("transact applies nothing when the plan returns no ops", async (store) => {
      await setAll(store, [[["k"], 1]]);
      const result = await store.transact(
        [["k"], ["other"]],
        () => ({ ops: [], result: "unchanged" }),
      );
      assert.equal(result, "unchanged");
      assert.deepEqual(sorted(await store.list([])), [{ key: ["k"], value: 1 }]);
    });

    await step(
      "transact applies nothing when the plan throws, and rejects with its error",
      async (store) => {
        await setAll(store, [[["k"], 1]]);
        const boom = new Error("plan refused");
        await assert.rejects(
          store.transact([["k"]], () => {
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepEqual(sorted(await store.list([])), [{ key: ["k"], value: 1 }]);
      },
    );

    await step(
      "transact applies none of its ops when one of them cannot be stored",
      async (store) => {
        await setAll(store, [[["a"], "before"]]);
        await assert.rejects(store.transact([["a"]], () => ({
          ops: [
            { op: "set", key: ["a"], value: "after" },
            { op: "set", key: ["b"], value: () => "functions cannot be stored" },
          ],
          result: undefined,
        })));
        assert.equal(await store.get(["a"]), "before");
        assert.equal(await store.get(["b"]), undefined);
      },
    );

    await step("50 concurrent transacts incrementing one counter lose no update", async (store) => {
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.transact([["counter"]], increment(["counter"]))),
      );
      assert.equal(await store.get(["counter"]), 50);
      // Each transact saw a distinct value: no two of them planned on the same read.
      assert.deepEqual(results.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
    });

    await step("concurrent transfers between two keys lose no update", async (store) => {
      await setAll(store, [[["acct", "a"], 100], [["acct", "b"], 0]]);
      // 20 moves from a to b (a never runs dry) and 10 from b to a (which may find b empty).
      const moved = await Promise.all(Array.from({ length: 30 }, (_, i) => {
        const [from, to] = i % 3 === 0 ? ["b", "a"] : ["a", "b"];
        return store.transact([["acct", from], ["acct", to]], ([have, other]) => {
          if (have === 0) return { ops: [], result: 0 };
          return {
            ops: [
              { op: "set", key: ["acct", from], value: (have as number) - 1 },
              { op: "set", key: ["acct", to], value: (other as number) + 1 },
            ],
            result: from === "b" ? 1 : 0,
          };
        });
      }));
      const backToA = moved.reduce((sum: number, n) => sum + n, 0);
      assert.equal(await store.get(["acct", "a"]), 80 + backToA);
      assert.equal(await store.get(["acct", "b"]), 20 - backToA);
    });

    await step("write applies several sets and deletes together", async (store) => {
      await setAll(store, [[["x", "1"], "old"], [["x", "2"], "gone soon"]]);
      await store.write([
        { op: "set", key: ["x", "1"], value: "new" },
        { op: "delete", key: ["x", "2"] },
        { op: "set", key: ["x", "3"], value: "added" },
      ]);
      assert.deepEqual(sorted(await store.list(["x"])), [
        { key: ["x", "1"], value: "new" },
        { key: ["x", "3"], value: "added" },
      ]);
    });

    await step("write applies none of its ops when one of them cannot be stored", async (store) => {
      await setAll(store, [[["a"], "before"]]);
      await assert.rejects(store.write([
        { op: "set", key: ["a"], value: "after" },
        { op: "set", key: ["b"], value: () => "functions cannot be stored" },
      ]));
      assert.equal(await store.get(["a"]), "before");
      assert.equal(await store.get(["b"]), undefined);
    });
  });
}

// --- File store specifics -------------------------------------------------------------

/** The records a restart would read from the folder's state file. */
async function readState(dir: string, now?: () => number) {
  return await readStateFile(dir, now);
}

const HEADER = '{"format":"personal-mcp-state","version":2}\n';

async function mode(path: string): Promise<number> {
  const info = await Deno.stat(path);
  assert.ok(info.mode !== null, "this platform reports no file modes");
  return info.mode & 0o777;
}

async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Runs `body` with a fresh temporary folder, and removes it afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_store_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "file store keeps its promises on disk",
  // Modes, pids and signal 0 are POSIX notions.
  ignore: Deno.build.os === "windows",
  fn: async (t) => {
    await t.step(
      "creates the state folder with mode 0700 and state.jsonl with mode 0600",
      async () => {
        await inTempDir(async (root) => {
          const dir = join(root, "nested", "state");
          const store = await openFileStore(dir);
          try {
            await store.write([{ op: "set", key: ["k"], value: 1 }]);
            assert.equal(await mode(dir), 0o700);
            assert.equal(await mode(join(dir, STATE_FILE)), 0o600);
          } finally {
            await store.close();
          }
        });
      },
    );

    await t.step(
      "tightens an existing folder to 0700 and an existing state.jsonl to 0600",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, STATE_FILE);
          await Deno.writeTextFile(path, HEADER);
          await Deno.chmod(dir, 0o755);
          await Deno.chmod(path, 0o644);

          const store = await openFileStore(dir);
          try {
            assert.equal(await mode(dir), 0o700);
            assert.equal(await mode(path), 0o600);
            await store.write([{ op: "set", key: ["k"], value: 1 }]);
            assert.equal(await mode(path), 0o600);
          } finally {
            await store.close();
          }
        });
      },
    );

    await t.step(
      "leaves only state.jsonl behind after writes and close: no .tmp, no lock",
      async () => {
        await inTempDir(async (dir) => {
          const store = await openFileStore(dir);
          assert.deepEqual(await namesIn(dir), [LOCK_FILE]);
          for (let i = 0; i < 5; i++) {
            await store.write([{ op: "set", key: ["k", String(i)], value: i }]);
          }
          await store.transact([["k", "0"]], increment(["k", "0"]));
          assert.deepEqual(await namesIn(dir), [LOCK_FILE, STATE_FILE].sort());
          await store.close();
          assert.deepEqual(await namesIn(dir), [STATE_FILE]);
        });
      },
    );

    await t.step("a store reopened after close sees what was written before", async () => {
      await inTempDir(async (dir) => {
        const first = await openFileStore(dir);
        await first.write([
          { op: "set", key: ["client", "c1"], value: { name: "one" } },
          { op: "set", key: ["client", "c2"], value: { name: "two" } },
        ]);
        await first.transact([["counter"]], increment(["counter"]));
        await first.write([{ op: "delete", key: ["client", "c2"] }]);
        await first.close();

        const second = await openFileStore(dir);
        try {
          assert.deepEqual(await second.get(["client", "c1"]), { name: "one" });
          assert.equal(await second.get(["client", "c2"]), undefined);
          assert.equal(await second.get(["counter"]), 1);
        } finally {
          await second.close();
        }
      });
    });

    await t.step(
      "expired records stay absent after reopening, and a compaction leaves them out of the file",
      async () => {
        await inTempDir(async (dir) => {
          const clock = fakeClock();
          const first = await openFileStore(dir, { now: clock.now });
          await first.write([
            { op: "set", key: ["code", "short"], value: "a", expiresAt: clock.now() + 1_000 },
            { op: "set", key: ["code", "long"], value: "b", expiresAt: clock.now() + 10_000 },
            { op: "set", key: ["client", "c1"], value: "c" },
          ]);
          assert.deepEqual(
            (await readState(dir, clock.now)).records.map((r) => r.key[1]).sort(),
            ["c1", "long", "short"],
          );

          clock.advance(1_000);
          await first.write([{ op: "set", key: ["client", "c2"], value: "d" }]);
          assert.deepEqual(
            (await readState(dir, clock.now)).records.map((r) => r.key[1]).sort(),
            ["c1", "c2", "long"],
          );
          await first.close();

          // "long" is still in the file, but has expired by the time the store reopens.
          clock.advance(9_000);
          const second = await openFileStore(dir, { now: clock.now, compactMinBytes: 1 });
          try {
            assert.equal(await second.get(["code", "long"]), undefined);
            assert.deepEqual(await second.list(["code"]), []);
            assert.equal(await second.get(["client", "c1"]), "c");
            // The file has grown past twice its live share: this write compacts it.
            await second.write([{ op: "set", key: ["client", "c3"], value: "e" }]);
            const text = await Deno.readTextFile(join(dir, STATE_FILE));
            assert.ok(!text.includes('"short"') && !text.includes('"long"'), text);
            assert.deepEqual(
              (await readState(dir, clock.now)).records.map((r) => r.key[1]).sort(),
              ["c1", "c2", "c3"],
            );
          } finally {
            await second.close();
          }
        });
      },
    );

    await t.step(
      "each write appends one line, whatever the size of the state, until a compaction",
      async () => {
        await inTempDir(async (dir) => {
          const store = await openFileStore(dir, { compactMinBytes: 1024 * 1024 });
          const path = join(dir, STATE_FILE);
          try {
            // A state of 2,000 records, then single writes: the file grows by one line each.
            await store.write(
              Array.from({ length: 2000 }, (_, i) => ({
                op: "set" as const,
                key: ["grant", String(i)],
                value: { n: i, pad: "x".repeat(100) },
              })),
            );
            const before = (await Deno.stat(path)).size;
            await store.write([{ op: "set", key: ["client", "c"], value: 1 }]);
            const after = (await Deno.stat(path)).size;
            assert.equal(after - before, '{"key":["client","c"],"value":1}\n'.length);
            await store.write([{ op: "delete", key: ["client", "c"] }]);
            assert.equal(
              (await Deno.stat(path)).size - after,
              '{"key":["client","c"],"deleted":true}\n'.length,
            );
          } finally {
            await store.close();
          }
          const { records, tornBytes } = await readState(dir);
          assert.equal(records.length, 2000);
          assert.equal(tornBytes, 0);
        });
      },
    );

    await t.step(
      "compactions keep every record, and the state survives many of them",
      async () => {
        await inTempDir(async (dir) => {
          const store = await openFileStore(dir, { compactMinBytes: 256 });
          try {
            for (let i = 0; i < 300; i++) {
              await store.write([
                { op: "set", key: ["n", String(i % 50)], value: i },
                { op: "set", key: ["last"], value: i },
              ]);
            }
          } finally {
            await store.close();
          }
          const size = (await Deno.stat(join(dir, STATE_FILE))).size;
          assert.ok(size < 8 * 1024, `compacted: ${size} bytes for 51 live records`);
          const reopened = await openFileStore(dir);
          try {
            assert.equal(await reopened.get(["last"]), 299);
            assert.equal((await reopened.list(["n"])).length, 50);
            assert.equal(await reopened.get(["n", "49"]), 299);
          } finally {
            await reopened.close();
          }
        });
      },
    );

    await t.step(
      "a last line cut short by a crash is dropped and reported, and writing goes on after it",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, STATE_FILE);
          await Deno.writeTextFile(
            path,
            HEADER + '{"key":["client","c1"],"value":"kept"}\n[{"key":["client","c2"],"value":"to',
          );
          const notices: string[] = [];
          const store = await openFileStore(dir, { onNotice: (m) => notices.push(m) });
          try {
            assert.equal(await store.get(["client", "c1"]), "kept");
            assert.equal(await store.get(["client", "c2"]), undefined);
            assert.equal(notices.length, 1);
            assert.ok(notices[0]!.includes(path), notices[0]);
            assert.match(notices[0]!, /cut short/);
            await store.write([{ op: "set", key: ["client", "c3"], value: "new" }]);
          } finally {
            await store.close();
          }
          const { records, tornBytes } = await readState(dir);
          assert.equal(tornBytes, 0, "the cut-short line is gone from the file");
          assert.deepEqual(records.map((r) => r.key[1]).sort(), ["c1", "c3"]);
          // Garbage at the end (a crash that left zeros) is a cut-short write too.
          await Deno.writeFile(path, new Uint8Array(16), { append: true });
          const again = await openFileStore(dir, { onNotice: () => {} });
          assert.equal(await again.get(["client", "c3"]), "new");
          await again.close();
        });
      },
    );

    await t.step(
      "a damaged line followed by a valid one refuses to open, naming the file and the line",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, STATE_FILE);
          const text = HEADER +
            '{"key":["a"],"value":1}\n{"key":["b"],"value":\n[{"key":["c"],"value":3}]\n';
          await Deno.writeTextFile(path, text);
          await assert.rejects(openFileStore(dir), (error) => {
            assert.ok(error instanceof StateFileError, String(error));
            assert.ok(error.message.includes(path), error.message);
            assert.match(error.message, /line 3/);
            return true;
          });
          assert.equal(await Deno.readTextFile(path), text, "the file is left as it was");
          assert.deepEqual(await namesIn(dir), [STATE_FILE], "the lock is given back");
        });
      },
    );

    await t.step(
      "a first-format state.json is migrated: same records, and the old file is gone",
      async () => {
        await inTempDir(async (dir) => {
          const clock = fakeClock();
          await Deno.writeTextFile(
            join(dir, LEGACY_STATE_FILE),
            JSON.stringify({
              version: 1,
              records: [
                { key: ["client", "c1"], value: { name: "one" } },
                { key: ["code", "old"], value: "x", expiresAt: clock.now() - 1 },
                { key: ["code", "live"], value: "y", expiresAt: clock.now() + 60_000 },
              ],
            }),
            { mode: 0o644 },
          );
          const notices: string[] = [];
          const store = await openFileStore(dir, {
            now: clock.now,
            onNotice: (m) => notices.push(m),
          });
          try {
            assert.deepEqual(await store.get(["client", "c1"]), { name: "one" });
            assert.equal(await store.get(["code", "live"]), "y");
            assert.equal(await store.get(["code", "old"]), undefined);
            assert.match(notices.join("\n"), /migrated/);
            assert.deepEqual(await namesIn(dir), [LOCK_FILE, STATE_FILE].sort());
            assert.equal(await mode(join(dir, STATE_FILE)), 0o600);
          } finally {
            await store.close();
          }
          const { records } = await readState(dir, clock.now);
          assert.deepEqual(records.map((r) => r.key[1]).sort(), ["c1", "live"]);
        });
      },
    );

    await t.step(
      "a second open of a folder that is open throws a StateFileError naming the lock",
      async () => {
        await inTempDir(async (dir) => {
          const first = await openFileStore(dir);
          try {
            await first.write([{ op: "set", key: ["k"], value: "first" }]);
            await assert.rejects(openFileStore(dir), (error) => {
              assert.ok(error instanceof StateFileError, String(error));
              assert.ok(error.message.includes(join(dir, LOCK_FILE)), error.message);
              return true;
            });
            // The failed open must not have released or broken the first store's hold.
            await first.write([{ op: "set", key: ["k"], value: "still first" }]);
            await assert.rejects(openFileStore(dir), StateFileError);
          } finally {
            await first.close();
          }
          const again = await openFileStore(dir);
          try {
            assert.equal(await again.get(["k"]), "still first");
          } finally {
            await again.close();
          }
        });
      },
    );

    await t.step("a lock held by another live process is respected", async () => {
      await inTempDir(async (dir) => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["eval", "await new Promise((resolve) => setTimeout(resolve, 60_000))"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          await Deno.writeTextFile(join(dir, LOCK_FILE), String(child.pid));
          await assert.rejects(openFileStore(dir), (error) => {
            assert.ok(error instanceof StateFileError, String(error));
            assert.ok(error.message.includes(String(child.pid)), error.message);
            assert.ok(error.message.includes(join(dir, LOCK_FILE)), error.message);
            return true;
          });
          assert.equal(await Deno.readTextFile(join(dir, LOCK_FILE)), String(child.pid));
        } finally {
          child.kill();
          await child.status;
        }
      });
    });

    await t.step("a lock left by a dead process is taken over", async () => {
      await inTempDir(async (dir) => {
        await Deno.writeTextFile(join(dir, LOCK_FILE), "999999");
        const store = await openFileStore(dir);
        try {
          assert.equal(await Deno.readTextFile(join(dir, LOCK_FILE)), String(Deno.pid));
          await store.write([{ op: "set", key: ["k"], value: 1 }]);
          assert.equal(await store.get(["k"]), 1);
        } finally {
          await store.close();
        }
      });
    });

    await t.step(
      "a lock with this process's pid but no open store here is taken over",
      async () => {
        // In a container the server is often pid 1 on every start, so a crash leaves a lock
        // that names the pid of the next run.
        await inTempDir(async (dir) => {
          await Deno.writeTextFile(join(dir, LOCK_FILE), String(Deno.pid));
          const store = await openFileStore(dir);
          await store.close();
        });
      },
    );

    await t.step(
      "a truncated first-format state.json makes open throw a StateFileError naming the file, and leaves it untouched",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, LEGACY_STATE_FILE);
          const bytes = new TextEncoder().encode(
            '{"version":1,"records":[{"key":["client","c1"],"val',
          );
          await Deno.writeFile(path, bytes, { mode: 0o600 });

          await assert.rejects(openFileStore(dir), (error) => {
            assert.ok(error instanceof StateFileError, String(error));
            assert.ok(error.message.includes(path), error.message);
            return true;
          });
          assert.deepEqual(await Deno.readFile(path), bytes);
          // The failed open gave its lock back: once the file is moved aside, the folder opens.
          assert.deepEqual(await namesIn(dir), [LEGACY_STATE_FILE]);
          await Deno.rename(path, `${path}.corrupt`);
          const store = await openFileStore(dir);
          await store.close();
        });
      },
    );

    await t.step(
      "a state file of unknown format makes open throw a StateFileError naming the file",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, STATE_FILE);
          const text = '{"format":"personal-mcp-state","version":99}\n';
          await Deno.writeTextFile(path, text);
          await assert.rejects(openFileStore(dir), (error) => {
            assert.ok(error instanceof StateFileError, String(error));
            assert.ok(error.message.includes(path), error.message);
            return true;
          });
          assert.equal(await Deno.readTextFile(path), text);
        });
      },
    );

    await t.step(
      "a burst of 200 writes, many arriving while a save is running, all reach the file (group commit)",
      async () => {
        await inTempDir(async (dir) => {
          const path = join(dir, STATE_FILE);
          const store = await openFileStore(dir);
          try {
            const missing: string[] = [];
            const saved: Promise<void>[] = [];
            for (let wave = 0; wave < 20; wave++) {
              for (let j = 0; j < 10; j++) {
                const i = wave * 10 + j;
                const id = String(i);
                const done = i % 2 === 0
                  ? store.write([{ op: "set", key: ["burst", id], value: { i } }])
                  : store.transact(
                    [],
                    () => ({ ops: [{ op: "set", key: ["burst", id], value: { i } }], result: 0 }),
                  );
                // Once a write resolves, its change must already be in the file.
                saved.push(done.then(() => {
                  // Read synchronously: the file as it is the moment the write resolves.
                  const text = Deno.readTextFileSync(path);
                  if (!text.includes(`["burst","${id}"]`)) missing.push(id);
                }));
              }
              // Let the earlier waves' save get under way, so the next wave lands during it.
              await new Promise((resolve) => setTimeout(resolve, 0));
            }
            await Promise.all(saved);
            assert.deepEqual(missing, [], "writes that resolved before reaching the file");

            const state = await readState(dir);
            assert.equal(state.tornBytes, 0);
            assert.equal(state.records.length, 200);
            const byId = new Map(state.records.map((r) => [r.key[1], r.value]));
            for (let i = 0; i < 200; i++) assert.deepEqual(byId.get(String(i)), { i });
            assert.deepEqual(await namesIn(dir), [LOCK_FILE, STATE_FILE].sort());
          } finally {
            await store.close();
          }
        });
      },
    );

    await t.step("a closed store refuses writes", async () => {
      await inTempDir(async (dir) => {
        const store = await openFileStore(dir);
        await store.close();
        await assert.rejects(store.write([{ op: "set", key: ["k"], value: 1 }]), /closed/);
        await assert.rejects(store.transact([], () => ({ ops: [], result: 0 })), /closed/);
      });
    });
  },
});

Deno.test("two Deno KV stores on one file: shared, and each hears the other's writes to a watched key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kv_shared_test_" });
  const path = join(dir, "kv.sqlite3");
  const a = await openKvStore(path);
  const b = await openKvStore(path);
  const memory = await openKvStore(":memory:");
  try {
    assert.equal(a.shared, true, "a database file may be opened by other processes");
    assert.equal(memory.shared, false, "an in-memory database is this process's alone");
    assert.equal(createMemoryStore().shared, undefined);
    let heard = 0;
    const stop = a.watch!(["server", "notice"], () => heard++);
    // Deno KV on a file tells only this process's handles; another process's write is
    // found by reading the key (KV_WATCH_POLL_MS): b stands in for it here.
    await settled(() => true);
    const before = heard;
    await b.write([{ op: "set", key: ["server", "notice"], value: "from b" }]);
    await settled(() => heard > before);
    stop();
  } finally {
    await a.close();
    await b.close();
    await memory.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// --- The map core of the memory and file stores ---------------------------------------

Deno.test("the memory and file stores' core sweeps expired records out of memory and lists by kind", async (t) => {
  await t.step("expired records leave memory as writes come in, a bounded number per write", () => {
    const clock = fakeClock();
    const core = createMapCore(clock.now);
    core.apply(Array.from({ length: 1000 }, (_, i) => ({
      op: "set" as const,
      key: ["refresh", `dead-${i}`],
      value: { i },
      expiresAt: clock.now() + 1000,
    })));
    core.apply([{ op: "set", key: ["client", "kept"], value: 1 }]);
    clock.advance(1000);
    const before = core.size;
    core.apply([{ op: "set", key: ["client", "other"], value: 2 }]);
    const removed = before + 1 - core.size;
    assert.ok(removed > 0 && removed <= SWEEP_BATCH, `one write swept ${removed}`);
    // Enough writes to look at every record once: the dead ones are gone, nothing else is.
    for (let i = 0; i < Math.ceil(1003 / SWEEP_BATCH) + 1; i++) {
      core.apply([{ op: "set", key: ["client", "other"], value: 2 }]);
    }
    assert.deepEqual([...core.records()].map((r) => r.key[1]).sort(), ["kept", "other"]);
  });

  await t.step("listing one kind looks only at records of that kind", () => {
    const core = createMapCore();
    core.apply(Array.from({ length: 5000 }, (_, i) => ({
      op: "set" as const,
      key: ["grant", `g${i}`],
      value: i,
    })));
    core.apply([
      { op: "set", key: ["client", "a"], value: "A" },
      { op: "set", key: ["client", "b"], value: "B" },
    ]);
    // Count every record handed out by any Map iteration while the clients are listed.
    let looked = 0;
    const proto = Map.prototype as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
    const names = ["values", "keys", "entries", Symbol.iterator] as const;
    const originals = names.map((name) => proto[name]!);
    names.forEach((name, i) => {
      proto[name] = function (this: Map<unknown, unknown>) {
        const inner = originals[i]!.call(this) as Iterator<unknown>;
        return {
          next() {
            const step = inner.next();
            if (!step.done) looked++;
            return step;
          },
          [Symbol.iterator]() {
            return this;
          },
        };
      };
    });
    let listed: unknown[];
    try {
      listed = core.list(["client"]).map((e) => e.value).sort();
    } finally {
      names.forEach((name, i) => (proto[name] = originals[i]!));
    }
    assert.deepEqual(listed, ["A", "B"]);
    assert.ok(looked <= 4, `looked at ${looked} records to list 2 clients`);
  });

  await t.step("the index by kind follows sets, deletes, undos and sweeps", () => {
    const clock = fakeClock();
    const core = createMapCore(clock.now);
    const undo = core.apply([
      { op: "set", key: ["client", "a"], value: 1 },
      { op: "set", key: ["client", "b"], value: 2, expiresAt: clock.now() + 10 },
    ]);
    core.apply([{ op: "delete", key: ["client", "a"] }]);
    assert.deepEqual(core.list<number>(["client"]).map((e) => e.value), [2]);
    core.undo(undo);
    assert.deepEqual(core.list(["client"]), []);
    core.apply([{ op: "set", key: ["client", "c"], value: 3, expiresAt: clock.now() + 10 }]);
    clock.advance(10);
    assert.deepEqual(core.list(["client"]), []);
    assert.equal(core.size, 0);
    assert.deepEqual(core.list([]), []);
  });
});

Deno.test("the memory store keeps a frozen flat record as it is, and copies anything else", async () => {
  const store = createMemoryStore();
  const flat = Object.freeze({ id: "a", n: 1, ok: true, none: null });
  // Frozen, but with an object inside that its writer can still change: copied.
  const inner = { n: 1 };
  const nested = Object.freeze({ id: "b", inner });
  const open = { id: "c", n: 1 };
  await store.write([
    { op: "set", key: ["t", "a"], value: flat },
    { op: "set", key: ["t", "b"], value: nested },
    { op: "set", key: ["t", "c"], value: open },
  ]);
  inner.n = 2;
  open.n = 2;
  assert.deepEqual(await store.get(["t", "a"]), flat);
  assert.deepEqual(await store.get(["t", "b"]), { id: "b", inner: { n: 1 } });
  assert.deepEqual(await store.get(["t", "c"]), { id: "c", n: 1 });
  // What a reader gets is its own copy either way.
  const read = await store.get<{ n: number }>(["t", "a"]);
  read!.n = 3;
  assert.deepEqual(await store.get(["t", "a"]), flat);
});
