/**
 * The owner's say per app and tool: `allow`, `ask` (the owner confirms each call) or
 * `deny`. Pure rules, tested by table (tests/unit/permissions_test.ts): the default a
 * tool gets from its annotations, the owner's defaults (per tool, per server, `*`), the
 * app's own decisions on top, and the plan of a change.
 *
 * Decisions are kept per app (client id): a new grant of an app the owner already
 * decided for starts from that decision, and a grant id names its app.
 *
 * @module
 */

/** What an app may do with one tool. */
export type ToolPolicy = "allow" | "ask" | "deny";

/** The policies, in the order the pages and commands show them. */
export const TOOL_POLICIES: readonly ToolPolicy[] = ["allow", "ask", "deny"];

/** Most tool decisions kept for one app (a change beyond it is refused). */
export const MAX_APP_TOOL_DECISIONS = 1000;

/** What the policy rule needs to know of a tool. */
export interface ToolFacts {
  /** The name the tool is listed under. */
  name: string;
  /** The upstream server that owns it; absent for the owner's own tools. */
  server?: string;
  /** Its MCP annotations, as listed. */
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
}

/**
 * The owner's defaults: keys are a tool's listed name, `<server>/*` (every tool of one
 * upstream server; `/` is never part of a tool name) or `*` (every tool). A more
 * precise key wins; any of them wins over the annotations.
 */
export type OwnerToolDefaults = Readonly<Record<string, ToolPolicy>>;

/** What the owner decided for one app, as stored (`["tool_policy", clientId]`). */
export interface AppToolPolicies {
  /** The owner's decision per tool name; tools not named here get their default. */
  tools: Record<string, ToolPolicy>;
  /** The tools the owner has been shown for this app: any other is new to them. */
  known: string[];
  /** When the owner last changed them, epoch ms. */
  updatedAt: number;
}

/** Where a tool's policy came from. */
export type PolicySource = "app" | "tool" | "server" | "owner" | "annotations";

/** A tool's policy for one app and why. */
export interface PolicyDecision {
  /** What the app may do with the tool. */
  policy: ToolPolicy;
  /** Where that comes from. */
  source: PolicySource;
}

/** How a tool describes itself: what the consent and owner pages show next to it. */
export type ToolKind = "read-only" | "writes" | "destructive";

/**
 * What a tool's annotations say it does. MCP 2025-06-18 `ToolAnnotations`: without
 * `readOnlyHint` a tool writes, and a writing tool without `destructiveHint` is
 * destructive. The owner's own tools are trusted more: destructive only when they say so.
 */
export function toolKind(tool: ToolFacts): ToolKind {
  const a = tool.annotations;
  if (a?.readOnlyHint === true) return "read-only";
  if (tool.server === undefined) return a?.destructiveHint === true ? "destructive" : "writes";
  return a?.destructiveHint === false ? "writes" : "destructive";
}

/** The default from annotations alone: read-only and plain writes allowed, destructive asked. */
export function annotationPolicy(tool: ToolFacts): ToolPolicy {
  return toolKind(tool) === "destructive" ? "ask" : "allow";
}

/** The policy a tool gets before the owner decided for an app. */
export function defaultPolicy(tool: ToolFacts, owner: OwnerToolDefaults): PolicyDecision {
  const own = Object.hasOwn(owner, tool.name) ? owner[tool.name] : undefined;
  if (own) return { policy: own, source: "tool" };
  const serverKey = tool.server === undefined ? undefined : `${tool.server}/*`;
  if (serverKey !== undefined && Object.hasOwn(owner, serverKey)) {
    return { policy: owner[serverKey]!, source: "server" };
  }
  if (Object.hasOwn(owner, "*")) return { policy: owner["*"]!, source: "owner" };
  return { policy: annotationPolicy(tool), source: "annotations" };
}

/** The policy a tool runs under for an app: the owner's decision for it, else the default. */
export function decidePolicy(
  tool: ToolFacts,
  owner: OwnerToolDefaults,
  app: AppToolPolicies | undefined,
): PolicyDecision {
  const decided = app && Object.hasOwn(app.tools, tool.name) ? app.tools[tool.name] : undefined;
  return decided ? { policy: decided, source: "app" } : defaultPolicy(tool, owner);
}

/** Whether an app sees a tool in `tools/list`: it may call it, perhaps after asking. */
export function isListed(policy: ToolPolicy): boolean {
  return policy !== "deny";
}

/** Whether `value` is one of the three policies. */
export function isToolPolicy(value: unknown): value is ToolPolicy {
  return value === "allow" || value === "ask" || value === "deny";
}

// MCP 2025-11-25 tool names: 1-128 of A-Z a-z 0-9 _ - . (an upstream's may be looser,
// but never holds "/" or a control character once the gateway names it).
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const SERVER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Whether `name` can be a listed tool's name (what a decision may be about). */
export function isToolName(name: string): boolean {
  return TOOL_NAME.test(name);
}

/**
 * Checks the owner's defaults once, when the server is created.
 *
 * @throws {TypeError} naming the option and the offending key or value.
 */
export function validateOwnerDefaults(value: unknown, option = "toolPolicy"): OwnerToolDefaults {
  if (value === undefined) return Object.freeze({});
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`"${option}" must be an object mapping tool names to allow, ask or deny`);
  }
  const out: Record<string, ToolPolicy> = {};
  for (const [key, policy] of Object.entries(value)) {
    const server = key.endsWith("/*") ? key.slice(0, -2) : undefined;
    if (key !== "*" && !(server !== undefined ? SERVER_NAME.test(server) : TOOL_NAME.test(key))) {
      throw new TypeError(
        `"${option}" key ${JSON.stringify(key)} must be a tool name, "<server>/*" or "*"`,
      );
    }
    if (!isToolPolicy(policy)) {
      throw new TypeError(`"${option}.${key}" must be "allow", "ask" or "deny"`);
    }
    out[key] = policy;
  }
  return Object.freeze(out);
}

/** A change the owner asks for: policies per tool, and the tools they were shown. */
export interface PolicyChange {
  set: Record<string, ToolPolicy>;
  /** Tools now shown to the owner (marked known: no longer new). */
  seen?: string[];
}

/** The record after a change, or why the change is refused (nothing is written then). */
export type PolicyPlan =
  | { ok: true; record: AppToolPolicies; changed: boolean }
  | { ok: false; reason: string };

/** Plans an owner's change of one app's policies: bounded, names checked, nothing else moved. */
export function planPolicyChange(
  current: AppToolPolicies | undefined,
  change: PolicyChange,
  now: number,
): PolicyPlan {
  const tools = { ...current?.tools };
  let changed = false;
  for (const [name, policy] of Object.entries(change.set)) {
    if (!isToolName(name)) return { ok: false, reason: `not a tool name: ${JSON.stringify(name)}` };
    if (!isToolPolicy(policy)) return { ok: false, reason: `not a policy: ${String(policy)}` };
    if (tools[name] !== policy) changed = true;
    tools[name] = policy;
  }
  if (Object.keys(tools).length > MAX_APP_TOOL_DECISIONS) {
    return { ok: false, reason: `at most ${MAX_APP_TOOL_DECISIONS} tools per app` };
  }
  const known = new Set(current?.known);
  for (const name of [...Object.keys(change.set), ...change.seen ?? []]) {
    if (isToolName(name) && !known.has(name)) {
      known.add(name);
      changed = true;
    }
  }
  // The oldest names go first: a tool long gone is the one to forget.
  const knownList = [...known].slice(-MAX_APP_TOOL_DECISIONS);
  return { ok: true, changed, record: { tools, known: knownList, updatedAt: now } };
}

/** One tool as the owner sees it for one app (command, owner page, consent page). */
export interface ToolPolicyRow {
  /** The name the tool is listed under. */
  name: string;
  /** The upstream server that owns it; absent for the owner's own tools. */
  server?: string;
  /** What its annotations say it does. */
  kind: ToolKind;
  /** What this app may do with it. */
  policy: ToolPolicy;
  /** Where the policy comes from: the owner's decision for the app, or a default. */
  source: PolicySource;
  /** Listed now, but not yet shown to the owner for this app. */
  isNew: boolean;
}

/** Every listed tool's policy for one app, grouped by server (own tools first), by name. */
export function describePolicies(
  tools: readonly ToolFacts[],
  owner: OwnerToolDefaults,
  app: AppToolPolicies | undefined,
): ToolPolicyRow[] {
  const known = new Set(app?.known);
  const rows = tools.map((tool): ToolPolicyRow => ({
    name: tool.name,
    ...(tool.server !== undefined ? { server: tool.server } : {}),
    kind: toolKind(tool),
    ...decidePolicy(tool, owner, app),
    isNew: app !== undefined && !known.has(tool.name),
  }));
  return rows.sort((a, b) =>
    (a.server ?? "").localeCompare(b.server ?? "") || a.name.localeCompare(b.name)
  );
}
