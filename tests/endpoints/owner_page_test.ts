/**
 * The owner page at /owner, in process: sign-in under the consent page's throttle, a
 * session cookie stored only as a hash, the connected apps with what the server
 * checked, Disconnect / Disconnect everything / Forget, the recent activity, and the
 * consent page's protections (no script, no framing, signed forms bound to a
 * SameSite=Strict cookie, Origin and Sec-Fetch-Site checks, everything escaped).
 */
import assert from "node:assert/strict";
import { hashSecret } from "../../core/crypto.ts";
import { OWNER_SESSION_TTL_MS } from "../../auth/endpoints/owner.ts";
import { FREE_FAILURES } from "../../auth/limits/throttle.ts";
import { pkcePair } from "../fixtures.ts";
import {
  authorizeUrl,
  BASE_URL,
  countUnder,
  LOOPBACK_REDIRECT,
  mcpStatus,
  openConsent,
  openOwner,
  postConsent,
  postOwner,
  refreshWith,
  registerClient,
  setCookieOf,
  signInOwner,
  snapshot,
  testServer,
  tokensFor,
} from "../fixtures.ts";

/** The value of a cookie from its `name=value`. */
function cookieValue(cookie: string): string {
  return cookie.slice(cookie.indexOf("=") + 1);
}

Deno.test("GET /owner shows a sign-in form that cannot be framed, cached or scripted, with a SameSite=Strict cookie scoped to /owner", async () => {
  const { app } = testServer();
  const page = await openOwner(app);
  const csp = page.response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /script-src/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /form-action 'self'(;|$)/);
  assert.equal(page.response.headers.get("x-frame-options"), "DENY");
  assert.equal(page.response.headers.get("cache-control"), "no-store");
  assert.doesNotMatch(page.html, /<script/i);
  assert.match(page.html, /<input type="password"[^>]*name="password"/);
  const cookie = page.response.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^pmcp-owner=[A-Za-z0-9_-]{43}; /);
  assert.match(cookie, /; Path=\/owner;/);
  assert.match(cookie, /; HttpOnly;/);
  assert.match(cookie, /; SameSite=Strict;/);
  assert.doesNotMatch(cookie, /Secure/, "no Secure on plain-http loopback");
});

Deno.test("on https the owner cookie is a Secure __Secure- cookie", async () => {
  const { app } = testServer({ baseUrl: "https://me.example.com" });
  const res = await app.fetch(new Request("https://me.example.com/owner"));
  await res.body?.cancel();
  const cookie = res.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^__Secure-pmcp-owner=/);
  assert.match(cookie, /; Secure$/);
});

Deno.test("signing in on /owner stores only the hash of a new session cookie, with an expiry", async () => {
  const { app, store } = testServer();
  const form = await openOwner(app);
  const res = await postOwner(app, form, {
    action: "sign-in",
    password: "owner-password-for-tests",
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), `${BASE_URL}/owner`);
  const session = setCookieOf(res)!;
  assert.notEqual(session, form.cookie, "a cookie planted before sign-in never becomes a session");
  const header = res.headers.get("set-cookie")!;
  assert.match(header, new RegExp(`Max-Age=${OWNER_SESSION_TTL_MS / 1000}`));
  const stored = await store.list<{ expiresAt: number }>(["owner", "session"]);
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0]!.key, ["owner", "session", await hashSecret(cookieValue(session))]);
  assert.ok(stored[0]!.value.expiresAt <= Date.now() + OWNER_SESSION_TTL_MS);
  assert.ok(!JSON.stringify(await store.list([])).includes(cookieValue(session)));
  const page = await openOwner(app, session);
  assert.match(page.html, /connected apps/);
});

Deno.test("a wrong password on /owner answers 401, is reported, and shares the consent page's throttle", async (t) => {
  const { app, store, events } = testServer();
  const form = await openOwner(app);
  const before = await snapshot(store);
  await t.step(`${FREE_FAILURES} wrong passwords are each answered 401`, async () => {
    for (let i = 0; i < FREE_FAILURES; i++) {
      const res = await postOwner(app, form, { action: "sign-in", password: "guess" + i }, {
        remoteAddress: "198.51.100.7",
      });
      const html = await res.text();
      assert.equal(res.status, 401);
      assert.match(html, /not the owner password/);
      assert.equal(res.headers.get("location"), null);
    }
    assert.equal(await snapshot(store), before, "no session was stored");
    const failures = events.filter((e) => e.type === "owner_login_failed");
    assert.equal(failures.length, FREE_FAILURES);
    assert.deepEqual(failures[0], {
      type: "owner_login_failed",
      clientAddress: "198.51.100.7",
      page: "owner",
    });
    assert.ok(!JSON.stringify(events).includes("guess0"), "the guess is not reported");
  });
  await t.step("then even the right password waits (429 with Retry-After)", async () => {
    const res = await postOwner(app, form, {
      action: "sign-in",
      password: "owner-password-for-tests",
    }, { remoteAddress: "198.51.100.7" });
    assert.equal(res.status, 429, await res.text());
    assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal(setCookieOf(res)?.startsWith("pmcp-owner=") && res.status === 429, true);
    assert.equal(await countUnder(store, "owner"), 0, "no session");
  });
  await t.step("the same address is throttled on the consent page too", async () => {
    const client = await registerClient(app);
    const { challenge } = await pkcePair();
    const page = await openConsent(app, authorizeUrl(client, challenge));
    const res = await postConsent(app, page, { remoteAddress: "198.51.100.7" });
    assert.equal(res.status, 429);
    await res.body?.cancel();
  });
  await t.step("another address signs in", async () => {
    await signInOwner(app, { remoteAddress: "198.51.100.8" });
  });
});

Deno.test("consent-page guesses count against /owner sign-in from the same address", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  for (let i = 0; i < FREE_FAILURES; i++) {
    const res = await postConsent(app, page, { password: "wrong", remoteAddress: "203.0.113.9" });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
  const form = await openOwner(app);
  const res = await postOwner(app, form, {
    action: "sign-in",
    password: "owner-password-for-tests",
  }, {
    remoteAddress: "203.0.113.9",
  });
  assert.equal(res.status, 429);
  await res.body?.cancel();
});

Deno.test("the owner page lists each connected app with what the server checked", async () => {
  const { app } = testServer();
  const client = await registerClient(app, {
    client_name: "Claude",
    redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
  });
  const local = await registerClient(app, {
    client_name: "Claude Code",
    redirect_uris: [LOOPBACK_REDIRECT],
    token_endpoint_auth_method: "none",
  });
  await tokensFor(app, client);
  const localTokens = await tokensFor(app, local);
  assert.equal(await mcpStatus(app, localTokens.access_token), 200);
  const idle = await registerClient(app, { client_name: "Never approved" });

  const page = await signInOwner(app);
  const cards = page.html.split('<section class="card"').slice(1);
  assert.equal(cards.length, 2, "one card per grant");
  const claude = cards.find((c) => c.includes(">Claude <"))!;
  assert.ok(claude, "the Claude card");
  assert.match(claude, /Claude <span class="given">\(name given by the app\)<\/span>/);
  assert.match(claude, new RegExp(`<dt>Client id</dt><dd>${client.clientId}</dd>`));
  assert.match(claude, /<dt>Sends codes to<\/dt><dd>claude\.ai<\/dd>/);
  assert.match(claude, /use your tools \(mcp\); stay connected without asking again/);
  assert.match(claude, /<dt>Approved<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\)/);
  assert.match(claude, /<dt>Last used<\/dt><dd>\d{4}-.* UTC \(just now\) from unknown/);
  assert.match(claude, /<span class="live">live<\/span>/);
  assert.match(claude, /name="action" value="disconnect"/);
  assert.match(claude, /name="action" value="forget"/);
  const code = cards.find((c) => c.includes("Claude Code"))!;
  assert.match(code, /an app on this computer \(127\.0\.0\.1:53682\)/);
  assert.match(page.html, /Registered apps without access/);
  assert.match(page.html, new RegExp(idle.clientId));
  assert.match(page.html, /Disconnect everything/);
  assert.match(page.html, /Recent activity/);
});

Deno.test("the owner page escapes everything a client sent", async () => {
  const { app } = testServer();
  const evil = `<script>alert(1)</script><img src=x onerror="alert(2)">"'&`;
  const client = await registerClient(app, { client_name: evil });
  await tokensFor(app, client);
  await registerClient(app, { client_name: `${evil} idle` });
  // A refused registration puts the client's own text into the activity log.
  const refused = await app.fetch(
    new Request(`${BASE_URL}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [`https://evil.example/<script>x</script>`] }),
    }),
    { remoteAddress: "192.0.2.66" },
  );
  assert.equal(refused.status, 400);
  await refused.body?.cancel();
  const page = await signInOwner(app);
  assert.doesNotMatch(page.html, /<script/i);
  assert.doesNotMatch(page.html, /<img/i);
  assert.match(page.html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.match(page.html, /onerror=&#34;alert\(2\)&#34;&#62;&#34;&#39;&#38;/);
  assert.match(page.html, /evil\.example\/&#60;script&#62;x/, "the refused URI is shown, escaped");
});

Deno.test("Disconnect revokes one app: its token gets 401 on the next call, another app keeps working", async () => {
  const { app, events } = testServer();
  const one = await registerClient(app, { client_name: "Old laptop" });
  const two = await registerClient(app, { client_name: "Phone" });
  const oneTokens = await tokensFor(app, one);
  const twoTokens = await tokensFor(app, two);
  assert.equal(await mcpStatus(app, oneTokens.access_token), 200);
  const page = await signInOwner(app);
  const grant = (await app.owner.listGrants()).find((g) => g.clientId === one.clientId)!;
  const res = await postOwner(app, page, { action: "disconnect", grant: grant.id });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), `${BASE_URL}/owner?done=disconnected`);
  assert.equal(await mcpStatus(app, oneTokens.access_token), 401);
  const refreshed = await refreshWith(app, one, oneTokens.refresh_token);
  assert.equal(refreshed.status, 400, "its refresh token died with it");
  await refreshed.body?.cancel();
  assert.equal(await mcpStatus(app, twoTokens.access_token), 200);
  const after = await openOwner(app, page.cookie, "?done=disconnected");
  assert.match(after.html, /Disconnected\. Its tokens no longer work\./);
  const cards = after.html.split('<section class="card"').slice(1);
  assert.deepEqual(cards.map((c) => /<h3>([^<]*) </.exec(c)?.[1]), ["Phone"]);
  assert.match(after.html, /Registered apps without access[\s\S]*Old laptop/);
  assert.ok(
    events.some((e) =>
      e.type === "grant_revoked" && e.grantId === grant.id && e.clientAddress === "192.0.2.20" &&
      e.clientId === one.clientId
    ),
  );
});

Deno.test("Disconnect everything revokes every grant, and only once its box is ticked", async () => {
  const { app } = testServer();
  const tokens = [];
  for (const name of ["a", "b", "c"]) {
    tokens.push(await tokensFor(app, await registerClient(app, { client_name: name })));
  }
  const page = await signInOwner(app);
  assert.match(page.html, /name="confirm" value="yes" required> Disconnect all 3 apps now/);
  const unconfirmed = await postOwner(app, page, { action: "disconnect-all" });
  assert.equal(unconfirmed.headers.get("location"), `${BASE_URL}/owner?done=confirm-all`);
  for (const t of tokens) assert.equal(await mcpStatus(app, t.access_token), 200);
  const res = await postOwner(app, page, { action: "disconnect-all", confirm: "yes" });
  assert.equal(res.status, 303);
  for (const t of tokens) assert.equal(await mcpStatus(app, t.access_token), 401);
  assert.deepEqual(await app.owner.listGrants(), []);
});

Deno.test("Forget removes a registered client and its grants: it can neither call nor refresh nor ask again", async () => {
  const { app } = testServer();
  const client = await registerClient(app, { client_name: "Forget me" });
  const other = await registerClient(app, { client_name: "Keep me" });
  const first = await tokensFor(app, client);
  const second = await tokensFor(app, client);
  const kept = await tokensFor(app, other);
  const page = await signInOwner(app);
  const res = await postOwner(app, page, { action: "forget", client: client.clientId });
  assert.equal(res.headers.get("location"), `${BASE_URL}/owner?done=forgotten`);
  assert.equal(await mcpStatus(app, first.access_token), 401);
  assert.equal(await mcpStatus(app, second.access_token), 401);
  assert.equal(await mcpStatus(app, kept.access_token), 200);
  const refreshed = await refreshWith(app, client, first.refresh_token);
  assert.equal(refreshed.status, 401, "an unknown client: invalid_client");
  await refreshed.body?.cancel();
  assert.equal((await app.owner.listClients()).some((c) => c.clientId === client.clientId), false);
  const { challenge } = await pkcePair();
  const consent = await app.fetch(new Request(authorizeUrl(client, challenge)));
  assert.equal(consent.status, 400, "the consent page no longer knows it");
  await consent.body?.cancel();
});

Deno.test("owner actions are refused when forged, and change nothing", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const tokens = await tokensFor(app, client);
  const page = await signInOwner(app);
  const grant = (await app.owner.listGrants())[0]!;
  const otherBrowser = await signInOwner(app);
  const signInForm = await openOwner(app);
  const cases: [string, () => Promise<Response>, number][] = [
    ["a foreign Origin", () =>
      postOwner(app, page, { action: "disconnect", grant: grant.id }, {
        origin: "https://evil.example",
      }), 403],
    [
      "Sec-Fetch-Site: cross-site",
      () =>
        postOwner(app, page, { action: "disconnect", grant: grant.id }, {
          origin: null,
          headers: { "sec-fetch-site": "cross-site" },
        }),
      403,
    ],
    [
      "Origin: null without Fetch Metadata",
      () => postOwner(app, page, { action: "disconnect", grant: grant.id }, { origin: "null" }),
      403,
    ],
    [
      "no cookie (SameSite=Strict keeps it off cross-site posts)",
      () => postOwner(app, page, { action: "disconnect", grant: grant.id }, { cookie: null }),
      403,
    ],
    [
      "another browser's form token",
      () =>
        postOwner(app, { csrf: otherBrowser.csrf, cookie: page.cookie }, {
          action: "disconnect",
          grant: grant.id,
        }),
      403,
    ],
    [
      "a sign-in form's token for an action",
      () =>
        postOwner(app, { csrf: signInForm.csrf, cookie: signInForm.cookie }, {
          action: "disconnect",
          grant: grant.id,
        }),
      403,
    ],
    ["a tampered form token", () =>
      postOwner(app, { csrf: page.csrf + "x", cookie: page.cookie }, {
        action: "disconnect-all",
      }), 403],
    ["an unknown action", () => postOwner(app, page, { action: "drop-tables" }), 400],
  ];
  for (const [why, send, status] of cases) {
    await t.step(`${why} -> ${status}`, async () => {
      const before = await snapshot(store);
      const res = await send();
      const html = await res.text();
      assert.equal(res.status, status, html.slice(0, 300));
      assert.equal(res.headers.get("location"), null);
      assert.equal(await snapshot(store), before);
      assert.equal(await mcpStatus(app, tokens.access_token), 200);
    });
  }
  await t.step("an expired session's forms do nothing and ask to sign in again", async () => {
    const realNow = Date.now;
    Date.now = () => realNow() + OWNER_SESSION_TTL_MS + 1000;
    try {
      const res = await postOwner(app, page, { action: "disconnect", grant: grant.id });
      const html = await res.text();
      assert.equal(res.status, 403);
      assert.match(html, /Sign in again/);
      assert.match(html, /type="password"/, "the sign-in form, not the apps");
      const again = await openOwner(app, page.cookie);
      assert.match(again.html, /type="password"/);
    } finally {
      Date.now = realNow;
    }
    assert.equal(await mcpStatus(app, tokens.access_token), 200);
  });
  await t.step("a signed-out session's forms do nothing", async () => {
    const out = await postOwner(app, otherBrowser, { action: "sign-out" });
    await out.body?.cancel();
    const res = await postOwner(app, otherBrowser, { action: "disconnect", grant: grant.id });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), `${BASE_URL}/owner?done=expired`);
    assert.equal(await mcpStatus(app, tokens.access_token), 200);
  });
});

Deno.test("signing out ends the owner session", async () => {
  const { app, store } = testServer();
  const page = await signInOwner(app);
  const res = await postOwner(app, page, { action: "sign-out" });
  assert.equal(res.status, 303);
  assert.match(res.headers.get("set-cookie") ?? "", /Max-Age=0/);
  assert.equal(await countUnder(store, "owner"), 0);
  const again = await openOwner(app, page.cookie);
  assert.match(again.html, /type="password"/);
});

Deno.test("the owner page shows recent activity with time, address and outcome", async () => {
  const { app } = testServer();
  const client = await registerClient(app, { client_name: "Activity app" });
  const { challenge } = await pkcePair();
  const consent = await openConsent(app, authorizeUrl(client, challenge));
  const wrong = await postConsent(app, consent, { password: "nope", remoteAddress: "192.0.2.99" });
  await wrong.body?.cancel();
  await tokensFor(app, client);
  const page = await signInOwner(app);
  // The activity table (the apps' tool tables come before it).
  const rows = page.html.slice(page.html.indexOf("Recent activity")).split("<tr>").slice(2);
  assert.ok(rows.length >= 5, page.html);
  const wrongRow = rows.find((r) => r.includes("wrong password<"))!;
  assert.match(
    wrongRow,
    /<td class="nowrap">192\.0\.2\.99<\/td><td class="bad">wrong password<\/td>/,
  );
  assert.ok(rows.some((r) => /class="ok">approved<\/td><td>Activity app</.test(r)));
  assert.ok(rows.some((r) => /class="ok">token issued</.test(r)));
  assert.ok(rows.some((r) => /class="ok">owner signed in</.test(r)));
  assert.match(rows[0]!, /^<td class="nowrap" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</);
});

Deno.test("the sign-in page and the consent page say where the owner password came from and how to reset it", async () => {
  const { app } = testServer();
  const note =
    /<p class="note" id="password-note">The owner password was printed when this server first started, unless it was set with PERSONAL_MCP_PASSWORD or --password\. Forgotten\? On the server's machine, the owner command <code>password<\/code> sets a new one/;
  const signIn = await openOwner(app);
  assert.match(signIn.html, note);
  assert.match(signIn.html, /aria-describedby="password-note"/);
  const client = await registerClient(app, { client_name: "Notes" });
  const { challenge } = await pkcePair();
  const consent = await openConsent(app, authorizeUrl(client, challenge));
  assert.match(consent.html, note);
  assert.match(consent.html, /aria-describedby="password-note"/);
});
