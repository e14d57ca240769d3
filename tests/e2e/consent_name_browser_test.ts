/**
 * The client's name on the consent page as a real Chromium renders it (scripts off):
 * a name made of zero-width characters reads "An unnamed app", and a right-to-left
 * override cannot reorder what the owner reads.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  authorizeUrlAt,
  CHROMIUM,
  CHROMIUM_ARGS,
  haveChromium,
  mustRunBrowser,
  pkcePair,
  registerAt,
  withServer,
} from "../fixtures.ts";

const REDIRECT = "http://127.0.0.1:53682/callback";

Deno.test({
  name: "Chromium shows a blank or reversed client name as the page means it",
  ignore: !haveChromium && !mustRunBrowser,
  async fn() {
    if (!haveChromium) throw new Error(`CI=true but ${CHROMIUM} is missing`);
    await withServer("deno", async (server) => {
      const userDataDir = await mkdtemp(join(tmpdir(), "pmcp-chromium-name-"));
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        javaScriptEnabled: false,
        timeout: 30_000,
      });
      try {
        const shown = async (clientName: string) => {
          const client = await registerAt(server.baseUrl, {
            client_name: clientName,
            redirect_uris: [REDIRECT],
            token_endpoint_auth_method: "none",
          });
          const url = authorizeUrlAt(server.baseUrl, {
            response_type: "code",
            client_id: client.client_id,
            redirect_uri: REDIRECT,
            code_challenge: (await pkcePair()).challenge,
            code_challenge_method: "S256",
          });
          const page = await context.newPage();
          assert.equal((await page.goto(url.href))?.status(), 200);
          const text = {
            heading: await page.locator("h1").innerText(),
            app: await page.locator("dd bdi").first().innerText(),
            note: await page.locator("dd .note").first().innerText(),
          };
          await page.close();
          return text;
        };
        const blank = await shown("\u200b\u200c\u200d\u2060");
        assert.equal(blank.heading, "Allow An unnamed app to use personal-mcp?");
        assert.match(blank.note, /Name given by the app itself; not verified\. Registered/);
        const reversed = await shown("Claude\u202e\u2066gnp.exe");
        assert.equal(reversed.app, "Claudegnp.exe");
        assert.equal(reversed.heading, "Allow Claudegnp.exe to use personal-mcp?");
      } finally {
        await context.close();
        await rm(userDataDir, { recursive: true, force: true });
      }
    });
  },
});
