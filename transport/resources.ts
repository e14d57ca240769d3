/**
 * `resource()`: how a person offers data to read (MCP resources), next to their tools,
 * and how definitions become SDK registrations. Prepared once, as tools are.
 *
 * @module
 */
import {
  type McpServer,
  type ReadResourceResult,
  ResourceTemplate,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { Icon, ReadResult, RequestContext, ResourceList } from "./types.ts";
import { definitionKind, type Register } from "./definitions.ts";

/** What `read` may return: the text of the resource, or a full MCP result. */
export type ResourceOutput = string | ReadResult;

/** The values of a URI template's variables (a list for `{var*}`-style ones). */
export type TemplateVariables = Record<string, string | string[]>;

/**
 * Completions for one template variable: the values that fit what the user has typed
 * so far (`value`), given the variables already chosen (`context.arguments`).
 */
export type CompleteVariable = (
  value: string,
  context?: { arguments?: Record<string, string> },
) => string[] | Promise<string[]>;

/** Fields every resource has. */
export interface ResourceBase {
  /** Human-readable name shown by clients. */
  title?: string;
  /** What the resource holds, for the model and the user. */
  description?: string;
  /** The MIME type of its contents (e.g. `text/plain`); also the type of text returned. */
  mimeType?: string;
  /** Icons clients may show (MCP 2025-11-25). */
  icons?: Icon[];
}

/** A resource at one fixed URI. */
export interface FixedResourceDefinition extends ResourceBase {
  /** Its URI, e.g. `notes://today`. */
  uri: string;
  /** Not with `uri`. */
  template?: undefined;
  /** Reads it: text (served with `mimeType`) or a full `ReadResourceResult`. */
  read: (uri: URL, ctx: RequestContext) => ResourceOutput | Promise<ResourceOutput>;
}

/** A family of resources named by a URI template (RFC 6570), e.g. `notes://{date}`. */
export interface TemplateResourceDefinition extends ResourceBase {
  /** Not with `template`. */
  uri?: undefined;
  /** The URI template; its variables are handed to `read`. */
  template: string;
  /** Lists the resources of the template that exist now, for `resources/list`. */
  list?: (ctx: RequestContext) => ResourceList | Promise<ResourceList>;
  /** Completions for a variable (what a client offers while the user types). */
  complete?: Record<string, CompleteVariable>;
  /** Reads one: text (served with `mimeType`) or a full `ReadResourceResult`. */
  read: (
    uri: URL,
    variables: TemplateVariables,
    ctx: RequestContext,
  ) => ResourceOutput | Promise<ResourceOutput>;
}

/** A resource ready to serve, made by {@linkcode resource}. Opaque apart from its address. */
export interface Resource {
  /** Marks a value made by {@linkcode resource}. */
  readonly kind: "personal-mcp-resource";
  /** Its URI, or its URI template. */
  readonly uri: string;
}

const RESOURCE = definitionKind<Resource>("resource");

function madeResource(uri: string, register: Register): Resource {
  return RESOURCE.made({ kind: "personal-mcp-resource", uri }, register);
}

/** A map from resource name to resource. */
export type Resources = Record<string, Resource>;

function toResult(uri: URL, output: ResourceOutput, mimeType?: string): ReadResourceResult {
  if (typeof output === "string") {
    return { contents: [{ uri: uri.href, ...(mimeType ? { mimeType } : {}), text: output }] };
  }
  if (output && typeof output === "object" && Array.isArray(output.contents)) return output;
  throw new TypeError("a resource must read as a string or a ReadResourceResult ({ contents })");
}

/**
 * Defines a resource: a fixed `uri`, or a URI `template` whose variables `read` gets.
 * `read` returns the text (sent with `mimeType`) or a full `ReadResourceResult`.
 *
 * @example A fixed resource and a template
 * ```ts
 * import { resource } from "./resources.ts";
 *
 * const today = resource({ uri: "notes://today", mimeType: "text/plain", read: () => "Buy milk" });
 * const note = resource({
 *   template: "notes://{date}",
 *   read: (uri, { date }) => `Notes of ${date}`,
 * });
 * if (today.kind !== "personal-mcp-resource" || note.kind !== "personal-mcp-resource") throw new Error();
 * ```
 */
export function resource(
  definition: FixedResourceDefinition | TemplateResourceDefinition,
): Resource {
  if (!definition || typeof definition !== "object") {
    throw new TypeError("resource() takes a definition object");
  }
  if (typeof definition.read !== "function") {
    throw new TypeError(`resource "read" must be a function`);
  }
  const { title, description, mimeType, icons } = definition;
  const metadata = {
    ...(title ? { title } : {}),
    ...(description ? { description } : {}),
    ...(mimeType ? { mimeType } : {}),
    ...(icons ? { icons } : {}),
  };
  if (typeof definition.uri === "string") {
    let uri: URL;
    try {
      uri = new URL(definition.uri);
    } catch {
      throw new TypeError(
        `resource "uri" must be an absolute URI, got ${JSON.stringify(definition.uri)}`,
      );
    }
    const read = definition.read as unknown as SdkRead;
    return madeResource(uri.href, (server, name) =>
      server.registerResource(
        name,
        uri.href,
        metadata,
        async (u, ctx) => toResult(u, await read(u, ctx), mimeType),
      ));
  }
  if (typeof definition.template !== "string" || definition.template === "") {
    throw new TypeError(`a resource needs a "uri" or a "template"`);
  }
  const { template, complete } = definition as TemplateResourceDefinition;
  // The SDK hands its ServerContext, which RequestContext describes a part of.
  const list = (definition as TemplateResourceDefinition).list as unknown as
    | SdkList
    | undefined;
  const read = (definition as TemplateResourceDefinition).read as unknown as SdkTemplateRead;
  return madeResource(template, (server, name) =>
    server.registerResource(
      name,
      // One per server instance: the SDK keeps its callbacks on it.
      new ResourceTemplate(template, { list, ...(complete ? { complete } : {}) }),
      metadata,
      async (u, variables, ctx) => toResult(u, await read(u, variables, ctx), mimeType),
    ));
}

type SdkRead = (uri: URL, ctx: ServerContext) => ResourceOutput | Promise<ResourceOutput>;
type SdkTemplateRead = (
  uri: URL,
  variables: TemplateVariables,
  ctx: ServerContext,
) => ResourceOutput | Promise<ResourceOutput>;
type SdkList = (ctx: ServerContext) => ReturnType<NonNullable<TemplateResourceDefinition["list"]>>;

/** Registers resources on an SDK server. */
export function registerResources(server: McpServer, resources: Resources): void {
  RESOURCE.registerAll(server, resources);
}

/** Checks a resources map once, at creation. */
export function validateResources(resources: unknown): Resources | undefined {
  return RESOURCE.check(resources);
}
