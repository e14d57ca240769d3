/**
 * The owner page's say per app: the calls waiting for the owner (with their links),
 * each app's tool permissions as a plain form that saves, and each app's recent tool
 * calls; what an app sent (its name, a call's arguments) shown escaped.
 */
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { z } from "zod";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { tool } from "../../transport/tools.ts";
import {
  BASE_URL,
  MCP_URL,
  openOwner,
  PASSWORD,
  postOwner,
  registerClient,
  signInOwner,
  tokensFor,
} from "../fixtures.ts";

const HOSTILE_NAME = "Evil\u202eppa <img src=x>\u0007";

async function setup() {
  const app = createPersonalMcp({
    look: tool({ description: "Look", annotations: { readOnlyHint: true }, run: () => "seen" }),
    wipe: tool({
      description: "Wipe",
      input: { folder: z.string() },
      annotations: { destructiveHint: true },
      run: ({ folder }) => `wiped ${folder}`,
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD });
  const client = await registerClient(app, { client_name: HOSTILE_NAME });
  const token = (await tokensFor(app, client)).access_token;
  const mcp = new Client({ name: "owner page test", version: "1.0.0" });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return { app, mcp, clientId: client.clientId };
}

async function waitFor(app: PersonalMcp) {
  for (let i = 0; i < 200; i++) {
    const pending = await app.confirmations.pending();
    if (pending.length) return pending[0]!;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no call is waiting");
}

Deno.test("the owner page lists waiting calls, saves an app's tool permissions and shows its calls", async () => {
  const { app, mcp, clientId } = await setup();
  try {
    await mcp.callTool({ name: "look", arguments: {} });
    const held = mcp.callTool({ name: "wipe", arguments: { folder: "<b>home</b>\u202e" } });
    held.catch(() => {}); // settled below; a failing assertion must not leave it dangling
    const record = await waitFor(app);
    const page = await signInOwner(app);
    assert.match(page.html, /Waiting for you/);
    assert.ok(page.html.includes(`/owner/confirm?id=${record.id}`), "the call's link is listed");
    assert.ok(!page.html.includes("<b>home</b>"), "arguments escaped");
    assert.ok(!page.html.includes("<img src=x>"), "the app's name escaped");
    const waiting = page.html.slice(page.html.indexOf("Waiting for you"));
    assert.ok(!waiting.slice(0, waiting.indexOf("</section>")).includes("\u0007"));
    assert.match(page.html, /<select name="tool\.wipe"[^>]*>.*<option value="ask" selected>/s);
    assert.match(page.html, /Recent tool calls/);
    assert.match(page.html, /<code><bdi>look<\/bdi><\/code><\/td><td class="ok">ok/);

    const saved = await postOwner(app, page, {
      action: "set-permissions",
      client: clientId,
      "tool.look": "deny",
      "tool.wipe": "ask",
    });
    assert.equal(saved.status, 303);
    const view = await app.permissions.show(clientId);
    assert.deepEqual(view?.tools.map((t) => [t.name, t.policy, t.source]), [
      ["look", "deny", "app"],
      ["wipe", "ask", "app"],
    ]);
    const denied = await mcp.callTool({ name: "look", arguments: {} });
    assert.equal(denied.isError, true);
    // A tool the server does not serve is refused, and nothing is saved.
    const refused = await postOwner(app, page, {
      action: "set-permissions",
      client: clientId,
      "tool.nope": "allow",
    });
    assert.match(refused.headers.get("location") ?? "", /permissions-refused/);
    // Forged from another site: refused before anything is read.
    const forged = await postOwner(app, page, {
      action: "set-permissions",
      client: clientId,
      "tool.look": "allow",
    }, { origin: "https://evil.example" });
    assert.equal(forged.status, 403);
    assert.equal((await app.permissions.show(clientId))?.tools[0]?.policy, "deny");
    await app.confirmations.decide(record.id, "decline", "command line");
    await held;
    const after = await openOwner(app, page.cookie);
    assert.ok(!after.html.includes("Waiting for you"), "nothing waits any more");
  } finally {
    await mcp.close();
    await app.close();
  }
});
