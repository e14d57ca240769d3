/**
 * `tool()`: how a person defines a tool, and how definitions become SDK registrations.
 *
 * @module
 */
import {
  type CallToolResult,
  fromJsonSchema,
  type JsonSchemaType,
  type McpServer,
  type ServerContext,
  type StandardSchemaWithJSON,
  type ToolAnnotations,
} from "@modelcontextprotocol/server";
import { z } from "zod";

/** What a tool's `run` may return: plain text, or a full MCP result (e.g. `isError`). */
export type ToolOutput = string | CallToolResult;

/** A JSON Schema for a tool's input (`type: "object"`). */
export interface JsonObjectSchema {
  type: "object";
  properties?: Record<string, unknown>;
  required?: string[];
  [key: string]: unknown;
}

/** Fields every tool definition has, whatever its input schema. */
interface ToolBase {
  /** What the tool does, for the model. */
  description: string;
  /** Human-readable name. */
  title?: string;
  /** MCP tool annotations (readOnlyHint, destructiveHint, ...). */
  annotations?: ToolAnnotations;
}

/** A tool whose input is a zod shape: `{ name: z.string() }`. */
export interface ZodToolDefinition<Shape extends z.ZodRawShape> extends ToolBase {
  input: Shape;
  run: (args: z.infer<z.ZodObject<Shape>>, ctx: ServerContext) => ToolOutput | Promise<ToolOutput>;
}

/** A tool whose input is a JSON Schema; arguments are validated against it. */
export interface JsonSchemaToolDefinition extends ToolBase {
  input: JsonObjectSchema;
  run: (args: Record<string, unknown>, ctx: ServerContext) => ToolOutput | Promise<ToolOutput>;
}

/** A tool without input. */
export interface NoInputToolDefinition extends ToolBase {
  input?: undefined;
  run: (args: Record<string, never>, ctx: ServerContext) => ToolOutput | Promise<ToolOutput>;
}

/** A tool ready to register: built once, by {@linkcode tool}. */
export interface Tool {
  readonly kind: "personal-mcp-tool";
  readonly config: {
    title?: string;
    description: string;
    inputSchema?: StandardSchemaWithJSON;
    annotations?: ToolAnnotations;
  };
  readonly run: (args: unknown, ctx: ServerContext) => Promise<CallToolResult>;
}

/** A map from tool name to tool. */
export type Tools = Record<string, Tool>;

function isZodShape(input: object): input is z.ZodRawShape {
  const values = Object.values(input);
  return values.length > 0 && values.every((v) => v && typeof v === "object" && "~standard" in v);
}

/** Turns a tool's return value into an MCP result. */
export function toResult(output: ToolOutput): CallToolResult {
  if (typeof output === "string") return { content: [{ type: "text", text: output }] };
  if (output && typeof output === "object" && Array.isArray((output as CallToolResult).content)) {
    return output;
  }
  throw new TypeError("a tool must return a string or a CallToolResult ({ content: [...] })");
}

/**
 * Defines a tool. Input is a zod shape (arguments are typed from it), a JSON Schema
 * object, or nothing. `run` returns text or a full MCP result; a thrown error becomes
 * an `isError` result whose text is the error's message, so the model sees it.
 *
 * @example A tool with a zod shape
 * ```ts
 * import { tool } from "./tools.ts";
 * import { z } from "zod";
 *
 * const hello = tool({
 *   description: "Say hello",
 *   input: { name: z.string() },
 *   run: ({ name }) => `Hello, ${name}!`,
 * });
 * if (hello.config.description !== "Say hello") throw new Error("unexpected");
 * ```
 *
 * @example A tool with a JSON Schema
 * ```ts
 * import { tool } from "./tools.ts";
 *
 * const add = tool({
 *   description: "Add two numbers",
 *   input: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
 *   run: ({ a, b }) => String(Number(a) + Number(b)),
 * });
 * if (!add.config.inputSchema) throw new Error("schema missing");
 * ```
 */
export function tool<Shape extends z.ZodRawShape>(definition: ZodToolDefinition<Shape>): Tool;
export function tool(definition: JsonSchemaToolDefinition): Tool;
export function tool(definition: NoInputToolDefinition): Tool;
export function tool(
  definition: ZodToolDefinition<z.ZodRawShape> | JsonSchemaToolDefinition | NoInputToolDefinition,
): Tool {
  if (!definition || typeof definition !== "object") {
    throw new TypeError("tool() takes a definition object");
  }
  if (typeof definition.description !== "string" || definition.description === "") {
    throw new TypeError(`tool "description" must be a non-empty string`);
  }
  if (typeof definition.run !== "function") throw new TypeError(`tool "run" must be a function`);
  const input = definition.input;
  let inputSchema: StandardSchemaWithJSON | undefined;
  if (input === undefined) {
    inputSchema = undefined;
  } else if (typeof input !== "object" || input === null) {
    throw new TypeError(`tool "input" must be a zod shape or a JSON Schema object`);
  } else if ("~standard" in input) {
    inputSchema = input as unknown as StandardSchemaWithJSON;
  } else if ((input as JsonObjectSchema).type === "object") {
    inputSchema = fromJsonSchema(input as JsonSchemaType);
  } else if (isZodShape(input)) {
    // Built once here, not per request: the SDK converts it to JSON Schema once per instance.
    inputSchema = z.object(input) as unknown as StandardSchemaWithJSON;
  } else {
    throw new TypeError(
      `tool "input" must be a zod shape ({ name: z.string() }) or a JSON Schema with type "object"`,
    );
  }
  const run = definition.run as (
    args: unknown,
    ctx: ServerContext,
  ) => ToolOutput | Promise<ToolOutput>;
  return {
    kind: "personal-mcp-tool",
    config: {
      description: definition.description,
      ...(definition.title ? { title: definition.title } : {}),
      ...(inputSchema ? { inputSchema } : {}),
      ...(definition.annotations ? { annotations: definition.annotations } : {}),
    },
    async run(args, ctx) {
      try {
        return toResult(await run(args ?? {}, ctx));
      } catch (error) {
        // MCP: tool failures are results the model can read, not protocol errors.
        const message = error instanceof Error ? error.message : String(error);
        return { content: [{ type: "text", text: message }], isError: true };
      }
    },
  };
}

/** Registers tools on an SDK server. */
export function registerTools(server: McpServer, tools: Tools): void {
  for (const [name, t] of Object.entries(tools)) {
    if (t.config.inputSchema) {
      server.registerTool(
        name,
        { ...t.config, inputSchema: t.config.inputSchema },
        (args, ctx) => t.run(args, ctx),
      );
    } else {
      const { inputSchema: _none, ...config } = t.config;
      server.registerTool(name, config, (ctx: ServerContext) => t.run({}, ctx));
    }
  }
}

/** Checks a tools map once, at creation. */
export function validateTools(tools: unknown): Tools {
  if (!tools || typeof tools !== "object" || Array.isArray(tools)) {
    throw new TypeError("tools must be an object mapping tool names to tool() definitions");
  }
  for (const [name, t] of Object.entries(tools)) {
    // MCP 2025-11-25 tool names: 1-128 of A-Z a-z 0-9 _ - .
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) {
      throw new TypeError(`tool name ${JSON.stringify(name)} must be 1-128 of A-Z a-z 0-9 _ - .`);
    }
    if ((t as Tool)?.kind !== "personal-mcp-tool") {
      throw new TypeError(`tools.${name} must be made with tool()`);
    }
  }
  return tools as Tools;
}
