/**
 * The owner page in a real headless Chromium (playwright-core, JavaScript off) against
 * a real server process, as the owner uses it: approve an app on the consent page,
 * open /owner, sign in, see the app, disconnect it; its next `tools/call` answers 401
 * while another app keeps working. The screenshot is kept in tests/artifacts/owner.png.
 * Also over sockets on Deno and Bun: the page's refusals (forged post, wrong
 * passwords throttled, escaping) hold on both runtimes.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { FREE_FAILURES } from "../../auth/limits/throttle.ts";
import {
  authorizeUrlAt,
  browserTest,
  callHelloAt,
  formField,
  obtainTokens,
  openBrowser,
  PASSWORD,
  pkcePair,
  registerAt,
  ROOT,
  RUNTIMES,
  startCallbackServer,
  tokenRequest,
  withServer,
} from "../fixtures.ts";

const SCREENSHOT = `${ROOT}tests/artifacts/owner.png`;
const WAIT_MS = 15_000;

browserTest(
  "in a real browser the owner signs in on /owner, sees the app and disconnects it; its next call gets 401, another app's works",
  async (t) => {
    await withServer("deno", async (server) => {
      const callback = await startCallbackServer();
      const browser = await openBrowser({
        javaScriptEnabled: false,
        viewport: { width: 1100, height: 900 },
      });
      const { context, offHost } = browser;
      const consoleErrors: string[] = [];
      context.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      const mcp = `${server.baseUrl}/mcp`;
      try {
        // Another app, connected without the browser.
        const other = await obtainTokens(server.baseUrl, "Phone (mcp-remote)");
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT_MS);

        let accessToken = "";
        await t.step("the owner approves an app on the consent page", async () => {
          const client = await registerAt(server.baseUrl, {
            client_name: "Laptop Claude Code",
            redirect_uris: [callback.url],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          });
          const { verifier, challenge } = await pkcePair();
          const url = authorizeUrlAt(server.baseUrl, {
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: callback.url,
            code_challenge: challenge,
            code_challenge_method: "S256",
            scope: "mcp offline_access",
            state: "s",
            resource: mcp,
          });
          await page.goto(url.href);
          await page.locator('input[type="password"]').fill(PASSWORD);
          await Promise.all([
            page.waitForURL((u) => u.href.startsWith(callback.url)),
            page.getByRole("button", { name: "Approve" }).click(),
          ]);
          const code = new URL(page.url()).searchParams.get("code")!;
          const tokens = await tokenRequest(server.baseUrl, {
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: callback.url,
            client_id: client.client_id,
            resource: mcp,
          });
          assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
          accessToken = tokens.body.access_token as string;
          assert.equal((await callHelloAt(mcp, accessToken, "Laptop")).text, "Hello, Laptop!");
        });

        await t.step("a wrong password on /owner shows the error and no apps", async () => {
          await page.goto(`${server.baseUrl}/owner`);
          await page.locator('input[type="password"]').fill("not-the-password");
          await Promise.all([
            page.waitForLoadState("load"),
            page.getByRole("button", { name: "Sign in" }).click(),
          ]);
          await page.getByRole("alert").waitFor();
          assert.match(await page.getByRole("alert").innerText(), /not the owner password/);
          assert.equal(await page.locator("section.card").count(), 0);
        });

        await t.step("signing in shows both apps, marked with the name each gave", async () => {
          await page.locator('input[type="password"]').fill(PASSWORD);
          await Promise.all([
            page.waitForURL((u) => u.pathname === "/owner"),
            page.getByRole("button", { name: "Sign in" }).click(),
          ]);
          await page.locator("section.card").first().waitFor();
          assert.equal(await page.locator("section.card").count(), 2);
          const laptop = page.locator("section.card", { hasText: "Laptop Claude Code" });
          const text = await laptop.innerText();
          assert.match(text, /name given by the app/);
          assert.match(text, /an app on this computer \(127\.0\.0\.1:\d+\)/);
          assert.match(text, /use your tools/);
          assert.match(text, /Last used\s+\d{4}-\d\d-\d\d .* from 127\.0\.0\.1/);
          assert.match(text, /live/);
          assert.match(await page.locator("table").last().innerText(), /approved/);
          await mkdir(`${ROOT}tests/artifacts`, { recursive: true });
          await page.screenshot({ path: SCREENSHOT, fullPage: true });
          assert.ok(existsSync(SCREENSHOT));
        });

        await t.step(
          "Disconnect ends the app: its next tools/call gets 401, the other works",
          async () => {
            const laptop = page.locator("section.card", { hasText: "Laptop Claude Code" });
            await Promise.all([
              page.waitForURL((u) => u.search === "?done=disconnected"),
              laptop.getByRole("button", { name: "Disconnect" }).click(),
            ]);
            assert.match(await page.getByRole("status").innerText(), /Disconnected/);
            assert.equal(await page.locator("section.card").count(), 1);
            const after = await callHelloAt(mcp, accessToken, "Laptop");
            assert.equal(after.status, 401);
            assert.match(after.wwwAuthenticate ?? "", /error="invalid_token"/);
            assert.equal(
              (await callHelloAt(mcp, other.accessToken, "Phone")).text,
              "Hello, Phone!",
            );
            await page.screenshot({ path: `${ROOT}tests/artifacts/owner-disconnected.png` });
          },
        );

        await t.step("nothing left the machine and the page raised no CSP errors", () => {
          assert.deepEqual(offHost, []);
          assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy/i.test(e)), []);
        });
      } finally {
        await browser.close();
        await new Promise((resolve) => callback.server.close(resolve));
      }
    });
  },
);

/** GET /owner over a socket: the page, its form token and cookie. */
async function ownerForm(baseUrl: string, cookie?: string) {
  const res = await fetch(`${baseUrl}/owner`, { headers: cookie ? { cookie } : {} });
  const html = await res.text();
  return {
    html,
    csrf: formField(html, "csrf")!,
    cookie: (res.headers.get("set-cookie") ?? "").split(";")[0] || cookie!,
  };
}

async function ownerPost(
  baseUrl: string,
  form: { csrf: string; cookie: string },
  fields: Record<string, string>,
  origin = baseUrl,
): Promise<Response> {
  return await fetch(`${baseUrl}/owner`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: form.cookie,
      origin,
    },
    body: new URLSearchParams({ csrf: form.csrf, ...fields }),
  });
}

for (const runtime of RUNTIMES) {
  Deno.test(`the owner page's refusals hold over sockets (${runtime}): forged posts, throttled guesses, escaping`, async (t) => {
    await withServer(runtime, async (server) => {
      const evil = `<script>alert("x")</script>`;
      const tokens = await obtainTokens(server.baseUrl, evil);
      const mcp = `${server.baseUrl}/mcp`;
      let session = { html: "", csrf: "", cookie: "" };
      await t.step("sign in, and the client's name is escaped", async () => {
        const form = await ownerForm(server.baseUrl);
        const res = await ownerPost(server.baseUrl, form, {
          action: "sign-in",
          password: PASSWORD,
        });
        assert.equal(res.status, 303);
        await res.body?.cancel();
        const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
        session = await ownerForm(server.baseUrl, cookie);
        assert.doesNotMatch(session.html, /<script/i);
        assert.match(session.html, /&#60;script&#62;alert\(&#34;x&#34;\)/);
      });
      const grantId = /name="grant" value="([^"]+)"/.exec(session.html)![1]!;
      await t.step("a post from another origin changes nothing", async () => {
        const res = await ownerPost(server.baseUrl, session, {
          action: "disconnect",
          grant: grantId,
        }, "https://evil.example");
        assert.equal(res.status, 403);
        await res.body?.cancel();
        assert.equal((await callHelloAt(mcp, tokens.accessToken, "x")).status, 200);
      });
      await t.step("wrong passwords are throttled like consent", async () => {
        const form = await ownerForm(server.baseUrl);
        for (let i = 0; i < FREE_FAILURES; i++) {
          const res = await ownerPost(server.baseUrl, form, { action: "sign-in", password: "no" });
          assert.equal(res.status, 401);
          await res.body?.cancel();
        }
        const res = await ownerPost(server.baseUrl, form, {
          action: "sign-in",
          password: PASSWORD,
        });
        assert.equal(res.status, 429);
        assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
        await res.body?.cancel();
      });
      await t.step("the signed-in owner disconnects the app", async () => {
        const res = await ownerPost(server.baseUrl, session, {
          action: "disconnect",
          grant: grantId,
        });
        assert.equal(res.status, 303);
        await res.body?.cancel();
        assert.equal((await callHelloAt(mcp, tokens.accessToken, "x")).status, 401);
      });
    });
  });
}
