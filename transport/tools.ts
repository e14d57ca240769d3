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
} from "@modelcontextprotocol/server";
import { z } from "zod";
import {
  type AppDefinition,
  appUri,
  checkVisibility,
  prepareApp,
  type PreparedApp,
  registerApp,
  toolUiMeta,
  type ToolVisibility,
} from "./apps.ts";
import type {
  ArgumentShape,
  Icon,
  InferShape,
  RequestContext,
  ToolAnnotations,
  ToolResult,
} from "./types.ts";

/** What a tool's `run` may return: plain text, or a full MCP result (e.g. `isError`). */
export type ToolOutput = string | ToolResult;

/** A JSON Schema for a tool's input (`type: "object"`). */
export interface JsonObjectSchema {
  /** Always `"object"`: a tool's arguments are an object. */
  type: "object";
  /** The JSON Schema of each argument, by name. */
  properties?: Record<string, unknown>;
  /** The names of the arguments that must be given. */
  required?: string[];
  /** Any other JSON Schema keyword. */
  [key: string]: unknown;
}

/** A tool's output schema: a zod shape, a JSON Schema object, or none. */
export type OutputSchema = ArgumentShape | JsonObjectSchema | undefined;

/**
 * What `run` returns: text or a full MCP result; with a zod `output` shape, also the
 * structured value itself (typed from the shape), sent as `structuredContent` with its
 * JSON as text for clients that read only text.
 */
export type ToolReturn<Out extends OutputSchema> = Out extends ArgumentShape
  ? InferShape<Out> | ToolResult
  : Out extends JsonObjectSchema ? Record<string, unknown> | ToolResult
  : ToolOutput;

/** Fields every tool definition has, whatever its input schema. */
export interface ToolBase<Out extends OutputSchema> {
  /** What the tool does, for the model. */
  description: string;
  /** Human-readable name shown by clients. */
  title?: string;
  /** MCP tool annotations (readOnlyHint, destructiveHint, ...). */
  annotations?: ToolAnnotations;
  /** Icons clients may show next to the tool (MCP 2025-11-25). */
  icons?: Icon[];
  /**
   * The shape of the tool's structured result (`outputSchema`): a zod shape (the
   * result is typed and validated) or a JSON Schema with `type: "object"`.
   */
  output?: Out;
  /**
   * An interactive view of the tool's results (MCP Apps): HTML the host shows in a
   * sandboxed frame, served as a `ui://` resource that `_meta.ui.resourceUri` names.
   */
  app?: AppDefinition;
  /**
   * Who may call the tool: `["model", "app"]` (the default), or `["app"]` for a tool only
   * an app calls (hosts keep it from the model).
   */
  visibility?: ToolVisibility[];
}

/** A tool whose input is a zod shape: `{ name: z.string() }`. */
export interface ZodToolDefinition<
  Shape extends ArgumentShape,
  Out extends OutputSchema = undefined,
> extends ToolBase<Out> {
  /** The input's zod shape; arguments are validated and typed from it. */
  input: Shape;
  /** Runs the tool. */
  run: (
    args: InferShape<Shape>,
    ctx: RequestContext,
  ) => ToolReturn<Out> | Promise<ToolReturn<Out>>;
}

/** A tool whose input is a JSON Schema; arguments are validated against it. */
export interface JsonSchemaToolDefinition<Out extends OutputSchema = undefined>
  extends ToolBase<Out> {
  /** The input's JSON Schema (`type: "object"`). */
  input: JsonObjectSchema;
  /** Runs the tool. */
  run: (
    args: Record<string, unknown>,
    ctx: RequestContext,
  ) => ToolReturn<Out> | Promise<ToolReturn<Out>>;
}

/** A tool without input. */
export interface NoInputToolDefinition<Out extends OutputSchema = undefined> extends ToolBase<Out> {
  /** No input. */
  input?: undefined;
  /** Runs the tool. */
  run: (
    args: Record<string, never>,
    ctx: RequestContext,
  ) => ToolReturn<Out> | Promise<ToolReturn<Out>>;
}

/**
 * A tool ready to serve, made by {@linkcode tool}: its schemas are built once, when
 * it is defined. Opaque apart from what it describes.
 */
export interface Tool {
  /** Marks a value made by {@linkcode tool}. */
  readonly kind: "personal-mcp-tool";
  /** What the tool does, for the model. */
  readonly description: string;
  /** Human-readable name shown by clients. */
  readonly title?: string;
}

/** A map from tool name to tool. */
export type Tools = Record<string, Tool>;

/** What the SDK registers for a tool, kept out of the public type. */
interface Prepared {
  config: {
    title?: string;
    description: string;
    inputSchema?: StandardSchemaWithJSON;
    outputSchema?: StandardSchemaWithJSON;
    annotations?: ToolAnnotations;
    icons?: Icon[];
  };
  app?: PreparedApp;
  visibility?: ToolVisibility[];
  run: (args: unknown, ctx: ServerContext) => Promise<CallToolResult>;
}

// A registry symbol, not a module-local one: a tools module that imports another copy
// of this package (another version from JSR) still makes tools this copy can serve.
const PREPARED = Symbol.for("personal-mcp.tool");

function preparedOf(t: Tool): Prepared {
  return (t as unknown as { [PREPARED]: Prepared })[PREPARED];
}

/** A zod shape: every value a zod schema (by its Standard Schema vendor). */
function isZodShape(input: object): input is z.ZodRawShape {
  const values = Object.values(input);
  return values.length > 0 &&
    values.every((v) => v && typeof v === "object" && v["~standard"]?.vendor === "zod");
}

/**
 * Turns a tool's return value into an MCP result. With an output schema, a plain
 * object (one without a `content` array) is the structured result.
 */
function toResult(output: unknown, structured = false): CallToolResult {
  if (typeof output === "string") return { content: [{ type: "text", text: output }] };
  if (output && typeof output === "object" && Array.isArray((output as CallToolResult).content)) {
    return output as CallToolResult;
  }
  if (structured && output && typeof output === "object" && !Array.isArray(output)) {
    // MCP 2025-06-18: structured content, and its JSON as text for older clients.
    return {
      content: [{ type: "text", text: JSON.stringify(output) }],
      structuredContent: output as Record<string, unknown>,
    };
  }
  throw new TypeError(
    structured
      ? "a tool with an output schema must return its structured object or a CallToolResult"
      : "a tool must return a string or a CallToolResult ({ content: [...] })",
  );
}

/** A zod shape, a JSON Schema object or a Standard Schema, as the SDK registers it. */
function schemaOf(value: object, name: "input" | "output"): StandardSchemaWithJSON {
  if ("~standard" in value) return value as unknown as StandardSchemaWithJSON;
  if ((value as JsonObjectSchema).type === "object") {
    return fromJsonSchema(value as JsonSchemaType);
  }
  // Built once here, not per request: the SDK converts it to JSON Schema once per instance.
  if (isZodShape(value)) return z.object(value) as unknown as StandardSchemaWithJSON;
  throw new TypeError(
    `tool "${name}" must be a zod shape ({ name: z.string() }) or a JSON Schema with type "object"`,
  );
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
 * if (hello.description !== "Say hello") throw new Error("unexpected");
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
 * if (add.kind !== "personal-mcp-tool") throw new Error("not a tool");
 * ```
 *
 * @example A tool with an app (MCP Apps): its HTML shown by the host
 * ```ts
 * import { tool } from "./tools.ts";
 *
 * const board = tool({
 *   description: "Show the notes as a board",
 *   // or html: new URL("./board.html", import.meta.url), read once, here
 *   app: { html: "<!doctype html><p>The board</p>", prefersBorder: true },
 *   run: () => "The board is open.",
 * });
 * if (board.kind !== "personal-mcp-tool") throw new Error("not a tool");
 * ```
 */
export function tool<Shape extends ArgumentShape, Out extends OutputSchema = undefined>(
  definition: ZodToolDefinition<Shape, Out>,
): Tool;
/** A tool whose input is a JSON Schema. */
export function tool<Out extends OutputSchema = undefined>(
  definition: JsonSchemaToolDefinition<Out>,
): Tool;
/** A tool without input. */
export function tool<Out extends OutputSchema = undefined>(
  definition: NoInputToolDefinition<Out>,
): Tool;
export function tool(
  definition:
    | ZodToolDefinition<ArgumentShape, OutputSchema>
    | JsonSchemaToolDefinition<OutputSchema>
    | NoInputToolDefinition<OutputSchema>,
): Tool {
  if (!definition || typeof definition !== "object") {
    throw new TypeError("tool() takes a definition object");
  }
  if (typeof definition.description !== "string" || definition.description === "") {
    throw new TypeError(`tool "description" must be a non-empty string`);
  }
  if (typeof definition.run !== "function") throw new TypeError(`tool "run" must be a function`);
  const { input, output } = definition;
  if (input !== undefined && (typeof input !== "object" || input === null)) {
    throw new TypeError(`tool "input" must be a zod shape or a JSON Schema object`);
  }
  if (output !== undefined && (typeof output !== "object" || output === null)) {
    throw new TypeError(`tool "output" must be a zod shape or a JSON Schema object`);
  }
  const app = definition.app === undefined ? undefined : prepareApp(definition.app);
  const visibility = definition.visibility === undefined
    ? undefined
    : checkVisibility(definition.visibility);
  const inputSchema = input === undefined ? undefined : schemaOf(input, "input");
  const outputSchema = output === undefined ? undefined : schemaOf(output, "output");
  // The SDK hands its ServerContext, which RequestContext describes a part of.
  const run = definition.run as unknown as (args: unknown, ctx: ServerContext) => unknown;
  const made: Tool = {
    kind: "personal-mcp-tool",
    description: definition.description,
    ...(definition.title ? { title: definition.title } : {}),
  };
  const ready: Prepared = {
    config: {
      description: definition.description,
      ...(definition.title ? { title: definition.title } : {}),
      ...(inputSchema ? { inputSchema } : {}),
      ...(outputSchema ? { outputSchema } : {}),
      ...(definition.annotations ? { annotations: definition.annotations } : {}),
      ...(definition.icons ? { icons: definition.icons } : {}),
    },
    ...(app ? { app } : {}),
    ...(visibility ? { visibility } : {}),
    async run(args, ctx) {
      try {
        return toResult(await run(args ?? {}, ctx), outputSchema !== undefined);
      } catch (error) {
        // MCP: tool failures are results the model can read, not protocol errors.
        const message = error instanceof Error ? error.message : String(error);
        return { content: [{ type: "text", text: message }], isError: true };
      }
    },
  };
  Object.defineProperty(made, PREPARED, { value: ready });
  return Object.freeze(made);
}

/**
 * The annotations a tool was defined with (what its default policy is decided from).
 *
 * @example Reading a tool's hints
 * ```ts
 * import { annotationsOf, tool } from "./tools.ts";
 *
 * const look = tool({ description: "Look", annotations: { readOnlyHint: true }, run: () => "ok" });
 * if (annotationsOf(look)?.readOnlyHint !== true) throw new Error("unexpected");
 * ```
 */
export function annotationsOf(t: Tool): ToolAnnotations | undefined {
  return preparedOf(t)?.config.annotations;
}

/** Registers tools on an SDK server, and the apps they show (once per URI). */
export function registerTools(server: McpServer, tools: Tools): void {
  const apps = new Map<string, PreparedApp>();
  for (const [name, t] of Object.entries(tools)) {
    const { config: base, run, app, visibility } = preparedOf(t);
    const uri = app && appUri(name, app);
    if (app && uri) {
      const known = apps.get(uri);
      if (known && known.html !== app.html) {
        throw new TypeError(`tools.${name}: another tool serves a different app at ${uri}`);
      }
      if (!known) registerApp(server, name, base.title, app);
      apps.set(uri, app);
    }
    const meta = toolUiMeta(uri, visibility);
    const config = meta ? { ...base, _meta: meta } : base;
    if (config.inputSchema) {
      server.registerTool(
        name,
        { ...config, inputSchema: config.inputSchema },
        (args, ctx) => run(args, ctx),
      );
    } else {
      const { inputSchema: _none, ...rest } = config;
      server.registerTool(name, rest, (ctx: ServerContext) => run({}, ctx));
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
    if ((t as Tool)?.kind !== "personal-mcp-tool" || !preparedOf(t as Tool)) {
      throw new TypeError(`tools.${name} must be made with tool()`);
    }
  }
  return tools as Tools;
}
