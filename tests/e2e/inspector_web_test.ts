/**
 * MCP Inspector 0.15 (what npm installs on Node 20), its web UI and its proxy, started
 * by its own `mcp-inspector` bin, in a real headless Chromium against a real server
 * process: the owner presets "Streamable HTTP" and the server URL, clicks Connect; the
 * Inspector reads our 401 (it starts OAuth only when the message says "Unauthorized"),
 * discovers, registers and sends the browser to our consent page; the owner types the
 * password and approves; back on the Inspector's /oauth/callback it exchanges the code,
 * connects and lists the demo tool. The grant it got shows in `grants --json`.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  browserTest,
  type Child,
  DENO_BIN,
  freePort,
  type LoopbackBrowser,
  NODE_BIN,
  openBrowser,
  PASSWORD,
  ROOT,
  type ServerProcess,
  spawnChild,
  startServer,
  waitForListener,
} from "../fixtures.ts";

/** The package's bin (`npx @modelcontextprotocol/inspector` runs this). */
const INSPECTOR_BIN = `${ROOT}node_modules/@modelcontextprotocol/inspector/cli/build/cli.js`;
const WAIT_MS = 60_000;

/**
 * Loaded into every Node process the Inspector starts: its web UI server listens on
 * every interface (`server.listen(port)`); this keeps it, like everything here, on
 * loopback.
 */
const LOOPBACK_PRELOAD = `import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const portOnly = typeof port === "number" || (typeof port === "string" && /^\\d+$/.test(port));
  if (portOnly && (args.length === 1 || typeof args[1] === "function")) {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
`;

/**
 * Starts the Inspector's bin on two free loopback ports; resolves with the link it
 * prints for the person to open (its UI, with the proxy's session token).
 */
async function startInspector(tmp: string): Promise<{
  child: Child;
  link: URL;
  proxyPort: number;
}> {
  const preload = join(tmp, "loopback.mjs");
  await writeFile(preload, LOOPBACK_PRELOAD);
  const clientPort = await freePort();
  const proxyPort = await freePort();
  const child = spawnChild(NODE_BIN, [INSPECTOR_BIN], {
    cwd: tmp,
    stdin: "ignore",
    // The bin starts the proxy and the UI server as children: stop them all together.
    group: true,
    env: {
      CLIENT_PORT: String(clientPort),
      SERVER_PORT: String(proxyPort),
      MCP_AUTO_OPEN_ENABLED: "false",
      NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`,
    },
  });
  try {
    const [, link] = await child.waitFor(/token pre-filled:\s*(\S+)/, WAIT_MS);
    await child.waitFor(/MCP Inspector is up and running/, WAIT_MS);
    await waitForListener(proxyPort, WAIT_MS);
    await waitForListener(clientPort, WAIT_MS);
    return { child, link: new URL(link!), proxyPort };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

interface GrantLine {
  clientName: string | null;
  lastUsedAt: string | null;
}

/** `mod.ts grants --json` on the running server's state. */
async function grantsOf(stateDir: string): Promise<GrantLine[]> {
  const cli = spawnChild(DENO_BIN, [
    "run",
    "-A",
    "mod.ts",
    "grants",
    "--json",
    "--state-dir",
    stateDir,
  ], { stdin: "ignore" });
  try {
    assert.equal(await cli.exit(WAIT_MS), 0, cli.output());
    return JSON.parse(cli.output());
  } finally {
    await cli.stop();
  }
}

browserTest(
  "MCP Inspector 0.15 connects through its own browser OAuth flow (consent approved) and lists and calls its tools",
  async (t) => {
    const tmp = await mkdtemp(join(tmpdir(), "pmcp-inspector-web-"));
    const stateDir = join(tmp, "state");
    let server: ServerProcess | undefined;
    let inspector: Child | undefined;
    let browser: LoopbackBrowser | undefined;
    try {
      server = await startServer({ runtime: "deno", stateDir, password: PASSWORD });
      const mcpUrl = `${server.baseUrl}/mcp`;
      const started = await startInspector(tmp);
      inspector = started.child;
      const inspectorOrigin = started.link.origin;

      // Nothing may leave the machine: only loopback requests are let through.
      browser = await openBrowser({ timeout: WAIT_MS });
      const { context, offHost } = browser;
      context.setDefaultTimeout(WAIT_MS);
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") pageErrors.push(m.text());
      });
      // Each step needs the one before: stop at the first that fails.
      const step = async (name: string, fn: () => Promise<void>) => {
        if (!await t.step(name, fn)) throw new Error(`stopped after "${name}" failed`);
      };
      const explain = () =>
        [
          `page errors:\n${pageErrors.join("\n")}`,
          `inspector:\n${inspector?.output()}`,
          `server:\n${server?.output()}`,
        ].join("\n");

      await step("the Inspector opens with Streamable HTTP and our URL preset", async () => {
        // Query parameters the 0.15 UI reads at start (getInitialTransportType,
        // getInitialSseUrl, getConfigOverridesFromQueryParams).
        const start = new URL(started.link);
        assert.match(start.searchParams.get("MCP_PROXY_AUTH_TOKEN") ?? "", /^[0-9a-f]{64}$/);
        start.searchParams.set("transport", "streamable-http");
        start.searchParams.set("serverUrl", mcpUrl);
        start.searchParams.set("MCP_PROXY_FULL_ADDRESS", `http://127.0.0.1:${started.proxyPort}`);
        await page.goto(start.href);
        await page.getByRole("button", { name: "Connect", exact: true }).waitFor();
        assert.equal(await page.locator("#sse-url-input").inputValue(), mcpUrl);
      });

      await step("Connect leads the browser to our consent page", async () => {
        await page.getByRole("button", { name: "Connect", exact: true }).click();
        // Either the Inspector starts OAuth (to /authorize) or it gives up on our 401
        // and shows "Connection Error" (as 0.15 did when the 401 said no "Unauthorized").
        const outcome = await Promise.race([
          page.waitForURL((u) => u.href.startsWith(`${server!.baseUrl}/authorize`))
            .then(() => "consent page", (error) => `${error}`),
          page.getByText(/^Connection Error/).waitFor()
            .then(() => "Connection Error", (error) => `${error}`),
        ]);
        assert.equal(outcome, "consent page", `at ${page.url()}\n${explain()}`);
        await page.locator('input[type="password"]').waitFor();
        assert.match(await page.locator("h1").innerText(), /MCP Inspector/);
      });

      await step("approving lands on the Inspector's callback, which connects", async () => {
        await page.locator('input[type="password"]').fill(PASSWORD);
        await page.getByRole("button", { name: "Approve" }).click();
        await page.waitForURL((u) => u.href.startsWith(inspectorOrigin));
        try {
          await page.getByText("Connected", { exact: true }).waitFor();
        } catch (error) {
          throw new Error(`not connected (${page.url()}): ${error}\n${explain()}`);
        }
      });

      await step("List Tools shows the demo tool", async () => {
        await page.getByRole("tab", { name: "Tools" }).click();
        await page.getByRole("button", { name: "List Tools" }).click();
        await page.getByText("Say hello to someone by name").waitFor();
        assert.equal(await page.getByText("hello", { exact: true }).count(), 1);
      });

      await step("Run Tool calls hello through the Inspector", async () => {
        await page.getByText("hello", { exact: true }).click();
        await page.locator("textarea#name").fill("Inspector");
        await page.getByRole("button", { name: "Run Tool" }).click();
        await page.getByText("Hello, Inspector!").first().waitFor();
      });

      await step("the server holds a used grant for the client named MCP Inspector", async () => {
        const grants = await grantsOf(stateDir);
        assert.equal(grants.length, 1, JSON.stringify(grants));
        assert.equal(grants[0]!.clientName, "MCP Inspector");
        assert.notEqual(grants[0]!.lastUsedAt, null);
      });

      assert.deepEqual(offHost, [], `the Inspector's page asked for ${offHost.join(", ")}`);
    } finally {
      await browser?.close();
      await inspector?.stop();
      await server?.stop();
      await rm(tmp, { recursive: true, force: true });
    }
  },
);
