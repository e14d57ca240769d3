/**
 * Owner passkeys as the owner uses them, in a real headless Chromium with its virtual
 * authenticator (CDP `WebAuthn.addVirtualAuthenticator`, user verification on), against
 * a real server process on Deno and on Bun, served as http://localhost:PORT (a host
 * name, so a valid RP ID, and a secure context):
 *
 * the first start prints the password and an enrolment link; `passkey add` prints a
 * link while the server runs; the page it opens enrols the passkey; "Approve with
 * passkey" approves an app (code -> token -> tools/call); the browser's assertion,
 * replayed, is refused; /owner signs in with the passkey and lists it; `password
 * --remove` leaves only the passkey button, and a stranger with the old password gets
 * nothing. The consent page with its passkey button is kept in tests/artifacts/.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
  browserTest,
  callHelloAt,
  formField,
  type LoopbackBrowser,
  openBrowser,
  pkcePair,
  registerAt,
  ROOT,
  runMod,
  RUNTIMES,
  startCallbackServer,
  startServer,
  tokenRequest,
} from "../fixtures.ts";

const WAIT_MS = 15_000;
const LINK = /http:\/\/localhost:\d+\/owner\/passkey\?token=[A-Za-z0-9_-]{43}/;

async function waitFor<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const runtime of RUNTIMES) {
  browserTest(
    `${runtime}: in Chromium the owner enrols a passkey from the printed link, approves an app with it (code -> token -> tools/call), signs in to /owner, removes the password; the old password then gets nothing`,
    async (t) => {
      const stateDir = await mkdtemp(join(tmpdir(), `pmcp-passkey-${runtime}-`));
      // No --password: the first start generates one (and a link), as for a new owner.
      const server = await startServer({ runtime, stateDir, baseHost: "localhost" });
      const api = `http://127.0.0.1:${server.port}`;
      const resource = `${server.baseUrl}/mcp`;
      const callback = await startCallbackServer();
      let browser: LoopbackBrowser | undefined;
      try {
        browser = await openBrowser({ viewport: { width: 900, height: 900 } });
        const { context, offHost } = browser;
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT_MS);
        const cdp = await context.newCDPSession(page);
        await cdp.send("WebAuthn.enable");
        const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
          options: {
            protocol: "ctap2",
            transport: "internal",
            hasResidentKey: true,
            hasUserVerification: true,
            isUserVerified: true,
            automaticPresenceSimulation: true,
          },
        });

        let oldPassword = "";
        await t.step(
          "the first start prints the owner password and an enrolment link",
          async () => {
            const out = await waitFor("the first-start link", () => {
              const text = server.output();
              return LINK.test(text) ? text : undefined;
            });
            oldPassword = /Owner password \(shown once[^)]*\): (\S+)/.exec(out)?.[1] ?? "";
            assert.ok(oldPassword, out);
            const link = LINK.exec(out)![0].replace("localhost", "127.0.0.1");
            const res = await fetch(link);
            assert.equal(res.status, 200);
            assert.match(await res.text(), /Add passkey/);
          },
        );

        let link = "";
        await t.step("passkey add prints a one-time link while the server runs", () => {
          const r = runMod(runtime, [
            "passkey",
            "add",
            "--name",
            "Laptop",
            "--state-dir",
            stateDir,
          ]);
          assert.equal(r.status, 0, r.stderr);
          link = LINK.exec(r.stdout)?.[0] ?? "";
          assert.ok(link.startsWith(`${server.baseUrl}/owner/passkey?token=`), r.stdout);
          assert.match(r.stdout, /within 15 minutes/);
        });

        await t.step("the link's page enrols the browser's passkey", async () => {
          await page.goto(link);
          assert.equal(await page.locator("#name").inputValue(), "Laptop");
          await page.getByRole("button", { name: "Add passkey" }).click();
          await page.getByRole("heading", { name: "Passkey added" }).waitFor();
          const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
          assert.equal(credentials.length, 1);
          assert.equal(credentials[0]!.rpId, "localhost");
          assert.equal(credentials[0]!.isResidentCredential, true);
          const listed = runMod(runtime, ["passkey", "list", "--json", "--state-dir", stateDir]);
          assert.equal(listed.status, 0, listed.stderr);
          const [passkey, ...more] = JSON.parse(listed.stdout);
          assert.equal(more.length, 0);
          assert.equal(passkey.name, "Laptop");
          assert.equal(passkey.lastUsedAt, null);
        });

        await t.step("the used link opens nothing any more", async () => {
          const res = await page.goto(link);
          assert.equal(res?.status(), 400);
          await page.getByText("This link does not work").waitFor();
        });

        const client = await registerAt(api, {
          client_name: "Laptop Claude Code",
          redirect_uris: [callback.url],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "none",
        });
        const authorizeIn = async (p: Page) => {
          const { verifier, challenge } = await pkcePair();
          const url = new URL(`${server.baseUrl}/authorize`);
          url.search = new URLSearchParams({
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: callback.url,
            code_challenge: challenge,
            code_challenge_method: "S256",
            scope: "mcp offline_access",
            state: "s",
            resource,
          }).toString();
          await p.goto(url.href);
          return verifier;
        };
        const approveWithPasskey = async (p: Page) => {
          await Promise.all([
            p.waitForURL((u) => u.href.startsWith(callback.url)),
            p.getByRole("button", { name: "Approve with passkey" }).click(),
          ]);
          const code = new URL(p.url()).searchParams.get("code");
          assert.ok(code, p.url());
          return code;
        };

        let approval: { body: string; cookie: string } | undefined;
        await t.step("Approve with passkey: code -> token -> tools/call", async () => {
          const verifier = await authorizeIn(page);
          await page.locator('input[type="password"]').waitFor();
          if (runtime === "deno") {
            await mkdir(`${ROOT}tests/artifacts`, { recursive: true });
            await page.screenshot({ path: `${ROOT}tests/artifacts/passkey-consent.png` });
          }
          const posted = page.waitForRequest((r) =>
            r.method() === "POST" && new URL(r.url()).pathname === "/authorize"
          );
          const code = await approveWithPasskey(page);
          const cookie = (await context.cookies(server.baseUrl))
            .map((c) => `${c.name}=${c.value}`).join("; ");
          approval = { body: (await posted).postData() ?? "", cookie };
          assert.match(approval.body, /decision=passkey/);
          const tokens = await tokenRequest(api, {
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: callback.url,
            client_id: client.client_id,
            resource,
          });
          assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
          const hello = await callHelloAt(`${api}/mcp`, tokens.body.access_token as string, "Ada");
          assert.equal(hello.text, "Hello, Ada!");
        });

        await t.step("the browser's assertion, replayed with its cookie, is refused", async () => {
          const res = await fetch(`${api}/authorize`, {
            method: "POST",
            redirect: "manual",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              origin: server.baseUrl,
              cookie: approval!.cookie,
            },
            body: approval!.body,
          });
          const html = await res.text();
          assert.equal(res.status, 401, html.slice(0, 300));
          assert.match(html, /That passkey was not accepted/);
          assert.doesNotMatch(html, /code=/);
        });

        await t.step(
          "/owner signs in with the passkey and lists it with its last use",
          async () => {
            await page.goto(`${server.baseUrl}/owner`);
            await Promise.all([
              page.waitForURL(`${server.baseUrl}/owner`),
              page.getByRole("button", { name: "Sign in with passkey" }).click(),
            ]);
            await page.getByRole("heading", { name: /connected apps/ }).waitFor();
            const row = page.locator("tr", { hasText: "Laptop" }).filter({ hasText: "UTC" });
            await row.first().waitFor();
            assert.doesNotMatch(await row.first().innerText(), /never/);
          },
        );

        await t.step(
          "without JavaScript the passkey button stays hidden and the password still approves",
          async () => {
            const plain = await openBrowser({ javaScriptEnabled: false });
            try {
              const p = await plain.context.newPage();
              p.setDefaultTimeout(WAIT_MS);
              await authorizeIn(p);
              assert.equal(
                await p.getByRole("button", { name: "Approve with passkey" }).isVisible(),
                false,
              );
              await p.locator('input[type="password"]').fill(oldPassword);
              await Promise.all([
                p.waitForURL((u) => u.href.startsWith(callback.url)),
                p.getByRole("button", { name: "Approve", exact: true }).click(),
              ]);
              assert.ok(new URL(p.url()).searchParams.get("code"));
            } finally {
              await plain.close();
            }
          },
        );

        await t.step(
          "password --remove: the consent page then shows only the passkey button",
          async () => {
            const r = runMod(runtime, ["password", "--remove", "--state-dir", stateDir]);
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stdout, /only a passkey approves/);
            await authorizeIn(page);
            await page.getByRole("button", { name: "Approve with passkey" }).waitFor();
            assert.equal(await page.locator('input[type="password"]').count(), 0);
            assert.equal(
              await page.getByRole("button", { name: "Approve", exact: true }).count(),
              0,
            );
            await page.getByRole("button", { name: "Deny" }).waitFor();
          },
        );

        await t.step("a stranger with the old password gets 401 and no code", async () => {
          const url = new URL(`${api}/authorize`);
          const { challenge } = await pkcePair();
          url.search = new URLSearchParams({
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: callback.url,
            code_challenge: challenge,
            code_challenge_method: "S256",
            resource,
          }).toString();
          const shown = await fetch(url);
          const html = await shown.text();
          const request = formField(html, "request")!;
          const cookie = (shown.headers.get("set-cookie") ?? "").split(";")[0]!;
          const res = await fetch(`${api}/authorize`, {
            method: "POST",
            redirect: "manual",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              origin: server.baseUrl,
              cookie,
            },
            body: new URLSearchParams({ request, password: oldPassword, decision: "approve" }),
          });
          const answer = await res.text();
          assert.equal(res.status, 401, answer.slice(0, 300));
          assert.equal(res.headers.get("location"), null);
          assert.doesNotMatch(answer, /code=/);
        });

        await t.step("the passkey still approves", async () => {
          await authorizeIn(page);
          await approveWithPasskey(page);
        });
        assert.deepEqual(offHost, [], "the pages load nothing from another host");
      } finally {
        await browser?.close();
        callback.server.close();
        await server.stop();
        await rm(stateDir, { recursive: true, force: true });
      }
    },
  );
}
