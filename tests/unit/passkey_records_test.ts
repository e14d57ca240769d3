/**
 * The rules over the owner's passkeys record (auth/owner/passkey_records.ts) as tables:
 * a signature counter must grow (W3C WebAuthn 6.1.1), one passkey per enrolment link,
 * and the last way to approve is never removed.
 */
import assert from "node:assert/strict";
import {
  enrolPlan,
  LINK_SPENT,
  MAX_PASSKEYS,
  removalPlan,
  usePlan,
} from "../../auth/owner/passkey_records.ts";
import type { PasskeyRecord, PasskeysRecord } from "../../auth/records.ts";
import { keys } from "../../store/keys.ts";

const passkey = (id: string, counter = 0): PasskeyRecord => ({
  id,
  credentialId: `cred-${id}`,
  publicKey: "pk",
  counter,
  name: id,
  backedUp: false,
  createdAt: 0,
  createdFrom: "command line",
});
const record = (...passkeys: PasskeyRecord[]): PasskeysRecord => ({ userId: "owner", passkeys });

Deno.test("usePlan keeps a counter that grows and refuses one that does not", async (t) => {
  const cases: Array<[string, unknown, string, number, number | undefined]> = [
    ["a counter that grows", record(passkey("a", 5)), "a", 6, 6],
    ["both counters 0 (an authenticator without one)", record(passkey("a", 0)), "a", 0, 0],
    ["the same counter again (a cloned key)", record(passkey("a", 5)), "a", 5, undefined],
    ["a counter going backwards", record(passkey("a", 5)), "a", 4, undefined],
    ["a counter falling to 0", record(passkey("a", 5)), "a", 0, undefined],
    ["a passkey removed meanwhile", record(passkey("b", 0)), "a", 1, undefined],
    ["no record", undefined, "a", 1, undefined],
  ];
  for (const [why, value, id, counter, kept] of cases) {
    await t.step(why, () => {
      const plan = usePlan(value, id, counter, 1000, "192.0.2.1");
      assert.equal(plan.result?.counter, kept);
      assert.equal(plan.ops.length, kept === undefined ? 0 : 1);
      if (kept === undefined) return;
      assert.equal(plan.result?.lastUsedAt, 1000);
      assert.equal(plan.result?.lastAddress, "192.0.2.1");
      const op = plan.ops[0]!;
      assert.ok(op.op === "set");
      assert.deepEqual((op.value as PasskeysRecord).passkeys.map((p) => p.counter), [kept]);
    });
  }
});

Deno.test("enrolPlan keeps one passkey per live link, spending the link in the same write", async (t) => {
  const link = { createdAt: 0, expiresAt: 100 };
  const fresh = passkey("new");
  const full = record(...Array.from({ length: MAX_PASSKEYS }, (_, i) => passkey(`p${i}`)));
  const cases: Array<[string, unknown, unknown, number, string]> = [
    ["a live link and no passkey yet", link, undefined, 50, "ok"],
    ["a live link and other passkeys", link, record(passkey("a")), 50, "ok"],
    ["an expired link", link, undefined, 100, LINK_SPENT],
    ["a spent link", undefined, undefined, 50, LINK_SPENT],
    ["the same authenticator again", link, record(fresh), 50, "this passkey is already enrolled"],
    [
      "already the most passkeys",
      link,
      full,
      50,
      `at most ${MAX_PASSKEYS} passkeys; remove one first`,
    ],
  ];
  for (const [why, linkValue, value, t0, result] of cases) {
    await t.step(`${why}: ${result}`, () => {
      const plan = enrolPlan({ link: linkValue, value, linkHash: "h" }, fresh, t0, "first-user");
      assert.equal(plan.result, result);
      if (result !== "ok") return assert.equal(plan.ops.length, 0);
      assert.deepEqual(plan.ops[0], { op: "delete", key: keys.passkeyLink("h") });
      const kept = plan.ops[1]!;
      assert.ok(kept.op === "set");
      const next = kept.value as PasskeysRecord;
      assert.equal(next.passkeys.at(-1), fresh);
      assert.equal(next.userId, value === undefined ? "first-user" : "owner");
    });
  }
});

Deno.test("removalPlan never removes the last way to approve", async (t) => {
  const cases: Array<[string, unknown, unknown, string, string, number]> = [
    ["one of two passkeys", record(passkey("a"), passkey("b")), undefined, "a", "removed", 1],
    ["the last passkey, a password kept", record(passkey("a")), { hash: "x" }, "a", "removed", 0],
    ["the last passkey, no password", record(passkey("a")), undefined, "a", "last", 1],
    ["an unknown id", record(passkey("a")), undefined, "z", "unknown", 1],
    ["no record", undefined, { hash: "x" }, "a", "unknown", -1],
  ];
  for (const [why, value, password, id, result, left] of cases) {
    await t.step(`${why}: ${result}`, () => {
      const plan = removalPlan(value, password, id);
      assert.equal(plan.result, result);
      assert.equal(plan.ops.length, result === "removed" ? 1 : 0);
      const op = plan.ops[0];
      if (op?.op === "set") assert.equal((op.value as PasskeysRecord).passkeys.length, left);
    });
  }
});
