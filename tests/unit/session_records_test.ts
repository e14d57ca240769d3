/**
 * Session records in a shared store are bounded: at most
 * MAX_SESSION_RECORDS_PER_GRANT per grant (the oldest dropped), no `initialize` over
 * MAX_SESSION_RECORD_BYTES, no lookup of an id longer than MAX_SESSION_ID_LENGTH, and a
 * record is found only under the grant that opened it.
 */
import assert from "node:assert/strict";
import { createMemoryStore } from "../../store/memory.ts";
import {
  createSessionRecords,
  MAX_SESSION_ID_LENGTH,
  MAX_SESSION_RECORD_BYTES,
  MAX_SESSION_RECORDS_PER_GRANT,
} from "../../transport/mcp/sessions.ts";

const INIT = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "c", version: "1" },
};

Deno.test("session records are bounded per grant and in size, and found only under their grant", async () => {
  let t = 1_000;
  const store = createMemoryStore({ now: () => t });
  const records = createSessionRecords(store, () => t);
  for (let i = 0; i < MAX_SESSION_RECORDS_PER_GRANT + 3; i++) {
    t++;
    assert.ok(await records.save("g1", `s${i}`, INIT));
  }
  const kept = await store.list(["mcp_session", "g1"]);
  assert.equal(kept.length, MAX_SESSION_RECORDS_PER_GRANT);
  assert.equal(await records.load("g1", "s0"), undefined, "the oldest were dropped");
  assert.ok(await records.load("g1", `s${MAX_SESSION_RECORDS_PER_GRANT + 2}`));
  assert.equal(await records.load("g2", "s5"), undefined, "another grant finds nothing");

  const big = { ...INIT, clientInfo: { name: "x".repeat(MAX_SESSION_RECORD_BYTES), version: "1" } };
  assert.equal(await records.save("g2", "big", big), undefined, "too large: kept in memory only");
  assert.equal(await records.load("g2", "big"), undefined);
  assert.equal(await records.load("g1", "s".repeat(MAX_SESSION_ID_LENGTH + 1)), undefined);

  // A record ended meanwhile is not written back by a later use elsewhere.
  const record = (await records.load("g1", "s10"))!;
  await records.end("g1", "s10");
  await records.touch("g1", "s10", record);
  assert.equal(await records.load("g1", "s10"), undefined);
});
