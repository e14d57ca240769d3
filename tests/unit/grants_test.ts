/**
 * The two subtle OAuth rules as tables: code redemption and refresh rotation are pure
 * functions from stored state to a plan, so every case is checked without HTTP.
 */
import assert from "node:assert/strict";
import {
  type Lifetimes,
  redeemCode,
  type RedeemRequest,
  REUSE_MEMORY_MS,
  rotateRefresh,
  type RotateRequest,
} from "../../auth/grants/grants.ts";
import type { ClientRecord, CodeRecord, GrantRecord, RefreshSlot } from "../../auth/records.ts";
import type { WriteOp } from "../../store/store.ts";

// No reuse window here: strict rotation; tests/unit/refresh_window_test.ts covers the window.
const LIFE: Lifetimes = {
  accessMs: 3_600_000,
  refreshMs: 86_400_000,
  graceMs: 60_000,
  reuseWindowMs: 0,
};
const T = 1_000_000;
// Two base64url S256 challenges (43 characters each).
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const OTHER_CHALLENGE = "AAAAhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

function code(overrides: Partial<CodeRecord> = {}): CodeRecord {
  return {
    clientId: "client-1",
    redirectUri: "https://claude.ai/api/mcp/auth_callback",
    redirectUriSent: true,
    codeChallenge: CHALLENGE,
    resource: "https://me.example/mcp",
    scope: "mcp offline_access",
    grantId: "grant-1",
    expiresAt: T + 60_000,
    ...overrides,
  };
}

function redeem(overrides: Partial<RedeemRequest> = {}): RedeemRequest {
  return {
    codeHash: "code-hash",
    clientId: "client-1",
    redirectUri: "https://claude.ai/api/mcp/auth_callback",
    challenge: CHALLENGE,
    pair: { accessHash: "access-new", refreshHash: "refresh-new" },
    now: T,
    life: LIFE,
    ...overrides,
  };
}

const registered: ClientRecord = {
  clientId: "client-1",
  authMethod: "none",
  redirectUris: ["https://claude.ai/api/mcp/auth_callback"],
  grantTypes: ["authorization_code", "refresh_token"],
  metadata: {},
  createdAt: 0,
};

function keysOf(ops: WriteOp[], op: "set" | "delete"): string[] {
  return ops.filter((o) => o.op === op).map((o) => o.key.join("/")).sort();
}

Deno.test("redeemCode decides every case of an authorization code", async (t) => {
  const cases: {
    name: string;
    code?: CodeRecord;
    client?: ClientRecord;
    req?: Partial<RedeemRequest>;
    kind: string;
  }[] = [
    { name: "first use", code: code(), kind: "ok" },
    {
      name: "first use, redirect_uri not sent at either step",
      code: code({ redirectUriSent: false }),
      req: { redirectUri: undefined },
      kind: "ok",
    },
    {
      name: "first use, redirect_uri only repeated at /token",
      code: code({ redirectUriSent: false }),
      kind: "ok",
    },
    {
      name: "first use with the matching resource",
      code: code(),
      req: { resource: "https://me.example/mcp" },
      kind: "ok",
    },
    { name: "unknown code", code: undefined, kind: "invalid" },
    { name: "replayed code", code: code({ usedAt: T - 10 }), kind: "replay" },
    {
      name: "replay wins over every other check",
      code: code({ usedAt: T - 10 }),
      req: { clientId: "other", challenge: OTHER_CHALLENGE },
      kind: "replay",
    },
    { name: "expired code", code: code({ expiresAt: T }), kind: "invalid" },
    { name: "another client", code: code(), req: { clientId: "client-2" }, kind: "invalid" },
    {
      name: "another redirect URI",
      code: code(),
      req: { redirectUri: "https://claude.ai/other" },
      kind: "invalid",
    },
    {
      name: "redirect URI sent at /authorize but not repeated",
      code: code(),
      req: { redirectUri: undefined },
      kind: "invalid",
    },
    {
      name: "wrong code_verifier",
      code: code(),
      req: { challenge: OTHER_CHALLENGE },
      kind: "invalid",
    },
    {
      name: "malformed challenge",
      code: code(),
      req: { challenge: "not base64url!" },
      kind: "invalid",
    },
    {
      name: "another resource",
      code: code(),
      req: { resource: "https://elsewhere.example/mcp" },
      kind: "target",
    },
  ];
  for (const c of cases) {
    await t.step(`${c.name}: ${c.kind}`, () => {
      const plan = redeemCode(c.code, c.client, redeem(c.req));
      assert.equal(plan.result.kind, c.kind);
      if (c.kind !== "ok") assert.deepEqual(plan.ops, [], "a refusal writes nothing");
    });
  }

  await t.step("first use writes the pair, marks the code used and creates the grant", () => {
    const plan = redeemCode(code(), registered, redeem());
    assert.deepEqual(plan.result, { kind: "ok", scope: "mcp offline_access" });
    assert.deepEqual(keysOf(plan.ops, "set"), [
      "access/access-new",
      "client/client-1",
      "code/code-hash",
      "grant/grant-1",
      "refresh/refresh-new",
    ]);
    const used = plan.ops.find((o) => o.key[0] === "code");
    assert.equal(used?.op === "set" && (used.value as CodeRecord).usedAt, T);
    const grant = plan.ops.find((o) => o.key[0] === "grant");
    const value = grant?.op === "set" ? grant.value as GrantRecord : undefined;
    assert.deepEqual(value?.refresh.map((s) => s.hash), ["refresh-new"]);
  });

  await t.step("a client that already obtained a token is not written again", () => {
    const plan = redeemCode(code(), { ...registered, usedAt: 5 }, redeem());
    assert.ok(!keysOf(plan.ops, "set").includes("client/client-1"));
  });
});

function slot(hash: string, overrides: Partial<RefreshSlot> = {}): RefreshSlot {
  return { hash, expiresAt: T + 86_400_000, accessHash: `a-${hash}`, ...overrides };
}

function grant(refresh: RefreshSlot[]): GrantRecord {
  return {
    grantId: "grant-1",
    clientId: "client-1",
    scope: "mcp offline_access",
    resource: "https://me.example/mcp",
    createdAt: 0,
    refresh,
  };
}

function rotate(hash: string, overrides: Partial<RotateRequest> = {}): RotateRequest {
  return {
    hash,
    clientId: "client-1",
    baseScope: "mcp",
    pair: { accessHash: `a-${hash}-child`, refreshHash: `${hash}-child` },
    now: T,
    life: LIFE,
    ...overrides,
  };
}

/** The grant a rotation plan writes. */
function written(ops: WriteOp[]): GrantRecord {
  const op = ops.find((o) => o.op === "set" && o.key[0] === "grant");
  assert.ok(op && op.op === "set", "the plan writes the grant");
  return op.value as GrantRecord;
}

Deno.test("rotateRefresh decides every case of a refresh", async (t) => {
  await t.step("first use rotates: a child slot, the token marked rotated", () => {
    const plan = rotateRefresh(grant([slot("r1")]), rotate("r1"));
    assert.deepEqual(plan.result, { kind: "ok", scope: "mcp offline_access" });
    const g = written(plan.ops);
    assert.deepEqual(g.refresh.map((s) => [s.hash, s.parent, s.rotatedAt]), [
      ["r1", undefined, T],
      ["r1-child", "r1", undefined],
    ]);
    assert.deepEqual(keysOf(plan.ops, "set"), [
      "access/a-r1-child",
      "grant/grant-1",
      "refresh/r1-child",
    ]);
    assert.deepEqual(keysOf(plan.ops, "delete"), []);
  });

  await t.step(
    "first use of the child retires its parent (access deleted, index kept a while)",
    () => {
      const g = grant([
        slot("r1", { rotatedAt: T - 1000, expiresAt: T + 30 * 86_400_000 }),
        slot("r2", { parent: "r1" }),
      ]);
      const plan = rotateRefresh(g, rotate("r2"));
      assert.equal(plan.result.kind, "ok");
      assert.deepEqual(written(plan.ops).refresh.map((s) => s.hash), ["r2", "r2-child"]);
      assert.deepEqual(keysOf(plan.ops, "delete"), ["access/a-r1"]);
      const kept = plan.ops.find((o) => o.op === "set" && o.key.join("/") === "refresh/r1");
      assert.ok(kept?.op === "set" && kept.expiresAt === T + REUSE_MEMORY_MS);
    },
  );

  await t.step("reuse inside the grace (a lost answer) mints a sibling", () => {
    const g = grant([slot("r1", { rotatedAt: T - 30_000 }), slot("r2", { parent: "r1" })]);
    const plan = rotateRefresh(
      g,
      rotate("r1", { pair: { accessHash: "a-r3", refreshHash: "r3" } }),
    );
    assert.equal(plan.result.kind, "ok");
    assert.deepEqual(written(plan.ops).refresh.map((s) => [s.hash, s.parent]), [
      ["r1", undefined],
      ["r2", "r1"],
      ["r3", "r1"],
    ]);
  });

  await t.step("race of two refreshes: the sibling first used wins, the other dies quietly", () => {
    const g = grant([
      slot("r1", { rotatedAt: T - 1000 }),
      slot("r2", { parent: "r1" }),
      slot("r3", { parent: "r1" }),
    ]);
    const plan = rotateRefresh(g, rotate("r3"));
    assert.equal(plan.result.kind, "ok");
    assert.deepEqual(written(plan.ops).refresh.map((s) => s.hash), ["r3", "r3-child"]);
    assert.deepEqual(keysOf(plan.ops, "delete"), ["access/a-r1", "access/a-r2"]);
  });

  await t.step("reuse after the grace revokes the whole grant", () => {
    const g = grant([slot("r1", { rotatedAt: T - 60_001 }), slot("r2", { parent: "r1" })]);
    const plan = rotateRefresh(g, rotate("r1"));
    assert.deepEqual(plan.result, { kind: "reuse" });
    assert.deepEqual(keysOf(plan.ops, "delete"), [
      "access/a-r1",
      "access/a-r2",
      "grant/grant-1",
      "refresh/r1",
      "refresh/r2",
    ]);
    assert.deepEqual(keysOf(plan.ops, "set"), []);
  });

  await t.step("a retired token (no longer in the grant) revokes the whole grant", () => {
    const plan = rotateRefresh(grant([slot("r2", { parent: "r1" })]), rotate("r1"));
    assert.deepEqual(plan.result, { kind: "reuse" });
    assert.ok(keysOf(plan.ops, "delete").includes("grant/grant-1"));
  });

  const refusals: { name: string; grant?: GrantRecord; req: RotateRequest; kind: string }[] = [
    { name: "unknown grant", grant: undefined, req: rotate("r1"), kind: "invalid" },
    {
      name: "another client",
      grant: grant([slot("r1")]),
      req: rotate("r1", { clientId: "client-2" }),
      kind: "invalid",
    },
    {
      name: "expired token",
      grant: grant([slot("r1", { expiresAt: T })]),
      req: rotate("r1"),
      kind: "invalid",
    },
    {
      name: "another resource",
      grant: grant([slot("r1")]),
      req: rotate("r1", { resource: "https://elsewhere.example/mcp" }),
      kind: "target",
    },
  ];
  for (const c of refusals) {
    await t.step(`${c.name}: ${c.kind}, nothing written`, () => {
      const plan = rotateRefresh(c.grant, c.req);
      assert.equal(plan.result.kind, c.kind);
      assert.deepEqual(plan.ops, []);
    });
  }

  await t.step("a narrower scope is granted; a wider one keeps the grant's", () => {
    const narrowed = rotateRefresh(grant([slot("r1")]), rotate("r1", { scope: "mcp" }));
    assert.deepEqual(narrowed.result, { kind: "ok", scope: "mcp" });
    const wider = rotateRefresh(grant([slot("r1")]), rotate("r1", { scope: "mcp admin" }));
    assert.deepEqual(wider.result, { kind: "ok", scope: "mcp" });
    const none = rotateRefresh(grant([slot("r1")]), rotate("r1", { scope: "admin" }));
    assert.deepEqual(none.result, { kind: "ok", scope: "mcp" });
  });
});
