/**
 * The built-in demo served by `deno run -A mod.ts`: one tool, `hello`.
 *
 * @module
 */
import { z } from "zod";
import { tool, type Tools } from "./tools.ts";

/**
 * The demo tools: `hello` takes `{ name }` and answers `Hello, <name>!`.
 *
 * @example Serving the demo in memory
 * ```ts
 * import { createPersonalMcp, demoTools } from "../mod.ts";
 * const app = createPersonalMcp(demoTools, { baseUrl: "http://127.0.0.1:8787", password: "demo-password" });
 * await app.close();
 * ```
 */
export const demoTools: Tools = {
  hello: tool({
    title: "Hello",
    description: "Say hello to someone by name",
    input: { name: z.string().describe("Who to greet") },
    annotations: { readOnlyHint: true },
    run: ({ name }) => `Hello, ${name}!`,
  }),
};
