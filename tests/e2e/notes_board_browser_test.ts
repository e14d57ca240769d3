/**
 * examples/notes.ts's board (an MCP App) as a host runs it: served by the real server
 * under Deno, read through the OAuth-protected endpoint by a host whose page runs the
 * `ext-apps` AppBridge in headless Chromium. The app completes its handshake in a
 * sandboxed frame, shows the notes of the file, and adds one through its own tool call
 * (bridge -> host -> our server with a real access token); the file on disk has it.
 * The screenshot is kept in tests/artifacts/notes_board.png for the README.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  browserTest,
  DENO_BIN,
  obtainTokens,
  openBrowser,
  PASSWORD,
  ROOT,
  startServer,
} from "../fixtures.ts";

const SCREENSHOT = `${ROOT}tests/artifacts/notes_board.png`;

/** The host page's script, bundled for the browser once per run. */
function bundleHost(dir: string): string {
  const out = join(dir, "host.js");
  const built = spawnSync(DENO_BIN, [
    "bundle",
    "--quiet",
    "--platform",
    "browser",
    "-o",
    out,
    `${ROOT}tests/e2e/apps_host/host.ts`,
  ], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  assert.equal(built.status, 0, `deno bundle failed:\n${built.stderr}`);
  return out;
}

/** The host's backend: its page, its script, and /mcp relayed with the host's token. */
function serveHost(upstream: string, token: string, script: string) {
  const page = `<!doctype html><meta charset="utf-8"><title>Host</title>
<body style="font: 14px system-ui; margin: 16px"><p>A host showing an app:</p>
<script type="module" src="/host.js"></script></body>`;
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (url.pathname === "/host.js") {
      return new Response(await readFile(script), {
        headers: { "content-type": "text/javascript" },
      });
    }
    if (url.pathname !== "/mcp") return new Response("not here", { status: 404 });
    const headers = new Headers(request.headers);
    headers.set("authorization", `Bearer ${token}`);
    headers.delete("origin");
    headers.delete("host");
    return fetch(`${upstream}/mcp`, {
      method: request.method,
      headers,
      body: request.method === "POST" ? await request.arrayBuffer() : undefined,
    });
  });
}

browserTest(
  "the notes board (an MCP App) runs in a sandboxed frame through the ext-apps host bridge and adds a note with its own tool call",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-board-"));
    const notesFile = join(dir, "notes.md");
    await writeFile(notesFile, "\n## 2026-12-01 09:30\n\nWater the <b>plants</b>\n");
    const server = await startServer({
      runtime: "deno",
      stateDir: join(dir, "state"),
      password: PASSWORD,
      script: "examples/notes.ts",
      env: { PERSONAL_MCP_NOTES_FILE: notesFile },
    });
    const script = bundleHost(dir);
    const { accessToken } = await obtainTokens(server.baseUrl, "An MCP Apps host");
    const host = serveHost(server.baseUrl, accessToken, script);
    const browser = await openBrowser({ viewport: { width: 700, height: 560 } });
    try {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${host.addr.port}/?tool=notes_board`);
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as { hostState: { phase: string } }).hostState;
          return s.phase === "shown" || s.phase === "failed";
        },
        undefined,
        { timeout: 20_000 },
      );
      const state = await page.evaluate(() =>
        (globalThis as unknown as { hostState: Record<string, unknown> }).hostState
      );
      assert.equal(state.phase, "shown", String(state.error));
      assert.equal(state.mimeType, "text/html;profile=mcp-app");

      const app = page.frameLocator("iframe");
      const first = app.locator("#board li");
      await first.first().waitFor({ timeout: 10_000 });
      // A note's text is shown as text: the markup in it is not rendered.
      assert.equal(await first.count(), 1);
      assert.equal(
        await app.locator("#board li p").first().textContent(),
        "Water the <b>plants</b>",
      );
      assert.equal(await app.locator("#board b").count(), 0);

      await app.locator("textarea").fill("Buy oat milk");
      await app.locator("button[type=submit]").click();
      await app.locator("#board li", { hasText: "Buy oat milk" }).waitFor({ timeout: 10_000 });
      assert.equal(await first.count(), 2);
      assert.match(
        await readFile(notesFile, "utf8"),
        /## \d{4}-\d{2}-\d{2} \d{2}:\d{2}\n\nBuy oat milk/,
      );
      await page.screenshot({ path: SCREENSHOT });
      assert.deepEqual(browser.offHost, []);
    } finally {
      await browser.close();
      await host.shutdown();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
