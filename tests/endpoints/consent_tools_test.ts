/**
 * The consent page shows the tools the app will get, grouped by server and marked
 * read-only, writes or destructive, with the policy each will have; the owner changes
 * one before approving with the plain form, and the new grant starts from that choice
 * (only the changed tool is kept as a decision: the rest follow the owner's defaults).
 * A new grant of the same app starts from the app's earlier decisions.
 */
import assert from "node:assert/strict";
import { createPersonalMcp } from "../../server/create.ts";
import { tool } from "../../transport/tools.ts";
import {
  authorizeUrl,
  BASE_URL,
  decisionLanding,
  exchangeCode,
  mcpPost,
  openConsent,
  PASSWORD,
  pkcePair,
  postConsent,
  registerClient,
  tokenSet,
} from "../fixtures.ts";

Deno.test("the consent page lists the tools with their policy, and the owner's change before approving holds", async () => {
  const app = createPersonalMcp({
    look: tool({ description: "Look", annotations: { readOnlyHint: true }, run: () => "seen" }),
    note: tool({ description: "Note", run: () => "noted" }),
    wipe: tool({ description: "Wipe", annotations: { destructiveHint: true }, run: () => "wiped" }),
  }, { baseUrl: BASE_URL, password: PASSWORD });
  try {
    const client = await registerClient(app);
    const { verifier, challenge } = await pkcePair();
    const page = await openConsent(app, authorizeUrl(client, challenge));
    assert.match(page.html, /Tools this app will get \(3\)/);
    assert.match(page.html, /<bdi>look<\/bdi><\/code><\/td><td>reads only<\/td>/);
    assert.match(page.html, /<bdi>wipe<\/bdi><\/code><\/td><td>may delete or overwrite<\/td>/);
    assert.match(
      page.html,
      /<select name="tool\.wipe"[^>]*><option value="allow">allow<\/option><option value="ask" selected>/,
    );
    const landing = await decisionLanding(
      await postConsent(app, page, {
        fields: { "tool.look": "deny", "tool.note": "allow", "tool.wipe": "ask" },
      }),
    );
    const code = landing.searchParams.get("code")!;
    const tokens = await tokenSet(await exchangeCode(app, client, code, verifier));
    const view = await app.permissions.show(client.clientId);
    assert.deepEqual(view?.tools.map((t) => [t.name, t.policy, t.source]), [
      ["look", "deny", "app"],
      ["note", "allow", "annotations"],
      ["wipe", "ask", "annotations"],
    ]);
    const listed = await mcpPost(app, { jsonrpc: "2.0", id: 1, method: "tools/list" }, {
      authorization: `Bearer ${tokens.access_token}`,
      accept: "application/json",
    });
    const names = (await listed.json()).result.tools.map((t: { name: string }) => t.name);
    assert.deepEqual(names.sort(), ["note", "wipe"]);

    // A new grant of the same app: the page starts from the app's decision.
    const again = await openConsent(app, authorizeUrl(client, (await pkcePair()).challenge));
    assert.match(
      again.html,
      /<select name="tool\.look"[^>]*><option value="allow">allow<\/option><option value="ask">ask<\/option><option value="deny" selected>/,
    );
  } finally {
    await app.close();
  }
});
