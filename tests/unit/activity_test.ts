/**
 * The activity log's two halves that need no server: its lines (text and JSON, every
 * value a client sent escaped) and its storage (a bounded ring, batched writes, expiry).
 */
import assert from "node:assert/strict";
import {
  ACTIVITY_FLUSH_MS,
  ACTIVITY_LIMIT,
  ACTIVITY_TTL_MS,
  createActivityLog,
  formatEvent,
} from "../../auth/owner/activity.ts";
import type { AuthEvent, PersonalMcpEvent } from "../../core/config.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store, WriteOp } from "../../store/store.ts";

const HOSTILE = [
  "Evil\n2026-01-01T00:00:00.000Z approved clientId=owner",
  "carriage\rreturn",
  "escape \u001b[31mred\u001b[0m",
  "c1 \u009b31m control",
  "line\u2028separator\u2029",
  'quote " and backslash \\',
  "nul\u0000byte",
];

Deno.test("formatEvent writes one text line per event, values from requests escaped", async (t) => {
  for (const name of HOSTILE) {
    await t.step(JSON.stringify(name), () => {
      const event: AuthEvent = {
        type: "client_registered",
        clientId: "abc",
        clientName: name,
        clientAddress: "192.0.2.1",
      };
      const line = formatEvent(event, 0, "text");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      assert.match(line, /^1970-01-01T00:00:00\.000Z app registered clientId=abc clientName="/);
      assert.match(line, / clientAddress=192\.0\.2\.1$/, "the name cannot pass for another field");
    });
  }
});

Deno.test("formatEvent writes JSON lines that parse back to the same values", async (t) => {
  for (const reason of HOSTILE) {
    await t.step(JSON.stringify(reason), () => {
      const event: PersonalMcpEvent = {
        type: "request_refused",
        path: "/register",
        reason,
        clientAddress: "192.0.2.1",
      };
      const line = formatEvent(event, 1_700_000_000_000, "json");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      assert.deepEqual(JSON.parse(line), {
        time: "2023-11-14T22:13:20.000Z",
        event: "request_refused",
        path: "/register",
        reason,
        clientAddress: "192.0.2.1",
      });
    });
  }
});

Deno.test("formatEvent writes errors and warnings on one line too", () => {
  const error = new Error("boom\ninjected line");
  const text = formatEvent({ type: "error", where: "/token", error }, 0, "text");
  assert.equal(
    text,
    '1970-01-01T00:00:00.000Z error where=/token error="Error: boom\\x0ainjected line"',
  );
  const json = JSON.parse(formatEvent({ type: "warning", message: "careful" }, 0, "json"));
  assert.deepEqual(json, {
    time: "1970-01-01T00:00:00.000Z",
    event: "warning",
    message: "careful",
  });
});

/** A memory store that counts its writes, on a clock the test moves. */
function countingStore(clock: { t: number }): { store: Store; writes: WriteOp[][] } {
  const inner = createMemoryStore({ now: () => clock.t });
  const writes: WriteOp[][] = [];
  return {
    writes,
    store: {
      ...inner,
      write(ops) {
        writes.push(ops);
        return inner.write(ops);
      },
    },
  };
}

const refused = (i: number): AuthEvent => ({
  type: "request_refused",
  path: "/token",
  reason: `invalid_grant ${i}`,
  clientAddress: `192.0.2.${i % 250}`,
});

Deno.test("the activity log writes a burst in batches, at most once per flush interval", async () => {
  const clock = { t: 1_700_000_000_000 };
  const { store, writes } = countingStore(clock);
  const log = createActivityLog(store, () => clock.t);
  for (let i = 0; i < 1000; i++) log.record(refused(i));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(writes.length, 1, "the first event goes out at once, the rest wait");
  clock.t += ACTIVITY_FLUSH_MS;
  log.record(refused(1000));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(writes.length, 2, "one more batch after the interval");
  assert.ok(writes[1]!.length <= ACTIVITY_LIMIT, "a batch never exceeds the ring");
  await log.flush();
});

Deno.test("the activity log is a bounded ring in the store, whose entries expire", async () => {
  const clock = { t: 1_700_000_000_000 };
  const { store } = countingStore(clock);
  const log = createActivityLog(store, () => clock.t);
  for (let i = 0; i < ACTIVITY_LIMIT * 2 + 7; i++) {
    log.record(refused(i));
    clock.t += ACTIVITY_FLUSH_MS; // every event its own batch
  }
  await log.flush();
  const stored = await store.list<AuthEvent & { at: number }>(["activity"]);
  assert.equal(stored.length, ACTIVITY_LIMIT);
  const reasons = new Set(stored.map((e) => (e.value as { reason: string }).reason));
  assert.ok(reasons.has(`invalid_grant ${ACTIVITY_LIMIT * 2 + 6}`), "the newest is kept");
  assert.ok(!reasons.has("invalid_grant 0"), "the oldest was overwritten");

  // A second log on the same store (a restart, another process) continues the ring.
  const next = createActivityLog(store, () => clock.t);
  next.record(refused(-1));
  await next.flush();
  assert.equal((await store.list(["activity"])).length, ACTIVITY_LIMIT);
  const [newest] = await next.recent(1);
  assert.equal((newest as { reason: string }).reason, "invalid_grant -1");

  clock.t += ACTIVITY_TTL_MS + ACTIVITY_LIMIT * 2 * ACTIVITY_FLUSH_MS;
  assert.equal((await store.list(["activity"])).length, 0, "a week later the store forgot them");
});
