/**
 * The client's name on the consent page as a real Chromium renders it (scripts off):
 * a name made of zero-width characters reads "An unnamed app", and a right-to-left
 * override cannot reorder what the owner reads.
 */
import assert from "node:assert/strict";
import {
  authorizeUrlAt,
  browserTest,
  openBrowser,
  pkcePair,
  registerAt,
  withServer,
} from "../fixtures.ts";

const REDIRECT = "http://127.0.0.1:53682/callback";

browserTest("Chromium shows a blank or reversed client name as the page means it", async () => {
  await withServer("deno", async (server) => {
    const browser = await openBrowser({ javaScriptEnabled: false });
    const { context } = browser;
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
      assert.deepEqual(browser.offHost, [], "requests that tried to leave the machine");
    } finally {
      await browser.close();
    }
  });
});
