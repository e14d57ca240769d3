/**
 * Owner passkeys in process (`app.fetch`), with a software authenticator answering the
 * pages' WebAuthn options and the server's real verifier (`@simplewebauthn/server`)
 * checking them: enrolment through a one-time link, "Approve with passkey" end to end
 * (code -> token -> tools/call), the owner page's passkey sign-in and list, removing the
 * password, and every refusal (replay, another origin or RP ID, an unknown passkey, no
 * user verification, a bad signature, another page's challenge, a counter that goes
 * backwards, a used or expired link). These tests run under Bun too
 * (tests/e2e/bun_in_process_test.ts); the browser's own passkeys are in
 * tests/e2e/passkey_browser_test.ts.
 */
import assert from "node:assert/strict";
import { FREE_FAILURES } from "../../auth/limits/throttle.ts";
import { ensureOwnerPassword } from "../../auth/owner/password.ts";
import { PASSKEY_LINK_TTL_MS } from "../../auth/owner/passkeys.ts";
import { keys } from "../../store/keys.ts";
import {
  advanceClock,
  authorizeUrl,
  callHello,
  type ConsentPage,
  countUnder,
  decisionLanding,
  enrolThroughLink,
  exchangeCode,
  formField,
  openConsent,
  openOwner,
  PASSKEY_BASE_URL,
  passkeyOptionsOf,
  PASSWORD,
  pkcePair,
  postConsent,
  postOwner,
  registerClient,
  resetClock,
  rpcMessage,
  setCookieOf,
  snapshot,
  type SoftAuthenticator,
  softAuthenticator,
  type TestClient,
  type TestServer,
  testServer,
} from "../fixtures.ts";

const ORIGIN = PASSKEY_BASE_URL;
const RESOURCE = `${PASSKEY_BASE_URL}/mcp`;

function passkeyServer(options: Parameters<typeof testServer>[0] = {}): TestServer {
  return testServer({ baseUrl: PASSKEY_BASE_URL, ...options });
}

/** Enrols a new software passkey through a freshly minted link. */
async function enrol(server: TestServer, name = "Laptop", counter = 0): Promise<SoftAuthenticator> {
  const authenticator = await softAuthenticator(counter);
  const { url } = await server.app.owner.createPasskeyLink(name);
  const res = await enrolThroughLink((r) => server.app.fetch(r), url, authenticator);
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 400));
  assert.match(html, /Passkey added/);
  return authenticator;
}

interface Consent {
  client: TestClient;
  verifier: string;
  page: ConsentPage;
  /** The page's `navigator.credentials.get()` options. */
  options: string;
}

async function consent(server: TestServer, client?: TestClient): Promise<Consent> {
  client ??= await registerClient(server.app);
  const { verifier, challenge } = await pkcePair();
  const page = await openConsent(
    server.app,
    authorizeUrl(client, challenge, { resource: RESOURCE }),
  );
  const options = passkeyOptionsOf(page.html);
  assert.ok(options, "the consent page offers a passkey");
  return { client, verifier, page, options };
}

/** Posts "Approve with passkey" as the owner's browser on this origin. */
async function approveWith(
  server: TestServer,
  page: ConsentPage,
  credential: string,
  remoteAddress = "192.0.2.10",
): Promise<Response> {
  return await postConsent(server.app, page, {
    decision: "passkey",
    password: "",
    origin: ORIGIN,
    fields: { credential },
    remoteAddress,
  });
}

function loginFailures(server: TestServer) {
  return server.events.filter((e) => e.type === "owner_login_failed");
}

Deno.test("a one-time link enrols one passkey; a used, expired or made-up link enrols nothing", async (t) => {
  const server = passkeyServer();
  const fetcher = (r: Request) => server.app.fetch(r);
  try {
    const { url, expiresAt } = await server.app.owner.createPasskeyLink("Laptop");
    const token = new URL(url).searchParams.get("token")!;

    await t.step(
      "the link is <baseUrl>/owner/passkey?token=..., valid 15 minutes; only its hash is stored",
      async () => {
        assert.ok(url.startsWith(`${PASSKEY_BASE_URL}/owner/passkey?token=`), url);
        assert.equal(PASSKEY_LINK_TTL_MS, 15 * 60 * 1000);
        assert.ok(Math.abs(expiresAt - (Date.now() + PASSKEY_LINK_TTL_MS)) < 5000);
        assert.ok(!(await snapshot(server.store)).includes(token), "the raw token is not stored");
        assert.equal(await countUnder(server.store, "passkey_link"), 1);
      },
    );

    await t.step(
      "the page asks for a passkey for this host, user verification required, under one nonce script",
      async () => {
        const res = await fetcher(new Request(url));
        const html = await res.text();
        assert.equal(res.status, 200);
        const csp = res.headers.get("content-security-policy")!;
        const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
        assert.ok(nonce, csp);
        assert.match(csp, /^default-src 'none'; script-src 'nonce-[^']+'; style-src 'nonce-/);
        assert.deepEqual(html.match(/<script[^>]*>/g), [`<script nonce="${nonce}">`]);
        const options = JSON.parse(passkeyOptionsOf(html)!);
        assert.equal(options.rp.id, "localhost");
        assert.equal(options.authenticatorSelection.userVerification, "required");
        assert.equal(options.authenticatorSelection.residentKey, "preferred");
        assert.equal(options.attestation, "none");
        assert.match(html, /Add passkey/);
        assert.equal(formField(html, "name"), "Laptop");
      },
    );

    await t.step(
      "a registration for another origin or RP ID, or without user verification, is refused; the link stays usable",
      async () => {
        const stranger = await softAuthenticator();
        for (
          const ceremony of [
            { origin: "https://evil.example" },
            { rpId: "evil.example" },
            { userVerified: false },
          ]
        ) {
          const res = await enrolThroughLink(fetcher, url, stranger, { ceremony });
          const html = await res.text();
          assert.equal(res.status, 400, JSON.stringify(ceremony));
          assert.match(html, /could not be added/);
        }
        assert.equal((await server.app.owner.listPasskeys()).length, 0);
      },
    );

    let form: URLSearchParams;
    await t.step(
      "the owner's device enrols through it, listed with its name and no use yet",
      async () => {
        const page = await fetcher(new Request(url));
        const html = await page.text();
        const laptop = await softAuthenticator();
        const credential = await laptop.register(passkeyOptionsOf(html)!, { origin: ORIGIN });
        form = new URLSearchParams({
          enrol: formField(html, "enrol")!,
          credential,
          name: "Laptop",
        });
        const res = await fetcher(
          new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
            body: form,
          }),
        );
        assert.equal(res.status, 200);
        assert.match(await res.text(), /Passkey added/);
        const [listed, ...more] = await server.app.owner.listPasskeys();
        assert.equal(more.length, 0);
        assert.equal(listed!.name, "Laptop");
        assert.equal(listed!.lastUsedAt, undefined);
        assert.ok(server.events.some((e) => e.type === "passkey_added" && e.name === "Laptop"));
      },
    );

    await t.step(
      "the link is spent: opening it again, or posting its form again, enrols nothing",
      async () => {
        const again = await fetcher(new Request(url));
        assert.equal(again.status, 400);
        assert.match(await again.text(), /This link does not work/);
        const replay = await fetcher(
          new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
            body: form,
          }),
        );
        assert.equal(replay.status, 400);
        assert.match(await replay.text(), /This link does not work/);
        assert.equal((await server.app.owner.listPasskeys()).length, 1);
        assert.equal(await countUnder(server.store, "passkey_link"), 0);
      },
    );

    await t.step(
      "an expired link, and a page opened before expiry but posted after, enrol nothing",
      async () => {
        const late = await server.app.owner.createPasskeyLink();
        const page = await fetcher(new Request(late.url));
        const html = await page.text();
        assert.equal(page.status, 200);
        const credential = await (await softAuthenticator()).register(passkeyOptionsOf(html)!, {
          origin: ORIGIN,
        });
        advanceClock(PASSKEY_LINK_TTL_MS + 1000);
        const opened = await fetcher(new Request(late.url));
        assert.equal(opened.status, 400);
        await opened.body?.cancel();
        const posted = await fetcher(
          new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
            body: new URLSearchParams({ enrol: formField(html, "enrol")!, credential }),
          }),
        );
        assert.equal(posted.status, 400);
        assert.match(await posted.text(), /This link does not work/);
        assert.equal((await server.app.owner.listPasskeys()).length, 1);
        resetClock();
      },
    );

    await t.step(
      "a made-up or missing token opens nothing; a post from another site is refused",
      async () => {
        for (const query of [`?token=${"A".repeat(43)}`, "?token=x", ""]) {
          const res = await fetcher(new Request(`${PASSKEY_BASE_URL}/owner/passkey${query}`));
          assert.equal(res.status, 400, query);
          await res.body?.cancel();
        }
        const res = await fetcher(
          new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              origin: "https://evil.example",
            },
            body: form,
          }),
        );
        assert.equal(res.status, 403);
        await res.body?.cancel();
      },
    );
  } finally {
    resetClock();
    await server.app.close();
  }
});

Deno.test("on an IP address base URL no enrolment link is minted, and the page says passkeys need a host name", async () => {
  const server = testServer();
  try {
    await assert.rejects(() => server.app.owner.createPasskeyLink(), /host name/);
    const res = await server.app.fetch(
      new Request(`http://127.0.0.1:8787/owner/passkey?token=${"A".repeat(43)}`),
    );
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Passkeys need a host name/);
  } finally {
    await server.app.close();
  }
});

Deno.test("Approve with passkey: the consent page offers it under a nonce script, and its code gets a token that calls a tool", async (t) => {
  const server = passkeyServer();
  try {
    const laptop = await enrol(server);
    const { client, verifier, page, options } = await consent(server);

    await t.step(
      "the page offers the passkey beside the password, its only script under the CSP nonce",
      () => {
        const csp = page.response.headers.get("content-security-policy")!;
        const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
        assert.ok(nonce);
        assert.deepEqual(page.html.match(/<script[^>]*>/g), [`<script nonce="${nonce}">`]);
        assert.match(page.html, /Approve with passkey/);
        assert.match(
          page.html,
          /type="password"/,
          "the password form stays while a password is kept",
        );
        const parsed = JSON.parse(options);
        assert.equal(parsed.rpId, "localhost");
        assert.equal(parsed.userVerification, "required");
        assert.deepEqual(parsed.allowCredentials.map((c: { id: string }) => c.id), [
          laptop.credentialId,
        ]);
        assert.match(parsed.challenge, /^[A-Za-z0-9_-]{43}$/);
      },
    );

    await t.step("the passkey approves: code -> token -> tools/call", async () => {
      const credential = await laptop.assert(options, { origin: ORIGIN });
      const landing = await decisionLanding(await approveWith(server, page, credential));
      const code = landing.searchParams.get("code");
      assert.ok(code, landing.href);
      assert.equal(landing.searchParams.get("state"), "state-123");
      const tokens = await exchangeCode(server.app, client, code, verifier, { resource: RESOURCE });
      const body = await tokens.json();
      assert.equal(tokens.status, 200, JSON.stringify(body));
      const answer = await rpcMessage(await callHello(server.app, body.access_token));
      assert.deepEqual(
        (answer.result as { content: unknown[] }).content,
        [{ type: "text", text: "Hello, Ada!" }],
      );
    });

    await t.step(
      "the approval is logged as made with a passkey, and the passkey's last use kept",
      async () => {
        assert.ok(
          server.events.some((e) => e.type === "consent_approved" && e.method === "passkey"),
        );
        const [listed] = await server.app.owner.listPasskeys();
        assert.ok(listed!.lastUsedAt !== undefined);
        assert.equal(listed!.lastAddress, "192.0.2.10");
      },
    );
  } finally {
    await server.app.close();
  }
});

Deno.test("Approve with passkey refuses a replay, another origin or RP ID, an unknown passkey, no user verification, a bad signature, another page's challenge and a counter that goes backwards", async (t) => {
  const server = passkeyServer();
  try {
    // A security key that counts its signatures.
    const key = await enrol(server, "Security key", 10);
    let address = 0;
    /** Posts the credential and checks the refusal: 401, the page again, no code stored. */
    const refused = async (page: ConsentPage, credential: string, why: RegExp) => {
      const codes = await countUnder(server.store, "code");
      const failures = loginFailures(server).length;
      const res = await approveWith(server, page, credential, `198.51.100.${++address}`);
      const html = await res.text();
      assert.equal(res.status, 401, html.slice(0, 300));
      assert.match(html, /That passkey was not accepted/);
      assert.ok(passkeyOptionsOf(html), "the page offers the passkey again, with a new challenge");
      assert.equal(await countUnder(server.store, "code"), codes);
      const logged = loginFailures(server);
      assert.equal(logged.length, failures + 1);
      const last = logged.at(-1)!;
      assert.ok(last.type === "owner_login_failed" && last.method === "passkey");
      assert.match(last.reason ?? "", why);
    };
    const approved = async (page: ConsentPage, credential: string) => {
      const landing = await decisionLanding(
        await approveWith(server, page, credential, `203.0.113.${++address}`),
      );
      assert.ok(landing.searchParams.get("code"), landing.href);
    };

    await t.step("a replayed assertion (the same post again)", async () => {
      const c = await consent(server);
      const credential = await key.assert(c.options, { origin: ORIGIN });
      await approved(c.page, credential);
      await refused(c.page, credential, /already used/);
    });
    await t.step("another origin (a look-alike page)", async () => {
      const c = await consent(server);
      await refused(
        c.page,
        await key.assert(c.options, { origin: "https://evil.example" }),
        /origin/,
      );
    });
    await t.step("another relying party", async () => {
      const c = await consent(server);
      await refused(
        c.page,
        await key.assert(c.options, { origin: ORIGIN, rpId: "evil.example" }),
        /RP ID/,
      );
    });
    await t.step("an unknown passkey", async () => {
      const c = await consent(server);
      const stranger = await softAuthenticator();
      await refused(c.page, await stranger.assert(c.options, { origin: ORIGIN }), /unknown/);
    });
    await t.step("no user verification", async () => {
      const c = await consent(server);
      await refused(
        c.page,
        await key.assert(c.options, { origin: ORIGIN, userVerified: false }),
        /verification/,
      );
    });
    await t.step("a registration's answer instead of an assertion", async () => {
      const c = await consent(server);
      await refused(
        c.page,
        await key.assert(c.options, { origin: ORIGIN, type: "webauthn.create" }),
        /type/,
      );
    });
    await t.step("a bad signature", async () => {
      const c = await consent(server);
      const answer = JSON.parse(await key.assert(c.options, { origin: ORIGIN }));
      const sig: string = answer.response.signature;
      answer.response.signature = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
      await refused(c.page, JSON.stringify(answer), /signature/);
    });
    await t.step(
      "an assertion made for another consent page; that page's own still works",
      async () => {
        const first = await consent(server);
        const second = await consent(server);
        const forFirst = await key.assert(first.options, { origin: ORIGIN });
        await refused(second.page, forFirst, /challenge/);
        await approved(first.page, forFirst);
      },
    );
    await t.step("a counter that goes backwards, or stands still", async () => {
      const stored = (await server.store.get<{ passkeys: { counter: number }[] }>(
        keys.ownerPasskeys,
      ))!.passkeys[0]!.counter;
      assert.ok(stored > 10, `the counter grew with each use (${stored})`);
      for (const counter of [stored - 1, stored]) {
        const c = await consent(server);
        await refused(c.page, await key.assert(c.options, { origin: ORIGIN, counter }), /counter/);
      }
      const c = await consent(server);
      await approved(c.page, await key.assert(c.options, { origin: ORIGIN, counter: stored + 5 }));
    });
    await t.step("no answer at all, or one the page did not ask for", async () => {
      const c = await consent(server);
      await refused(c.page, "", /no readable/);
      await refused(c.page, '{"id":42}', /no readable/);
    });
  } finally {
    await server.app.close();
  }
});

Deno.test("a synced passkey that reports counter 0 every time keeps approving, and its replay is still refused", async () => {
  const server = passkeyServer();
  try {
    const phone = await enrol(server, "Phone", 0);
    for (let i = 0; i < 3; i++) {
      const c = await consent(server);
      const credential = await phone.assert(c.options, { origin: ORIGIN });
      const landing = await decisionLanding(await approveWith(server, c.page, credential));
      assert.ok(landing.searchParams.get("code"));
      // With the counter at 0 the spent challenge alone stops the replay.
      const replay = await approveWith(server, c.page, credential, "198.51.100.200");
      assert.equal(replay.status, 401);
      await replay.body?.cancel();
    }
    assert.equal(await countUnder(server.store, "code"), 3);
  } finally {
    await server.app.close();
  }
});

Deno.test("refused passkeys count in the password throttle: after the free failures even the right password waits", async () => {
  const server = passkeyServer();
  try {
    await enrol(server);
    const stranger = await softAuthenticator();
    for (let i = 0; i < FREE_FAILURES; i++) {
      const c = await consent(server);
      const res = await approveWith(
        server,
        c.page,
        await stranger.assert(c.options, { origin: ORIGIN }),
        "198.51.100.99",
      );
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    const c = await consent(server);
    const res = await postConsent(server.app, c.page, {
      origin: ORIGIN,
      remoteAddress: "198.51.100.99",
    });
    assert.equal(res.status, 429);
    assert.ok(res.headers.get("retry-after"));
    await res.body?.cancel();
  } finally {
    await server.app.close();
  }
});

Deno.test("the owner page signs in with a passkey, lists each passkey with its last use, and removes one", async (t) => {
  const server = passkeyServer();
  try {
    const laptop = await enrol(server, "Laptop");
    await enrol(server, "Phone");
    let session = "";
    let replay: () => Promise<Response> = () => Promise.reject(new Error("not signed in"));
    await t.step(
      "the sign-in page offers the passkey under its nonce script, and signs in with it",
      async () => {
        const form = await openOwner(server.app);
        assert.match(form.html, /Sign in with passkey/);
        const csp = form.response.headers.get("content-security-policy")!;
        const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
        assert.deepEqual(form.html.match(/<script[^>]*>/g), [`<script nonce="${nonce}">`]);
        const credential = await laptop.assert(passkeyOptionsOf(form.html)!, { origin: ORIGIN });
        const fields = { action: "sign-in", method: "passkey", credential };
        const res = await postOwner(server.app, form, fields, { origin: ORIGIN });
        assert.equal(res.status, 303, await res.text());
        session = setCookieOf(res)!;
        assert.ok(session);
        replay = () => postOwner(server.app, form, fields, { origin: ORIGIN });
        assert.ok(
          server.events.some((e) => e.type === "owner_signed_in" && e.method === "passkey"),
        );
      },
    );
    await t.step("replaying that sign-in opens no session", async () => {
      const again = await replay();
      assert.equal(again.status, 401);
      assert.match(await again.text(), /That passkey was not accepted/);
    });
    let phoneId = "";
    await t.step("the page lists both passkeys, the laptop with its last use", async () => {
      const page = await openOwner(server.app, session);
      assert.match(page.html, /<h2>Passkeys<\/h2>/);
      const list = await server.app.owner.listPasskeys();
      assert.deepEqual(list.map((p) => p.name), ["Laptop", "Phone"]);
      assert.ok(list[0]!.lastUsedAt !== undefined && list[1]!.lastUsedAt === undefined);
      phoneId = list[1]!.id;
      assert.match(page.html, new RegExp(`Laptop</td><td>${list[0]!.id}</td>`));
      assert.match(page.html, /Phone<\/td>.*never/);
    });
    await t.step("Remove takes the phone's passkey away", async () => {
      const page = await openOwner(server.app, session);
      const res = await postOwner(
        server.app,
        page,
        { action: "remove-passkey", passkey: phoneId },
        {
          origin: ORIGIN,
        },
      );
      assert.equal(res.status, 303);
      assert.match(res.headers.get("location")!, /done=passkey-removed/);
      assert.deepEqual((await server.app.owner.listPasskeys()).map((p) => p.name), ["Laptop"]);
      assert.ok(server.events.some((e) => e.type === "passkey_removed" && e.passkeyId === phoneId));
    });
  } finally {
    await server.app.close();
  }
});

Deno.test("with the password removed only a passkey approves: the old password gets nothing, and recovery is a new link", async (t) => {
  // The password is stored (not given in the options), as servePersonalMcp keeps it.
  const server = passkeyServer({ password: undefined });
  try {
    await server.app.owner.setPassword(PASSWORD);
    await t.step("while no passkey is enrolled the password cannot be removed", async () => {
      assert.equal(await server.app.owner.removePassword(), false);
      assert.ok(await server.store.get(keys.ownerPassword));
    });
    const laptop = await enrol(server);
    await t.step(
      "once one is, it can; owner pages opened with the password are signed out",
      async () => {
        const form = await openOwner(server.app);
        const res = await postOwner(server.app, form, { action: "sign-in", password: PASSWORD }, {
          origin: ORIGIN,
        });
        assert.equal(res.status, 303);
        assert.equal(await countUnder(server.store, "owner"), 3, "password, passkeys, session");
        assert.equal(await server.app.owner.removePassword(), true);
        assert.equal(await server.store.get(keys.ownerPassword), undefined);
        assert.equal((await server.store.list(keys.ownerSessions)).length, 0);
        assert.ok(server.events.some((e) => e.type === "owner_password_removed"));
      },
    );
    await t.step("the consent page shows only the passkey button (and Deny)", async () => {
      const { page } = await consent(server);
      assert.doesNotMatch(page.html, /type="password"/);
      assert.doesNotMatch(page.html, /value="approve"/);
      assert.match(page.html, /Approve with passkey/);
      assert.match(page.html, /value="deny"/);
    });
    await t.step(
      "a stranger with the old password gets 401 and no code, on both pages",
      async () => {
        const { page } = await consent(server);
        const res = await postConsent(server.app, page, {
          origin: ORIGIN,
          remoteAddress: "192.0.2.66",
        });
        assert.equal(res.status, 401);
        assert.equal(res.headers.get("location"), null);
        assert.doesNotMatch(await res.text(), /code=/);
        assert.equal(await countUnder(server.store, "code"), 0);
        const form = await openOwner(server.app);
        assert.doesNotMatch(form.html, /type="password"/);
        const owner = await postOwner(server.app, form, { action: "sign-in", password: PASSWORD }, {
          origin: ORIGIN,
          remoteAddress: "192.0.2.67",
        });
        assert.equal(owner.status, 401);
        await owner.body?.cancel();
      },
    );
    await t.step("the passkey still approves", async () => {
      const c = await consent(server);
      const landing = await decisionLanding(
        await approveWith(server, c.page, await laptop.assert(c.options, { origin: ORIGIN })),
      );
      assert.ok(landing.searchParams.get("code"));
    });
    await t.step(
      "the last passkey cannot be removed now, nor does a restart bring a password back",
      async () => {
        const [only] = await server.app.owner.listPasskeys();
        assert.equal(await server.app.owner.removePasskey(only!.id), "last");
        assert.equal((await server.app.owner.listPasskeys()).length, 1);
        assert.equal(await ensureOwnerPassword(server.store), undefined);
        assert.equal(await server.store.get(keys.ownerPassword), undefined);
      },
    );
    await t.step(
      "recovery: a new link from the machine enrols another passkey; then the first can go",
      async () => {
        await enrol(server, "New phone");
        const [first] = await server.app.owner.listPasskeys();
        assert.equal(await server.app.owner.removePasskey(first!.id), "removed");
        assert.deepEqual((await server.app.owner.listPasskeys()).map((p) => p.name), ["New phone"]);
      },
    );
  } finally {
    await server.app.close();
  }
});

Deno.test("malformed passkey answers get a page (400 or 401), never a 5xx or an internal error", async () => {
  const server = passkeyServer();
  try {
    const laptop = await enrol(server);
    const client = await registerClient(server.app);
    type Answer = Record<string, unknown> & { response?: Record<string, unknown> };
    // Each change is made to an answer to the page's own challenge, so that only the
    // change can be why it is refused.
    const changes: ((a: Answer) => unknown)[] = [
      () => null,
      () => [],
      () => "text",
      (a) => ({ ...a, response: [] }),
      (a) => ({ ...a, response: null }),
      (a) => void (a.type = "password"),
      (a) => void (a.rawId = "other"),
      (a) => void (a.id = "x".repeat(5000)),
      (a) => void (a.response!.clientDataJSON = 42),
      (a) => void (a.response!.clientDataJSON = "not base64 !"),
      (a) => void (a.response!.clientDataJSON = btoa("not json")),
      (a) => void (a.response!.authenticatorData = "AAAA"),
      (a) => void (a.response!.authenticatorData = { a: 1 }),
      (a) => void (a.response!.signature = ""),
      (a) => void (a.response!.signature = ["x"]),
      (a) => void (a.response!.userHandle = 7),
      // Not signed by the authenticator: the server must compare it itself.
      (a) => void (a.response!.userHandle = "b3RoZXI"),
      (a) => void delete a.response!.authenticatorData,
      (a) => void delete a.response,
    ];
    let n = 0;
    for (const change of changes) {
      const page = await consent(server, client);
      const answer: Answer = JSON.parse(await laptop.assert(page.options, { origin: ORIGIN }));
      const changed = change(answer);
      const text = JSON.stringify(changed === undefined ? answer : changed);
      const res = await approveWith(server, page.page, text, `198.51.100.${++n}`);
      assert.equal(res.status, 401, text.slice(0, 200));
      await res.body?.cancel();
    }
    const unreadable = await consent(server, client);
    const res = await approveWith(server, unreadable.page, "{", "198.51.100.250");
    assert.equal(res.status, 401);
    await res.body?.cancel();
    // The enrolment page takes the same abuse.
    const registration = JSON.parse(
      await (await softAuthenticator()).register(
        passkeyOptionsOf(
          await (await server.app.fetch(
            new Request((await server.app.owner.createPasskeyLink()).url),
          )).text(),
        )!,
        { origin: ORIGIN },
      ),
    );
    const { url } = await server.app.owner.createPasskeyLink();
    const html = await (await server.app.fetch(new Request(url))).text();
    for (
      const answer of [
        "null",
        "{}",
        JSON.stringify({ ...registration, response: { attestationObject: "AAAA" } }),
        JSON.stringify({
          ...registration,
          response: { ...registration.response, attestationObject: 5 },
        }),
        JSON.stringify({
          ...registration,
          response: { ...registration.response, clientDataJSON: "e30" },
        }),
      ]
    ) {
      const res = await server.app.fetch(
        new Request(`${PASSKEY_BASE_URL}/owner/passkey`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
          body: new URLSearchParams({ enrol: formField(html, "enrol")!, credential: answer }),
        }),
      );
      assert.equal(res.status, 400, answer.slice(0, 200));
      await res.body?.cancel();
    }
    assert.deepEqual(server.events.filter((e) => e.type === "error"), []);
    assert.equal((await server.app.owner.listPasskeys()).length, 1);
  } finally {
    await server.app.close();
  }
});
