/**
 * The authorization endpoint: GET renders the consent page (or an error page until
 * client and redirect are known good), POST takes the owner's decision behind the
 * password, the consent cookie, an Origin check and a throttle.
 */
import assert from "node:assert/strict";
import { base64url, fromBase64url, hashSecret } from "../../core/crypto.ts";
import { createMemoryStore } from "../../store/memory.ts";
import {
  authorizeUrl,
  BASE_URL,
  CLAUDE_REDIRECT,
  continueLink,
  countUnder,
  decisionLanding,
  LOOPBACK_REDIRECT,
  MCP_URL,
  openConsent,
  PASSWORD,
  pkcePair,
  postConsent,
  registerClient,
  snapshot,
  testServer,
} from "../fixtures.ts";

/** Parses the Location of a redirect answer. */
function locationOf(res: Response): URL {
  const location = res.headers.get("location");
  assert.ok(location, `a Location header on a ${res.status}`);
  return new URL(location);
}

/** The HTML error page the owner sees instead of a redirect. */
async function assertErrorPage(res: Response, status: number): Promise<string> {
  const html = await res.text();
  assert.equal(res.status, status, html.slice(0, 300));
  assert.equal(res.headers.get("location"), null, "an error page, not a redirect");
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  return html;
}

Deno.test("GET /authorize shows an error page, never a redirect, until client and redirect are valid", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const two = await registerClient(app, {
    redirect_uris: [CLAUDE_REDIRECT, "https://claude.com/api/mcp/auth_callback"],
  });
  const { challenge } = await pkcePair();
  const cases: [why: string, url: string][] = [
    ["client_id missing", authorizeUrl(client, challenge, { client_id: undefined })],
    ["client_id unknown", authorizeUrl(client, challenge, { client_id: "no-such-client" })],
    [
      "redirect_uri not registered",
      authorizeUrl(client, challenge, { redirect_uri: "https://evil.example/cb" }),
    ],
    [
      "redirect_uri a lookalike of the registered one",
      authorizeUrl(client, challenge, { redirect_uri: `${CLAUDE_REDIRECT}.evil.example` }),
    ],
    [
      "redirect_uri registered by another client",
      authorizeUrl(client, challenge, { redirect_uri: "https://claude.com/api/mcp/auth_callback" }),
    ],
    [
      "redirect_uri omitted while two are registered",
      authorizeUrl(two, challenge, { redirect_uri: undefined }),
    ],
    [
      "client_id sent twice",
      `${authorizeUrl(client, challenge)}&client_id=${client.clientId}`,
    ],
    [
      "an unknown client and also no code_challenge",
      authorizeUrl(client, challenge, { client_id: "nope", code_challenge: undefined }),
    ],
  ];
  for (const [why, url] of cases) {
    await t.step(why, async () => {
      const before = await snapshot(store);
      const html = await assertErrorPage(await app.fetch(new Request(url)), 400);
      assert.doesNotMatch(html, /name="password"/, "no consent form");
      assert.equal(await snapshot(store), before);
    });
  }
});

Deno.test("GET /authorize refuses a registered redirect the owner no longer allows", async () => {
  const store = createMemoryStore();
  const before = testServer({ store, allowedRedirects: ["https://example.com"] });
  const client = await registerClient(before.app, { redirect_uris: ["https://example.com/cb"] });
  const after = testServer({ store }); // default allowlist: example.com is not on it
  const { challenge } = await pkcePair();
  await assertErrorPage(await after.app.fetch(new Request(authorizeUrl(client, challenge))), 400);
});

Deno.test("GET /authorize redirects errors with error, state and iss once the redirect is valid", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const cases: [why: string, params: Record<string, string | undefined>, error: string][] = [
    ["code_challenge missing", { code_challenge: undefined }, "invalid_request"],
    ["code_challenge_method plain", { code_challenge_method: "plain" }, "invalid_request"],
    // RFC 7636 4.3: a missing method means plain.
    ["code_challenge_method missing", { code_challenge_method: undefined }, "invalid_request"],
    ["code_challenge malformed", { code_challenge: "too-short" }, "invalid_request"],
    ["code_challenge too long", { code_challenge: "a".repeat(44) }, "invalid_request"],
    ["response_type token", { response_type: "token" }, "unsupported_response_type"],
    [
      "response_type code id_token",
      { response_type: "code id_token" },
      "unsupported_response_type",
    ],
    ["resource of another server", { resource: "https://other.example/mcp" }, "invalid_target"],
    ["resource another path here", { resource: `${BASE_URL}/other` }, "invalid_target"],
    ["resource not a URL", { resource: "mcp" }, "invalid_target"],
    ["state too long", { state: "s".repeat(2001) }, "invalid_request"],
  ];
  for (const [why, params, error] of cases) {
    await t.step(`${why} -> ${error}`, async () => {
      const before = await snapshot(store);
      const res = await app.fetch(new Request(authorizeUrl(client, challenge, params)));
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("cache-control"), "no-store");
      const location = locationOf(res);
      assert.equal(`${location.origin}${location.pathname}`, CLAUDE_REDIRECT);
      assert.equal(location.searchParams.get("error"), error);
      assert.equal(location.searchParams.get("iss"), BASE_URL);
      assert.equal(location.searchParams.get("code"), null);
      if (why !== "state too long") assert.equal(location.searchParams.get("state"), "state-123");
      assert.equal(res.headers.get("set-cookie"), null, "no consent cookie on an error");
      assert.equal(await snapshot(store), before);
    });
  }
  await t.step("an error without state carries no state", async () => {
    const res = await app.fetch(
      new Request(authorizeUrl(client, challenge, { state: undefined, code_challenge: undefined })),
    );
    const location = locationOf(res);
    assert.equal(location.searchParams.get("error"), "invalid_request");
    assert.equal(location.searchParams.has("state"), false);
    assert.equal(location.searchParams.get("iss"), BASE_URL);
  });
});

// BUG: auth/authorize.ts handleAuthorizeGet answers a missing response_type with
// unsupported_response_type; RFC 6749 4.1.2.1 makes a missing required parameter
// invalid_request (unsupported_response_type is for a value the server does not support).
Deno.test({
  name: "GET /authorize answers a missing response_type with invalid_request",
  ignore: false,
  fn: async () => {
    const { app } = testServer();
    const client = await registerClient(app);
    const { challenge } = await pkcePair();
    const res = await app.fetch(
      new Request(authorizeUrl(client, challenge, { response_type: undefined })),
    );
    assert.equal(locationOf(res).searchParams.get("error"), "invalid_request");
  },
});

Deno.test("the consent page escapes the client name and names where the code goes", async () => {
  const { app } = testServer();
  const client = await registerClient(app, { client_name: "<script>alert(1)</script>" });
  const { challenge } = await pkcePair();
  const { html } = await openConsent(app, authorizeUrl(client, challenge));
  assert.ok(!html.includes("<script>alert(1)</script>"), "the name is not raw HTML");
  assert.ok(!/<script/i.test(html), "the page has no script element at all");
  assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.match(html, /<dd>claude\.ai<\/dd>/, "the redirect host is shown");
  assert.match(html, /<input type="password"[^>]*name="password"/);
  assert.match(html, /<button type="submit" name="decision" value="approve"/);
  assert.match(html, /<button type="submit" name="decision" value="deny"/);
});

Deno.test("the consent page describes a loopback redirect as an app on this computer", async () => {
  const { app } = testServer();
  const client = await registerClient(app, {
    redirect_uris: [LOOPBACK_REDIRECT],
    token_endpoint_auth_method: "none",
  });
  const { challenge } = await pkcePair();
  const { html } = await openConsent(app, authorizeUrl(client, challenge));
  assert.match(html, /an app on this computer \(127\.0\.0\.1:53682\)/);
});

Deno.test("the consent page cannot be framed, cached or scripted, and sets the consent cookie", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const { response } = await openConsent(app, authorizeUrl(client, challenge));
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /script-src/);
  // The form posts only to us; the decision's answer navigates on by itself.
  assert.match(csp, /form-action 'self'(;|$)/);
  assert.equal(response.headers.get("x-frame-options"), "DENY");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
  const cookie = response.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^pmcp-consent=[A-Za-z0-9_-]{43};/);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\//);
});

Deno.test("on https the consent cookie is a Secure __Host- cookie", async () => {
  const { app } = testServer({ baseUrl: "https://me.example.com" });
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const url = authorizeUrl(client, challenge, { resource: "https://me.example.com/mcp" })
    .replace(BASE_URL, "https://me.example.com");
  const res = await app.fetch(new Request(url));
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const cookie = res.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^__Host-pmcp-consent=/);
  assert.match(cookie, /; Secure/);
});

Deno.test("the consent page grants the offered scopes a client asks for, or all when it asks none", async (t) => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const cases: [asked: string | undefined, shown: string][] = [
    [undefined, "mcp offline_access"],
    ["", "mcp offline_access"],
    ["mcp", "mcp"],
    // The scope that opens /mcp is part of every grant.
    ["offline_access", "mcp offline_access"],
    ["mcp admin", "mcp"],
    ["admin", "mcp offline_access"],
  ];
  for (const [asked, shown] of cases) {
    await t.step(`${JSON.stringify(asked)} -> ${shown}`, async () => {
      const { html } = await openConsent(app, authorizeUrl(client, challenge, { scope: asked }));
      // Each scope is shown in words with its name in parentheses.
      const access = /<dt>Access<\/dt><dd>(.*?)<\/dd>/.exec(html)?.[1] ?? "";
      const names = [...access.matchAll(/\(([^)]+)\)/g)].map((m) => m[1]).join(" ");
      assert.equal(names, shown, access);
    });
  }
});

Deno.test("GET /authorize accepts the resource as the MCP URL or the bare origin", async (t) => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  for (const resource of [MCP_URL, `${MCP_URL}/`, BASE_URL, `${BASE_URL}/`, undefined]) {
    await t.step(String(resource), async () => {
      await openConsent(app, authorizeUrl(client, challenge, { resource }));
    });
  }
});

Deno.test("POST /authorize with the right password redirects with code, state and iss", async () => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const res = await postConsent(app, page);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const location = await decisionLanding(res);
  assert.equal(`${location.origin}${location.pathname}`, CLAUDE_REDIRECT);
  const code = location.searchParams.get("code");
  assert.ok(code && code.length >= 43);
  assert.equal(location.searchParams.get("state"), "state-123");
  assert.equal(location.searchParams.get("iss"), BASE_URL);
  assert.equal(location.searchParams.get("error"), null);
  assert.ok(await store.get(["code", await hashSecret(code)]), "the code is stored by its hash");
  assert.ok(!JSON.stringify(await store.list([])).includes(code), "never the raw code");
  // The consent cookie is kept: another consent page in the same browser may need it.
  // The one cookie set marks this browser as the owner's (a device cookie).
  const cookies = res.headers.getSetCookie();
  assert.equal(cookies.length, 1, cookies.join("\n"));
  assert.match(cookies[0]!, /^pmcp-device=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; /);
});

Deno.test("the decision for an http(s) redirect is a page that navigates on by itself, so the callback may redirect again", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  for (const decision of ["approve", "deny"]) {
    const page = await openConsent(app, authorizeUrl(client, challenge));
    const res = await postConsent(app, page, { decision });
    const html = await res.text();
    // Not a redirect of the form post: Chrome would check every later hop against
    // form-action (claude.ai's callback goes on to claude://).
    assert.equal(res.status, 200, html.slice(0, 300));
    assert.equal(res.headers.get("location"), null);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /form-action 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(html, /<script/i);
    const target = new URL(continueLink(html)!);
    assert.equal(`${target.origin}${target.pathname}`, CLAUDE_REDIRECT);
    assert.equal(target.searchParams.get("iss"), BASE_URL);
    assert.equal(target.searchParams.get("state"), "state-123");
    assert.ok(
      decision === "approve"
        ? target.searchParams.get("code")
        : target.searchParams.get("error") === "access_denied",
    );
    assert.match(html, /Returning you to claude\.ai/);
  }
});

Deno.test("the decision for an app's custom scheme is a 303, which the consent page's form-action names", async () => {
  const { app } = testServer();
  const redirect = "cursor://anysphere.cursor-mcp/oauth/callback";
  const client = await registerClient(app, {
    redirect_uris: [redirect],
    token_endpoint_auth_method: "none",
  });
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  assert.match(
    page.response.headers.get("content-security-policy") ?? "",
    /form-action 'self' cursor:(;|$)/,
  );
  const res = await postConsent(app, page);
  assert.equal(res.status, 303);
  const location = locationOf(res);
  assert.equal(`${location.protocol}//${location.host}${location.pathname}`, redirect);
  assert.ok(location.searchParams.get("code"));
});

Deno.test("POST /authorize sends the code to the loopback port the client asked for", async () => {
  const { app } = testServer();
  const client = await registerClient(app, {
    redirect_uris: [LOOPBACK_REDIRECT],
    token_endpoint_auth_method: "none",
  });
  const { challenge } = await pkcePair();
  const page = await openConsent(
    app,
    authorizeUrl(client, challenge, { redirect_uri: "http://127.0.0.1:40123/callback" }),
  );
  const location = await decisionLanding(await postConsent(app, page));
  assert.equal(`${location.origin}${location.pathname}`, "http://127.0.0.1:40123/callback");
  assert.ok(location.searchParams.get("code"));
});

Deno.test("POST /authorize without an Origin header (a same-origin form in some browsers) works", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const res = await postConsent(app, page, { origin: null });
  assert.ok((await decisionLanding(res)).searchParams.get("code"));
});

Deno.test("POST /authorize with a wrong password answers 401 and issues no code", async () => {
  const { app, store, events } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const before = await snapshot(store);
  const res = await postConsent(app, page, { password: "not the password" });
  const html = await assertErrorPage(res, 401);
  assert.match(html, /not the owner password/);
  assert.match(html, /name="request"/, "the form is shown again to retry");
  assert.equal(await snapshot(store), before);
  assert.equal(await countUnder(store, "code"), 0);
  assert.deepEqual(events.filter((e) => e.type === "owner_login_failed"), [
    { type: "owner_login_failed", clientAddress: "192.0.2.10", page: "consent" },
  ]);
  assert.ok(!JSON.stringify(events).includes("not the password"), "the guess is not reported");
});

Deno.test("POST /authorize with Deny redirects with access_denied, state and iss", async () => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const before = await snapshot(store);
  const res = await postConsent(app, page, { decision: "deny", password: "" });
  const location = await decisionLanding(res);
  assert.equal(`${location.origin}${location.pathname}`, CLAUDE_REDIRECT);
  assert.equal(location.searchParams.get("error"), "access_denied");
  assert.equal(location.searchParams.get("state"), "state-123");
  assert.equal(location.searchParams.get("iss"), BASE_URL);
  assert.equal(location.searchParams.get("code"), null);
  assert.equal(await snapshot(store), before);
});

/** Re-signs a consent request payload with the server's key, as only the server could. */
async function resign(
  signingKey: string,
  request: string,
  change: (p: Record<string, unknown>) => void,
) {
  const [payload] = request.split(".");
  const pending = JSON.parse(new TextDecoder().decode(fromBase64url(payload!)));
  change(pending);
  const newPayload = base64url(new TextEncoder().encode(JSON.stringify(pending)));
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64url(signingKey) as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(newPayload));
  return `${newPayload}.${base64url(new Uint8Array(mac))}`;
}

Deno.test("POST /authorize refuses forged, cross-site and cookie-less posts and issues no code", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const other = await openConsent(app, authorizeUrl(client, challenge));
  const signingKey = await store.get<string>(["server", "signing-key"]);
  assert.ok(signingKey, "the consent page created the signing key");
  const [payload, mac] = page.request.split(".");
  const swapped = JSON.parse(new TextDecoder().decode(fromBase64url(payload!)));
  swapped.redirectUri = "https://evil.example/cb";
  const tampered = `${base64url(new TextEncoder().encode(JSON.stringify(swapped)))}.${mac}`;
  const expired = await resign(signingKey, page.request, (p) => {
    p.expiresAt = Date.now() - 1000;
  });

  const cases: [why: string, options: Parameters<typeof postConsent>[2], status: number][] = [
    ["no cookie", { cookie: null }, 403],
    ["a wrong cookie value", { cookie: "pmcp-consent=AAAA" }, 403],
    ["the cookie of another consent page", { cookie: other.cookie }, 403],
    ["the cookie under another name", { cookie: page.cookie.replace("pmcp-", "x-") }, 403],
    ["a foreign Origin", { origin: "https://evil.example" }, 403],
    ["Origin null (sandboxed or opaque)", { origin: "null" }, 403],
    ["a loopback Origin that is not this server", { origin: "http://localhost:8787" }, 403],
    ["Sec-Fetch-Site cross-site", { headers: { "sec-fetch-site": "cross-site" } }, 403],
    ["Sec-Fetch-Site same-site (a sibling subdomain)", {
      headers: { "sec-fetch-site": "same-site" },
    }, 403],
    ["a tampered request field", { request: tampered }, 400],
    ["a request field with a broken MAC", { request: `${payload}.${mac}x` }, 400],
    ["a request field without a MAC", { request: payload }, 400],
    ["an empty request field", { request: "" }, 400],
    ["an expired request field", { request: expired }, 400],
    ["no decision", { decision: "" }, 400],
    ["an unknown decision", { decision: "maybe" }, 400],
  ];
  for (const [why, options, status] of cases) {
    await t.step(`${why} -> ${status}`, async () => {
      const before = await snapshot(store);
      await assertErrorPage(await postConsent(app, page, options), status);
      assert.equal(await snapshot(store), before);
      assert.equal(await countUnder(store, "code"), 0);
    });
  }
  await t.step("the untouched form still works afterwards", async () => {
    assert.ok((await decisionLanding(await postConsent(app, page))).searchParams.get("code"));
  });
});

Deno.test({
  name: "POST /authorize: two consent pages open in one browser can each be approved",
  fn: async () => {
    const { app } = testServer();
    const client = await registerClient(app);
    const { challenge } = await pkcePair();
    const first = await openConsent(app, authorizeUrl(client, challenge));
    const second = await openConsent(app, authorizeUrl(client, challenge), first.cookie);
    // The browser's cookie jar holds what the last page set.
    const jar = second.cookie;
    assert.equal(second.cookie, first.cookie, "the browser's cookie is reused, not replaced");
    for (const page of [first, second]) {
      const res = await postConsent(app, page, { cookie: jar });
      assert.ok((await decisionLanding(res)).searchParams.get("code"));
    }
  },
});

Deno.test("POST /authorize refuses a body that is not a form, or too large", async (t) => {
  const { app, store } = testServer({ maxBodyBytes: 2048 });
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const post = (body: string, contentType: string) =>
    app.fetch(
      new Request(`${BASE_URL}/authorize`, {
        method: "POST",
        headers: { "content-type": contentType, cookie: page.cookie, origin: BASE_URL },
        body,
      }),
      { remoteAddress: "192.0.2.10" },
    );
  const form = new URLSearchParams({
    request: page.request,
    password: PASSWORD,
    decision: "approve",
  })
    .toString();
  const cases: [why: string, body: string, contentType: string, status: number][] = [
    ["JSON instead of a form", JSON.stringify({ request: page.request }), "application/json", 400],
    ["a repeated field", `${form}&decision=deny`, "application/x-www-form-urlencoded", 400],
    [
      "a body over maxBodyBytes",
      `${form}&pad=${"x".repeat(4096)}`,
      "application/x-www-form-urlencoded",
      413,
    ],
  ];
  for (const [why, body, contentType, status] of cases) {
    await t.step(`${why} -> ${status}`, async () => {
      const before = await snapshot(store);
      await assertErrorPage(await post(body, contentType), status);
      assert.equal(await snapshot(store), before);
    });
  }
});

Deno.test("POST /authorize throttles password guesses per address", async (t) => {
  const { app, store } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const attacker = "198.51.100.7";
  await t.step("five wrong passwords are each answered 401", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await postConsent(app, page, { password: `guess ${i}`, remoteAddress: attacker });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
  });
  await t.step(
    "the sixth try gets 429 with Retry-After, even with the right password",
    async () => {
      const before = await snapshot(store);
      const res = await postConsent(app, page, { remoteAddress: attacker });
      const html = await assertErrorPage(res, 429);
      assert.match(html, /Too many wrong passwords/);
      const retryAfter = Number(res.headers.get("retry-after"));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${retryAfter}`);
      assert.equal(await snapshot(store), before);
    },
  );
  await t.step("another address still gets its code", async () => {
    const res = await postConsent(app, page, { remoteAddress: "198.51.100.8" });
    assert.ok((await decisionLanding(res)).searchParams.get("code"));
  });
});

Deno.test("POST /authorize: a right password clears an address's earlier failures", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const owner = "203.0.113.9";
  for (let i = 0; i < 4; i++) {
    const res = await postConsent(app, page, { password: "typo", remoteAddress: owner });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
  const approved = await postConsent(app, page, { remoteAddress: owner });
  assert.ok((await decisionLanding(approved)).searchParams.get("code"));
  for (let i = 0; i < 4; i++) {
    const res = await postConsent(app, page, { password: "typo", remoteAddress: owner });
    assert.equal(res.status, 401, `failure ${i + 1} after a success is not yet throttled`);
    await res.body?.cancel();
  }
});

Deno.test("POST /authorize behind a trusted proxy throttles the right-most X-Forwarded-For", async (t) => {
  const { app } = testServer({ trustProxy: true });
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  const proxy = "10.0.0.1";
  for (let i = 0; i < 5; i++) {
    const res = await postConsent(app, page, {
      password: "guess",
      remoteAddress: proxy,
      // The left entries are whatever the client claimed; only the last is the proxy's.
      headers: { "x-forwarded-for": `192.0.2.${i}, 198.51.100.7` },
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
  await t.step("a spoofed left-hand entry does not escape the throttle", async () => {
    const res = await postConsent(app, page, {
      remoteAddress: proxy,
      headers: { "x-forwarded-for": "203.0.113.99, 198.51.100.7" },
    });
    assert.equal(res.status, 429);
    await res.body?.cancel();
  });
  await t.step("another client behind the same proxy is not throttled", async () => {
    const res = await postConsent(app, page, {
      remoteAddress: proxy,
      headers: { "x-forwarded-for": "198.51.100.8" },
    });
    assert.ok((await decisionLanding(res)).searchParams.get("code"));
  });
});

Deno.test("POST /authorize ignores X-Forwarded-For unless trustProxy is set", async () => {
  const { app } = testServer();
  const client = await registerClient(app);
  const { challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge));
  for (let i = 0; i < 5; i++) {
    const res = await postConsent(app, page, {
      password: "guess",
      remoteAddress: "198.51.100.7",
      headers: { "x-forwarded-for": `192.0.2.${i}` },
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
  const res = await postConsent(app, page, {
    remoteAddress: "198.51.100.7",
    headers: { "x-forwarded-for": "192.0.2.200" },
  });
  assert.equal(res.status, 429);
  await res.body?.cancel();
});
