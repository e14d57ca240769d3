/**
 * The audit trail: one record per `tools/call` through the OAuth-protected endpoint
 * (app, grant, tool, outcome, policy, duration, SHA-256 of the arguments), the
 * arguments kept only when asked for, every record on the event stream as an escaped
 * log line, and the trail bounded in the store.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { z } from "zod";
import { formatEvent } from "../../auth/owner/activity.ts";
import {
  AUDIT_FLUSH_MS,
  AUDIT_LIMIT,
  AUDIT_WRITE_CHUNK,
  canonicalJson,
  createAuditLog,
} from "../../auth/owner/audit.ts";
import type { PersonalMcpEvent } from "../../core/config.ts";
import { keys } from "../../store/keys.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { createPersonalMcp } from "../../server/create.ts";
import { tool } from "../../transport/tools.ts";
import { BASE_URL, PASSWORD, registerClient, sdkClientOf, tokensFor } from "../fixtures.ts";

async function setup(auditArguments?: boolean) {
  const events: PersonalMcpEvent[] = [];
  const app = createPersonalMcp({
    echo: tool({
      description: "Echo",
      input: { text: z.string() },
      annotations: { readOnlyHint: true },
      run: ({ text }) => text,
    }),
    fails: tool({
      description: "Fails",
      run: () => {
        throw new Error("broken");
      },
    }),
    wipe: tool({ description: "Wipe", annotations: { destructiveHint: true }, run: () => "wiped" }),
  }, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    confirmTimeoutSeconds: 1,
    onEvent: (e) => void events.push(e),
    ...(auditArguments ? { auditArguments } : {}),
  });
  const client = await registerClient(app);
  const token = (await tokensFor(app, client)).access_token;
  const mcp = await sdkClientOf(app, token, "audit test");
  return { app, client, mcp, events };
}

const sha = (text: string) => createHash("sha256").update(text).digest("base64url");

Deno.test("every tools/call leaves one audit record saying how it ended", async () => {
  const { app, client, mcp, events } = await setup();
  try {
    await mcp.callTool({ name: "echo", arguments: { text: "hi" } });
    await mcp.callTool({ name: "fails", arguments: {} });
    await mcp.callTool({ name: "wipe", arguments: {} });
    await app.permissions.set(client.clientId, "deny", ["echo"]);
    await mcp.callTool({ name: "echo", arguments: { text: "again" } });
    await mcp.callTool({ name: "nope", arguments: {} });
    const trail = await app.audit.query();
    assert.deepEqual(trail.map((r) => [r.tool, r.outcome, r.policy]), [
      ["nope", "denied", "deny"],
      ["echo", "denied", "deny"],
      ["wipe", "timeout", "ask"],
      ["fails", "error", "allow"],
      ["echo", "ok", "allow"],
    ]);
    const first = trail.at(-1)!;
    assert.equal(first.clientId, client.clientId);
    assert.ok(first.grantId.length > 0);
    assert.ok(first.durationMs >= 0);
    assert.equal(first.argumentsSha256, sha('{"text":"hi"}'));
    assert.equal(first.arguments, undefined, "arguments are not kept unless asked for");
    assert.equal((await app.audit.query({ app: first.grantId })).length, 5);
    assert.equal((await app.audit.query({ app: "someone-else" })).length, 0);
    assert.equal((await app.audit.query({ since: Date.now() + 60_000 })).length, 0);
    const lines = events.filter((e) => e.type === "tool_called");
    assert.equal(lines.length, 5);
  } finally {
    await mcp.close();
    await app.close();
  }
});

Deno.test("auditArguments keeps the arguments; a hostile argument stays escaped on the log line", async () => {
  const { app, mcp, events } = await setup(true);
  const hostile = "a\u202eb\u0007\nc\u2028d";
  try {
    await mcp.callTool({ name: `ev${hostile}`, arguments: {} });
    await mcp.callTool({ name: "echo", arguments: { text: hostile } });
    const trail = await app.audit.query();
    const record = trail.find((r) => r.tool === "echo");
    const unknown = trail.find((r) => r.tool !== "echo");
    assert.equal(unknown?.outcome, "denied", "a hostile tool name is refused and recorded");
    const named = events.find((e) => e.type === "tool_called" && e.tool.startsWith("ev"))!;
    for (const format of ["json", "text"] as const) {
      // deno-lint-ignore no-control-regex -- exactly what must never reach a log line
      assert.doesNotMatch(formatEvent(named, 0, format), /[\u0000-\u001f\u202e\u2028]/);
    }
    assert.equal(record?.arguments, canonicalJson({ text: hostile }));
    assert.equal(record?.argumentsSha256, sha(canonicalJson({ text: hostile })));
    const event = events.find((e) => e.type === "tool_called" && e.tool === "echo")!;
    for (const format of ["json", "text"] as const) {
      const line = formatEvent(event, 0, format);
      // deno-lint-ignore no-control-regex -- exactly what must never reach a log line
      assert.doesNotMatch(line, /[\u0000-\u001f\u202e\u2028]/, `${format}: ${line}`);
    }
    assert.equal(JSON.parse(formatEvent(event, 0, "json")).arguments, record?.arguments);
  } finally {
    await mcp.close();
    await app.close();
  }
});

/** One record's fields, for the tests that write many straight into the trail. */
const base = {
  clientId: "c",
  grantId: "g",
  tool: "t",
  outcome: "ok" as const,
  policy: "allow" as const,
  durationMs: 1,
};

Deno.test(`the stored trail keeps the newest ${AUDIT_LIMIT} records`, async () => {
  const store = createMemoryStore();
  const log = createAuditLog(store, false);
  const t0 = Date.now() - 100_000;
  for (let i = 0; i < AUDIT_LIMIT + 50; i++) await log.record({ ...base, at: t0 + i }, { i });
  await log.flush();
  const stored = await store.list<{ at: number }>(keys.audit);
  assert.equal(stored.length, AUDIT_LIMIT);
  assert.equal(Math.min(...stored.map((e) => e.value.at)), t0 + 50, "the oldest went first");
});

Deno.test("a burst of calls is one write of the trail, stored within AUDIT_FLUSH_MS without a flush, and trimmed without a listing", async () => {
  const store = createMemoryStore();
  let writes = 0, lists = 0;
  const counted: typeof store = Object.create(store);
  counted.write = (ops) => (writes++, store.write(ops));
  counted.list = (prefix) => (lists++, store.list(prefix));
  const log = createAuditLog(counted, false);
  for (let i = 0; i < 200; i++) await log.record({ ...base, at: Date.now() }, { i });
  assert.equal(writes, 0, "nothing is written on a call's path");
  await new Promise((r) => setTimeout(r, AUDIT_FLUSH_MS + 100));
  assert.equal(writes, 1, "200 records, one write");
  assert.equal(lists, 1, "the trail is listed once (what earlier runs left), not per batch");
  assert.equal((await store.list(keys.audit)).length, 200);
  for (let i = 0; i < AUDIT_LIMIT + 1_000; i++) {
    await log.record({ ...base, at: Date.now() }, { i });
  }
  await log.flush();
  assert.equal(lists, 1, "a store no other process writes is trimmed without listing it again");
  const left = await store.list<{ id: string }>(keys.audit);
  assert.equal(left.length, AUDIT_LIMIT);
});

Deno.test("a large batch is written a chunk at a time, with other work served between chunks", async () => {
  const store = createMemoryStore();
  const sizes: number[] = [];
  const between: number[] = [];
  let ticks = 0;
  const counted: typeof store = Object.create(store);
  counted.write = (ops) => {
    sizes.push(ops.length);
    between.push(ticks);
    return store.write(ops);
  };
  const log = createAuditLog(counted, false);
  const calls = 4_000; // about a quarter second of calls under load
  for (let i = 0; i < calls; i++) await log.record({ ...base, at: Date.now() }, { i });
  // What a request arriving meanwhile stands for: a timer that must get its turn.
  const ticking = setInterval(() => ticks++, 0);
  try {
    const reading = log.flush();
    // Read while the batch is on its way: every record is found, written or not yet.
    assert.equal((await log.query({ limit: calls })).length, calls);
    await reading;
  } finally {
    clearInterval(ticking);
  }
  const batch = sizes.filter((n, i) => i === 0 || n > 0);
  assert.ok(batch.every((n) => n <= AUDIT_WRITE_CHUNK), `write sizes ${batch.join(",")}`);
  assert.equal(batch.reduce((a, b) => a + b, 0), calls);
  // Between two chunks the event loop ran the timer: nothing waited for the whole batch.
  for (let i = 1; i < between.length; i++) assert.ok(between[i]! > between[i - 1]!, `tick ${i}`);
  assert.equal((await store.list(keys.audit)).length, calls);
});
