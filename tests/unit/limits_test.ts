/**
 * `auth/limits.ts`: address buckets, attempts reserved before the check, device lanes
 * outside the address and global blocks, and the line of password checks.
 */
import assert from "node:assert/strict";
import {
  addressBucket,
  createConcurrencyLimit,
  createLoginThrottle,
  FREE_FAILURES,
  GLOBAL_FAILURES_PER_MINUTE,
} from "../../auth/limits.ts";

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

Deno.test("an attempt is counted when it is reserved, before the password is checked", () => {
  const throttle = createLoginThrottle();
  // Five attempts in flight at once, none of them finished yet: the sixth waits.
  for (let i = 0; i < FREE_FAILURES; i++) {
    assert.ok(throttle.reserve({ address: "192.0.2.1" }).allowed);
  }
  const sixth = throttle.reserve({ address: "192.0.2.1" });
  assert.equal(sixth.allowed, false);
  assert.ok(!sixth.allowed && sixth.retryAfterSeconds >= 1);
  assert.equal(throttle.reserve({ address: "2001:db8:1:2::1" }).allowed, true);
});

Deno.test("a right password clears its address and gives back its share of the ceiling", () => {
  const throttle = createLoginThrottle();
  for (let i = 0; i < GLOBAL_FAILURES_PER_MINUTE - 1; i++) {
    throttle.reserve({ address: `198.51.100.${i}` });
  }
  const owner = throttle.reserve({ address: "192.0.2.1" });
  assert.ok(owner.allowed);
  owner.succeed();
  assert.ok(throttle.reserve({ address: "192.0.2.2" }).allowed, "one place was left");
  assert.equal(throttle.reserve({ address: "192.0.2.3" }).allowed, false, "now it is full");
});

Deno.test("a device is counted on its own, outside the address and global blocks", () => {
  let now = 1_000_000;
  const throttle = createLoginThrottle(() => now);
  for (let i = 0; i < GLOBAL_FAILURES_PER_MINUTE; i++) {
    throttle.reserve({ address: `198.51.100.${i % 6}` });
  }
  assert.equal(throttle.reserve({ address: "198.51.100.0" }).allowed, false);
  const device = throttle.reserve({ address: "198.51.100.0", device: "owner-browser" });
  assert.ok(device.allowed, "the owner's browser is not blocked by strangers");
  device.succeed();
  for (let i = 0; i < FREE_FAILURES; i++) {
    assert.ok(throttle.reserve({ address: "x", device: "stolen" }).allowed);
  }
  assert.equal(
    throttle.reserve({ address: "x", device: "stolen" }).allowed,
    false,
    "a device that keeps failing waits like an address",
  );
  assert.ok(throttle.reserve({ address: "x", device: "owner-browser" }).allowed);
  now += 61_000;
  assert.ok(throttle.reserve({ address: "192.0.2.50" }).allowed, "the ceiling resets");
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
