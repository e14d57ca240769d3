/**
 * `prompt()`: how a person offers prompt templates (MCP prompts), next to their tools,
 * and how definitions become SDK registrations. Prepared once, as tools are.
 *
 * @module
 */
import type {
  GetPromptResult,
  Icon,
  McpServer,
  ServerContext,
  StandardSchemaWithJSON,
} from "@modelcontextprotocol/server";
import { z } from "zod";

/** What `run` may return: the text of one user message, or a full MCP result. */
export type PromptOutput = string | GetPromptResult;

/** Fields every prompt has. */
interface PromptBase {
  /** What the prompt is for, shown by clients. */
  description?: string;
  /** Human-readable name shown by clients. */
  title?: string;
  /** Icons clients may show (MCP 2025-11-25). */
  icons?: Icon[];
}

/** A prompt with arguments: a zod shape of strings (`{ topic: z.string() }`). */
export interface PromptWithArgsDefinition<Shape extends z.ZodRawShape> extends PromptBase {
  /** The arguments; validated and typed from the shape. `completable()` fields get completions. */
  args: Shape;
  /** Builds the prompt. */
  run: (
    args: z.infer<z.ZodObject<Shape>>,
    ctx: ServerContext,
  ) => PromptOutput | Promise<PromptOutput>;
}

/** A prompt without arguments. */
export interface PromptWithoutArgsDefinition extends PromptBase {
  args?: undefined;
  /** Builds the prompt. */
  run: (ctx: ServerContext) => PromptOutput | Promise<PromptOutput>;
}

/** A prompt ready to register: built once, by {@linkcode prompt}. */
export interface Prompt {
  /** Marks a value made by {@linkcode prompt}. */
  readonly kind: "personal-mcp-prompt";
  /** Registers it on a server under `name`. */
  readonly register: (server: McpServer, name: string) => void;
}

/** A map from prompt name to prompt. */
export type Prompts = Record<string, Prompt>;

function toResult(output: PromptOutput): GetPromptResult {
  if (typeof output === "string") {
    return { messages: [{ role: "user", content: { type: "text", text: output } }] };
  }
  if (output && typeof output === "object" && Array.isArray(output.messages)) return output;
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
export function prompt<Shape extends z.ZodRawShape>(
  definition: PromptWithArgsDefinition<Shape>,
): Prompt;
export function prompt(definition: PromptWithoutArgsDefinition): Prompt;
export function prompt(
  definition: PromptWithArgsDefinition<z.ZodRawShape> | PromptWithoutArgsDefinition,
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
    const run = (definition as PromptWithoutArgsDefinition).run;
    return {
      kind: "personal-mcp-prompt",
      register: (server, name) =>
        server.registerPrompt(name, config, async (ctx) => toResult(await run(ctx))),
    };
  }
  // Built once here, not per server instance.
  const argsSchema = z.object(args) as unknown as StandardSchemaWithJSON;
  const run = (definition as PromptWithArgsDefinition<z.ZodRawShape>).run as (
    args: unknown,
    ctx: ServerContext,
  ) => PromptOutput | Promise<PromptOutput>;
  return {
    kind: "personal-mcp-prompt",
    register: (server, name) =>
      server.registerPrompt(
        name,
        { ...config, argsSchema },
        async (values: unknown, ctx: ServerContext) => toResult(await run(values, ctx)),
      ),
  };
}

/** Registers prompts on an SDK server. */
export function registerPrompts(server: McpServer, prompts: Prompts): void {
  for (const [name, p] of Object.entries(prompts)) p.register(server, name);
}

/** Checks a prompts map once, at creation. */
export function validatePrompts(prompts: unknown): Prompts | undefined {
  if (prompts === undefined) return undefined;
  if (!prompts || typeof prompts !== "object" || Array.isArray(prompts)) {
    throw new TypeError(`"prompts" must be an object mapping names to prompt() definitions`);
  }
  for (const [name, p] of Object.entries(prompts)) {
    if (name === "") throw new TypeError(`prompt names must not be empty`);
    if ((p as Prompt)?.kind !== "personal-mcp-prompt") {
      throw new TypeError(`prompts.${name} must be made with prompt()`);
    }
  }
  return prompts as Prompts;
}
