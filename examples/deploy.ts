/**
 * Deno Deploy: state in Deno KV, the password from the project's environment, served by
 * the platform with `export default`. Locally:
 *
 *   deno serve -A --unstable-kv examples/deploy.ts
 *
 * `app.fetch` takes Deno's own second argument, so the password throttle sees each
 * caller's address. PERSONAL_MCP_KV_PATH names a local database file (leave it unset on
 * Deno Deploy, which provides the database).
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
}, { baseUrl, password, store: await openKvStore(Deno.env.get("PERSONAL_MCP_KV_PATH")) });

export default app satisfies Deno.ServeDefaultExport;
