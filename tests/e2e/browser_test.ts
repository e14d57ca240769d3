/**
 * The consent page in a real headless Chromium (driven by playwright-core) against a
 * real server process: the owner sees who asks and where the code goes, types the
 * password and approves; the browser itself goes on (under the pages' CSP) to a local
 * callback server, also when that callback redirects again to another origin or to an
 * app's custom scheme, as claude.ai's does (to claude://). Also a wrong password, Enter
 * to approve, and Deny. Page scripts are disabled throughout: the pages must work
 * without JavaScript.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { BrowserContext, Page } from "playwright-core";
import {
  authorizeUrlAt,
  browserTest,
  callHelloAt,
  openBrowser,
  PASSWORD,
  pkcePair,
  registerAt,
  type Registration,
  ROOT,
  tokenRequest,
  withServer,
} from "../fixtures.ts";

const SCREENSHOT = `${ROOT}tests/artifacts/consent.png`;
const CLIENT_NAME = "Browser Test App";
const WAIT_MS = 15_000;

/** The custom scheme the redirecting callback sends the browser on to (an app's). */
const APP_SCHEME = "pmcp-test";

/**
 * A loopback server standing in for the client's redirect target; records every hit.
 * `/callback` shows a page; `/hop-origin` redirects on to another origin (localhost
 * instead of 127.0.0.1, where `/landed` shows a page) and `/hop-scheme` to an app's
 * custom scheme, as claude.ai's callback redirects to claude://.
 */
async function startCallbackServer(): Promise<{
  url: string;
  hopOrigin: string;
  hopScheme: string;
  landed: string;
  hits: URL[];
  server: Server;
}> {
  const hits: URL[] = [];
  let port = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    hits.push(url);
    if (url.pathname === "/hop-origin") {
      res.writeHead(302, { location: `http://localhost:${port}/landed` }).end();
    } else if (url.pathname === "/hop-scheme") {
      res.writeHead(302, { location: `${APP_SCHEME}://callback/done` }).end();
    } else {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>Callback</title><p>Signed in. You may close this tab.</p>");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    hopOrigin: `http://127.0.0.1:${port}/hop-origin`,
    hopScheme: `http://127.0.0.1:${port}/hop-scheme`,
    landed: `http://localhost:${port}/landed`,
    hits,
    server,
  };
}

/** A fresh authorization request (own PKCE pair and state). */
async function newRequest(baseUrl: string, client: Registration, redirectUri: string) {
  const { verifier, challenge } = await pkcePair();
  const state = crypto.randomUUID();
  const url = authorizeUrlAt(baseUrl, {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: "mcp offline_access",
    state,
    resource: `${baseUrl}/mcp`,
  });
  return { url, verifier, state };
}

/** Opens the consent page and waits for its password field. */
async function openConsent(context: BrowserContext, url: URL): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const res = await page.goto(url.href);
  assert.equal(res?.status(), 200);
  await page.locator('input[type="password"]').waitFor();
  return page;
}

browserTest(
  "the consent page works in a real browser: approve, wrong password, Enter, deny, a callback that redirects again",
  async (t) => {
    await withServer("deno", async (server) => {
      const callback = await startCallbackServer();
      // Nothing may leave the machine: only loopback requests are let through.
      const browser = await openBrowser({ javaScriptEnabled: false });
      const { context, offHost } = browser;
      // What Origin the browser itself sends on the consent form's posts.
      const consentPostOrigins: string[] = [];
      // What the browser tried to open outside itself (an app's custom scheme).
      const appLaunches: string[] = [];
      context.on("request", (request) => {
        const url = new URL(request.url());
        if (url.protocol === `${APP_SCHEME}:`) appLaunches.push(request.url());
      });
      await context.route("**/*", (route) => {
        const request = route.request();
        if (request.method() === "POST") {
          consentPostOrigins.push(request.headers().origin ?? "(none)");
        }
        return route.fallback();
      });
      const consoleErrors: string[] = [];
      context.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      try {
        const client = await registerAt(server.baseUrl, {
          client_name: CLIENT_NAME,
          redirect_uris: [callback.url, callback.hopOrigin, callback.hopScheme],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "none",
        });

        await t.step("the page names the client and the redirect host", async () => {
          const { url } = await newRequest(server.baseUrl, client, callback.url);
          const page = await openConsent(context, url);
          assert.match(await page.locator("h1").innerText(), new RegExp(CLIENT_NAME));
          const details = await page.locator("dl").innerText();
          assert.match(details, new RegExp(CLIENT_NAME));
          assert.match(details, new RegExp(new URL(callback.url).host.replace(".", "\\.")));
          assert.equal(await page.locator('input[type="password"]').count(), 1);
          assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 1);
          assert.equal(await page.getByRole("button", { name: "Deny" }).count(), 1);
          await mkdir(`${ROOT}tests/artifacts`, { recursive: true });
          await page.screenshot({ path: SCREENSHOT, fullPage: true });
          assert.ok(existsSync(SCREENSHOT));
          await page.close();
        });

        await t.step("the browser's own Approve post is accepted (no Origin: null)", async () => {
          // Under Referrer-Policy no-referrer, browsers post the form with "Origin: null",
          // which the decision endpoint refuses; the page must not cause that.
          const { url, state } = await newRequest(server.baseUrl, client, callback.url);
          const page = await openConsent(context, url);
          await page.locator('input[type="password"]').fill(PASSWORD);
          const [response] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === "POST"),
            page.getByRole("button", { name: "Approve" }).click(),
          ]);
          assert.equal(response.status(), 200, await page.locator("body").innerText());
          await page.waitForURL((u) => u.href.startsWith(callback.url));
          assert.equal(new URL(page.url()).searchParams.get("state"), state);
          assert.deepEqual(consentPostOrigins, [server.baseUrl]);
          await page.close();
        });

        await t.step(
          "typing the password and clicking Approve lands on the redirect with code, state and iss",
          async () => {
            const { url, verifier, state } = await newRequest(server.baseUrl, client, callback.url);
            const page = await openConsent(context, url);
            await page.locator('input[type="password"]').fill(PASSWORD);
            await Promise.all([
              page.waitForURL((u) => u.href.startsWith(callback.url)),
              page.getByRole("button", { name: "Approve" }).click(),
            ]);
            const landed = new URL(page.url());
            assert.equal(landed.searchParams.get("state"), state);
            assert.equal(landed.searchParams.get("iss"), server.baseUrl);
            const code = landed.searchParams.get("code");
            assert.ok(code);
            assert.match(await page.locator("body").innerText(), /Signed in/);
            assert.equal(callback.hits.at(-1)?.searchParams.get("code"), code);
            await page.close();

            const tokens = await tokenRequest(server.baseUrl, {
              grant_type: "authorization_code",
              code,
              code_verifier: verifier,
              redirect_uri: callback.url,
              client_id: client.client_id,
              resource: `${server.baseUrl}/mcp`,
            });
            assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
            const hello = await callHelloAt(
              `${server.baseUrl}/mcp`,
              tokens.body.access_token as string,
              "Browser",
            );
            assert.equal(hello.text, "Hello, Browser!");
          },
        );

        await t.step(
          "a wrong password shows the error and does not redirect; the right one then does",
          async () => {
            const { url, state } = await newRequest(server.baseUrl, client, callback.url);
            const page = await openConsent(context, url);
            const hitsBefore = callback.hits.length;
            await page.locator('input[type="password"]').fill("not-the-password");
            await Promise.all([
              page.waitForLoadState("load"),
              page.getByRole("button", { name: "Approve" }).click(),
            ]);
            await page.getByRole("alert").waitFor();
            assert.match(await page.getByRole("alert").innerText(), /not the owner password/);
            assert.equal(new URL(page.url()).pathname, "/authorize");
            assert.equal(callback.hits.length, hitsBefore, "no redirect reached the client");

            await page.locator('input[type="password"]').fill(PASSWORD);
            await Promise.all([
              page.waitForURL((u) => u.href.startsWith(callback.url)),
              page.getByRole("button", { name: "Approve" }).click(),
            ]);
            const landed = new URL(page.url());
            assert.ok(landed.searchParams.get("code"));
            assert.equal(landed.searchParams.get("state"), state);
            await page.close();
          },
        );

        await t.step("pressing Enter in the password field approves", async () => {
          const { url, state } = await newRequest(server.baseUrl, client, callback.url);
          const page = await openConsent(context, url);
          await page.locator('input[type="password"]').fill(PASSWORD);
          await Promise.all([
            page.waitForURL((u) => u.href.startsWith(callback.url)),
            page.locator('input[type="password"]').press("Enter"),
          ]);
          const landed = new URL(page.url());
          assert.ok(landed.searchParams.get("code"), "Enter submitted the Approve button");
          assert.equal(landed.searchParams.get("error"), null);
          assert.equal(landed.searchParams.get("state"), state);
          await page.close();
        });

        await t.step("Deny lands on the redirect with error=access_denied", async () => {
          const { url, state } = await newRequest(server.baseUrl, client, callback.url);
          const page = await openConsent(context, url);
          await Promise.all([
            page.waitForURL((u) => u.href.startsWith(callback.url)),
            page.getByRole("button", { name: "Deny" }).click(),
          ]);
          const landed = new URL(page.url());
          assert.equal(landed.searchParams.get("error"), "access_denied");
          assert.equal(landed.searchParams.get("state"), state);
          assert.equal(landed.searchParams.get("iss"), server.baseUrl);
          assert.equal(landed.searchParams.get("code"), null);
          await page.close();
        });

        await t.step(
          "a callback that redirects on to another origin: the browser follows it there",
          async () => {
            const { url, state } = await newRequest(server.baseUrl, client, callback.hopOrigin);
            const page = await openConsent(context, url);
            await page.locator('input[type="password"]').fill(PASSWORD);
            await Promise.all([
              page.waitForURL((u) => u.href === callback.landed),
              page.getByRole("button", { name: "Approve" }).click(),
            ]);
            const hop = callback.hits.findLast((h) => h.pathname === "/hop-origin");
            assert.ok(hop?.searchParams.get("code"), "the callback received the code");
            assert.equal(hop?.searchParams.get("state"), state);
            assert.match(await page.locator("body").innerText(), /Signed in/);
            await page.close();
          },
        );

        await t.step(
          "a callback that redirects on to an app's custom scheme: the browser opens the app",
          async () => {
            // Intercepted requests report a redirect to a custom scheme as a failure of
            // the callback, exactly as a CSP-blocked one looks: stop intercepting (the
            // request listener still records anything that would leave the machine).
            await context.unrouteAll({ behavior: "wait" });
            const { url, state } = await newRequest(server.baseUrl, client, callback.hopScheme);
            const page = await openConsent(context, url);
            await page.locator('input[type="password"]').fill(PASSWORD);
            const launched = page.waitForEvent(
              "request",
              (r) => r.url().startsWith(`${APP_SCHEME}:`),
            );
            await page.getByRole("button", { name: "Approve" }).click();
            // Headless Chromium has no app for the scheme: the tab stays where it was,
            // as it would if the hop were blocked; the browser's attempt to open the app
            // is the proof that the chain got through.
            assert.equal((await launched).url(), `${APP_SCHEME}://callback/done`);
            const hop = callback.hits.findLast((h) => h.pathname === "/hop-scheme");
            assert.ok(hop?.searchParams.get("code"), "the callback received the code");
            assert.equal(hop?.searchParams.get("state"), state);
            assert.deepEqual(appLaunches, [`${APP_SCHEME}://callback/done`]);
            await page.close();
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
