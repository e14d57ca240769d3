/**
 * The page of a held call: it shows the app, the tool and the arguments escaped; the
 * owner confirms with the password (the call then runs) or declines; a post from
 * another site, a form for another call, a form without this browser's cookie, a wrong
 * password and a replayed form each change nothing.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { tool } from "../../transport/tools.ts";
import {
  authorizeUrl,
  BASE_URL,
  decisionLanding,
  enrolThroughLink,
  exchangeCode,
  formField,
  openConfirm,
  openConsent,
  PASSKEY_BASE_URL,
  passkeyOptionsOf,
  PASSWORD,
  pkcePair,
  postConfirm,
  postConsent,
  registerClient,
  sdkClientOf,
  setCookieOf,
  softAuthenticator,
  tokenSet,
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
  const mcp = await sdkClientOf(app, token, "<b>Evil\u202e app</b>");
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
    assert.equal(ok.status, 200, (await ok.clone().text()).replace(/<style[^]*<\/style>/, ""));
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

Deno.test("a passkey confirms a held call on its page; an assertion for another origin does not", async () => {
  const app = createPersonalMcp({
    wipe: tool({
      description: "Wipes",
      annotations: { destructiveHint: true },
      run: () => "wiped",
    }),
  }, { baseUrl: PASSKEY_BASE_URL, password: PASSWORD });
  const key = await softAuthenticator();
  const { url } = await app.owner.createPasskeyLink("Laptop");
  assert.equal((await enrolThroughLink((r) => app.fetch(r), url, key)).status, 200);
  const client = await registerClient(app);
  const { verifier, challenge } = await pkcePair();
  const resource = `${PASSKEY_BASE_URL}/mcp`;
  const consent = await openConsent(app, authorizeUrl(client, challenge, { resource }));
  const landing = await decisionLanding(
    await postConsent(app, consent, { origin: PASSKEY_BASE_URL }),
  );
  const code = landing.searchParams.get("code")!;
  const token = (await tokenSet(await exchangeCode(app, client, code, verifier, { resource })))
    .access_token;
  const call = app.fetch(
    new Request(`${PASSKEY_BASE_URL}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json",
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "wipe", arguments: {} },
      }),
    }),
  );
  try {
    const [record] = await held(app, 1);
    const open = async () => {
      const res = await app.fetch(
        new Request(`${PASSKEY_BASE_URL}/owner/confirm?id=${record!.id}`),
      );
      const html = await res.text();
      return { html, cookie: setCookieOf(res)!, csrf: formField(html, "csrf")! };
    };
    const post = (page: { cookie: string; csrf: string }, credential: string) =>
      app.fetch(
        new Request(`${PASSKEY_BASE_URL}/owner/confirm?id=${record!.id}`, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            origin: PASSKEY_BASE_URL,
            cookie: page.cookie,
          },
          body: new URLSearchParams({ csrf: page.csrf, decision: "passkey", credential }),
        }),
      );
    const page = await open();
    assert.match(page.html, /Confirm with passkey/);
    const options = passkeyOptionsOf(page.html)!;
    const forged = await post(page, await key.assert(options, { origin: "https://evil.example" }));
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
    assert.equal((await app.confirmations.pending()).length, 1, "still waiting");
    const again = await open();
    const ok = await post(
      again,
      await key.assert(passkeyOptionsOf(again.html)!, {
        origin: PASSKEY_BASE_URL,
      }),
    );
    assert.equal(ok.status, 200, (await ok.clone().text()).replace(/<style[^]*<\/style>/, ""));
    await ok.body?.cancel();
    const answer = await (await call).json();
    assert.equal(answer.result.content[0].text, "wiped");
    assert.equal((await app.audit.query())[0]?.outcome, "confirmed");
  } finally {
    await app.close();
  }
});
