/**
 * `prompt()`: how a person offers prompt templates (MCP prompts), next to their tools,
 * and how definitions become SDK registrations. Prepared once, as tools are.
 *
 * @module
 */
import type {
  GetPromptResult,
  McpServer,
  ServerContext,
  StandardSchemaWithJSON,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import type { ArgumentShape, Icon, InferShape, PromptResult, RequestContext } from "./types.ts";
import { definitionKind, type Register } from "./definitions.ts";

/** What `run` may return: the text of one user message, or a full MCP result. */
export type PromptOutput = string | PromptResult;

/** Fields every prompt has. */
export interface PromptBase {
  /** What the prompt is for, shown by clients. */
  description?: string;
  /** Human-readable name shown by clients. */
  title?: string;
  /** Icons clients may show (MCP 2025-11-25). */
  icons?: Icon[];
}

/** A prompt with arguments: a zod shape of strings (`{ topic: z.string() }`). */
export interface PromptWithArgsDefinition<Shape extends ArgumentShape> extends PromptBase {
  /** The arguments; validated and typed from the shape. `completable()` fields get completions. */
  args: Shape;
  /** Builds the prompt. */
  run: (args: InferShape<Shape>, ctx: RequestContext) => PromptOutput | Promise<PromptOutput>;
}

/** A prompt without arguments. */
export interface PromptWithoutArgsDefinition extends PromptBase {
  /** No arguments. */
  args?: undefined;
  /** Builds the prompt. */
  run: (ctx: RequestContext) => PromptOutput | Promise<PromptOutput>;
}

/** A prompt ready to serve, made by {@linkcode prompt}: its schema built once. Opaque. */
export interface Prompt {
  /** Marks a value made by {@linkcode prompt}. */
  readonly kind: "personal-mcp-prompt";
}

const PROMPT = definitionKind<Prompt>("prompt");

function madePrompt(register: Register): Prompt {
  return PROMPT.made({ kind: "personal-mcp-prompt" }, register);
}

/** A map from prompt name to prompt. */
export type Prompts = Record<string, Prompt>;

function toResult(output: PromptOutput): GetPromptResult {
  if (typeof output === "string") {
    return { messages: [{ role: "user", content: { type: "text", text: output } }] };
  }
  if (output && typeof output === "object" && Array.isArray(output.messages)) {
    return output as GetPromptResult;
  }
  throw new TypeError("a prompt must return a string or a GetPromptResult ({ messages })");
}

/**
 * Defines a prompt. `run` returns the text of one user message, or a full
 * `GetPromptResult`; with `args` (a zod shape) it gets them validated and typed.
 *
 * @example A prompt with one argument
 * ```ts
 * import { prompt } from "./prompts.ts";
 * import { z } from "zod";
 *
 * const review = prompt({
 *   description: "Review a text",
 *   args: { text: z.string() },
 *   run: ({ text }) => `Please review: ${text}`,
 * });
 * if (review.kind !== "personal-mcp-prompt") throw new Error("unexpected");
 * ```
 */
export function prompt<Shape extends ArgumentShape>(
  definition: PromptWithArgsDefinition<Shape>,
): Prompt;
/** A prompt without arguments. */
export function prompt(definition: PromptWithoutArgsDefinition): Prompt;
export function prompt(
  definition: PromptWithArgsDefinition<ArgumentShape> | PromptWithoutArgsDefinition,
): Prompt {
  if (!definition || typeof definition !== "object") {
    throw new TypeError("prompt() takes a definition object");
  }
  if (typeof definition.run !== "function") throw new TypeError(`prompt "run" must be a function`);
  const { title, description, icons, args } = definition;
  if (args !== undefined && (typeof args !== "object" || args === null)) {
    throw new TypeError(`prompt "args" must be a zod shape ({ topic: z.string() })`);
  }
  const config = {
    ...(title ? { title } : {}),
    ...(description ? { description } : {}),
    ...(icons ? { icons } : {}),
  };
  if (args === undefined) {
    // The SDK hands its ServerContext, which RequestContext describes a part of.
    const run = (definition as PromptWithoutArgsDefinition).run as unknown as (
      ctx: ServerContext,
    ) => PromptOutput | Promise<PromptOutput>;
    return madePrompt((server, name) =>
      server.registerPrompt(name, config, async (ctx) => toResult(await run(ctx)))
    );
  }
  const values = Object.values(args);
  if (!values.every((v) => v && typeof v === "object" && v["~standard"]?.vendor === "zod")) {
    throw new TypeError(`prompt "args" must be a zod shape ({ topic: z.string() })`);
  }
  // Built once here, not per server instance.
  const argsSchema = z.object(args as z.ZodRawShape) as unknown as StandardSchemaWithJSON;
  const run = (definition as PromptWithArgsDefinition<ArgumentShape>).run as unknown as (
    args: unknown,
    ctx: ServerContext,
  ) => PromptOutput | Promise<PromptOutput>;
  return madePrompt((server, name) =>
    server.registerPrompt(
      name,
      { ...config, argsSchema },
      async (values: unknown, ctx: ServerContext) => toResult(await run(values, ctx)),
    )
  );
}

/** Registers prompts on an SDK server. */
export function registerPrompts(server: McpServer, prompts: Prompts): void {
  PROMPT.registerAll(server, prompts);
}

/** Checks a prompts map once, at creation. */
export function validatePrompts(prompts: unknown): Prompts | undefined {
  return PROMPT.check(prompts);
}
