/**
 * The counter store behind the rate limits: in memory it is bounded and expires; over a
 * shared store (two Deno KV handles on one file, as two servers have) concurrent
 * updates from both sides all count, and a state expires when its window ends.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createMemoryCounters, MAX_COUNTED, storeCounters } from "../../auth/limits/counters.ts";
import { createLoginThrottle, FREE_FAILURES } from "../../auth/limits/throttle.ts";
import { openKvStore } from "../../store/kv.ts";

const add = (expiresAt: number) => (n: number | undefined) => ({ value: (n ?? 0) + 1, expiresAt });

Deno.test("counts in memory expire and stay bounded", async () => {
  let t = 1_000;
  const counters = createMemoryCounters(() => t);
  await counters.update("n", "a", add(2_000));
  assert.equal(await counters.get("n", "a"), 1);
  t = 2_000;
  assert.equal(await counters.get("n", "a"), undefined, "expired at its end");
  for (let i = 0; i <= MAX_COUNTED; i++) await counters.update("n", `s${i}`, add(10_000));
  assert.equal(await counters.get("n", `s${MAX_COUNTED}`), 1, "the newest is kept when full");
});

Deno.test("counts over two Deno KV handles on one file add up under concurrency and expire", async () => {
  const dir = await Deno.makeTempDir({ prefix: "counters_test_" });
  const path = join(dir, "kv.sqlite3");
  let t = Date.now();
  const one = await openKvStore(path, { now: () => t });
  const two = await openKvStore(path, { now: () => t });
  try {
    const a = storeCounters(one);
    const b = storeCounters(two);
    const end = t + 60_000;
    await Promise.all(
      [...Array(20)].map((_, i) => (i % 2 ? a : b).update<number>("n", "x", add(end))),
    );
    assert.equal(await a.get("n", "x"), 20, "no update lost to a concurrent one");
    t = end;
    assert.equal(await b.get("n", "x"), undefined, "gone when its window ends");

    // The throttle over either handle sees the same failures.
    const first = createLoginThrottle(() => t, a);
    const second = createLoginThrottle(() => t, b);
    for (let i = 0; i < FREE_FAILURES; i++) {
      const attempt = await (i % 2 ? first : second).reserve({ address: "192.0.2.7" });
      assert.ok(attempt.allowed, `attempt ${i + 1} is allowed`);
      await attempt.finish(false);
    }
    assert.equal((await first.reserve({ address: "192.0.2.7" })).allowed, false);
    assert.equal((await second.reserve({ address: "192.0.2.7" })).allowed, false);
    const other = await second.reserve({ address: "192.0.2.8" });
    assert.equal(other.allowed, true, "another address is not affected");
    if (other.allowed) await other.finish(true);

    // A very long subject (an X-Forwarded-For value) is kept under a bounded key.
    await a.update<number>("n", "x".repeat(10_000), add(t + 1000));
    assert.equal(await b.get("n", "x".repeat(10_000)), 1);
  } finally {
    await one.close();
    await two.close();
    await Deno.remove(dir, { recursive: true });
  }
});
