/**
 * MCP Apps on the owner's own tools: `tool({ app })` lists the tool with
 * `_meta.ui.resourceUri` and serves the HTML as a `ui://` resource of the MCP Apps MIME
 * type; the wire names and shapes are held to the specification's own package
 * (`@modelcontextprotocol/ext-apps`: its constants and zod schemas). Driven with the SDK
 * client through the OAuth gate, over the server's fetch handler.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  McpUiResourceMetaSchema,
  McpUiToolMetaSchema,
  RESOURCE_MIME_TYPE,
  RESOURCE_URI_META_KEY,
} from "@modelcontextprotocol/ext-apps";
import { z } from "zod";
import { createPersonalMcp } from "../../server/create.ts";
import { resource } from "../../transport/resources.ts";
import { tool, type Tools } from "../../transport/tools.ts";
import { BASE_URL, PASSWORD, registerClient, sdkClientOf, tokensFor } from "../fixtures.ts";

const BOARD = "<!doctype html><title>Board</title><p>the board</p>";

const tools: Tools = {
  show_board: tool({
    title: "Show the board",
    description: "Shows the notes as a board",
    annotations: { readOnlyHint: true },
    app: {
      html: BOARD,
      csp: { connectDomains: ["https://api.example.com"] },
      permissions: { clipboardWrite: {} },
      prefersBorder: true,
    },
    run: () => ({ content: [{ type: "text", text: "2 notes" }] }),
  }),
  board_again: tool({
    description: "The same board, at a URI of its own choosing",
    app: { html: BOARD, uri: "ui://notes/board.html" },
    run: () => "again",
  }),
  add_card: tool({
    description: "Adds a card; only the board calls it",
    input: { text: z.string() },
    visibility: ["app"],
    run: ({ text }) => `added ${text}`,
  }),
  plain: tool({ description: "No app", run: () => "plain" }),
};

async function connect(tools: Tools, extra: Parameters<typeof createPersonalMcp>[1] = {
  baseUrl: BASE_URL,
  password: PASSWORD,
}) {
  const app = createPersonalMcp(tools, extra);
  const tokens = await tokensFor(app, await registerClient(app));
  const client = await sdkClientOf(app, tokens.access_token, "apps test");
  return { app, client };
}

Deno.test("a tool with an app names its ui:// resource as the MCP Apps spec has it", async () => {
  const { app, client } = await connect(tools);
  try {
    const listed = new Map((await client.listTools()).tools.map((t) => [t.name, t]));
    const board = listed.get("show_board")!;
    assert.deepEqual(board._meta, {
      ui: { resourceUri: "ui://show_board/app.html" },
      [RESOURCE_URI_META_KEY]: "ui://show_board/app.html",
    });
    McpUiToolMetaSchema.parse(board._meta!.ui);
    assert.equal(
      listed.get("board_again")!._meta?.ui &&
        (listed.get("board_again")!._meta!.ui as { resourceUri: string }).resourceUri,
      "ui://notes/board.html",
    );
    assert.deepEqual(listed.get("add_card")!._meta, { ui: { visibility: ["app"] } });
    McpUiToolMetaSchema.parse(listed.get("add_card")!._meta!.ui);
    assert.equal(listed.get("plain")!._meta, undefined);
    // The app's own tool is still served: hosts, not the server, keep it from the model.
    const added = await client.callTool({ name: "add_card", arguments: { text: "milk" } });
    assert.deepEqual(added.content, [{ type: "text", text: "added milk" }]);
  } finally {
    await client.close();
    await app.close();
  }
});

Deno.test("the app's HTML is listed and read with the MCP Apps MIME type and its _meta.ui", async () => {
  const { app, client } = await connect(tools);
  try {
    const { resources } = await client.listResources();
    const byUri = new Map(resources.map((r) => [r.uri, r]));
    assert.deepEqual([...byUri.keys()].sort(), [
      "ui://notes/board.html",
      "ui://show_board/app.html",
    ]);
    const listed = byUri.get("ui://show_board/app.html")!;
    assert.equal(listed.mimeType, RESOURCE_MIME_TYPE);
    const ui = {
      csp: { connectDomains: ["https://api.example.com"] },
      permissions: { clipboardWrite: {} },
      prefersBorder: true,
    };
    assert.deepEqual(listed._meta, { ui });
    McpUiResourceMetaSchema.parse(listed._meta!.ui);
    const read = await client.readResource({ uri: "ui://show_board/app.html" });
    assert.deepEqual(read.contents, [{
      uri: "ui://show_board/app.html",
      mimeType: RESOURCE_MIME_TYPE,
      text: BOARD,
      _meta: { ui },
    }]);
  } finally {
    await client.close();
    await app.close();
  }
});

Deno.test("an app's HTML may come from a file, read once when the tool is defined", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-app-"));
  const file = pathToFileURL(join(dir, "board.html"));
  await writeFile(file, "<!doctype html><p>from a file</p>");
  const fromFile = tool({ description: "Board", app: { html: file }, run: () => "ok" });
  await writeFile(file, "<!doctype html><p>changed afterwards</p>");
  const { app, client } = await connect({ board: fromFile });
  try {
    const read = await client.readResource({ uri: "ui://board/app.html" });
    assert.equal((read.contents[0] as { text: string }).text, "<!doctype html><p>from a file</p>");
  } finally {
    await client.close();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("tool() refuses an app it could not serve, naming what is wrong", () => {
  const run = () => "x";
  const cases: Array<[unknown, RegExp]> = [
    [{ html: "" }, /app\.html" must not be empty/],
    [{ html: new URL("https://example.com/board.html") }, /file: URL/],
    [{ html: new URL("file:///nonexistent/board.html") }, /cannot read file:\/\/\/nonexistent/],
    [{ html: BOARD, uri: "https://example.com/x" }, /must be a ui:\/\/ URI/],
    [{ html: BOARD, csp: { scriptDomains: ["x"] } }, /unknown key "scriptDomains"/],
    [{ html: BOARD, csp: { connectDomains: "https://a" } }, /list of origins/],
  ];
  for (const [app, message] of cases) {
    assert.throws(
      () => tool({ description: "d", app: app as never, run }),
      message,
      JSON.stringify(app),
    );
  }
  assert.throws(
    () => tool({ description: "d", visibility: ["model", "user" as never], run }),
    /"visibility" must list "model", "app" or both/,
  );
  assert.throws(() => tool({ description: "d", visibility: [], run }), /visibility/);
});

Deno.test("two tools may share one app, not two apps one URI, nor an app a resource's URI", () => {
  const a = tool({ description: "a", app: { html: BOARD, uri: "ui://x/app.html" }, run: () => "" });
  const b = tool({
    description: "b",
    app: { html: "<p>other</p>", uri: "ui://x/app.html" },
    run: () => "",
  });
  const shared = tool({
    description: "c",
    app: { html: BOARD, uri: "ui://x/app.html" },
    run: () => "",
  });
  createPersonalMcp({ a, shared }, { baseUrl: BASE_URL, password: PASSWORD }).close();
  assert.throws(
    () => createPersonalMcp({ a, b }, { baseUrl: BASE_URL, password: PASSWORD }),
    /tools\.b: another tool serves a different app at ui:\/\/x\/app\.html/,
  );
  assert.throws(
    () =>
      createPersonalMcp({ a }, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        resources: { x: resource({ uri: "ui://x/app.html", read: () => "taken" }) },
      }),
    /ui:\/\/x\/app\.html/,
  );
});
