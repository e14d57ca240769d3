/**
 * The README's tutorial, run as a reader would: examples/notes.ts under Deno and Bun,
 * connected through the OAuth flow, a note added and read back, and the file on disk.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { obtainTokens, PASSWORD, RUNTIMES, startServer } from "../fixtures.ts";

/** A lone tools/call as Claude sends it; returns the text of the result. */
async function call(baseUrl: string, token: string, name: string, args: unknown) {
  const res = await fetch(`${baseUrl}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
  assert.equal(res.status, 200);
  const message = await res.json();
  return (message.result.content[0] as { text: string }).text;
}

for (const runtime of RUNTIMES) {
  Deno.test(`examples/notes.ts keeps notes a client adds and reads back, under ${runtime}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-notes-"));
    const notesFile = join(dir, "notes.md");
    const server = await startServer({
      runtime,
      stateDir: join(dir, "state"),
      password: PASSWORD,
      script: "examples/notes.ts",
      env: { PERSONAL_MCP_NOTES_FILE: notesFile },
    });
    try {
      const { accessToken } = await obtainTokens(server.baseUrl, "Claude Code (tutorial)");
      assert.equal(await call(server.baseUrl, accessToken, "read_notes", {}), "No notes yet.");
      assert.match(
        await call(server.baseUrl, accessToken, "add_note", { text: "Buy *oat* milk" }),
        /^Noted/,
      );
      await call(server.baseUrl, accessToken, "add_note", { text: "Call the plumber" });
      const plumber = await call(server.baseUrl, accessToken, "read_notes", {
        contains: "PLUMBER",
      });
      assert.match(plumber, /Call the plumber/);
      assert.doesNotMatch(plumber, /oat/);
      const disk = await readFile(notesFile, "utf8");
      assert.match(disk, /## \d{4}-\d{2}-\d{2} \d{2}:\d{2}\n\nBuy \*oat\* milk/);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
