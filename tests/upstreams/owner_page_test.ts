/**
 * The owner page shows the upstream MCP servers (state, pid, restarts, tools, last
 * error and stderr lines), with what an upstream or its name carries neutralised:
 * control, invisible and bidirectional characters as visible escapes, HTML escaped.
 */
import assert from "node:assert/strict";
import { createPersonalMcpOn } from "../../server/create.ts";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { BASE_URL, openOwner, PASSWORD, ROOT, signInOwner } from "../fixtures.ts";

const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const FAULT = `${ROOT}tests/upstreams/fault_server.mjs`;

Deno.test("the owner page lists the upstream servers, escaped", async () => {
  const app = createPersonalMcpOn({}, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
    servers: {
      everything: { command: "node", args: [EVERYTHING, "stdio"] },
      broken: { command: "node", args: [FAULT, "exit"] },
      "lab\u202e<b>": { url: "http://127.0.0.1:9/mcp", timeoutMs: 1000 },
    },
  }, { spawn: createStdioSpawner(), env: {} });
  try {
    const page = await signInOwner(app);
    let html = page.html;
    const deadline = Date.now() + 20_000;
    while (
      !(/<td>everything<\/td><td>stdio<\/td><td class="ok">running<\/td><td>\d+<\/td><td>0<\/td><td>\d+<\/td>/
        .test(html) && /<td>broken<\/td><td>stdio<\/td><td class="bad">failed<\/td>/.test(html))
    ) {
      if (Date.now() > deadline) throw new Error(`not settled:\n${html}`);
      await new Promise((r) => setTimeout(r, 200));
      html = (await openOwner(app, page.cookie)).html;
    }
    const pid = app.owner.listServers().find((s) => s.name === "everything")!.pid!;
    assert.match(html, new RegExp(`<td class="ok">running</td><td>${pid}</td>`));
    assert.match(html, /<h2>Your MCP servers<\/h2>/);
    assert.match(html, /stderr: fault_server: exiting at start on purpose/);
    assert.match(html, /last error: exited with code 3/);
    // The upstream's bidi override and terminal escape, and the name's markup, neutralised.
    assert.match(html, /stderr: \\u\{202e\}detaehrevo\\x1b\[31m red/);
    assert.match(html, /<td>lab\\u\{202e\}&#60;b&#62;<\/td><td>http<\/td>/);
    // deno-lint-ignore no-control-regex -- ESC is what must not pass
    assert.doesNotMatch(html, /[\u202e\x1b]|<b>/);
  } finally {
    await app.close();
  }
  assert.ok(app.owner.listServers().every((s) => s.state === "stopped"));
});

Deno.test("without servers, the owner page has no servers section", async () => {
  const app = createPersonalMcpOn({}, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
  }, {});
  try {
    const page = await signInOwner(app);
    assert.doesNotMatch(page.html, /Your MCP servers/);
  } finally {
    await app.close();
  }
});
