/**
 * The tool gate the server hands the MCP endpoint: the owner's policy per app (auth's
 * tool-policy service) applied to what transport lists and calls. Transport never
 * imports auth/; this is where the two meet, with the caller's identity read from the
 * `authInfo` the bearer gate made.
 *
 * @module
 */
import type { AuthInfo, CallToolResult } from "@modelcontextprotocol/server";
import { decidePolicy, isListed, type PolicyDecision } from "../auth/grants/permissions.ts";
import type { ToolPolicies } from "../auth/grants/tool_policies.ts";
import type { ToolFactsSource } from "../auth/owner/app_permissions.ts";
import type { GatedCall, ToolGate } from "../transport/mcp/servers.ts";

/** A tool result the model reads: the call did not run, and why. */
export function refusal(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/** A tool name as quoted back to the model: bounded, and JSON-escaped. */
function quoted(name: string): string {
  return JSON.stringify(name.length > 128 ? `${name.slice(0, 128)}…` : name);
}

/** What a held call needs (the owner's confirmation); absent: `ask` is refused. */
export type AskHandler = (
  call: GatedCall,
  decision: PolicyDecision,
  run: () => Promise<CallToolResult>,
) => Promise<CallToolResult>;

/** Builds the gate from the policy service and the tools served. */
export function createToolGate(
  policies: ToolPolicies,
  served: ToolFactsSource,
  ask?: AskHandler,
): ToolGate {
  const clientOf = (authInfo: AuthInfo | undefined) => authInfo?.clientId;
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
      // Unknown here (a typo, or a tool that reached the server around its catalog):
      // never run, whatever the SDK would make of it.
      if (!facts) return refusal(`No tool named ${quoted(call.name)} is available to this app.`);
      const decision = await policies.decide(clientId, facts);
      if (decision.policy === "allow") return await run();
      if (decision.policy === "ask" && ask) return await ask(call, decision, run);
      if (decision.policy === "ask") {
        return refusal(
          `The tool ${quoted(call.name)} needs the owner's confirmation for each call, ` +
            "and this server cannot ask for it. The owner may allow it for this app.",
        );
      }
      return refusal(
        `The owner of this server has not allowed this app to use the tool ${
          quoted(call.name)
        }. Do not try again: tell the user, who may change this app's permissions.`,
      );
    },
  };
}
