/**
 * Who called a tool: the grant the bearer gate accepted and the client behind it, read
 * from the SDK's `authInfo` (the gate puts the grant id and the client's name in its
 * `extra`). Lets an owner's tool log or refuse by caller.
 *
 * @module
 */
import type { ServerContext } from "@modelcontextprotocol/server";
import type { RequestContext } from "./types.ts";

/** The caller of a tool, as the bearer gate identified it. */
export interface Caller {
  /** The grant (one approval of one client); what the owner page disconnects. */
  grantId: string;
  /** The client id: a registered id, or a metadata-document URL. */
  clientId: string;
  /** The name the client gave itself; not vouched for by anyone. */
  clientName?: string;
  /** The scopes of the token. */
  scopes: string[];
  /**
   * The owner's policy the call runs under: `allow`, or `ask` with when and how the
   * owner confirmed this very call. Absent when no policy applies (no tool gate).
   */
  policy?: CallPolicy;
}

/** The owner's policy a tool call runs under. */
export type CallPolicy =
  | { policy: "allow" }
  | { policy: "ask"; confirmedAt: number; confirmedBy?: string };

// Keyed by the request's own `mcpReq` object, which the SDK hands unchanged from the
// gate to the tool; nothing outlives the request.
const policies = new WeakMap<object, CallPolicy>();

/** Notes the policy a call runs under, for {@linkcode caller} (the tool gate calls it). */
export function notePolicy(ctx: ServerContext, policy: CallPolicy): void {
  policies.set(ctx.mcpReq, policy);
}

/**
 * The caller of the tool call `ctx` belongs to; undefined when the request carried no
 * accepted token (never the case behind the bearer gate).
 *
 * @example A tool that answers only one app
 * ```ts
 * import { caller, tool } from "../mod.ts";
 *
 * const secret = tool({
 *   description: "Only for my laptop's Claude Code",
 *   run: (_args, ctx) => {
 *     const who = caller(ctx);
 *     if (who?.clientName !== "Claude Code") throw new Error("not for this app");
 *     return `hello ${who.clientName} (grant ${who.grantId})`;
 *   },
 * });
 * if (secret.kind !== "personal-mcp-tool") throw new Error("unexpected");
 * ```
 */
export function caller(ctx: RequestContext): Caller | undefined {
  // The context is the SDK's ServerContext; RequestContext leaves the token out.
  const info = (ctx as unknown as ServerContext).http?.authInfo;
  const grantId = info?.extra?.grantId;
  if (!info || typeof grantId !== "string") return undefined;
  const clientName = info.extra?.clientName;
  const policy = policies.get((ctx as unknown as ServerContext).mcpReq);
  return {
    grantId,
    clientId: info.clientId,
    ...(typeof clientName === "string" ? { clientName } : {}),
    scopes: [...info.scopes],
    ...(policy ? { policy } : {}),
  };
}
