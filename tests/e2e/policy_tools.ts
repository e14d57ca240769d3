/**
 * Tools for the permission tests that run a real server process (`--tools`): one that
 * reads, one that writes, one that deletes (destructive: held for the owner by default).
 */
import { z } from "zod";
import { tool } from "../../mod.ts";

export default {
  read_files: tool({
    description: "Reads the files of a folder",
    input: { folder: z.string() },
    annotations: { readOnlyHint: true },
    run: ({ folder }) => `read ${folder}`,
  }),
  write_note: tool({
    description: "Writes a note",
    input: { text: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: false },
    run: ({ text }) => `noted ${text}`,
  }),
  delete_all: tool({
    description: "Deletes every file of a folder",
    input: { folder: z.string() },
    annotations: { destructiveHint: true },
    run: ({ folder }) => `deleted ${folder}`,
  }),
};
