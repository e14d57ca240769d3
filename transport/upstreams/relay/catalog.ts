/**
 * What every upstream server offers, as the downstream clients see it: each upstream's
 * last listing (tools, prompts, resources, resource templates) kept here, and the
 * exposed lists and routing tables built from them once per change, not per request.
 * `tools/list` downstream is then one array read; `tools/call` one map look-up.
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/client";
import {
  type Prompt,
  type Resource,
  type ResourceTemplateType as ResourceTemplate,
  type Tool,
  UriTemplate,
} from "@modelcontextprotocol/server";
import {
  buildNameTable,
  buildUriTable,
  exposedName,
  type NamingRules,
  type Route,
} from "../namespace.ts";

/** What one upstream listed, as it sent it. */
export interface Listing {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  templates: ResourceTemplate[];
}

/** The names and URIs the owner's own definitions hold (never given to an upstream). */
export interface OwnNames {
  tools?: Iterable<string>;
  prompts?: Iterable<string>;
  resources?: Iterable<string>;
}

/** A tool or prompt an exposed name leads to. */
export interface Target<T> extends Route {
  definition: T;
}

/** The exposed lists and the routes, rebuilt whenever a listing changes. */
export interface Catalog {
  /** Stores one upstream's listing (in configuration order by `rules`). */
  set(rules: NamingRules, listing: Listing): void;
  /** Rebuilds the exposed lists; returns every offender (left out of the lists). */
  rebuild(): string[];
  tools(): Tool[];
  prompts(): Prompt[];
  resources(): Resource[];
  templates(): ResourceTemplate[];
  tool(name: string): Target<Tool> | undefined;
  prompt(name: string): Target<Prompt> | undefined;
  /** The server that listed a resource URI. */
  listedServer(uri: string): string | undefined;
  /** The first server (in configuration order) one of whose URI templates matches `uri`. */
  templateServer(uri: string): string | undefined;
  /** The server that listed this very URI template (as a completion names it). */
  templateOwner(uriTemplate: string): string | undefined;
}

const EMPTY: Listing = { tools: [], prompts: [], resources: [], templates: [] };

/** Builds the catalog for the servers named by `order` (configuration order). */
export function createCatalog(order: readonly NamingRules[], own: OwnNames): Catalog {
  const listings = new Map<string, Listing>();
  let exposed = {
    tools: [] as Tool[],
    prompts: [] as Prompt[],
    resources: [] as Resource[],
    templates: [] as ResourceTemplate[],
    toolRoutes: new Map<string, Target<Tool>>(),
    promptRoutes: new Map<string, Target<Prompt>>(),
    uriRoutes: new Map<string, string>(),
    templateRoutes: [] as Array<[UriTemplate, string]>,
    templateOwners: new Map<string, string>(),
  };

  function rebuild(): string[] {
    const listed = order.map((rules) => ({ rules, listing: listings.get(rules.name) ?? EMPTY }));
    const toolTable = buildNameTable(
      "tool",
      listed.map(({ rules, listing }) => ({ rules, names: listing.tools.map((t) => t.name) })),
      own.tools ?? [],
    );
    const promptTable = buildNameTable(
      "prompt",
      listed.map(({ rules, listing }) => ({ rules, names: listing.prompts.map((p) => p.name) })),
      own.prompts ?? [],
    );
    const uriTable = buildUriTable(
      "resource",
      listed.map(({ rules, listing }) => ({
        server: rules.name,
        uris: listing.resources.map((r) => r.uri),
      })),
      own.resources ?? [],
    );
    const templateTable = buildUriTable(
      "resource template",
      listed.map(({ rules, listing }) => ({
        server: rules.name,
        uris: listing.templates.map((t) => t.uriTemplate),
      })),
      own.resources ?? [],
    );
    const next = { ...exposed };
    next.toolRoutes = targets(listed, (l) => l.tools, toolTable.routes);
    next.promptRoutes = targets(listed, (l) => l.prompts, promptTable.routes);
    // Upstream definitions are passed on whole: only the name is the gateway's.
    next.tools = [...next.toolRoutes].map(([name, t]) => ({ ...t.definition, name }));
    next.prompts = [...next.promptRoutes].map(([name, p]) => ({ ...p.definition, name }));
    next.uriRoutes = uriTable.routes;
    next.resources = listed.flatMap(({ rules, listing }) =>
      listing.resources.filter((r) => uriTable.routes.get(r.uri) === rules.name)
    );
    next.templates = listed.flatMap(({ rules, listing }) =>
      listing.templates.filter((t) => templateTable.routes.get(t.uriTemplate) === rules.name)
    );
    next.templateOwners = templateTable.routes;
    next.templateRoutes = [];
    for (const [template, server] of templateTable.routes) {
      try {
        next.templateRoutes.push([new UriTemplate(template), server]);
      } catch { /* a template the SDK cannot parse is listed, but routes nothing */ }
    }
    exposed = next;
    return [
      ...toolTable.offenders,
      ...promptTable.offenders,
      ...uriTable.offenders,
      ...templateTable.offenders,
    ];
  }

  return {
    set(rules, listing) {
      listings.set(rules.name, listing);
    },
    rebuild,
    tools: () => exposed.tools,
    prompts: () => exposed.prompts,
    resources: () => exposed.resources,
    templates: () => exposed.templates,
    tool: (name) => exposed.toolRoutes.get(name),
    prompt: (name) => exposed.promptRoutes.get(name),
    listedServer: (uri) => exposed.uriRoutes.get(uri),
    templateOwner: (uriTemplate) => exposed.templateOwners.get(uriTemplate),
    templateServer(uri) {
      for (const [template, server] of exposed.templateRoutes) {
        if (template.match(uri)) return server;
      }
      return undefined;
    },
  };
}

/** Exposed name -> the upstream definition it stands for, from a name table's routes. */
function targets<T extends { name: string }>(
  listed: Array<{ rules: NamingRules; listing: Listing }>,
  pick: (listing: Listing) => T[],
  routes: Map<string, Route>,
): Map<string, Target<T>> {
  const out = new Map<string, Target<T>>();
  for (const { rules, listing } of listed) {
    for (const definition of pick(listing)) {
      const name = exposedName(rules, definition.name);
      const route = routes.get(name);
      if (route?.server === rules.name && route.name === definition.name && !out.has(name)) {
        out.set(name, { ...route, definition });
      }
    }
  }
  return out;
}

/**
 * Asks one upstream for everything it offers: only what its capabilities declare, each
 * list whole (the SDK client walks the pages).
 */
export async function fetchListing(client: Client, timeoutMs: number): Promise<Listing> {
  const caps = client.getServerCapabilities() ?? {};
  const options = { timeout: timeoutMs };
  const [tools, prompts, resources, templates] = await Promise.all([
    caps.tools ? client.listTools(undefined, options).then((r) => r.tools) : [],
    caps.prompts ? client.listPrompts(undefined, options).then((r) => r.prompts) : [],
    caps.resources ? client.listResources(undefined, options).then((r) => r.resources) : [],
    caps.resources
      ? client.listResourceTemplates(undefined, options).then((r) => r.resourceTemplates)
      : [],
  ]);
  return { tools, prompts, resources, templates };
}
