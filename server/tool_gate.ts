/**
 * The tool gate the server hands the MCP endpoint: the owner's policy per app (auth's
 * tool-policy service) applied to what transport lists and calls. Transport never
 * imports auth/; this is where the two meet, with the caller's identity read from the
 * `authInfo` the bearer gate made.
 *
 * @module
 */
import type { AuthInfo, CallToolResult } from "@modelcontextprotocol/server";
import {
  decidePolicy,
  isListed,
  type PolicyDecision,
  type ToolFacts,
} from "../auth/grants/permissions.ts";
import type { ToolPolicies } from "../auth/grants/tool_policies.ts";
import type { ToolFactsSource } from "../auth/grants/app_permissions.ts";
import type { AuditLog, AuditOutcome, AuditRecord } from "../auth/owner/audit.ts";
import type { PersonalMcpEvent } from "../core/config.ts";
import type { GatedCall, ToolGate } from "../transport/mcp/servers.ts";
import type { CallPolicy } from "../transport/caller.ts";

/** A tool result the model reads: the call did not run, and why. */
export function refusal(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/** A tool name as a client sent it, cut to what a tool name may be. */
function bounded(name: string): string {
  return name.length > 128 ? `${name.slice(0, 128)}…` : name;
}

/** A tool name as quoted back to the model: bounded, and JSON-escaped. */
function quoted(name: string): string {
  return JSON.stringify(bounded(name));
}

/** Holds a call until the owner answers; says how the wait ended. */
export type AskHandler = (
  call: GatedCall,
  facts: ToolFacts,
  run: (policy: CallPolicy) => Promise<CallToolResult>,
) => Promise<{ result: CallToolResult; outcome: AuditOutcome }>;

/** What the gate is built from. */
export interface ToolGateDeps {
  policies: ToolPolicies;
  served: ToolFactsSource;
  audit: AuditLog;
  /** Where each audit record goes as an event too (the activity log's lines). */
  emit: (event: PersonalMcpEvent) => void;
  now: () => number;
  /** Holds an `ask` call for the owner's confirmation. */
  ask: AskHandler;
}

/** The event an audit record is reported as (a JSON or text line of the log). */
function auditEvent(record: AuditRecord): PersonalMcpEvent {
  const { id: _id, at: _at, ...fields } = record;
  return { type: "tool_called", ...fields };
}

/** Builds the gate from the policy service and the tools served. */
export function createToolGate(deps: ToolGateDeps): ToolGate {
  const { policies, served, audit, now } = deps;
  const clientOf = (authInfo: AuthInfo | undefined) => authInfo?.clientId;

  /** Runs (or refuses) one call under its decision; what the audit record says of it. */
  async function decided(
    call: GatedCall,
    facts: ToolFacts,
    decision: PolicyDecision,
    run: (policy: CallPolicy) => Promise<CallToolResult>,
  ): Promise<{ result: CallToolResult; outcome: AuditOutcome }> {
    if (decision.policy === "deny") {
      return {
        outcome: "denied",
        result: refusal(
          `The owner of this server has not allowed this app to use the tool ${
            quoted(call.name)
          }. Do not try again: tell the user, who may change this app's permissions.`,
        ),
      };
    }
    if (decision.policy === "ask") return await deps.ask(call, facts, run);
    const result = await run({ policy: "allow" });
    return { result, outcome: result.isError ? "error" : "ok" };
  }

  return {
    async listed(authInfo, names) {
      const clientId = clientOf(authInfo);
      if (clientId === undefined) return new Set();
      // One read of the app's decisions for the whole list.
      const app = await policies.app(clientId);
      const seen = new Set<string>();
      for (const name of names) {
        // A tool the server does not know it serves is never shown: fail closed.
        const facts = served.facts(name);
        if (facts && isListed(decidePolicy(facts, policies.defaults, app).policy)) seen.add(name);
      }
      return seen;
    },
    async call(call, run) {
      const clientId = clientOf(call.authInfo);
      if (clientId === undefined) {
        return refusal("This server answers tool calls only behind its sign-in.");
      }
      const facts = served.facts(call.name);
      const at = now();
      let decision: PolicyDecision | undefined;
      try {
        decision = facts && await policies.decide(clientId, facts);
      } catch {
        // The store could not be read (an outage): nothing runs unless known to be allowed.
        return refusal("The server could not read this app's permissions. Try again shortly.");
      }
      let outcome: AuditOutcome = "error";
      try {
        // Unknown here (a typo, or a tool that reached the server around its catalog):
        // never run, whatever the SDK would make of it.
        const done = facts && decision ? await decided(call, facts, decision, run) : {
          outcome: "denied" as const,
          result: refusal(`No tool named ${quoted(call.name)} is available to this app.`),
        };
        outcome = done.outcome;
        return done.result;
      } finally {
        const extra = call.authInfo?.extra;
        const record = await audit.record({
          at,
          clientId,
          ...(typeof extra?.clientName === "string" ? { clientName: extra.clientName } : {}),
          grantId: typeof extra?.grantId === "string" ? extra.grantId : "",
          tool: bounded(call.name),
          ...(facts?.server !== undefined ? { server: facts.server } : {}),
          outcome,
          policy: decision?.policy ?? "deny",
          durationMs: now() - at,
        }, call.arguments).catch(() => undefined);
        if (record) deps.emit(auditEvent(record));
      }
    },
  };
}
