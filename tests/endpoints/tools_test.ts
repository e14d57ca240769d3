/**
 * `tool()` as the MCP spec has tools: title, annotations, icons, an output schema with
 * typed, validated structured content, and thrown errors as `isError` results. Driven
 * with the official SDK client over the server's own fetch handler.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createPersonalMcp } from "../../server/create.ts";
import { tool, type Tools } from "../../transport/tools.ts";
import { BASE_URL, PASSWORD, registerClient, sdkClientOf, tokensFor } from "../fixtures.ts";

const tools: Tools = {
  weather: tool({
    title: "Weather",
    description: "The weather in a city",
    input: { city: z.string() },
    output: { city: z.string(), celsius: z.number() },
    annotations: { readOnlyHint: true, openWorldHint: false },
    icons: [{ src: "https://example.com/sun.png", mimeType: "image/png", sizes: ["48x48"] }],
    // Typed from the output shape: returning { celsius: "warm" } does not compile.
    run: ({ city }) => ({ city, celsius: city === "Oslo" ? 3 : 21 }),
  }),
  broken_output: tool({
    description: "Returns what its output schema forbids",
    output: { count: z.number() },
    run: () => ({ count: "many" }) as unknown as { count: number },
  }),
  json_output: tool({
    description: "An output given as JSON Schema",
    input: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
    output: { type: "object", properties: { double: { type: "number" } }, required: ["double"] },
    run: ({ n }) => ({ double: Number(n) * 2 }),
  }),
  fails: tool({
    description: "Always fails",
    run: () => {
      throw new Error("the disk is on fire");
    },
  }),
};

async function connected() {
  const app = createPersonalMcp(tools, { baseUrl: BASE_URL, password: PASSWORD });
  const tokens = await tokensFor(app, await registerClient(app));
  const client = await sdkClientOf(app, tokens.access_token, "tools test");
  return { app, client };
}

Deno.test("tool() carries title, annotations, icons and the output schema to clients", async () => {
  const { app, client } = await connected();
  try {
    const { tools: listed } = await client.listTools();
    const weather = listed.find((t) => t.name === "weather");
    assert.ok(weather, "weather is listed");
    assert.equal(weather.title, "Weather");
    assert.deepEqual(weather.annotations, { readOnlyHint: true, openWorldHint: false });
    assert.deepEqual(weather.icons, [
      { src: "https://example.com/sun.png", mimeType: "image/png", sizes: ["48x48"] },
    ]);
    assert.equal(weather.outputSchema?.type, "object");
    assert.deepEqual(Object.keys(weather.outputSchema?.properties ?? {}).sort(), [
      "celsius",
      "city",
    ]);
    const json = listed.find((t) => t.name === "json_output");
    assert.deepEqual(json?.outputSchema?.required, ["double"]);
  } finally {
    await client.close();
    await app.close();
  }
});

Deno.test("a tool with an output schema answers structured content, validated", async (t) => {
  const { app, client } = await connected();
  try {
    await t.step("the structured object and its JSON as text", async () => {
      const result = await client.callTool({ name: "weather", arguments: { city: "Oslo" } });
      assert.deepEqual(result.structuredContent, { city: "Oslo", celsius: 3 });
      const text = (result.content as { type: string; text?: string }[])
        .find((c) => c.type === "text")?.text;
      assert.deepEqual(JSON.parse(text ?? "null"), { city: "Oslo", celsius: 3 });
      assert.notEqual(result.isError, true);
    });
    await t.step("a JSON Schema output works the same", async () => {
      const result = await client.callTool({ name: "json_output", arguments: { n: 4 } });
      assert.deepEqual(result.structuredContent, { double: 8 });
    });
    await t.step("a result that breaks the schema is not passed off as valid", async () => {
      const outcome = await client.callTool({ name: "broken_output", arguments: {} }).then(
        (result) => ({ result, error: undefined }),
        (error: Error) => ({ result: undefined, error }),
      );
      // Either an isError result or a JSON-RPC error: never the invalid value as success.
      if (outcome.result) {
        assert.equal(outcome.result.isError, true, JSON.stringify(outcome.result));
      } else {
        assert.match(String(outcome.error?.message), /output|structured/i);
      }
    });
    await t.step("a thrown error is an isError result the model can read", async () => {
      const result = await client.callTool({ name: "fails", arguments: {} });
      assert.equal(result.isError, true);
      assert.deepEqual(result.content, [{ type: "text", text: "the disk is on fire" }]);
    });
  } finally {
    await client.close();
    await app.close();
  }
});

Deno.test("tool() refuses a malformed output schema when it is defined", () => {
  assert.throws(
    () =>
      tool({
        description: "x",
        output: { type: "string" } as unknown as { type: "object" },
        run: () => ({}),
      }),
    /tool "output" must be a zod shape/,
  );
});

Deno.test("tool() types run's result from the output shape (checked at compile time)", () => {
  const typed = tool({
    description: "typed",
    input: { city: z.string() },
    output: { celsius: z.number() },
    // @ts-expect-error -- a string is not the declared { celsius: number }
    run: () => ({ celsius: "warm" }),
  });
  assert.equal(typed.kind, "personal-mcp-tool");
});
