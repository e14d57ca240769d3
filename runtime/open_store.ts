/**
 * Where the owner commands act: the state folder opened as the server would open it,
 * or, when a running server holds the file store's lock, that server through its local
 * control endpoint (control.ts).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { logValue } from "../auth/owner/activity.ts";
import { ownerControlsOn } from "../auth/owner/controls.ts";
import { hasFileState, openFileStore, prepareStateDir, StateLockedError } from "../store/file.ts";
import { kvAvailable, openKvStore } from "../store/kv.ts";
import type { Store } from "../store/store.ts";
import { callControl, performControl, type ToolControls } from "./control.ts";
import { createPermissionControls } from "../auth/grants/app_permissions.ts";
import { createToolPolicies } from "../auth/grants/tool_policies.ts";
import { createAuditLog } from "../auth/owner/audit.ts";
import { createConfirmations } from "../auth/owner/confirmations.ts";
import type { Owner } from "./commands/command.ts";

/** The local Deno KV database of a state folder. */
export const KV_FILE = "kv.sqlite3";

/** Opens the state folder as the server would, or reaches the server that holds it. */
export async function openOwner(stateDir: string, baseUrl: string | undefined): Promise<Owner> {
  const hasKv = existsSync(join(stateDir, KV_FILE));
  const hasFile = hasFileState(stateDir);
  if (!kvAvailable() && hasKv && !hasFile) {
    throw new Error(
      `the state in ${stateDir} is in Deno KV: run the command as the server runs, with ` +
        `--unstable-kv (e.g. npx deno run -A --unstable-kv mod.ts grants)`,
    );
  }
  let store: Store;
  if (kvAvailable() && (hasKv || !hasFile)) {
    await prepareStateDir(stateDir);
    store = await openKvStore(join(stateDir, KV_FILE));
  } else {
    try {
      store = await openFileStore(stateDir);
    } catch (error) {
      if (!(error instanceof StateLockedError)) throw error;
      return { call: (req) => callControl(stateDir, req), close: async () => {}, via: "server" };
    }
  }
  const { controls, close } = ownerControlsOn(store, { baseUrl });
  const tools = toolControlsOn(store);
  return {
    via: "store",
    close,
    call: (req) => performControl(controls, req, tools),
  };
}

/**
 * The tool commands on a store opened here: the server (and the tools it serves) is not
 * running, so permissions show and change the decisions stored, unchecked against the
 * tools; held calls are answered in the store (a server sharing it sees the answer).
 */
function toolControlsOn(store: Store): ToolControls {
  const now = () => Date.now();
  return {
    permissions: createPermissionControls(store, createToolPolicies(store, {}, now)),
    held: createConfirmations(store, now),
    audit: createAuditLog(store, false),
  };
}

/** The base URL given to a command: an http(s) origin, without a trailing slash. */
export function readBaseUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === "") return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`--base-url must be an absolute http(s) URL, got ${logValue(text)}`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/") {
    throw new TypeError(`--base-url must be an http(s) origin with no path, got ${logValue(text)}`);
  }
  return url.origin;
}
