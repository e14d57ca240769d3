/**
 * The fixture set of the official MCP conformance suite
 * (`@modelcontextprotocol/conformance`, server scenarios), built only through this
 * module's public API: tools with `tool()`, resources with `resource()`, prompts with
 * `prompt()`, capabilities and subscriptions with `configureServer`, served with the
 * CLI's flags and environment.
 *
 *   deno run -A examples/conformance.ts --password 'a long passphrase'
 *   bun run examples/conformance.ts --password 'a long passphrase'
 *
 * The suite sends no token: put a proxy that adds `Authorization: Bearer <token>` in
 * front of `/mcp` (tests/e2e/conformance_test.ts does). The sampling and elicitation
 * tools need a 2025-era session (opened by `initialize`, echoed by the client), so
 * that the client's capabilities are known and its answer reaches the waiting call.
 */
import { completable, type McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import {
  prompt,
  type Prompts,
  type RequestContext,
  resource,
  type Resources,
  runCli,
  tool,
  type Tools,
} from "../mod.ts";

/** A 1x1 red PNG. */
const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/** A WAV header with two bytes of silence. */
const WAV_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends a server-to-client request on the stream of the tool call it serves. The
 * context's `elicitInput` and `requestSampling` do not stamp it themselves, and an
 * unstamped request goes to the standalone GET stream, which a client may not have
 * opened yet (or at all).
 */
const relatedTo = (ctx: RequestContext) => ({ relatedRequestId: ctx.mcpReq.id });

/** Asks the client for form input and reports what it answered, as the fixtures do. */
async function elicit(
  ctx: RequestContext,
  message: string,
  properties: Record<string, Record<string, unknown>>,
  required: string[] = [],
  prefix = "Elicitation completed",
): Promise<string> {
  const result = await ctx.mcpReq.elicitInput({
    mode: "form",
    message,
    // The fixtures also send the deprecated `enumNames` and multi-select arrays.
    requestedSchema: { type: "object", properties, required },
  }, relatedTo(ctx));
  return `${prefix}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`;
}

const tools: Tools = {
  test_simple_text: tool({
    description: "Tests simple text content response",
    run: () => "This is a simple text response for testing.",
  }),
  test_image_content: tool({
    description: "Tests image content response",
    run: () => ({ content: [{ type: "image", data: PNG_BASE64, mimeType: "image/png" }] }),
  }),
  test_audio_content: tool({
    description: "Tests audio content response",
    run: () => ({ content: [{ type: "audio", data: WAV_BASE64, mimeType: "audio/wav" }] }),
  }),
  test_embedded_resource: tool({
    description: "Tests embedded resource content response",
    run: () => ({
      content: [{
        type: "resource",
        resource: {
          uri: "test://embedded-resource",
          mimeType: "text/plain",
          text: "This is an embedded resource content.",
        },
      }],
    }),
  }),
  test_multiple_content_types: tool({
    description: "Tests response with multiple content types (text, image, resource)",
    run: () => ({
      content: [
        { type: "text", text: "Multiple content types test:" },
        { type: "image", data: PNG_BASE64, mimeType: "image/png" },
        {
          type: "resource",
          resource: {
            uri: "test://mixed-content-resource",
            mimeType: "application/json",
            text: JSON.stringify({ test: "data", value: 123 }),
          },
        },
      ],
    }),
  }),
  test_tool_with_logging: tool({
    description: "Tests tool that emits log messages during execution",
    run: async (_args, ctx) => {
      await ctx.mcpReq.log("info", "Tool execution started");
      await sleep(50);
      await ctx.mcpReq.log("info", "Tool processing data");
      await sleep(50);
      await ctx.mcpReq.log("info", "Tool execution completed");
      return "Tool with logging executed successfully";
    },
  }),
  test_tool_with_progress: tool({
    description: "Tests tool that reports progress notifications",
    run: async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: {
              progressToken,
              progress,
              total: 100,
              message: `Completed step ${progress} of 100`,
            },
          });
        }
        if (progress < 100) await sleep(50);
      }
      return String(progressToken ?? "no progress token");
    },
  }),
  test_error_handling: tool({
    description: "Tests error response handling",
    run: () => {
      throw new Error("This tool intentionally returns an error for testing");
    },
  }),
  test_reconnection: tool({
    description:
      "Tests SSE stream disconnection and client reconnection (SEP-1699). Closes the stream mid-call when the transport can resume it.",
    run: async (_args, ctx) => {
      // Stateless serving keeps no event store, so there is no stream to resume:
      // closeSSE is absent and the result arrives on the original stream.
      ctx.http?.closeSSE?.();
      await sleep(100);
      return "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.";
    },
  }),
  test_sampling: tool({
    description: "Tests server-initiated sampling (LLM completion request)",
    input: { prompt: z.string().describe("The prompt to send to the LLM") },
    run: async ({ prompt }, ctx) => {
      const result = await ctx.mcpReq.requestSampling({
        messages: [{ role: "user", content: { type: "text", text: prompt } }],
        maxTokens: 100,
      }, relatedTo(ctx));
      const content = Array.isArray(result.content) ? result.content[0] : result.content;
      const text = content?.type === "text" ? content.text : "No response";
      return `LLM response: ${text}`;
    },
  }),
  test_elicitation: tool({
    description: "Tests server-initiated elicitation (user input request)",
    input: { message: z.string().describe("The message to show the user") },
    run: ({ message }, ctx) =>
      elicit(
        ctx,
        message,
        {
          username: { type: "string", description: "User's response" },
          email: { type: "string", description: "User's email address" },
        },
        ["username", "email"],
        "User response",
      ),
  }),
  test_elicitation_sep1034_defaults: tool({
    description: "Tests elicitation with default values per SEP-1034",
    run: (_args, ctx) =>
      elicit(ctx, "Please review and update the form fields with defaults", {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: {
          type: "string",
          description: "User status",
          enum: ["active", "inactive", "pending"],
          default: "active",
        },
        verified: { type: "boolean", description: "Verification status", default: true },
      }),
  }),
  test_elicitation_sep1330_enums: tool({
    description: "Tests elicitation with enum schema improvements per SEP-1330",
    run: (_args, ctx) =>
      elicit(ctx, "Please select options from the enum fields", {
        untitledSingle: {
          type: "string",
          description: "Select one option",
          enum: ["option1", "option2", "option3"],
        },
        titledSingle: {
          type: "string",
          description: "Select one option with titles",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" },
          ],
        },
        legacyEnum: {
          type: "string",
          description: "Select one option (legacy)",
          enum: ["opt1", "opt2", "opt3"],
          enumNames: ["Option One", "Option Two", "Option Three"],
        },
        untitledMulti: {
          type: "array",
          description: "Select multiple options",
          minItems: 1,
          maxItems: 3,
          items: { type: "string", enum: ["option1", "option2", "option3"] },
        },
        titledMulti: {
          type: "array",
          description: "Select multiple options with titles",
          minItems: 1,
          maxItems: 3,
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" },
            ],
          },
        },
      }),
  }),
  // SEP-1613: a JSON Schema input is listed as written ($schema, $defs,
  // additionalProperties kept).
  json_schema_2020_12_tool: tool({
    description: "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
    input: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: {
          type: "object",
          properties: { street: { type: "string" }, city: { type: "string" } },
        },
      },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    },
    run: (args) => `JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`,
  }),
};

/** The fixtures' resources: fixed URIs and a template. */
const resources: Resources = {
  "static-text": resource({
    uri: "test://static-text",
    title: "Static Text Resource",
    description: "A static text resource for testing",
    mimeType: "text/plain",
    read: () => "This is the content of the static text resource.",
  }),
  "static-binary": resource({
    uri: "test://static-binary",
    title: "Static Binary Resource",
    description: "A static binary resource (image) for testing",
    mimeType: "image/png",
    read: () => ({
      contents: [{ uri: "test://static-binary", mimeType: "image/png", blob: PNG_BASE64 }],
    }),
  }),
  template: resource({
    template: "test://template/{id}/data",
    title: "Resource Template",
    description: "A resource template with parameter substitution",
    mimeType: "application/json",
    read: (_uri, { id }) => JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
  }),
  "watched-resource": resource({
    uri: "test://watched-resource",
    title: "Watched Resource",
    description: "A resource clients may subscribe to",
    mimeType: "text/plain",
    read: () => "Watched resource content",
  }),
};

/** The fixtures' prompts. */
const prompts: Prompts = {
  test_simple_prompt: prompt({
    title: "Simple Test Prompt",
    description: "A simple prompt without arguments",
    run: () => "This is a simple prompt for testing.",
  }),
  test_prompt_with_arguments: prompt({
    title: "Prompt With Arguments",
    description: "A prompt with required arguments",
    args: {
      // A completable argument is what makes the SDK declare and answer completions.
      arg1: completable(
        z.string().describe("First test argument"),
        (value) => ["paris", "park", "party"].filter((v) => v.startsWith(value)),
      ),
      arg2: z.string().describe("Second test argument"),
    },
    run: ({ arg1, arg2 }) => `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`,
  }),
  test_prompt_with_embedded_resource: prompt({
    title: "Prompt With Embedded Resource",
    description: "A prompt that includes an embedded resource",
    args: { resourceUri: z.string().describe("URI of the resource to embed") },
    run: ({ resourceUri }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "resource",
            resource: {
              uri: resourceUri,
              mimeType: "text/plain",
              text: "Embedded resource content for testing.",
            },
          },
        },
        {
          role: "user",
          content: { type: "text", text: "Please process the embedded resource above." },
        },
      ],
    }),
  }),
  test_prompt_with_image: prompt({
    title: "Prompt With Image",
    description: "A prompt that includes image content",
    run: () => ({
      messages: [
        { role: "user", content: { type: "image", data: PNG_BASE64, mimeType: "image/png" } },
        { role: "user", content: { type: "text", text: "Please analyze the image above." } },
      ],
    }),
  }),
};

/** Logging and subscriptions: what the options do not cover. Runs once per server instance. */
function configureServer(server: McpServer): void {
  // Logging must be declared for ctx.mcpReq.log to send anything; subscribe is
  // answered, but stateless serving has no stream to push resources/updated on.
  server.server.registerCapabilities({ logging: {}, resources: { subscribe: true } });
  server.server.setRequestHandler("resources/subscribe", () => ({}));
  server.server.setRequestHandler("resources/unsubscribe", () => ({}));
}

await runCli(tools, undefined, {
  name: "mcp-conformance-test-server",
  resources,
  prompts,
  configureServer,
});
