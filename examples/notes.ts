/**
 * A useful first tool: notes kept in a Markdown file on your machine, which Claude (or
 * any MCP client) can append to and read back. The README's tutorial walks through it.
 *
 *   PERSONAL_MCP_NOTES_FILE=~/notes.md deno run -A examples/notes.ts
 *   bun run examples/notes.ts
 *
 * Then, for Claude Code: claude mcp add --transport http notes http://127.0.0.1:8787/mcp
 *
 * `notes_board` is an MCP App: Claude and ChatGPT show its board (notes_board.html) next
 * to the chat, and the board adds notes through the host with `add_note`.
 */
import { appendFile, readFile } from "node:fs/promises";
import process from "node:process";
import { z } from "zod";
import { runCli, tool } from "../mod.ts";

/** Where the notes live: PERSONAL_MCP_NOTES_FILE, or notes.md in the working folder. */
const NOTES_FILE = process.env.PERSONAL_MCP_NOTES_FILE || "notes.md";

/** One note: when it was written (its heading) and its text. */
interface Note {
  when: string;
  text: string;
}

async function readNotes(): Promise<string> {
  try {
    return await readFile(NOTES_FILE, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return "";
    throw error;
  }
}

/** The notes, oldest first: each starts at a `## <time>` heading. */
async function notes(): Promise<Note[]> {
  return (await readNotes()).split(/\n(?=## )/).map((n) => n.trim()).filter(Boolean).map((n) => {
    const [heading = "", ...rest] = n.split("\n");
    const when = heading.startsWith("## ") ? heading.slice(3).trim() : "";
    return { when, text: (when ? rest.join("\n") : n).trim() };
  });
}

await runCli({
  add_note: tool({
    title: "Add a note",
    description: "Append a note (one or more lines of Markdown) to the owner's notes file.",
    input: { text: z.string().min(1).max(10_000).describe("The note, in Markdown") },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async ({ text }) => {
      const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
      await appendFile(NOTES_FILE, `\n## ${stamp}\n\n${text.trim()}\n`, { mode: 0o600 });
      return `Noted (${text.length} characters).`;
    },
  }),
  read_notes: tool({
    title: "Read notes",
    description:
      "Read the owner's notes; with `contains`, only the notes whose text contains it (case-insensitive).",
    input: { contains: z.string().optional().describe("Only notes containing this text") },
    annotations: { readOnlyHint: true },
    run: async ({ contains }) => {
      const all = (await readNotes()).split(/\n(?=## )/).map((n) => n.trim()).filter(Boolean);
      const wanted = contains?.toLowerCase();
      const found = wanted ? all.filter((n) => n.toLowerCase().includes(wanted)) : all;
      return found.length ? found.join("\n\n") : "No notes yet.";
    },
  }),
  notes_board: tool({
    title: "Notes board",
    description: "Show the owner's notes as a board, where the owner can also add one.",
    output: { notes: z.array(z.object({ when: z.string(), text: z.string() })) },
    annotations: { readOnlyHint: true },
    app: { html: new URL("./notes_board.html", import.meta.url), prefersBorder: true },
    run: async () => ({ notes: await notes() }),
  }),
});
