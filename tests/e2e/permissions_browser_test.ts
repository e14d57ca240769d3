/**
 * The owner's say per app in a real headless Chromium (playwright-core, JavaScript off)
 * against a real server process serving tools that read, write and delete: the consent
 * page lists them with their policy and the owner denies one before approving; a
 * destructive call is held, the owner page lists it under "Waiting for you", and its
 * own page confirms it with the password, after which the call runs. Screenshots:
 * tests/artifacts/consent_tools.png, owner_waiting.png, confirm_call.png.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  authorizeUrlAt,
  browserTest,
  mcpPostAt,
  openBrowser,
  PASSWORD,
  pkcePair,
  registerAt,
  ROOT,
  rpcMessage,
  startCallbackServer,
  startServer,
  tokenRequest,
} from "../fixtures.ts";

const ARTIFACTS = `${ROOT}tests/artifacts`;
const WAIT_MS = 15_000;

function call(name: string, args: Record<string, unknown>) {
  return { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } };
}

browserTest(
  "in a real browser: the consent page's tools, the waiting list and a confirmed call",
  async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), "pmcp-perm-browser-"));
    const server = await startServer({
      runtime: "deno",
      stateDir,
      password: PASSWORD,
      extraArgs: ["--tools", "tests/e2e/policy_tools.ts"],
    });
    const callback = await startCallbackServer();
    const browser = await openBrowser({
      javaScriptEnabled: false,
      viewport: { width: 1000, height: 900 },
    });
    const mcp = `${server.baseUrl}/mcp`;
    await mkdir(ARTIFACTS, { recursive: true });
    try {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      let token = "";
      await t.step(
        "the consent page lists the tools; the owner denies one and approves",
        async () => {
          const client = await registerAt(server.baseUrl, {
            client_name: "Laptop Claude Code",
            redirect_uris: [callback.url],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          });
          const { verifier, challenge } = await pkcePair();
          await page.goto(
            authorizeUrlAt(server.baseUrl, {
              response_type: "code",
              client_id: client.client_id,
              redirect_uri: callback.url,
              code_challenge: challenge,
              code_challenge_method: "S256",
              state: "s",
              resource: mcp,
            }).href,
          );
          const tools = await page.locator("details.tools").innerText();
          assert.match(tools, /read_files\s+reads only/);
          assert.match(tools, /delete_all\s+may delete or overwrite/);
          assert.equal(await page.locator('select[name="tool.delete_all"]').inputValue(), "ask");
          await page.locator('select[name="tool.write_note"]').selectOption("deny");
          await page.screenshot({ path: `${ARTIFACTS}/consent_tools.png`, fullPage: true });
          await page.locator('input[type="password"]').fill(PASSWORD);
          await Promise.all([
            page.waitForURL((u) => u.href.startsWith(callback.url)),
            page.getByRole("button", { name: "Approve" }).click(),
          ]);
          const tokens = await tokenRequest(server.baseUrl, {
            grant_type: "authorization_code",
            code: new URL(page.url()).searchParams.get("code")!,
            code_verifier: verifier,
            redirect_uri: callback.url,
            client_id: client.client_id,
            resource: mcp,
          });
          token = tokens.body.access_token as string;
          const denied = await rpcMessage(
            await mcpPostAt(mcp, token, call("write_note", { text: "x" })),
          );
          assert.match(JSON.stringify(denied), /has not allowed this app/);
        },
      );

      await t.step("a held call shows under Waiting for you; its page confirms it", async () => {
        const held = mcpPostAt(mcp, token, call("delete_all", { folder: "/home/me/<photos>" }))
          .then(rpcMessage);
        await page.goto(`${server.baseUrl}/owner`);
        await page.locator('input[type="password"]').fill(PASSWORD);
        await Promise.all([
          page.waitForURL((u) => u.pathname === "/owner"),
          page.getByRole("button", { name: "Sign in" }).click(),
        ]);
        for (let i = 0; i < 50 && !(await page.getByText("Waiting for you").count()); i++) {
          await new Promise((r) => setTimeout(r, 100));
          await page.reload();
        }
        const waiting = await page.locator("section.waiting").innerText();
        assert.match(waiting, /delete_all/);
        assert.match(waiting, /<photos>/, "shown as text, escaped in the HTML");
        await page.screenshot({ path: `${ARTIFACTS}/owner_waiting.png`, fullPage: true });
        await Promise.all([
          page.waitForURL((u) => u.pathname === "/owner/confirm"),
          page.getByRole("link", { name: "Confirm or decline" }).click(),
        ]);
        await page.screenshot({ path: `${ARTIFACTS}/confirm_call.png`, fullPage: true });
        await page.locator('input[type="password"]').fill(PASSWORD);
        await Promise.all([
          page.waitForLoadState("load"),
          page.getByRole("button", { name: "Confirm" }).click(),
        ]);
        await page.getByRole("heading", { name: "Confirmed" }).waitFor();
        const answer = await held;
        assert.match(JSON.stringify(answer), /deleted \/home\/me\/<photos>/);
        for (const f of ["consent_tools", "owner_waiting", "confirm_call"]) {
          assert.ok(existsSync(`${ARTIFACTS}/${f}.png`));
        }
      });
    } finally {
      await browser.close();
      callback.server.close();
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  },
);
