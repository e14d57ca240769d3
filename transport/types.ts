/**
 * The MCP shapes a person writes tools, resources and prompts against: this module's
 * own declarations of what the MCP specification (2025-11-25) defines. They are
 * structurally the SDK's (`tests/unit/public_types_test.ts` checks both ways where
 * values cross), so a value built with the SDK's helpers still fits, while the public
 * API does not expose the SDK's or zod's internal types (which a JSR package would
 * have to document and keep stable).
 *
 * @module
 */

/** Metadata a result or content block may carry (`_meta`). */
export type Meta = Record<string, unknown>;

/** An icon a client may show next to a tool, resource or prompt (MCP 2025-11-25). */
export type Icon = {
  /** An `https:` or `data:` URL of the image. */
  src: string;
  /** Its MIME type, e.g. `image/png`. */
  mimeType?: string;
  /** Sizes it fits, e.g. `["48x48"]` or `["any"]`. */
  sizes?: string[];
  /** The background it is drawn for. */
  theme?: "light" | "dark";
};

/** Hints about what a tool does (MCP `ToolAnnotations`); clients may show or act on them. */
export type ToolAnnotations = {
  /** Human-readable name. */
  title?: string;
  /** True when the tool changes nothing. */
  readOnlyHint?: boolean;
  /** True when it may destroy or overwrite (meaningful when not read-only). */
  destructiveHint?: boolean;
  /** True when calling it twice with the same arguments does nothing more. */
  idempotentHint?: boolean;
  /** True when it reaches outside (the web, other people). */
  openWorldHint?: boolean;
};

/** Who a content block is for and how much it matters (MCP `Annotations`). */
export type ContentAnnotations = {
  /** Who it is meant for. */
  audience?: ("user" | "assistant")[];
  /** 0 (least) to 1 (most important). */
  priority?: number;
  /** When it last changed (ISO 8601). */
  lastModified?: string;
};

/** Text. */
export type TextContent = {
  /** The kind of block. */
  type: "text";
  /** The text. */
  text: string;
  /** Audience and priority. */
  annotations?: ContentAnnotations;
  /** Metadata. */
  _meta?: Meta;
};

/** An image, base64-encoded. */
export type ImageContent = {
  /** The kind of block. */
  type: "image";
  /** The image's bytes, base64. */
  data: string;
  /** Its MIME type, e.g. `image/png`. */
  mimeType: string;
  /** Audience and priority. */
  annotations?: ContentAnnotations;
  /** Metadata. */
  _meta?: Meta;
};

/** Audio, base64-encoded. */
export type AudioContent = {
  /** The kind of block. */
  type: "audio";
  /** The audio's bytes, base64. */
  data: string;
  /** Its MIME type, e.g. `audio/wav`. */
  mimeType: string;
  /** Audience and priority. */
  annotations?: ContentAnnotations;
  /** Metadata. */
  _meta?: Meta;
};

/** The text of a resource, by URI. */
export type TextResourceContents = {
  /** The resource's URI. */
  uri: string;
  /** Its MIME type. */
  mimeType?: string;
  /** Its text. */
  text: string;
  /** Metadata. */
  _meta?: Meta;
};

/** The bytes of a resource, by URI. */
export type BlobResourceContents = {
  /** The resource's URI. */
  uri: string;
  /** Its MIME type. */
  mimeType?: string;
  /** Its bytes, base64. */
  blob: string;
  /** Metadata. */
  _meta?: Meta;
};

/** A resource embedded in a result. */
export type EmbeddedResource = {
  /** The kind of block. */
  type: "resource";
  /** The resource's contents. */
  resource: TextResourceContents | BlobResourceContents;
  /** Audience and priority. */
  annotations?: ContentAnnotations;
  /** Metadata. */
  _meta?: Meta;
};

/** A resource the client may read or subscribe to, as listed by `resources/list`. */
export type ResourceInfo = {
  /** Its URI. */
  uri: string;
  /** Its name (an identifier). */
  name: string;
  /** Human-readable name. */
  title?: string;
  /** What it holds. */
  description?: string;
  /** Its MIME type. */
  mimeType?: string;
  /** Its size in bytes, when known. */
  size?: number;
  /** Icons clients may show. */
  icons?: Icon[];
  /** Audience and priority. */
  annotations?: ContentAnnotations;
  /** Metadata. */
  _meta?: Meta;
};

/** A link to a resource, in a result. */
export type ResourceLink = ResourceInfo & {
  /** The kind of block. */
  type: "resource_link";
};

/** One block of a tool's result or a prompt's message. */
export type ContentBlock =
  | TextContent
  | ImageContent
  | AudioContent
  | ResourceLink
  | EmbeddedResource;

/** A tool's full result (MCP `CallToolResult`). */
export type ToolResult = {
  /** What the model reads. */
  content: ContentBlock[];
  /** The structured result, when the tool has an output schema. */
  structuredContent?: Record<string, unknown>;
  /** True when the tool failed: the model reads why in `content`. */
  isError?: boolean;
  /** Metadata. */
  _meta?: Meta;
};

/** A resource's full read result (MCP `ReadResourceResult`). */
export type ReadResult = {
  /** The contents read, each with its URI. */
  contents: (TextResourceContents | BlobResourceContents)[];
  /** Metadata. */
  _meta?: Meta;
};

/** The resources of a template that exist now (MCP `ListResourcesResult`). */
export type ResourceList = {
  /** The resources. */
  resources: ResourceInfo[];
  /** Where the next page starts, if any. */
  nextCursor?: string;
  /** Metadata. */
  _meta?: Meta;
};

/** One message of a prompt. */
export type PromptMessage = {
  /** Who says it. */
  role: "user" | "assistant";
  /** What is said. */
  content: ContentBlock;
};

/** A prompt's full result (MCP `GetPromptResult`). */
export type PromptResult = {
  /** What the prompt is for. */
  description?: string;
  /** The messages. */
  messages: PromptMessage[];
  /** Metadata. */
  _meta?: Meta;
};

/** The level of a log message sent to the client (RFC 5424 names). */
export type LogLevel =
  | "debug"
  | "info"
  | "notice"
  | "warning"
  | "error"
  | "critical"
  | "alert"
  | "emergency";

/** What an elicitation asks the user (2025-era sessions only). */
export type ElicitRequest = {
  /** `"form"` (the default) or `"url"`. */
  mode?: "form" | "url";
  /** What the user is asked. */
  message: string;
  /** For a form: the flat object schema of the answer. */
  requestedSchema?: {
    type: "object";
    properties: Record<string, unknown>;
    required?: string[];
    [key: string]: unknown;
  };
  /** For a URL elicitation: where the user goes. */
  url?: string;
  /** For a URL elicitation: its id. */
  elicitationId?: string;
  /** Metadata. */
  _meta?: Meta;
};

/** The user's answer to an elicitation. */
export type ElicitAnswer = {
  /** Whether they answered, declined or dismissed it. */
  action: "accept" | "decline" | "cancel";
  /** The answer, when accepted. */
  content?: Record<string, unknown>;
  /** Metadata. */
  _meta?: Meta;
};

/** Options of a request sent to the client in the middle of a tool call. */
export type RelatedRequestOptions = {
  /** Cancels the request. */
  signal?: AbortSignal;
  /** Milliseconds to wait for the answer. */
  timeout?: number;
  /** The request this one belongs to (`ctx.mcpReq.id`). */
  relatedRequestId?: string | number;
};

/** What a sampling request asks the client's model (2025-era sessions only). */
export type SamplingRequest = {
  /** The conversation. */
  messages: { role: "user" | "assistant"; content: unknown }[];
  /** The most tokens to generate. */
  maxTokens: number;
  /** A system prompt. */
  systemPrompt?: string;
  /** Any other field of MCP `CreateMessageRequest` params. */
  [key: string]: unknown;
};

/** The client's model's answer to a sampling request. */
export type SamplingAnswer = {
  /** Who speaks: the assistant. */
  role: "user" | "assistant";
  /** What it said. */
  content: unknown;
  /** The model that answered. */
  model: string;
  /** Why it stopped. */
  stopReason?: string;
  /** Any other field. */
  [key: string]: unknown;
};

/**
 * What a tool's `run`, a resource's `read` and a prompt's `run` get besides their
 * arguments: the request being answered. It is the SDK's `ServerContext`; this type
 * names the parts this module documents. Pass it to {@linkcode caller} to learn which
 * connected app called.
 */
export interface RequestContext {
  /** The MCP session (2025-era sessions), when there is one. */
  sessionId?: string;
  /** The MCP request being answered. */
  mcpReq: {
    /** Its JSON-RPC id. */
    id: string | number;
    /** Its method, e.g. `tools/call`. */
    method: string;
    /** The request's `_meta`, e.g. a `progressToken`. */
    _meta?: { progressToken?: string | number; [key: string]: unknown };
    /** Aborted when the client cancels the request or disconnects. */
    signal: AbortSignal;
    /** Sends a notification tied to this request (e.g. `notifications/progress`). */
    notify(notification: { method: string; params?: Record<string, unknown> }): Promise<void>;
    /** Sends a log message to the client (needs the `logging` capability). */
    log(level: LogLevel, data: unknown, logger?: string): Promise<void>;
    /** Asks the user something through the client (2025-era sessions only). */
    elicitInput(params: ElicitRequest, options?: RelatedRequestOptions): Promise<ElicitAnswer>;
    /** Asks the client's model for a completion (2025-era sessions only). */
    requestSampling(
      params: SamplingRequest,
      options?: RelatedRequestOptions,
    ): Promise<SamplingAnswer>;
  };
  /** The HTTP side of the request. */
  http?: {
    /** The HTTP request that carried the MCP request. */
    req?: Request;
    /** Ends this request's SSE stream so the client reconnects (when resumable). */
    closeSSE?: () => void;
  };
}

/**
 * A schema that validates and types one argument: a zod schema (`z.string()`), or any
 * schema implementing Standard Schema v1 with zod as its vendor. Declared here by its
 * Standard Schema surface so the public API does not name zod's internal types.
 */
export interface ArgumentSchema<Output = unknown> {
  /** The Standard Schema v1 interface. */
  readonly "~standard": {
    /** Always 1. */
    readonly version: 1;
    /** The library that made it; `"zod"` here. */
    readonly vendor: string;
    /** Validates a value. */
    readonly validate: (value: unknown) => unknown;
    /** The types it accepts and produces (type-level only). */
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined;
  };
}

/** Arguments by name: a zod shape, `{ name: z.string(), count: z.number().optional() }`. */
export type ArgumentShape = { readonly [name: string]: ArgumentSchema };

/** The type a schema produces. */
export type Infer<S extends ArgumentSchema> = NonNullable<S["~standard"]["types"]>["output"];

/**
 * The object a shape validates to: each argument typed by its schema, the ones whose
 * schema allows `undefined` optional.
 */
export type InferShape<Shape extends ArgumentShape> =
  & { [K in keyof Shape as undefined extends Infer<Shape[K]> ? never : K]: Infer<Shape[K]> }
  & { [K in keyof Shape as undefined extends Infer<Shape[K]> ? K : never]?: Infer<Shape[K]> };

/**
 * The SDK's `McpServer` (from `@modelcontextprotocol/server`), as `configureServer`
 * receives it. Declared here by the member this module's docs use; annotate your
 * function's parameter with the SDK's own `McpServer` type to reach the rest
 * (`registerTool`, `server.setRequestHandler`, ...).
 */
export interface McpServerInstance {
  /** The low-level protocol server: capabilities and request handlers. */
  readonly server: {
    /** Adds capabilities (e.g. `{ logging: {} }`) before the server connects. */
    registerCapabilities(capabilities: Record<string, unknown>): void;
  };
}
