/**
 * The local control endpoint: how the owner commands reach a running server whose
 * file store holds the state folder's lock. The server listens on an ephemeral port
 * of 127.0.0.1 and writes `<stateDir>/control.json` (mode 0600, in the 0700 folder)
 * with that URL and a random credential; only someone who can read the state folder
 * can act, and nothing of it is reachable from the network. The commands then act
 * through the server's own owner controls, so a revocation applies at once.
 *
 * Why not the store: the file store is one process's memory written to a file; a
 * second writer would be overwritten by the server's next save (hence the lock).
 *
 * @module
 */
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { randomToken, secretsEqual } from "../core/crypto.ts";
import type { OwnerControls } from "../auth/owner/controls.ts";
import type { PermissionControls } from "../auth/grants/app_permissions.ts";
import { isToolPolicy, type ToolPolicy } from "../auth/grants/permissions.ts";
import type { AuditTrail } from "../auth/owner/audit.ts";
import type { HeldCalls } from "../auth/owner/confirmations.ts";
import { readBodyText } from "../core/http.ts";

/** The file, in the state folder, that tells the commands where the server listens. */
export const CONTROL_FILE = "control.json";
/** What the activity log shows as the address of an owner command. */
export const COMMAND_LINE = "command line";
const MAX_BODY_BYTES = 4096;

/** What control.json holds. */
export interface ControlFile {
  url: string;
  token: string;
  pid: number;
}

/** One request to the control endpoint. */
export type ControlRequest =
  | { op: "listGrants" }
  | { op: "listClients" }
  | { op: "revokeGrant"; id: string }
  | { op: "revokeAll" }
  | { op: "forgetClient"; id: string }
  | { op: "setPassword"; password: string }
  | { op: "removePassword" }
  | { op: "listPasskeys" }
  | { op: "removePasskey"; id: string }
  | { op: "createPasskeyLink"; name?: string }
  | { op: "listServers" }
  | { op: "permissions"; id: string }
  | { op: "setPermissions"; id: string; policy: ToolPolicy; tools: string[] }
  | { op: "audit"; app?: string; since?: number; limit?: number }
  | { op: "pending" }
  | { op: "decide"; id: string; answer: "confirm" | "decline" };

/** The owner's say per app and tool, for the commands (the server's, or the store's). */
export interface ToolControls {
  permissions: PermissionControls;
  held: HeldCalls;
  audit: AuditTrail;
}

type Listen = (
  handler: (request: Request) => Promise<Response>,
) => Promise<{ port: number; stop(): Promise<void> }>;

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Answers one control request with the owner controls. */
/**
 * Carries out one owner request with the owner controls: what the control endpoint
 * does for a command that reaches the running server, and what a command does itself
 * on a store it opened.
 */
export async function performControl(
  controls: OwnerControls,
  req: ControlRequest,
  tools?: ToolControls,
): Promise<unknown> {
  if (tools && req.op in TOOL_OPS) return await performToolControl(tools, req);
  switch (req.op) {
    case "listGrants":
      return await controls.listGrants();
    case "listClients":
      return await controls.listClients();
    case "revokeGrant":
      return await controls.revokeGrant(String(req.id), COMMAND_LINE);
    case "revokeAll":
      return await controls.revokeAll(COMMAND_LINE);
    case "forgetClient":
      return await controls.forgetClient(String(req.id), COMMAND_LINE);
    case "setPassword":
      await controls.setPassword(String(req.password));
      return { passwordFromOptions: controls.passwordFromOptions };
    case "removePassword":
      return {
        removed: await controls.removePassword(COMMAND_LINE),
        passwordFromOptions: controls.passwordFromOptions,
      };
    case "listPasskeys":
      return await controls.listPasskeys();
    case "removePasskey":
      return await controls.removePasskey(String(req.id), COMMAND_LINE);
    case "createPasskeyLink":
      // The running server's own base URL: the link must open the page it serves.
      return await controls.createPasskeyLink(
        typeof req.name === "string" ? req.name : undefined,
        COMMAND_LINE,
      );
    case "listServers":
      return controls.listServers();
    default:
      throw new TypeError("unknown op");
  }
}

const TOOL_OPS = { permissions: 1, setPermissions: 1, audit: 1, pending: 1, decide: 1 };

/** The requests of the tool commands (`permissions`, `audit`, `pending`, `confirm`, `decline`). */
async function performToolControl(tools: ToolControls, req: ControlRequest): Promise<unknown> {
  switch (req.op) {
    case "permissions":
      return await tools.permissions.show(String(req.id)) ?? null;
    case "setPermissions":
      if (!isToolPolicy(req.policy) || !Array.isArray(req.tools)) {
        throw new TypeError("bad request");
      }
      return await tools.permissions.set(String(req.id), req.policy, req.tools.map(String));
    case "audit":
      return await tools.audit.query({
        ...(typeof req.app === "string" ? { app: req.app } : {}),
        ...(typeof req.since === "number" ? { since: req.since } : {}),
        limit: typeof req.limit === "number" ? req.limit : 100,
      });
    case "pending":
      return await tools.held.pending();
    case "decide":
      if (req.answer !== "confirm" && req.answer !== "decline") throw new TypeError("bad request");
      return await tools.held.decide(String(req.id), req.answer, COMMAND_LINE);
    default:
      throw new TypeError("unknown op");
  }
}

/**
 * Starts the control endpoint for a server on `stateDir` and writes control.json;
 * `stop` removes both.
 */
export async function startControl(
  stateDir: string,
  controls: OwnerControls,
  listen: Listen,
  tools?: ToolControls,
): Promise<{ stop(): Promise<void> }> {
  const token = randomToken();
  let origin = "";
  const listener = await listen(async (request) => {
    const url = new URL(request.url);
    // Browsers always send Origin (or Sec-Fetch-Site) on a cross-origin POST: a web page
    // (DNS rebinding included) has no business here, even without the credential.
    if (
      request.method !== "POST" || url.pathname !== "/" ||
      request.headers.has("origin") || request.headers.has("sec-fetch-site") ||
      request.headers.get("host") !== new URL(origin).host
    ) {
      return json({ error: "refused" }, 403);
    }
    const auth = request.headers.get("authorization") ?? "";
    if (!auth.startsWith("Bearer ") || !(await secretsEqual(auth.slice(7), token))) {
      return json({ error: "unauthorized" }, 401);
    }
    let req: ControlRequest;
    try {
      req = JSON.parse(await readBodyText(request, MAX_BODY_BYTES));
    } catch {
      return json({ error: "bad request" }, 400);
    }
    try {
      return json({ result: await performControl(controls, req, tools) });
    } catch (error) {
      return json({ error: error instanceof Error ? error.message : "failed" }, 400);
    }
  });
  origin = `http://127.0.0.1:${listener.port}`;
  const path = join(stateDir, CONTROL_FILE);
  const tmp = `${path}.${randomToken(8)}.tmp`;
  const body: ControlFile = { url: origin, token, pid: process.pid };
  try {
    await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    await listener.stop();
    throw error;
  }
  return {
    async stop() {
      // Only our own file: never one a later server wrote.
      try {
        const current = JSON.parse(await readFile(path, "utf8")) as ControlFile;
        if (current.token === token) await unlink(path);
      } catch { /* already gone */ }
      await listener.stop();
    },
  };
}

/** Sends one request to a running server's control endpoint (read from control.json). */
export async function callControl(stateDir: string, req: ControlRequest): Promise<unknown> {
  let file: ControlFile;
  try {
    file = JSON.parse(await readFile(join(stateDir, CONTROL_FILE), "utf8"));
  } catch {
    throw new Error(
      `a server holds ${stateDir} but left no ${CONTROL_FILE}: stop it, or upgrade it, and try again`,
    );
  }
  const url = new URL(file.url);
  // Loopback only: the file could have been planted by someone who can write the folder.
  if (url.protocol !== "http:" || url.hostname !== "127.0.0.1") {
    throw new Error(`${CONTROL_FILE} does not point at 127.0.0.1`);
  }
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${file.token}`, "content-type": "application/json" },
    body: JSON.stringify(req),
  });
  const answer = await res.json() as { result?: unknown; error?: string };
  if (!res.ok) throw new Error(`the running server refused: ${answer.error ?? res.status}`);
  return answer.result;
}
