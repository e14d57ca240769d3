/**
 * Deno Deploy: state in Deno KV, the password from the project's environment.
 * Deploy with `--unstable-kv` locally: `deno run -A --unstable-kv examples/deploy.ts`.
 */
import { z } from "zod";
import { createPersonalMcp, openKvStore, tool } from "../mod.ts";

const baseUrl = Deno.env.get("PERSONAL_MCP_BASE_URL");
const password = Deno.env.get("PERSONAL_MCP_PASSWORD");
if (!baseUrl || !password) {
  throw new Error(
    "set PERSONAL_MCP_BASE_URL (https://<project>.deno.dev) and PERSONAL_MCP_PASSWORD",
  );
}

const app = createPersonalMcp({
  hello: tool({
    description: "Say hello",
    input: { name: z.string() },
    run: ({ name }) => `Hello, ${name}!`,
  }),
}, { baseUrl, password, store: await openKvStore() });

export default {
  fetch: (request, info) =>
    app.fetch(request, {
      remoteAddress: "hostname" in info.remoteAddr ? info.remoteAddr.hostname : undefined,
    }),
} satisfies Deno.ServeDefaultExport;
