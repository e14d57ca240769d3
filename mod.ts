/**
 * personal-mcp: put your own tools in front of every MCP client, behind an OAuth 2.1
 * authorization server of its own where only you, the owner, can approve a client.
 *
 * Write tools with {@linkcode tool} (and, if you like, {@linkcode resource} and
 * {@linkcode prompt}), then serve them with {@linkcode servePersonalMcp}, or hand them
 * to `deno serve` / `Bun.serve` as the fetch handler of {@linkcode createPersonalMcp}.
 * From a shell, `deno run -A jsr:@x/personal-mcp --tools ./tools.ts` serves the tools
 * a module exports by default.
 *
 * @example Serving a tool
 * ```ts
 * import { servePersonalMcp, tool } from "./mod.ts";
 * import { z } from "zod";
 *
 * const server = await servePersonalMcp({
 *   hello: tool({ description: "Say hello", input: { name: z.string() }, run: ({ name }) => `Hello, ${name}!` }),
 * }, {
 *   // In real use: your public https origin, e.g. baseUrl: "https://me.example.com".
 *   port: 0,
 *   password: "correct horse battery",
 *   store: "memory",
 *   banner: false,
 * });
 * const health = await fetch(`${server.baseUrl}/healthz`);
 * if (health.status !== 200) throw new Error("not serving");
 * await health.body?.cancel();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export {
  type ConnectionInfo,
  createPersonalMcp,
  type OwnerControls,
  type PersonalMcp,
} from "./server/create.ts";
export type { ClientSummary, GrantSummary } from "./auth/owner/controls.ts";
export type { PasskeySummary, RemovalResult } from "./auth/owner/passkeys.ts";
export type { ActivityEntry } from "./auth/owner/activity.ts";
export { type Caller, caller, type CallPolicy } from "./transport/caller.ts";
export type {
  AppToolPermissions,
  PermissionChange,
  PermissionControls,
} from "./auth/grants/app_permissions.ts";
export type {
  PolicySource,
  ToolKind,
  ToolPolicy,
  ToolPolicyRow,
} from "./auth/grants/permissions.ts";
export type { AuditOutcome, AuditQuery, AuditRecord, AuditTrail } from "./auth/owner/audit.ts";
export type {
  ConfirmationRecord,
  ConfirmationState,
  DecideResult,
  HeldCalls,
} from "./auth/owner/confirmations.ts";
export {
  banner,
  type ServeAddr,
  type ServeHandle,
  type ServeOptions,
  servePersonalMcp,
} from "./runtime/serve.ts";
export {
  type JsonObjectSchema,
  type JsonSchemaToolDefinition,
  type NoInputToolDefinition,
  type OutputSchema,
  type Tool,
  tool,
  type ToolBase,
  type ToolOutput,
  type ToolReturn,
  type Tools,
  type ZodToolDefinition,
} from "./transport/tools.ts";
export {
  APP_MIME_TYPE,
  type AppCsp,
  type AppDefinition,
  type AppPermissions,
  type ToolVisibility,
} from "./transport/apps.ts";
export {
  type CompleteVariable,
  type FixedResourceDefinition,
  type Resource,
  resource,
  type ResourceBase,
  type ResourceOutput,
  type Resources,
  type TemplateResourceDefinition,
  type TemplateVariables,
} from "./transport/resources.ts";
export {
  type Prompt,
  prompt,
  type PromptBase,
  type PromptOutput,
  type Prompts,
  type PromptWithArgsDefinition,
  type PromptWithoutArgsDefinition,
} from "./transport/prompts.ts";
export type {
  ArgumentSchema,
  ArgumentShape,
  AudioContent,
  BlobResourceContents,
  ContentAnnotations,
  ContentBlock,
  ElicitAnswer,
  ElicitRequest,
  EmbeddedResource,
  Icon,
  ImageContent,
  Infer,
  InferShape,
  LogLevel,
  McpServerInstance,
  Meta,
  PromptMessage,
  PromptResult,
  ReadResult,
  RelatedRequestOptions,
  RequestContext,
  ResourceInfo,
  ResourceLink,
  ResourceList,
  SamplingAnswer,
  SamplingRequest,
  TextContent,
  TextResourceContents,
  ToolAnnotations,
  ToolResult,
} from "./transport/types.ts";
export { DEFAULT_REDIRECT_ALLOWLIST, type PersonalMcpOptions } from "./server/options.ts";
export type { AuthEvent, PersonalMcpEvent, UpstreamState, UpstreamStatus } from "./core/config.ts";
export type { ServerEntry, ServersOption } from "./transport/upstreams/config.ts";
export { escapeForLog, quoteForLog } from "./core/log.ts";
export { formatEvent } from "./auth/owner/activity.ts";
export {
  type Entry,
  type Key,
  type Plan,
  type Store,
  StoreUnavailableError,
  type WriteOp,
} from "./store/store.ts";
export { createMemoryStore } from "./store/memory.ts";
export { type FileStoreOptions, openFileStore, StateFileError } from "./store/file.ts";
export { type KvStoreOptions, type KvWatchMode, openKvStore } from "./store/kv.ts";
export { runCli } from "./runtime/cli.ts";
export { demoTools } from "./transport/demo.ts";

if (import.meta.main) {
  // Not awaited at the top level: a `--tools` module imports this module, which must
  // finish evaluating before that import can resolve.
  Promise.all([import("./runtime/cli.ts"), import("./transport/demo.ts")])
    .then(([{ runCli }, { demoTools }]) => runCli(demoTools));
}
