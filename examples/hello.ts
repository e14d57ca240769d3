/**
 * The smallest useful server: one tool, served with the CLI's flags and environment.
 *
 *   deno run -A examples/hello.ts --password 'a long passphrase'
 *   bun run examples/hello.ts --password 'a long passphrase'
 */
import { z } from "zod";
import { runCli, tool } from "../mod.ts";

await runCli({
  hello: tool({
    description: "Say hello",
    input: { name: z.string() },
    run: ({ name }) => `Hello, ${name}!`,
  }),
});
