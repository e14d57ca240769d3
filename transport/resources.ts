/**
 * `resource()`: how a person offers data to read (MCP resources), next to their tools,
 * and how definitions become SDK registrations. Prepared once, as tools are.
 *
 * @module
 */
import {
  type CompleteResourceTemplateCallback,
  type Icon,
  type ListResourcesResult,
  type McpServer,
  type ReadResourceResult,
  ResourceTemplate,
  type ServerContext,
  type Variables,
} from "@modelcontextprotocol/server";

/** What `read` may return: the text of the resource, or a full MCP result. */
export type ResourceOutput = string | ReadResourceResult;

/** Fields every resource has. */
interface ResourceBase {
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
  template?: undefined;
  /** Reads it: text (served with `mimeType`) or a full `ReadResourceResult`. */
  read: (uri: URL, ctx: ServerContext) => ResourceOutput | Promise<ResourceOutput>;
}

/** A family of resources named by a URI template (RFC 6570), e.g. `notes://{date}`. */
export interface TemplateResourceDefinition extends ResourceBase {
  uri?: undefined;
  /** The URI template; its variables are handed to `read`. */
  template: string;
  /** Lists the resources of the template that exist now, for `resources/list`. */
  list?: (ctx: ServerContext) => ListResourcesResult | Promise<ListResourcesResult>;
  /** Completions for a variable (what a client offers while the user types). */
  complete?: Record<string, CompleteResourceTemplateCallback>;
  /** Reads one: text (served with `mimeType`) or a full `ReadResourceResult`. */
  read: (
    uri: URL,
    variables: Variables,
    ctx: ServerContext,
  ) => ResourceOutput | Promise<ResourceOutput>;
}

/** A resource ready to register: built once, by {@linkcode resource}. */
export interface Resource {
  /** Marks a value made by {@linkcode resource}. */
  readonly kind: "personal-mcp-resource";
  /** Registers it on a server under `name`. */
  readonly register: (server: McpServer, name: string) => void;
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
    const read = definition.read;
    return {
      kind: "personal-mcp-resource",
      register: (server, name) =>
        server.registerResource(
          name,
          uri.href,
          metadata,
          async (u, ctx) => toResult(u, await read(u, ctx), mimeType),
        ),
    };
  }
  if (typeof definition.template !== "string" || definition.template === "") {
    throw new TypeError(`a resource needs a "uri" or a "template"`);
  }
  const { template, list, complete } = definition as TemplateResourceDefinition;
  const read = (definition as TemplateResourceDefinition).read;
  return {
    kind: "personal-mcp-resource",
    register: (server, name) =>
      server.registerResource(
        name,
        // One per server instance: the SDK keeps its callbacks on it.
        new ResourceTemplate(template, { list, ...(complete ? { complete } : {}) }),
        metadata,
        async (u, variables, ctx) => toResult(u, await read(u, variables, ctx), mimeType),
      ),
  };
}

/** Registers resources on an SDK server. */
export function registerResources(server: McpServer, resources: Resources): void {
  for (const [name, r] of Object.entries(resources)) r.register(server, name);
}

/** Checks a resources map once, at creation. */
export function validateResources(resources: unknown): Resources | undefined {
  if (resources === undefined) return undefined;
  if (!resources || typeof resources !== "object" || Array.isArray(resources)) {
    throw new TypeError(`"resources" must be an object mapping names to resource() definitions`);
  }
  for (const [name, r] of Object.entries(resources)) {
    if (name === "") throw new TypeError(`resource names must not be empty`);
    if ((r as Resource)?.kind !== "personal-mcp-resource") {
      throw new TypeError(`resources.${name} must be made with resource()`);
    }
  }
  return resources as Resources;
}
