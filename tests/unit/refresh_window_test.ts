/**
 * The refresh-token rule `rotateRefresh`, as a table: rotation, the grace for a lost
 * answer, the reuse window for another process's copy of the live token's predecessor
 * (an access token alone, bounded), and reuse detection for everything else.
 */
import assert from "node:assert/strict";
import {
  grantDeletion,
  LATE_ACCESS_PER_TOKEN,
  type Lifetimes,
  rotateRefresh,
  type RotateRequest,
} from "../../auth/grants/grants.ts";
import type { GrantRecord, RefreshSlot } from "../../auth/records.ts";
import type { WriteOp } from "../../store/store.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const LIFE: Lifetimes = {
  accessMs: 30 * 24 * HOUR,
  refreshMs: 365 * 24 * HOUR,
  graceMs: MIN,
  reuseWindowMs: 4 * HOUR,
};
const FAR = 1e13;

/** A grant whose refresh tokens are `slots` (hash, parent, rotatedAt). */
function grant(...slots: Partial<RefreshSlot>[]): GrantRecord {
  return {
    grantId: "g",
    clientId: "c",
    scope: "mcp offline_access",
    resource: "https://me.example/mcp",
    createdAt: 0,
    refresh: slots.map((s) => ({
      hash: s.hash!,
      expiresAt: FAR,
      accessHash: `access-of-${s.hash}`,
      ...s,
    })),
  };
}

function request(hash: string, now: number, life: Partial<Lifetimes> = {}): RotateRequest {
  return {
    hash,
    clientId: "c",
    baseScope: "mcp",
    pair: { accessHash: "new-access", refreshHash: "new-refresh" },
    now,
    life: { ...LIFE, ...life },
  };
}

function setKeys(ops: WriteOp[]): string[] {
  return ops.filter((o) => o.op === "set").map((o) => o.key.join("/"));
}
function deletedKeys(ops: WriteOp[]): string[] {
  return ops.filter((o) => o.op === "delete").map((o) => o.key.join("/"));
}
function storedGrant(ops: WriteOp[]): GrantRecord | undefined {
  const op = ops.find((o) => o.op === "set" && o.key[0] === "grant");
  return op?.op === "set" ? op.value as GrantRecord : undefined;
}

// t1 was rotated at time 0 into t2, which nobody has used yet.
const ROTATED_ONCE = () => grant({ hash: "t1", rotatedAt: 0 }, { hash: "t2", parent: "t1" });
// t2 was used in turn (t1 died), t3 is live: t1 is two generations back.
const ROTATED_TWICE = () =>
  grant({ hash: "t2", parent: "t1", rotatedAt: HOUR }, { hash: "t3", parent: "t2" });

Deno.test("rotateRefresh decides each presented token by the table", async (t) => {
  const cases: [
    why: string,
    grant: GrantRecord,
    req: RotateRequest,
    kind: string,
  ][] = [
    ["the live token, first use", ROTATED_ONCE(), request("t2", 10 * MIN), "ok"],
    [
      "the predecessor within the grace (a lost answer)",
      ROTATED_ONCE(),
      request("t1", 30_000),
      "ok",
    ],
    [
      "the predecessor after the grace, within the window (a second process)",
      ROTATED_ONCE(),
      request("t1", 2 * HOUR),
      "access",
    ],
    [
      "the predecessor at the very end of the window",
      ROTATED_ONCE(),
      request("t1", 4 * HOUR),
      "access",
    ],
    ["the predecessor past the window", ROTATED_ONCE(), request("t1", 4 * HOUR + 1), "reuse"],
    [
      "the predecessor after the grace with the window off",
      ROTATED_ONCE(),
      request("t1", 2 * MIN, { reuseWindowMs: 0 }),
      "reuse",
    ],
    [
      "a token two generations back, within the window",
      ROTATED_TWICE(),
      request("t1", HOUR + MIN),
      "reuse",
    ],
    [
      "the predecessor of the live token, two rotations in",
      ROTATED_TWICE(),
      request("t2", 2 * HOUR),
      "access",
    ],
    [
      "a rotated token whose successor expired unused",
      grant({ hash: "t1", rotatedAt: 0 }),
      request("t1", 2 * HOUR),
      "reuse",
    ],
    ["an unknown token of this grant", ROTATED_ONCE(), request("nope", MIN), "reuse"],
    [
      "an expired token",
      grant({ hash: "t1", expiresAt: 5 * MIN }),
      request("t1", 6 * MIN),
      "invalid",
    ],
    ["another client's grant", ROTATED_ONCE(), { ...request("t2", MIN), clientId: "x" }, "invalid"],
    [
      "another resource",
      ROTATED_ONCE(),
      { ...request("t2", MIN), resource: "https://other.example/mcp" },
      "target",
    ],
  ];
  for (const [why, g, req, kind] of cases) {
    await t.step(`${why} -> ${kind}`, () => {
      const plan = rotateRefresh(g, req);
      assert.equal(plan.result.kind, kind);
      if (kind === "reuse") assert.deepEqual(plan.ops, grantDeletion(g));
      if (kind === "invalid" || kind === "target") assert.deepEqual(plan.ops, []);
    });
  }
});

Deno.test("a late copy of the predecessor gets an access token alone, not a new refresh line", () => {
  const plan = rotateRefresh(ROTATED_ONCE(), request("t1", 2 * HOUR));
  assert.equal(plan.result.kind, "access");
  assert.deepEqual(setKeys(plan.ops).sort(), ["access/new-access", "grant/g"]);
  assert.equal(deletedKeys(plan.ops).length, 0);
  const stored = storedGrant(plan.ops)!;
  assert.deepEqual(stored.refresh.map((s) => s.hash), ["t1", "t2"], "no new refresh token");
  assert.deepEqual(stored.refresh[0]!.lateAccessHashes, ["new-access"]);
  assert.equal(stored.refresh[0]!.rotatedAt, 0, "the window still counts from the rotation");
});

Deno.test("what a late copy can mint is bounded", async (t) => {
  await t.step("its access token lives at most the window", () => {
    const plan = rotateRefresh(ROTATED_ONCE(), request("t1", 2 * HOUR));
    assert.ok(plan.result.kind === "access");
    assert.equal(plan.result.expiresAt, 2 * HOUR + LIFE.reuseWindowMs);
    const access = plan.ops.find((o) => o.op === "set" && o.key[0] === "access");
    assert.equal(access?.op === "set" && access.expiresAt, 2 * HOUR + LIFE.reuseWindowMs);
  });

  await t.step("or the access-token lifetime when that is shorter", () => {
    const plan = rotateRefresh(ROTATED_ONCE(), request("t1", 2 * HOUR, { accessMs: HOUR }));
    assert.ok(plan.result.kind === "access");
    assert.equal(plan.result.expiresAt, 3 * HOUR);
  });

  await t.step(`at most ${LATE_ACCESS_PER_TOKEN} are live; the oldest goes first`, () => {
    const late = Array.from({ length: LATE_ACCESS_PER_TOKEN }, (_, i) => `late-${i}`);
    const g = grant({ hash: "t1", rotatedAt: 0, lateAccessHashes: late }, {
      hash: "t2",
      parent: "t1",
    });
    const plan = rotateRefresh(g, request("t1", 2 * HOUR));
    assert.deepEqual(deletedKeys(plan.ops), ["access/late-0"]);
    assert.deepEqual(storedGrant(plan.ops)!.refresh[0]!.lateAccessHashes, [
      ...late.slice(1),
      "new-access",
    ]);
  });

  await t.step("they die when the live token is used", () => {
    const g = grant({ hash: "t1", rotatedAt: 0, lateAccessHashes: ["late-0", "late-1"] }, {
      hash: "t2",
      parent: "t1",
    });
    const plan = rotateRefresh(g, request("t2", 3 * HOUR));
    assert.equal(plan.result.kind, "ok");
    for (const hash of ["access-of-t1", "late-0", "late-1"]) {
      assert.ok(deletedKeys(plan.ops).includes(`access/${hash}`), hash);
    }
    assert.deepEqual(storedGrant(plan.ops)!.refresh.map((s) => s.hash), ["t2", "new-refresh"]);
  });

  await t.step("and with the grant", () => {
    const g = grant({ hash: "t1", rotatedAt: 0, lateAccessHashes: ["late-0"] }, {
      hash: "t2",
      parent: "t1",
    });
    assert.ok(deletedKeys(grantDeletion(g)).includes("access/late-0"));
  });
});
