/**
 * The owner's view and change of an app's tool permissions, by grant id or client id:
 * what the `permissions` command, the owner page and the consent page use.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import type { ClientRecord, GrantRecord } from "../records.ts";
import {
  type AppToolPolicies,
  describePolicies,
  type ToolFacts,
  type ToolPolicy,
  type ToolPolicyRow,
} from "./permissions.ts";
import type { ToolPolicies } from "./tool_policies.ts";

/** The tools the server serves now, with what a decision needs of each. */
export interface ToolFactsSource {
  /** One tool's facts; undefined when no tool has that name. */
  facts(name: string): ToolFacts | undefined;
  /** Every tool served now. */
  all(): ToolFacts[];
}

/** One app's permissions as the owner sees them. */
export interface AppToolPermissions {
  /** The app: a registered client id, or a metadata-document URL. */
  clientId: string;
  /** The name the client gave itself (not vouched for), when known. */
  clientName?: string;
  /** Every tool served now, with the policy it has for this app. */
  tools: ToolPolicyRow[];
  /** When the owner last decided for this app. */
  updatedAt?: number;
}

/** The result of an owner's change. */
export type PermissionChange =
  /** Done: the app's permissions as they now stand. */
  | { ok: true; app: AppToolPermissions }
  /** Refused, and why; nothing was changed. */
  | { ok: false; reason: string };

/** The owner's controls over tool permissions. */
export interface PermissionControls {
  /** An app's permissions; `id` is a grant id or a client id. Undefined: no such app. */
  show(id: string): Promise<AppToolPermissions | undefined>;
  /** Sets one policy for some tools of an app (by grant or client id). */
  set(id: string, policy: ToolPolicy, tools: string[]): Promise<PermissionChange>;
  /** Sets each named tool's policy for an app (by grant or client id), in one change. */
  change(id: string, set: Record<string, ToolPolicy>): Promise<PermissionChange>;
  /** The app's permissions for a client before any grant (the consent page). */
  forClient(clientId: string, clientName?: string): Promise<AppToolPermissions>;
  /** Records the owner's decisions at consent (and the tools they were shown). */
  approve(clientId: string, set: Record<string, ToolPolicy>): Promise<PermissionChange>;
}

/** Builds the controls over the store, the policy service and the served tools. */
export function createPermissionControls(
  store: Store,
  policies: ToolPolicies,
  served?: ToolFactsSource,
): PermissionControls {
  // Without the running server (an owner command on its store) the tools served are not
  // known: the decisions stored are shown and changed as they are, unchecked.
  const known = (name: string) => served === undefined || served.facts(name) !== undefined;
  const toolsOf = (app: AppToolPolicies | undefined): ToolFacts[] =>
    served?.all() ?? Object.keys(app?.tools ?? {}).map((name) => ({ name }));
  /** The client an id names: a grant's client, or a client itself. */
  async function appOf(id: string): Promise<{ clientId: string; clientName?: string } | undefined> {
    if (id === "" || id.length > 2048) return undefined;
    const grant = await store.get<GrantRecord>(keys.grant(id));
    if (grant) {
      return {
        clientId: grant.clientId,
        ...(grant.clientName ? { clientName: grant.clientName } : {}),
      };
    }
    const client = await store.get<ClientRecord>(keys.client(id));
    if (client) {
      return { clientId: id, ...(client.clientName ? { clientName: client.clientName } : {}) };
    }
    // A metadata-document client is not registered: its grants or decisions name it.
    if (await store.get(keys.toolPolicy(id))) return { clientId: id };
    const grants = await store.list<GrantRecord>(keys.grants);
    const one = grants.find((g) => g.value.clientId === id);
    return one
      ? { clientId: id, ...(one.value.clientName ? { clientName: one.value.clientName } : {}) }
      : undefined;
  }

  async function change(
    id: string,
    set: Record<string, ToolPolicy>,
  ): Promise<PermissionChange> {
    const app = await appOf(id);
    if (!app) return { ok: false, reason: "no grant or client has this id" };
    const unknown = Object.keys(set).filter((name) => !known(name));
    if (unknown.length) {
      return {
        ok: false,
        reason: `no tool is served under ${unknown.map((n) => JSON.stringify(n)).join(", ")}`,
      };
    }
    const plan = await policies.change(app.clientId, {
      set,
      seen: served?.all().map((t) => t.name) ?? [],
    });
    if (!plan.ok) return plan;
    return { ok: true, app: await view(app.clientId, app.clientName) };
  }

  async function view(clientId: string, clientName?: string): Promise<AppToolPermissions> {
    const app = await policies.app(clientId);
    return {
      clientId,
      ...(clientName ? { clientName } : {}),
      tools: describePolicies(toolsOf(app), policies.defaults, app),
      ...(app ? { updatedAt: app.updatedAt } : {}),
    };
  }

  return {
    async show(id) {
      const app = await appOf(id);
      return app && await view(app.clientId, app.clientName);
    },
    set(id, policy, tools) {
      return change(id, Object.fromEntries(tools.map((name) => [name, policy])));
    },
    change,
    forClient: view,
    async approve(clientId, set) {
      const plan = await policies.change(clientId, {
        set,
        seen: served?.all().map((t) => t.name) ?? [],
      });
      return plan.ok ? { ok: true, app: await view(clientId) } : plan;
    },
  };
}
