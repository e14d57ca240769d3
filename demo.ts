/**
 * The built-in demo served by `deno run -A mod.ts`: one tool, `hello`.
 *
 * @module
 */
import { z } from "zod";
import { tool, type Tools } from "./transport/tools.ts";

/** The demo tools. */
export const demoTools: Tools = {
  hello: tool({
    title: "Hello",
    description: "Say hello to someone by name",
    input: { name: z.string().describe("Who to greet") },
    annotations: { readOnlyHint: true },
    run: ({ name }) => `Hello, ${name}!`,
  }),
};
