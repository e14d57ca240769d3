/**
 * `auth/limits/throttle.ts`: address buckets, attempts reserved before the check, device lanes
 * outside the address and global blocks, and the line of password checks.
 */
import assert from "node:assert/strict";
import {
  addressBucket,
  createConcurrencyLimit,
  createLoginThrottle,
  FREE_FAILURES,
  GLOBAL_FAILURES_PER_MINUTE,
} from "../../auth/limits/throttle.ts";

Deno.test("addressBucket counts IPv4 as itself and IPv6 per /64", async (t) => {
  const cases: [address: string, bucket: string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::ffff:c000:201", "192.0.2.1"],
    ["2001:db8:1:2::a", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2:0:0:0:1", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["unknown", "unknown"],
    ["2001:db8::1::2", "2001:db8::1::2"],
    ["2001:db8:1:2:3:4:5:6:7", "2001:db8:1:2:3:4:5:6:7"],
  ];
  for (const [address, bucket] of cases) {
    await t.step(`${address} -> ${bucket}`, () => assert.equal(addressBucket(address), bucket));
  }
});

/** Reserves an attempt and finishes it at once; whether it was allowed. */
async function attempt(
  throttle: ReturnType<typeof createLoginThrottle>,
  who: { address: string; device?: string },
  succeeded = false,
): Promise<boolean> {
  const reserved = await throttle.reserve(who);
  if (reserved.allowed) await reserved.finish(succeeded);
  return reserved.allowed;
}

Deno.test("an address's attempts take turns, each counted before its check", async () => {
  const throttle = createLoginThrottle();
  // Six attempts at once: only the first gets its turn; the next waits for its result.
  const pending = Array.from({ length: 6 }, () => throttle.reserve({ address: "192.0.2.1" }));
  const settled: boolean[] = [];
  pending.forEach((p, i) => p.then(() => (settled[i] = true)));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(settled, [true], "one attempt at a time per address");
  for (let i = 0; i < FREE_FAILURES; i++) {
    const reserved = await pending[i]!;
    assert.ok(reserved.allowed, `attempt ${i + 1}`);
    await reserved.finish(false);
  }
  const sixth = await pending[5]!;
  assert.equal(sixth.allowed, false, "the sixth is refused before any check");
  assert.ok(!sixth.allowed && sixth.retryAfterSeconds >= 1);
  assert.ok(await attempt(throttle, { address: "2001:db8:1:2::1" }), "another address");
});

Deno.test("concurrent right passwords from one address all pass, one after the other", async () => {
  const throttle = createLoginThrottle();
  const results = await Promise.all(
    Array.from({ length: 20 }, () => attempt(throttle, { address: "192.0.2.1" }, true)),
  );
  assert.deepEqual(results, Array(20).fill(true));
});

Deno.test("a right password clears its address and gives back its share of the ceiling", async () => {
  const throttle = createLoginThrottle();
  for (let i = 0; i < GLOBAL_FAILURES_PER_MINUTE - 1; i++) {
    await attempt(throttle, { address: `198.51.100.${i}` });
  }
  assert.ok(await attempt(throttle, { address: "192.0.2.1" }, true), "the owner");
  assert.ok(await attempt(throttle, { address: "192.0.2.2" }), "one place was left");
  assert.equal(await attempt(throttle, { address: "192.0.2.3" }), false, "now it is full");
});

Deno.test("a device is counted on its own, outside the address and global blocks", async () => {
  let now = 1_000_000;
  const throttle = createLoginThrottle(() => now);
  for (let i = 0; i < GLOBAL_FAILURES_PER_MINUTE; i++) {
    await attempt(throttle, { address: `198.51.100.${i % 6}` });
  }
  assert.equal(await attempt(throttle, { address: "198.51.100.0" }), false);
  assert.ok(
    await attempt(throttle, { address: "198.51.100.0", device: "owner-browser" }, true),
    "the owner's browser is not blocked by strangers",
  );
  for (let i = 0; i < FREE_FAILURES; i++) {
    assert.ok(await attempt(throttle, { address: "x", device: "stolen" }));
  }
  assert.equal(
    await attempt(throttle, { address: "x", device: "stolen" }),
    false,
    "a device that keeps failing waits like an address",
  );
  assert.ok(await attempt(throttle, { address: "x", device: "owner-browser" }));
  now += 61_000;
  assert.ok(await attempt(throttle, { address: "192.0.2.50" }), "the ceiling resets");
});

Deno.test("the line of password checks runs two at a time and lets the owner's browser go first", async () => {
  const limit = createConcurrencyLimit(2);
  let running = 0;
  let most = 0;
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const task = (name: string) => async () => {
    most = Math.max(most, ++running);
    order.push(name);
    await gate;
    running--;
  };
  const all = [
    limit.run(task("a")),
    limit.run(task("b")),
    limit.run(task("c")),
    limit.run(task("d")),
    limit.run(task("owner"), true),
  ];
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(order, ["a", "b"]);
  release();
  await Promise.all(all);
  assert.equal(most, 2);
  assert.deepEqual(order, ["a", "b", "owner", "c", "d"]);
});
