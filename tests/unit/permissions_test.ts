/**
 * The tool-policy rules, by table: defaults from annotations (own tools and upstream
 * tools differ), the owner's defaults by precision, an app's decisions on top, and the
 * plan of a change (bounded, names checked, nothing written for a refusal).
 */
import assert from "node:assert/strict";
import {
  decidePolicy,
  describePolicies,
  MAX_APP_TOOL_DECISIONS,
  type OwnerToolDefaults,
  planPolicyChange,
  type ToolFacts,
  toolKind,
  validateOwnerDefaults,
} from "../../auth/grants/permissions.ts";

const RO = { readOnlyHint: true };
const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true };
const WRITES = { readOnlyHint: false, destructiveHint: false };

Deno.test("a tool's default policy comes from its annotations, own tools trusted more", async (t) => {
  const cases: [string, ToolFacts, string, string][] = [
    ["own, no annotations", { name: "a" }, "writes", "allow"],
    ["own, read-only", { name: "a", annotations: RO }, "read-only", "allow"],
    ["own, destructive", { name: "a", annotations: DESTRUCTIVE }, "destructive", "ask"],
    ["own, writes", { name: "a", annotations: WRITES }, "writes", "allow"],
    [
      "own, readOnlyHint false only",
      { name: "a", annotations: { readOnlyHint: false } },
      "writes",
      "allow",
    ],
    [
      "own, read-only beats destructive",
      { name: "a", annotations: { readOnlyHint: true, destructiveHint: true } },
      "read-only",
      "allow",
    ],
    [
      "upstream, no annotations: destructive by the spec's defaults",
      { name: "m_a", server: "m" },
      "destructive",
      "ask",
    ],
    ["upstream, read-only", { name: "m_a", server: "m", annotations: RO }, "read-only", "allow"],
    [
      "upstream, writes said non-destructive",
      { name: "m_a", server: "m", annotations: WRITES },
      "writes",
      "allow",
    ],
    [
      "upstream, readOnlyHint false only",
      { name: "m_a", server: "m", annotations: { readOnlyHint: false } },
      "destructive",
      "ask",
    ],
    [
      "upstream, destructive",
      { name: "m_a", server: "m", annotations: DESTRUCTIVE },
      "destructive",
      "ask",
    ],
  ];
  for (const [name, tool, kind, policy] of cases) {
    await t.step(name, () => {
      assert.equal(toolKind(tool), kind);
      assert.deepEqual(decidePolicy(tool, {}, undefined), { policy, source: "annotations" });
    });
  }
});

Deno.test("the owner's defaults win over annotations, the most precise key first", async (t) => {
  const owner: OwnerToolDefaults = {
    "*": "deny",
    "m/*": "ask",
    "m_read": "allow",
    "own_tool": "ask",
  };
  const cases: [string, ToolFacts, string, string][] = [
    ["tool key", { name: "m_read", server: "m" }, "allow", "tool"],
    ["server key", { name: "m_write", server: "m", annotations: RO }, "ask", "server"],
    ["star", { name: "x_y", server: "x", annotations: RO }, "deny", "owner"],
    ["own tool by name", { name: "own_tool", annotations: RO }, "ask", "tool"],
    ["own tool under star (no server key applies)", { name: "other" }, "deny", "owner"],
  ];
  for (const [name, tool, policy, source] of cases) {
    await t.step(
      name,
      () => assert.deepEqual(decidePolicy(tool, owner, undefined), { policy, source }),
    );
  }
  await t.step("an app's decision wins over everything", () => {
    const app = { tools: { x_y: "allow" as const }, known: [], updatedAt: 0 };
    assert.deepEqual(decidePolicy({ name: "x_y", server: "x" }, owner, app), {
      policy: "allow",
      source: "app",
    });
  });
  await t.step("inherited object keys are no decisions", () => {
    const app = { tools: {}, known: [], updatedAt: 0 };
    assert.deepEqual(decidePolicy({ name: "constructor" }, {}, app), {
      policy: "allow",
      source: "annotations",
    });
    assert.deepEqual(decidePolicy({ name: "toString", annotations: DESTRUCTIVE }, {}, app), {
      policy: "ask",
      source: "annotations",
    });
  });
});

Deno.test("validateOwnerDefaults refuses what cannot be a key or a policy, naming it", async (t) => {
  const bad: [unknown, RegExp][] = [
    [[], /must be an object/],
    ["allow", /must be an object/],
    [{ "a b": "allow" }, /key "a b"/],
    [{ "m/x": "allow" }, /key "m\/x"/],
    [{ "/*": "allow" }, /key "\/\*"/],
    [{ "a\u202eb": "allow" }, /key/],
    [{ a: "maybe" }, /"toolPolicy.a" must be "allow", "ask" or "deny"/],
    [{ a: true }, /must be "allow"/],
  ];
  for (const [value, message] of bad) {
    await t.step(JSON.stringify(value), () => {
      assert.throws(
        () => validateOwnerDefaults(value),
        (e) => e instanceof TypeError && message.test(e.message),
      );
    });
  }
  await t.step("good keys pass, frozen", () => {
    const ok = validateOwnerDefaults({
      "*": "ask",
      "memory/*": "deny",
      "memory_read_graph": "allow",
    });
    assert.ok(Object.isFrozen(ok));
    assert.equal(ok["memory/*"], "deny");
  });
});

Deno.test("planPolicyChange: bounded, checked, and says whether anything changed", async (t) => {
  await t.step("a first decision, its tools known", () => {
    const plan = planPolicyChange(undefined, { set: { a: "deny" }, seen: ["b"] }, 5);
    assert.deepEqual(plan, {
      ok: true,
      changed: true,
      record: { tools: { a: "deny" }, known: ["a", "b"], updatedAt: 5 },
    });
  });
  await t.step("the same decision again changes nothing", () => {
    const current = { tools: { a: "deny" as const }, known: ["a"], updatedAt: 1 };
    const plan = planPolicyChange(current, { set: { a: "deny" } }, 5);
    assert.ok(plan.ok && !plan.changed);
  });
  await t.step("a bad name or policy refuses the whole change", () => {
    for (
      const set of [{ "a\u0000": "deny" }, { "a/b": "allow" }, { a: "yes" }, {
        ["x".repeat(129)]: "allow",
      }]
    ) {
      const plan = planPolicyChange(undefined, { set: set as never }, 5);
      assert.equal(plan.ok, false, JSON.stringify(set));
    }
  });
  await t.step(`at most ${MAX_APP_TOOL_DECISIONS} decisions per app`, () => {
    const set = Object.fromEntries(
      Array.from({ length: MAX_APP_TOOL_DECISIONS + 1 }, (_, i) => [`t${i}`, "deny" as const]),
    );
    const plan = planPolicyChange(undefined, { set }, 5);
    assert.equal(plan.ok, false);
  });
});

Deno.test("describePolicies groups by server (own tools first) and marks tools new to the owner", () => {
  const tools: ToolFacts[] = [
    { name: "m_b", server: "m", annotations: RO },
    { name: "own", annotations: DESTRUCTIVE },
    { name: "m_a", server: "m" },
  ];
  assert.deepEqual(describePolicies(tools, {}, undefined).map((r) => [r.name, r.policy, r.isNew]), [
    ["own", "ask", false],
    ["m_a", "ask", false],
    ["m_b", "allow", false],
  ]);
  const app = { tools: { m_a: "deny" as const }, known: ["own", "m_a"], updatedAt: 0 };
  assert.deepEqual(
    describePolicies(tools, {}, app).map((r) => [r.name, r.policy, r.source, r.isNew]),
    [
      ["own", "ask", "annotations", false],
      ["m_a", "deny", "app", false],
      ["m_b", "allow", "annotations", true],
    ],
  );
});
