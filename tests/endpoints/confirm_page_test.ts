/**
 * The page of a held call: it shows the app, the tool and the arguments escaped; the
 * owner confirms with the password (the call then runs) or declines; a post from
 * another site, a form for another call, a form without this browser's cookie, a wrong
 * password and a replayed form each change nothing.
 */
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { z } from "zod";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { tool } from "../../transport/tools.ts";
import {
  BASE_URL,
  MCP_URL,
  openConfirm,
  PASSWORD,
  postConfirm,
  registerClient,
  tokensFor,
} from "../fixtures.ts";

async function setup() {
  const wiped: string[] = [];
  const app = createPersonalMcp({
    wipe: tool({
      description: "Wipes a folder",
      input: { folder: z.string() },
      annotations: { destructiveHint: true },
      run: ({ folder }) => {
        wiped.push(folder);
        return `wiped ${folder}`;
      },
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD });
  const client = await registerClient(app);
  const token = (await tokensFor(app, client)).access_token;
  const mcp = new Client({ name: "<b>Evil\u202e app</b>", version: "1.0.0" });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), {
      fetch: (input, init) => app.fetch(new Request(input, init)),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return { app, mcp, wiped };
}

async function held(app: PersonalMcp, count: number) {
  for (let i = 0; i < 200; i++) {
    const pending = await app.confirmations.pending();
    if (pending.length >= count) return pending;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no call is waiting");
}

Deno.test("the held call's page shows it escaped; the password confirms it once; forgeries change nothing", async () => {
  const { app, mcp, wiped } = await setup();
  try {
    const hostile = "<script>alert(1)</script>\u202e\u0007";
    const first = mcp.callTool({ name: "wipe", arguments: { folder: hostile } });
    const second = mcp.callTool({ name: "wipe", arguments: { folder: "/other" } });
    first.catch(() => {}); // both settled below; a failing assertion must not leave them dangling
    second.catch(() => {});
    // Two calls asked in the same millisecond come in either order: find each by its arguments.
    const waiting = await held(app, 2);
    const a = waiting.find((r) => r.preview.includes("script"));
    const b = waiting.find((r) => r.preview.includes("/other"));
    const page = await openConfirm(app, a!.id);
    assert.equal(page.response.status, 200);
    assert.ok(!page.html.includes("<script>alert"), "the arguments are escaped");
    assert.match(page.html, /&#60;script&#62;alert\(1\)/);
    assert.match(page.html, /<bdi>/);
    assert.ok(page.csrf && page.cookie);

    // From another site: refused before anything is read.
    const cross = await postConfirm(app, a!.id, page, { decision: "confirm", password: PASSWORD }, {
      origin: "https://evil.example",
    });
    assert.equal(cross.status, 403);
    // Without this browser's cookie (a form lifted into another browser).
    const noCookie = await postConfirm(app, a!.id, page, {
      decision: "confirm",
      password: PASSWORD,
    }, { cookie: null });
    assert.equal(noCookie.status, 403);
    // This call's form posted for another call.
    const other = await postConfirm(app, b!.id, page, { decision: "confirm", password: PASSWORD });
    assert.equal(other.status, 403);
    // Not the owner.
    const wrong = await postConfirm(app, a!.id, page, { decision: "confirm", password: "guess" });
    assert.equal(wrong.status, 401);
    assert.equal((await app.confirmations.pending()).length, 2, "nothing answered");
    assert.deepEqual(wiped, []);

    const ok = await postConfirm(app, a!.id, page, { decision: "confirm", password: PASSWORD });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.match(await ok.text(), /Confirmed/);
    const result = await first;
    assert.equal(result.isError, undefined);
    assert.deepEqual(wiped, [hostile]);
    // The same form again: answered once.
    const replay = await postConfirm(app, a!.id, page, { decision: "confirm", password: PASSWORD });
    assert.equal(replay.status, 409);
    await replay.body?.cancel();

    const pageB = await openConfirm(app, b!.id);
    const declined = await postConfirm(app, b!.id, pageB, {
      decision: "decline",
      password: PASSWORD,
    });
    assert.equal(declined.status, 200);
    await declined.body?.cancel();
    assert.equal((await second).isError, true);
    assert.deepEqual(wiped, [hostile], "the declined call never ran");

    const unknown = await openConfirm(app, "x".repeat(22));
    assert.equal(unknown.response.status, 404);
  } finally {
    await mcp.close();
    await app.close();
  }
});
