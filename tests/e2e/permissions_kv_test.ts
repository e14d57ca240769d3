/**
 * Two servers on one Deno KV database (as two processes, or Deno Deploy's isolates): a
 * tool denied through one is refused at once by the other (the decision is read per
 * call on a shared store), and the other's open session hears `list_changed` (the
 * notice it watches). Also prints what reading the decision per call costs on KV
 * against the in-memory cache of an unshared store.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createToolPolicies } from "../../auth/grants/tool_policies.ts";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { openKvStore } from "../../store/kv.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { tool } from "../../transport/tools.ts";
import { BASE_URL, MCP_URL, PASSWORD, registerClient, tokensFor } from "../fixtures.ts";

const tools = {
  secret: tool({ description: "Secret", annotations: { readOnlyHint: true }, run: () => "ran" }),
};

function connect(app: PersonalMcp, token: string): Promise<Client> {
  const client = new Client({ name: "kv test", version: "1.0.0" });
  return client.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  ).then(() => client);
}

Deno.test("on one Deno KV, a tool denied through one server is refused by the other at once", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-perm-kv-"));
  const path = join(dir, "kv.sqlite3");
  const a = createPersonalMcp(tools, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: await openKvStore(path),
  });
  const b = createPersonalMcp(tools, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: await openKvStore(path),
  });
  let mcp: Client | undefined;
  try {
    const client = await registerClient(a);
    const token = (await tokensFor(a, client)).access_token;
    mcp = await connect(a, token);
    assert.equal(
      ((await mcp.callTool({ name: "secret" })).content as { text: string }[])[0]!.text,
      "ran",
    );
    const heard = new Promise<void>((resolve) =>
      mcp!.setNotificationHandler("notifications/tools/list_changed", () => resolve())
    );
    assert.ok((await b.permissions.set(client.clientId, "deny", ["secret"])).ok);
    const refused = await mcp.callTool({ name: "secret" });
    assert.equal(refused.isError, true, "refused at once, without waiting for any notice");
    await Promise.race([
      heard,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no list_changed")), 5000)),
    ]);
  } finally {
    await mcp?.close();
    await a.close();
    await b.close();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("what a decision costs per call: read from Deno KV, or cached for an unshared store", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-perm-kv-"));
  const kv = await openKvStore(join(dir, "kv.sqlite3"));
  const memory = createMemoryStore();
  try {
    const facts = { name: "secret" };
    const figures: string[] = [];
    for (
      const [label, store] of [["deno kv (read per call)", kv], [
        "memory (cached)",
        memory,
      ]] as const
    ) {
      const policies = createToolPolicies(store, {}, Date.now);
      await policies.change("c", { set: { secret: "deny" } });
      for (let i = 0; i < 200; i++) await policies.decide("c", facts); // warm up
      const n = 2000;
      const start = performance.now();
      for (let i = 0; i < n; i++) assert.equal((await policies.decide("c", facts)).policy, "deny");
      figures.push(
        `${label}: ${((performance.now() - start) * 1000 / n).toFixed(1)} µs per decision`,
      );
      policies.close();
    }
    console.log(figures.join("\n"));
  } finally {
    await kv.close();
    await memory.close();
    await rm(dir, { recursive: true, force: true });
  }
});
