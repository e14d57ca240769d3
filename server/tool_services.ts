/**
 * The owner's say per app and tool, composed once: the policies, the audit trail, the
 * held calls, the owner's controls over them, and the gate that applies them to every
 * tool call (handed to the MCP endpoint, which knows nothing of policies).
 *
 * @module
 */
import { validateOwnerDefaults } from "../auth/grants/permissions.ts";
import { createToolPolicies, type ToolPolicies } from "../auth/grants/tool_policies.ts";
import {
  createPermissionControls,
  type PermissionControls,
  type ToolFactsSource,
} from "../auth/grants/app_permissions.ts";
import { type AuditLog, createAuditLog } from "../auth/owner/audit.ts";
import { type Confirmations, createConfirmations } from "../auth/owner/confirmations.ts";
import { confirmPath } from "../auth/pages/confirm.ts";
import type { PersonalMcpEvent, ResolvedOptions } from "../core/config.ts";
import type { Store } from "../store/store.ts";
import type { ToolGate } from "../transport/mcp/servers.ts";
import { annotationsOf, type Tools } from "../transport/tools.ts";
import type { PersonalMcpOptions } from "./options.ts";
import { createHeldCalls } from "./held_calls.ts";
import { createToolGate } from "./tool_gate.ts";

type Emit = (event: PersonalMcpEvent) => void;

/** The owner's say per app and tool, and the gate that applies it to every tool call. */
export interface ToolServices {
  policies: ToolPolicies;
  audit: AuditLog;
  confirmations: Confirmations;
  permissions: PermissionControls;
  gate: ToolGate;
}

/** Policies per app, the audit trail, held calls, the owner's controls over them, the gate. */
export function toolServices(
  tools: Tools,
  options: PersonalMcpOptions,
  opts: ResolvedOptions,
  store: Store,
  emit: Emit,
  now: () => number,
  upstream?: ToolFactsSource,
): ToolServices {
  const served = servedTools(ownTools(tools), upstream);
  const policies = createToolPolicies(store, validateOwnerDefaults(options.toolPolicy), now);
  const audit = createAuditLog(store, options.auditArguments === true);
  const confirmations = createConfirmations(store, now);
  const ask = createHeldCalls({
    confirmations,
    timeoutMs: opts.confirmTimeoutSeconds * 1000,
    linkOf: (id) => `${opts.baseUrl}${confirmPath(id)}`,
    emit,
  });
  return {
    policies,
    audit,
    confirmations,
    permissions: createPermissionControls(store, policies, served),
    gate: createToolGate({ policies, served, audit, emit, now, ask }),
  };
}

/**
 * Every tool served: the owner's own, then the upstreams' (the gateway's catalog, whose
 * facts name the server and carry the annotations the upstream listed). A name neither
 * knows is refused and hidden by the gate.
 */
export function servedTools(own: ToolFactsSource, upstream?: ToolFactsSource): ToolFactsSource {
  if (!upstream) return own;
  return {
    facts: (name) => own.facts(name) ?? upstream.facts(name),
    all: () => [...own.all(), ...upstream.all()],
  };
}

/** The facts of the owner's own tools, built once. */
function ownTools(tools: Tools): ToolFactsSource {
  const facts = new Map(
    Object.entries(tools).map(([name, t]) => {
      const annotations = annotationsOf(t);
      return [name, { name, ...(annotations ? { annotations } : {}) }];
    }),
  );
  const all = [...facts.values()];
  return { facts: (name) => facts.get(name), all: () => all };
}
