/**
 * The tool-policy service: the owner's decisions per app, read on every `tools/list`
 * and `tools/call`, changed by the owner (consent page, owner page, `permissions`).
 *
 * A change applies at once on every process sharing the store: with a store no other
 * process writes (memory, file), the decisions are cached here and every write goes
 * through this service; with a shared store (Deno KV) they are read per call, one small
 * record by key (a cache would be stale until another process's change reached it).
 * Every change also rewrites a notice record that other processes watch, so that they
 * tell that app's open sessions the tool list changed.
 *
 * @module
 */
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import { randomToken } from "../../core/crypto.ts";
import {
  type AppToolPolicies,
  decidePolicy,
  type OwnerToolDefaults,
  planPolicyChange,
  type PolicyChange,
  type PolicyDecision,
  type PolicyPlan,
  type ToolFacts,
} from "./permissions.ts";

/** Most apps whose decisions are cached (unshared stores), least recently used dropped. */
const MAX_CACHED_APPS = 1000;

/** The notice other processes watch: which app's policies changed last. */
interface PolicyNotice {
  id: string;
  clientId: string;
  at: number;
}

/** The owner's decisions per app, as every path reads and changes them. */
export interface ToolPolicies {
  /** The owner's defaults (options), checked once. */
  readonly defaults: OwnerToolDefaults;
  /** What the owner decided for an app (undefined: nothing yet, defaults apply). */
  app(clientId: string): Promise<AppToolPolicies | undefined>;
  /** The policy one tool runs under for an app, now. */
  decide(clientId: string, tool: ToolFacts): Promise<PolicyDecision>;
  /** Applies an owner's change atomically; refused changes write nothing. */
  change(clientId: string, change: PolicyChange): Promise<PolicyPlan>;
  /** Forgets an app's decisions (its client is forgotten). */
  forget(clientId: string): Promise<void>;
  /** Calls `listener` with the app whose policies changed, here or in another process. */
  onChange(listener: (clientId: string) => void): () => void;
  /** Stops watching the store. */
  close(): void;
}

/** Builds the service over the store, with the owner's defaults. */
export function createToolPolicies(
  store: Store,
  defaults: OwnerToolDefaults,
  now: () => number,
): ToolPolicies {
  const cache = new Map<string, AppToolPolicies | null>();
  const listeners = new Set<(clientId: string) => void>();
  const mine = new Set<string>();
  const tell = (clientId: string) => {
    for (const listener of listeners) {
      try {
        listener(clientId);
      } catch { /* a listener's failure is its own */ }
    }
  };
  const remember = (clientId: string, record: AppToolPolicies | undefined) => {
    if (store.shared) return;
    cache.delete(clientId);
    cache.set(clientId, record ?? null);
    if (cache.size > MAX_CACHED_APPS) cache.delete(cache.keys().next().value!);
  };
  let stopWatch = () => {};
  if (store.shared && store.watch) {
    stopWatch = store.watch(keys.toolPolicyNotice, () => {
      store.get<PolicyNotice>(keys.toolPolicyNotice).then((notice) => {
        if (notice && !mine.delete(notice.id)) tell(notice.clientId);
      }).catch(() => {});
    });
  }

  async function app(clientId: string): Promise<AppToolPolicies | undefined> {
    const cached = cache.get(clientId);
    if (cached !== undefined) return cached ?? undefined;
    const record = await store.get<AppToolPolicies>(keys.toolPolicy(clientId));
    remember(clientId, record);
    return record;
  }

  return {
    defaults,
    app,
    async decide(clientId, tool) {
      return decidePolicy(tool, defaults, await app(clientId));
    },
    async change(clientId, change) {
      const id = randomToken(12);
      const plan = await store.transact([keys.toolPolicy(clientId)], ([current]) => {
        const plan = planPolicyChange(current as AppToolPolicies | undefined, change, now());
        if (!plan.ok || !plan.changed) return { ops: [], result: plan };
        const notice: PolicyNotice = { id, clientId, at: now() };
        return {
          ops: [
            { op: "set", key: keys.toolPolicy(clientId), value: plan.record },
            { op: "set", key: keys.toolPolicyNotice, value: notice },
          ],
          result: plan,
        };
      });
      if (plan.ok && plan.changed) {
        if (store.shared) {
          mine.add(id);
          if (mine.size > 100) mine.delete(mine.values().next().value!);
        }
        remember(clientId, plan.record);
        tell(clientId);
      }
      return plan;
    },
    async forget(clientId) {
      await store.write([{ op: "delete", key: keys.toolPolicy(clientId) }]);
      remember(clientId, undefined);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      stopWatch();
    },
  };
}
