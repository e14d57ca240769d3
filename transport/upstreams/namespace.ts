/**
 * One namespace for every upstream server: what each upstream tool and prompt is called
 * downstream, and which upstream a resource URI belongs to. Pure: the gateway hands in
 * what each upstream listed and gets back the tables it routes on, or the offenders.
 *
 * - A tool or prompt `t` of server `s` is exposed as `s_t`, or `<prefix>t` when the
 *   server's entry gives a `prefix`, or exactly `rename[t]` when its `rename` map names it.
 * - Claude's and OpenAI's tool names must match `^[a-zA-Z0-9_-]{1,64}$`: an exposed name
 *   that does not, or that two tools share (or that the owner's own tools already use),
 *   is an offender. At start the offenders refuse the start; on a later `list_changed`
 *   they are left out and logged (a running server does not stop for an upstream's list).
 * - Resource URIs pass unchanged. A URI (or URI template) listed by two servers, or
 *   already the owner's, is an offender in the same way.
 *
 * @module
 */

/** What an exposed tool or prompt name must match (Claude's and OpenAI's rule). */
export const EXPOSED_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** The part of a server's configuration that decides its exposed names. */
export interface NamingRules {
  /** The server's key in `mcpServers`. */
  name: string;
  /** Put before every name instead of `<name>_`. */
  prefix?: string;
  /** Upstream name -> exposed name, taken as it is (no prefix added). */
  rename?: Record<string, string>;
}

/** Where an exposed name leads: the upstream server and the name it knows. */
export interface Route {
  server: string;
  name: string;
}

/** One server's listed names (tools or prompts), in the order it listed them. */
export interface ListedNames {
  rules: NamingRules;
  names: readonly string[];
}

/** The routing table of one kind, and every name that could not be placed. */
export interface NameTable {
  /** Exposed name -> upstream, in listing order (servers in configuration order). */
  routes: Map<string, Route>;
  /** One readable line per offender, naming the server and both names. */
  offenders: string[];
}

/**
 * The name a tool or prompt of a server is exposed under.
 *
 * @example Default, prefix and rename
 * ```ts
 * import { exposedName } from "./namespace.ts";
 * exposedName({ name: "memory" }, "read_graph"); // "memory_read_graph"
 * exposedName({ name: "memory", prefix: "m." }, "read_graph"); // "m.read_graph" (an offender)
 * exposedName({ name: "memory", rename: { read_graph: "graph" } }, "read_graph"); // "graph"
 * ```
 */
export function exposedName(rules: NamingRules, upstreamName: string): string {
  const renamed = rules.rename && Object.hasOwn(rules.rename, upstreamName)
    ? rules.rename[upstreamName]
    : undefined;
  return renamed ?? `${rules.prefix ?? `${rules.name}_`}${upstreamName}`;
}

/** A name as it may appear in an error message: quoted, control characters escaped, bounded. */
export function quoted(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(short).replace(
    /[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Places every server's names in one table: `kind` ("tool" or "prompt") names them in
 * the offender lines, `own` are the names the owner's own definitions already hold.
 *
 * @example Two servers, one collision
 * ```ts
 * import { buildNameTable } from "./namespace.ts";
 * const { routes, offenders } = buildNameTable("tool", [
 *   { rules: { name: "a" }, names: ["x"] },
 *   { rules: { name: "b", rename: { y: "a_x" } }, names: ["y"] },
 * ], []);
 * routes.get("a_x"); // { server: "a", name: "x" }
 * offenders.length; // 1
 * ```
 */
export function buildNameTable(
  kind: "tool" | "prompt",
  servers: readonly ListedNames[],
  own: Iterable<string>,
): NameTable {
  const routes = new Map<string, Route>();
  const offenders: string[] = [];
  const owned = new Set(own);
  for (const { rules, names } of servers) {
    const seen = new Set<string>();
    for (const name of names) {
      // An upstream listing one name twice is its own affair: the first stands.
      if (seen.has(name)) continue;
      seen.add(name);
      const exposed = exposedName(rules, name);
      const what = `server ${quoted(rules.name)}: ${kind} ${quoted(name)} as ${quoted(exposed)}`;
      if (!EXPOSED_NAME.test(exposed)) {
        offenders.push(`${what} does not match ^[a-zA-Z0-9_-]{1,64}$`);
      } else if (owned.has(exposed)) {
        offenders.push(`${what} collides with the server's own ${kind}`);
      } else if (routes.has(exposed)) {
        const first = routes.get(exposed)!;
        offenders.push(
          `${what} collides with ${kind} ${quoted(first.name)} of server ${quoted(first.server)}`,
        );
      } else {
        routes.set(exposed, { server: rules.name, name });
      }
    }
  }
  return { routes, offenders };
}

/** One server's listed resource URIs (or URI templates). */
export interface ListedUris {
  server: string;
  uris: readonly string[];
}

/** Resource URI (or template) -> server, and every URI two owners claimed. */
export interface UriTable {
  routes: Map<string, string>;
  offenders: string[];
}

/**
 * Routes resource URIs (or URI templates, `kind` says which) to the server that listed
 * them; a URI listed by a second server, or one of the owner's own, is an offender.
 *
 * @example A URI two servers list
 * ```ts
 * import { buildUriTable } from "./namespace.ts";
 * const { routes, offenders } = buildUriTable("resource", [
 *   { server: "a", uris: ["file:///x"] },
 *   { server: "b", uris: ["file:///x"] },
 * ], []);
 * routes.get("file:///x"); // "a"
 * offenders.length; // 1
 * ```
 */
export function buildUriTable(
  kind: "resource" | "resource template",
  servers: readonly ListedUris[],
  own: Iterable<string>,
): UriTable {
  const routes = new Map<string, string>();
  const offenders: string[] = [];
  const owned = new Set(own);
  for (const { server, uris } of servers) {
    for (const uri of uris) {
      const first = routes.get(uri);
      if (first === server) continue;
      const what = `server ${quoted(server)}: ${kind} ${quoted(uri)}`;
      if (owned.has(uri)) offenders.push(`${what} is also the server's own`);
      else if (first !== undefined) offenders.push(`${what} is also listed by ${quoted(first)}`);
      else routes.set(uri, server);
    }
  }
  return { routes, offenders };
}
