/**
 * The public tool API stands on its own types (transport/types.ts), not the SDK's or
 * zod's: checked here both at the type level (the SDK's values fit ours and ours fit
 * the SDK's where they cross; arguments are typed from a zod shape) and at run time
 * (a tool is opaque, look-alikes and non-zod argument schemas are refused with a clear
 * error, a tool made by another copy of the package is served). Runs under Bun too.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import type {
  CallToolResult,
  GetPromptResult,
  Icon as SdkIcon,
  ListResourcesResult,
  McpServer,
  ReadResourceResult,
  ServerContext,
  ToolAnnotations as SdkToolAnnotations,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import {
  createMemoryStore,
  createPersonalMcp,
  type Icon,
  type InferShape,
  type McpServerInstance,
  prompt,
  type PromptResult,
  type ReadResult,
  type RequestContext,
  resource,
  type ResourceList,
  type Tool,
  tool,
  type ToolAnnotations,
  type ToolResult,
} from "../../mod.ts";
import {
  BASE_URL,
  mcpPost,
  PASSWORD,
  registerClient,
  ROOT,
  rpcMessage,
  tokensFor,
} from "../fixtures.ts";

// --- Type level: a mismatch here fails `deno check` (and so `deno test`). ---------------

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectType<T extends true>(_ok: T): void {}
function fits<T>(_value: T): void {}

// What the SDK hands a handler fits the context tools are written against.
fits<RequestContext>({} as ServerContext);
// What a tool, resource or prompt returns fits what the SDK sends, and back.
fits<CallToolResult>({} as ToolResult);
// (Not back: the SDK types structuredContent loosely, via an index signature.)
fits<ReadResourceResult>({} as ReadResult);
fits<ReadResult>({} as ReadResourceResult);
fits<GetPromptResult>({} as PromptResult);
fits<PromptResult>({} as GetPromptResult);
fits<ListResourcesResult>({} as ResourceList);
fits<SdkIcon>({} as Icon);
fits<SdkToolAnnotations>({} as ToolAnnotations);
// configureServer gets the SDK's McpServer.
fits<McpServerInstance>({} as McpServer);

// Arguments are typed from the shape: required, optional, nested.
const shape = {
  name: z.string(),
  count: z.number().int().optional(),
  tags: z.array(z.enum(["a", "b"])),
};
expectType<
  Equal<InferShape<typeof shape>, { name: string; tags: ("a" | "b")[] } & { count?: number }>
>(true);

// --- Run time. ---------------------------------------------------------------------------

Deno.test("a tool is opaque: only kind, description and title show", () => {
  const t = tool({
    description: "Say hello",
    title: "Hello",
    input: { name: z.string() },
    run: ({ name }) => `Hello, ${name}!`,
  });
  assert.deepEqual({ ...t }, {
    kind: "personal-mcp-tool",
    description: "Say hello",
    title: "Hello",
  });
  assert.ok(Object.isFrozen(t));
  assert.deepEqual(Object.keys(resource({ uri: "notes://a", read: () => "" })), ["kind", "uri"]);
  assert.deepEqual(Object.keys(prompt({ run: () => "hi" })), ["kind"]);
});

Deno.test("look-alikes of a tool, resource or prompt are refused at creation", () => {
  const lookAlike = { kind: "personal-mcp-tool", description: "x" } as Tool;
  assert.throws(
    () => createPersonalMcp({ fake: lookAlike }, { baseUrl: BASE_URL, password: PASSWORD }),
    /tools\.fake must be made with tool\(\)/,
  );
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        resources: { fake: { kind: "personal-mcp-resource", uri: "notes://a" } },
      }),
    /resources\.fake must be made with resource\(\)/,
  );
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        prompts: { fake: { kind: "personal-mcp-prompt" } },
      }),
    /prompts\.fake must be made with prompt\(\)/,
  );
});

Deno.test("an argument schema from another library is refused with a clear error", () => {
  // A Standard Schema that is not zod's: the SDK registration builds on zod objects.
  const other = {
    "~standard": {
      version: 1 as const,
      vendor: "valibot",
      validate: (v: unknown) => ({ value: v }),
    },
  };
  assert.throws(
    () => tool({ description: "x", input: { a: other }, run: () => "" }),
    /tool "input" must be a zod shape/,
  );
  assert.throws(
    () => prompt({ args: { a: other }, run: () => "" }),
    /prompt "args" must be a zod shape/,
  );
});

Deno.test("a tool made by another copy of the package is served", async () => {
  // A tools module may import another version of the package than the one serving it
  // (`jsr:@x/personal-mcp` in tools.ts, a pinned version on the command line).
  const copy = `${ROOT}tests/artifacts/copy-${crypto.randomUUID()}/`;
  mkdirSync(`${copy}transport`, { recursive: true });
  try {
    for (const file of ["tools.ts", "types.ts", "apps.ts"]) {
      cpSync(`${ROOT}transport/${file}`, `${copy}transport/${file}`);
    }
    const other = await import(`${copy}transport/tools.ts`) as { tool: typeof tool };
    assert.notEqual(other.tool, tool, "a second copy of the module");
    const twice = other.tool({
      description: "Double a number",
      input: { n: z.number() },
      output: { doubled: z.number() },
      run: ({ n }) => ({ doubled: n * 2 }),
    });
    const app = createPersonalMcp({ twice }, {
      baseUrl: BASE_URL,
      password: PASSWORD,
      store: createMemoryStore(),
    });
    try {
      const client = await registerClient(app);
      const { access_token } = await tokensFor(app, client);
      const answer = await rpcMessage(
        await mcpPost(app, {
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "twice", arguments: { n: 21 } },
        }, { authorization: `Bearer ${access_token}` }),
      );
      assert.deepEqual(
        (answer.result as { structuredContent?: unknown }).structuredContent,
        { doubled: 42 },
        JSON.stringify(answer),
      );
    } finally {
      await app.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
