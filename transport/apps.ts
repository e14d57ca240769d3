/**
 * MCP Apps for the owner's own tools: a tool names a `ui://` resource in
 * `_meta.ui.resourceUri`, the server serves that HTML as `text/html;profile=mcp-app`, and
 * a host (Claude, ChatGPT, VS Code) shows it in a sandboxed frame that may call the
 * server's tools back through the host.
 *
 * The names and shapes are the MCP Apps specification's (`@modelcontextprotocol/ext-apps`,
 * `McpUiToolMeta`, `McpUiResourceMeta`); tests/unit/apps_test.ts holds them to that
 * package. Its server helpers are not used: they wrap the SDK's `registerTool` (which
 * `tool()` reaches through its own registration) to add the two lines below.
 *
 * @see {@link https://github.com/modelcontextprotocol/ext-apps | MCP Apps (SEP-1865)}
 * @module
 */
import { readFileSync } from "node:fs";
import type { McpServer } from "@modelcontextprotocol/server";

/**
 * The MIME type of an MCP App's HTML (`RESOURCE_MIME_TYPE` in the spec).
 *
 * @example How a host knows an app's HTML
 * ```ts
 * import { APP_MIME_TYPE } from "./apps.ts";
 *
 * const contents = { uri: "ui://board/app.html", mimeType: APP_MIME_TYPE, text: "<p>hi</p>" };
 * if (contents.mimeType !== "text/html;profile=mcp-app") throw new Error("unexpected");
 * ```
 */
export const APP_MIME_TYPE = "text/html;profile=mcp-app";

/**
 * Where older hosts look for the resource URI (`RESOURCE_URI_META_KEY`): written next
 * to `_meta.ui.resourceUri`, as the specification's own helpers do.
 */
export const LEGACY_RESOURCE_URI_KEY = "ui/resourceUri";

/** Who may call a tool: the model, the app (through the host), or both (the default). */
export type ToolVisibility = "model" | "app";

/**
 * The origins an app may reach (its Content Security Policy). Omitted or empty: none,
 * which is the secure default.
 */
export interface AppCsp {
  /** Origins for fetch, XHR and WebSocket (`connect-src`). */
  connectDomains?: string[];
  /** Origins for images, scripts, styles, fonts and media. */
  resourceDomains?: string[];
  /** Origins for nested frames (`frame-src`). */
  frameDomains?: string[];
  /** Allowed base URIs for the document (`base-uri`). */
  baseUriDomains?: string[];
}

/** Browser features an app asks the host for (Permission Policy). */
export interface AppPermissions {
  /** The camera. */
  camera?: Record<string, never>;
  /** The microphone. */
  microphone?: Record<string, never>;
  /** The location. */
  geolocation?: Record<string, never>;
  /** Writing to the clipboard. */
  clipboardWrite?: Record<string, never>;
}

/** The interactive view of a tool, as {@linkcode AppDefinition.html} and its policy. */
export interface AppDefinition {
  /**
   * The app's HTML: the document itself, or a `file:` URL read once, when the tool is
   * defined (`new URL("./board.html", import.meta.url)`). It is served as one document:
   * scripts and styles inline, since by default the app may load nothing from elsewhere.
   */
  html: string | URL;
  /** Its resource URI (`ui://...`). Default: `ui://<tool name>/app.html`. */
  uri?: string;
  /** What it may load and reach. */
  csp?: AppCsp;
  /** Browser features it asks for. */
  permissions?: AppPermissions;
  /** A dedicated sandbox origin, in the format the host documents. */
  domain?: string;
  /** Whether the host should draw a border and background around it. */
  prefersBorder?: boolean;
}

/** An app ready to register: its HTML read and its metadata built once. */
export interface PreparedApp {
  /** The URI given, or undefined to take the tool's default. */
  uri?: string;
  /** The document. */
  html: string;
  /** `_meta.ui` of the resource (and of its contents). */
  ui: Record<string, unknown>;
}

const MAX_APP_HTML_BYTES = 4 * 1024 * 1024;

function readHtml(html: string | URL): string {
  if (typeof html === "string") {
    if (html.trim() === "") throw new TypeError(`tool "app.html" must not be empty`);
    return html;
  }
  if (!(html instanceof URL) || html.protocol !== "file:") {
    throw new TypeError(`tool "app.html" must be the HTML itself or a file: URL`);
  }
  let text: string;
  try {
    text = readFileSync(html, "utf8");
  } catch (error) {
    throw new TypeError(`tool "app.html": cannot read ${html.href}: ${(error as Error).message}`);
  }
  if (text.length > MAX_APP_HTML_BYTES) {
    throw new RangeError(`tool "app.html": ${html.href} is over 4 MiB`);
  }
  return text;
}

function checkDomains(csp: AppCsp): void {
  for (const [key, value] of Object.entries(csp)) {
    if (!["connectDomains", "resourceDomains", "frameDomains", "baseUriDomains"].includes(key)) {
      throw new TypeError(`tool "app.csp" has an unknown key ${JSON.stringify(key)}`);
    }
    if (!Array.isArray(value) || !value.every((d) => typeof d === "string" && d !== "")) {
      throw new TypeError(`tool "app.csp.${key}" must be a list of origins`);
    }
  }
}

/** Checks an app definition and reads its HTML, once, when the tool is defined. */
export function prepareApp(app: AppDefinition): PreparedApp {
  if (!app || typeof app !== "object") throw new TypeError(`tool "app" must be an object`);
  if (app.uri !== undefined && !/^ui:\/\/[^\s]+$/.test(app.uri)) {
    throw new TypeError(`tool "app.uri" must be a ui:// URI`);
  }
  if (app.csp !== undefined) checkDomains(app.csp);
  const ui: Record<string, unknown> = {};
  if (app.csp) ui.csp = app.csp;
  if (app.permissions) ui.permissions = app.permissions;
  if (app.domain !== undefined) ui.domain = app.domain;
  if (app.prefersBorder !== undefined) ui.prefersBorder = app.prefersBorder;
  return { ...(app.uri ? { uri: app.uri } : {}), html: readHtml(app.html), ui };
}

/** Checks a tool's `visibility` list. */
export function checkVisibility(visibility: unknown): ToolVisibility[] {
  if (
    !Array.isArray(visibility) || visibility.length === 0 ||
    !visibility.every((v) => v === "model" || v === "app") ||
    new Set(visibility).size !== visibility.length
  ) {
    throw new TypeError(`tool "visibility" must list "model", "app" or both`);
  }
  return visibility as ToolVisibility[];
}

/** The resource URI a tool's app is served at. */
export function appUri(toolName: string, app: PreparedApp): string {
  return app.uri ?? `ui://${toolName}/app.html`;
}

/**
 * The tool's `_meta`: `ui.resourceUri` (and the key older hosts read) for a tool with an
 * app, `ui.visibility` when it is not the default.
 */
export function toolUiMeta(
  uri: string | undefined,
  visibility: ToolVisibility[] | undefined,
): Record<string, unknown> | undefined {
  if (!uri && !visibility) return undefined;
  const ui: Record<string, unknown> = {};
  if (uri) ui.resourceUri = uri;
  if (visibility) ui.visibility = visibility;
  return { ui, ...(uri ? { [LEGACY_RESOURCE_URI_KEY]: uri } : {}) };
}

/**
 * Registers an app's HTML as a resource: listed under `resources/list` with its MIME type
 * and `_meta.ui`, read as one text content carrying the same `_meta.ui`.
 */
export function registerApp(
  server: McpServer,
  toolName: string,
  title: string | undefined,
  app: PreparedApp,
): void {
  const uri = appUri(toolName, app);
  const meta = Object.keys(app.ui).length ? { _meta: { ui: app.ui } } : {};
  server.registerResource(
    `${toolName} app`,
    uri,
    { title: `${title ?? toolName} (app)`, mimeType: APP_MIME_TYPE, ...meta },
    () => ({ contents: [{ uri, mimeType: APP_MIME_TYPE, text: app.html, ...meta }] }),
  );
}
