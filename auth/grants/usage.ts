/**
 * When and from where each grant was last used, for the owner's list of connected
 * apps: stamped on the grant by the token endpoint's writes (code exchange, refresh),
 * and, at most once a minute per grant and never awaited, by `/mcp` calls.
 *
 * @module
 */
import type { Plan, Store, WriteOp } from "../../store/store.ts";
import { grantWrite } from "./grants.ts";
import type { AccessRecord, GrantRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";

/** How often a grant's `/mcp` use is written, at most, in ms. */
export const USE_WRITE_INTERVAL_MS = 60_000;
/** Most grants whose last write time is remembered (a bound on memory). */
const REMEMBERED_GRANTS = 10_000;

/** Who used a grant, when, and the name the client gave. */
export interface GrantUse {
  at: number;
  address: string;
  clientName?: string;
  /** Where the code was sent (code exchange only). */
  redirectUri?: string;
}

/**
 * A token-endpoint plan with its writes stamped: the grant record gets the use (time,
 * address, client name), and each new access record the client's name, for tools.
 * Pure, like the rules it wraps.
 *
 * @example Stamping a refresh
 * ```ts
 * import { stampUse } from "./usage.ts";
 * const grant = { grantId: "g", clientId: "c", scope: "mcp", resource: "r", createdAt: 0, refresh: [] };
 * const plan = stampUse({ ops: [{ op: "set", key: ["grant", "g"], value: grant }], result: 1 }, "g",
 *   { at: 5, address: "192.0.2.1", clientName: "App" });
 * const written = (plan.ops[0] as { value: { lastUsedAt: number } }).value;
 * if (written.lastUsedAt !== 5) throw new Error("not stamped");
 * ```
 */
export function stampUse<R>(plan: Plan<R>, grantId: string, use: GrantUse): Plan<R> {
  const grantKey = keys.grant(grantId);
  const ops = plan.ops.map((op): WriteOp => {
    if (op.op !== "set") return op;
    if (op.key.length === 2 && op.key[0] === grantKey[0] && op.key[1] === grantKey[1]) {
      const value: GrantRecord = {
        ...(op.value as GrantRecord),
        lastUsedAt: use.at,
        lastAddress: use.address,
      };
      if (use.clientName !== undefined) value.clientName = use.clientName;
      if (use.redirectUri !== undefined) value.redirectUri = use.redirectUri;
      return { ...op, value };
    }
    if (op.key.length === 2 && op.key[0] === "access" && use.clientName !== undefined) {
      return { ...op, value: { ...(op.value as AccessRecord), clientName: use.clientName } };
    }
    return op;
  });
  return { ops, result: plan.result };
}

/** Records `/mcp` use of grants. */
export interface UsageRecorder {
  /**
   * Notes that `grantId` was used from `address` now. Returns at once; the grant is
   * written in the background, at most once per {@linkcode USE_WRITE_INTERVAL_MS}
   * (`address` may be a function: it is called only then).
   */
  used(grantId: string, address: string | (() => string)): void;
}

/** Builds the recorder on the (access-indexed) store. */
export function createUsageRecorder(store: Store, now: () => number = Date.now): UsageRecorder {
  const written = new Map<string, number>();
  return {
    used(grantId, address) {
      const t = now();
      const last = written.get(grantId);
      if (last !== undefined && t - last < USE_WRITE_INTERVAL_MS) return;
      if (written.size >= REMEMBERED_GRANTS) written.clear();
      written.set(grantId, t);
      const from = typeof address === "function" ? address() : address;
      // Read and written in one step, so a grant revoked meanwhile is never written back.
      void store.transact([keys.grant(grantId)], ([value]) => {
        const grant = value as GrantRecord | undefined;
        if (!grant) return { ops: [], result: undefined };
        return {
          ops: [grantWrite({ ...grant, lastUsedAt: t, lastAddress: from })],
          result: undefined,
        };
      }).catch(() => written.delete(grantId));
    },
  };
}
