/**
 * The pure grant rules, by table: how many times one refresh token may be used inside
 * its grace, how large a grant record can grow, and how long a grant is stored.
 */
import assert from "node:assert/strict";
import {
  type Lifetimes,
  MAX_CHILDREN_PER_TOKEN,
  redeemCode,
  rotateRefresh,
} from "../../auth/grants/grants.ts";
import type { CodeRecord, GrantRecord } from "../../auth/records.ts";
import type { WriteOp } from "../../store/store.ts";

// No reuse window here: strict rotation; tests/unit/refresh_window_test.ts covers the window.
const LIFE: Lifetimes = {
  accessMs: 600_000,
  refreshMs: 3_600_000,
  graceMs: 60_000,
  reuseWindowMs: 0,
};
const T0 = 1_000_000;

function freshGrant(): GrantRecord {
  return {
    grantId: "g",
    clientId: "c",
    scope: "mcp",
    resource: "r",
    createdAt: T0,
    refresh: [{ hash: "r0", expiresAt: T0 + LIFE.refreshMs, accessHash: "a0" }],
  };
}

/** Applies a plan's write of the grant record, as the store would. */
function grantAfter(ops: WriteOp[]): { grant?: GrantRecord; expiresAt?: number; deleted: boolean } {
  const write = ops.find((o) => o.key[0] === "grant");
  if (!write) return { deleted: false };
  if (write.op === "delete") return { deleted: true };
  return { grant: write.value as GrantRecord, expiresAt: write.expiresAt, deleted: false };
}

let minted = 0;
function rotate(grant: GrantRecord | undefined, hash: string, now: number) {
  minted++;
  const plan = rotateRefresh(grant, {
    hash,
    clientId: "c",
    baseScope: "mcp",
    pair: { accessHash: `a${minted}`, refreshHash: `r${minted}` },
    now,
    life: LIFE,
  });
  return { ...plan, ...grantAfter(plan.ops), child: `r${minted}` };
}

Deno.test("rotateRefresh: one token yields at most MAX_CHILDREN_PER_TOKEN tokens inside its grace", async (t) => {
  const cases: { uses: number; atMs: number; expect: string[] }[] = [
    { uses: 1, atMs: 0, expect: ["ok"] },
    // A lost answer, then a race: the same token twice more within the grace.
    { uses: 3, atMs: 1000, expect: ["ok", "ok", "ok"] },
    // One more is no longer a lost answer: someone else holds a copy.
    { uses: 4, atMs: 1000, expect: ["ok", "ok", "ok", "reuse"] },
    // The grant is gone then: every later use finds nothing.
    { uses: 6, atMs: 10, expect: ["ok", "ok", "ok", "reuse", "invalid", "invalid"] },
    // After the grace, a second use is reuse at once.
    { uses: 2, atMs: LIFE.graceMs + 1, expect: ["ok", "reuse"] },
  ];
  assert.equal(MAX_CHILDREN_PER_TOKEN, 3);
  for (const c of cases) {
    await t.step(`${c.uses} uses ${c.atMs} ms apart: ${c.expect.join(", ")}`, () => {
      let grant: GrantRecord | undefined = freshGrant();
      const outcomes: string[] = [];
      for (let i = 0; i < c.uses; i++) {
        const plan = rotate(grant, "r0", T0 + i * c.atMs);
        outcomes.push(plan.result.kind);
        if (plan.deleted) grant = undefined;
        else if (plan.grant) grant = plan.grant;
      }
      assert.deepEqual(outcomes, c.expect);
    });
  }
});

Deno.test("rotateRefresh: the grant record stays small however the tokens are used", () => {
  let grant = freshGrant();
  let current = "r0";
  let largest = 0;
  // A long life: rotations, each token used up to the limit inside its grace, the last
  // child carrying on.
  for (let round = 0; round < 200; round++) {
    let last = current;
    for (let use = 0; use < MAX_CHILDREN_PER_TOKEN; use++) {
      const plan = rotate(grant, current, T0 + round * 10_000 + use);
      assert.equal(plan.result.kind, "ok");
      grant = plan.grant!;
      last = plan.child;
    }
    current = last;
    largest = Math.max(largest, grant.refresh.length);
  }
  // One token hammered inside its grace (the issue saw the record pass 64 KiB at ~350).
  let hammered: GrantRecord | undefined = freshGrant();
  for (let use = 0; use < 400 && hammered; use++) {
    const plan = rotate(hammered, "r0", T0 + use);
    hammered = plan.deleted ? undefined : plan.grant;
    if (hammered) largest = Math.max(largest, hammered.refresh.length);
  }
  assert.equal(hammered, undefined, "the grant was revoked as reused");
  assert.ok(largest <= 1 + MAX_CHILDREN_PER_TOKEN, `at most ${largest} slots`);
  assert.ok(JSON.stringify(grant).length < 2048, "far below Deno KV's 64 KiB value limit");
});

Deno.test("a grant is stored with the expiry of its newest refresh token", async (t) => {
  await t.step("redeemCode stores the new grant until its refresh token expires", () => {
    const code: CodeRecord = {
      clientId: "c",
      redirectUri: "https://a.example/cb",
      redirectUriSent: true,
      codeChallenge: "abcd",
      resource: "r",
      scope: "mcp",
      grantId: "g",
      expiresAt: T0 + 120_000,
    };
    const plan = redeemCode(code, undefined, {
      codeHash: "h",
      clientId: "c",
      redirectUri: "https://a.example/cb",
      challenge: "abcd",
      pair: { accessHash: "a", refreshHash: "b" },
      now: T0,
      life: LIFE,
    });
    assert.equal(plan.result.kind, "ok");
    assert.equal(grantAfter(plan.ops).expiresAt, T0 + LIFE.refreshMs);
  });
  await t.step("rotateRefresh moves the expiry to the new refresh token's", () => {
    const later = T0 + 500_000;
    const plan = rotate(freshGrant(), "r0", later);
    assert.equal(plan.result.kind, "ok");
    assert.equal(plan.expiresAt, later + LIFE.refreshMs);
  });
});
