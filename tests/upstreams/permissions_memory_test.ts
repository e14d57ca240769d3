/**
 * The owner's say over a real upstream: server-memory behind the gateway, its graph in a
 * file. A denied, declined or expired `delete_entities` never reaches it (the entity is
 * still in the file); a confirmed one does. Through the OAuth gate with the SDK client.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { createPersonalMcpOn, type PersonalMcp } from "../../server/create.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { BASE_URL, PASSWORD, registerClient, ROOT, sdkClientOf, tokensFor } from "../fixtures.ts";

const MEMORY = `${ROOT}node_modules/@modelcontextprotocol/server-memory/dist/index.js`;
const DELETE = "memory_delete_entities";

const textOf = (r: { content?: unknown }) =>
  (r.content as { text?: string }[]).map((c) => c.text ?? "").join("\n");

/**
 * The call that started waiting after those `seen`: an expired call stays confirmable
 * (for 10 minutes, once), so it is still listed as waiting.
 */
async function newlyWaiting(app: PersonalMcp, seen: Set<string>) {
  for (let i = 0; i < 500; i++) {
    const held = (await app.confirmations.pending()).find((c) => !seen.has(c.id));
    if (held) {
      seen.add(held.id);
      return held;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no new call is waiting");
}

Deno.test("server-memory behind the gateway: a denied, declined or expired delete never happens; a confirmed one does", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-memory-policy-"));
  const file = join(dir, "memory.jsonl");
  const app = createPersonalMcpOn({}, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
    confirmTimeoutSeconds: 1,
    servers: { memory: { command: "node", args: [MEMORY], env: { MEMORY_FILE_PATH: file } } },
  }, { spawn: createStdioSpawner() });
  await app.ready();
  const registered = await registerClient(app);
  const token = (await tokensFor(app, registered)).access_token;
  const client = await sdkClientOf(app, token, "policy test");
  const remove = () => client.callTool({ name: DELETE, arguments: { entityNames: ["Plumber"] } });
  const seen = new Set<string>();
  const stillThere = async () => assert.match(await readFile(file, "utf8"), /"name":"Plumber"/);
  try {
    await t.step("a write the annotations allow reaches the file", async () => {
      const created = await client.callTool({
        name: "memory_create_entities",
        arguments: { entities: [{ name: "Plumber", entityType: "person", observations: ["Tue"] }] },
      });
      assert.notEqual(created.isError, true, textOf(created));
      await stillThere();
    });

    await t.step("the destructive delete is listed, to be asked for", async () => {
      const permissions = await app.permissions.show(registered.clientId);
      const entry = permissions!.tools.find((tool) => tool.name === DELETE);
      assert.equal(entry?.policy, "ask");
      assert.equal(entry?.server, "memory");
    });

    await t.step("expired: nobody answers within the wait, nothing is deleted", async () => {
      const call = remove();
      await newlyWaiting(app, seen);
      const result = await call;
      assert.equal(result.isError, true);
      assert.match(textOf(result), /waits for the owner's confirmation, and nothing was done/);
      await stillThere();
    });

    await t.step("declined: the owner says no, nothing is deleted", async () => {
      const call = remove();
      const held = await newlyWaiting(app, seen);
      assert.equal(held.tool, DELETE);
      assert.ok((await app.confirmations.decide(held.id, "decline", "command line")).ok);
      const result = await call;
      assert.equal(result.isError, true);
      assert.match(textOf(result), /declined/i, textOf(result));
      await stillThere();
    });

    await t.step("denied: the app may not use it, the upstream is never asked", async () => {
      await app.permissions.set(registered.clientId, "deny", [DELETE]);
      const listed = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(!listed.includes(DELETE), "a denied tool is not listed");
      const result = await remove();
      assert.equal(result.isError, true);
      assert.match(textOf(result), /not allowed/i);
      await stillThere();
    });

    await t.step("confirmed: the owner says yes, and the delete reaches the file", async () => {
      await app.permissions.set(registered.clientId, "ask", [DELETE]);
      const call = remove();
      const held = await newlyWaiting(app, seen);
      assert.ok((await app.confirmations.decide(held.id, "confirm", "command line")).ok);
      const result = await call;
      assert.notEqual(result.isError, true, textOf(result));
      assert.doesNotMatch(await readFile(file, "utf8"), /"name":"Plumber"/);
    });
  } finally {
    await client.close();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
});
