/**
 * Small helpers shared by the end-to-end tests in this folder: a server per test on a
 * fresh state folder, the raw OAuth requests a client sends, a sessionless `tools/call`
 * on `/mcp`, and child processes (Node CLIs) with bounded waits that are always
 * stopped by their PID.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { approveAndGetCode, pkcePair, ROOT, type ServerProcess, startServer } from "../helpers.ts";

/** The owner password every e2e server is started with. */
export const PASSWORD = "owner-password-for-e2e-tests";

/** Both runtimes the server must work under. */
export const RUNTIMES = ["deno", "bun"] as const;

/** Node, for the npm CLIs (mcp-remote, the MCP Inspector CLI). */
export const NODE_BIN = "node";

/** Runs `fn` against a fresh server process (own state folder), always stopping it. */
export async function withServer<T>(
  runtime: "deno" | "bun",
  fn: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const stateDir = await mkdtemp(join(tmpdir(), `pmcp-e2e-${runtime}-`));
  let server: ServerProcess | undefined;
  try {
    server = await startServer({ runtime, stateDir, password: PASSWORD });
    return await fn(server);
  } finally {
    await server?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** What `/register` answered (RFC 7591 3.2.1). */
export interface Registration {
  client_id: string;
  client_secret?: string;
  client_secret_expires_at?: number;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  grant_types: string[];
  [key: string]: unknown;
}

/** POSTs client metadata to `/register` and asserts the 201. */
export async function registerClient(
  baseUrl: string,
  metadata: Record<string, unknown>,
): Promise<Registration> {
  const res = await fetch(`${baseUrl}/register`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(metadata),
  });
  const body = await res.json();
  assert.equal(res.status, 201, `registration failed: ${JSON.stringify(body)}`);
  return body as Registration;
}

/** An `/authorize` URL with the given query parameters (undefined ones left out). */
export function authorizeUrl(baseUrl: string, params: Record<string, string | undefined>): URL {
  const url = new URL(`${baseUrl}/authorize`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url;
}

/** A `/token` answer. */
export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** POSTs a form to `/token` (optionally with extra headers, e.g. Basic auth). */
export async function tokenRequest(
  baseUrl: string,
  form: Record<string, string | undefined>,
  headers: Record<string, string> = {},
): Promise<TokenAnswer> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v);
  const res = await fetch(`${baseUrl}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      ...headers,
    },
    body,
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** The JSON-RPC message in a `/mcp` answer, whether sent as JSON or as one SSE event. */
async function readJsonRpc(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    const data = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5))
      .find((d) => d.trim().startsWith("{"));
    assert.ok(data, `no JSON-RPC message in the event stream: ${text.slice(0, 300)}`);
    return JSON.parse(data);
  }
  return JSON.parse(text);
}

/** A lone `tools/call hello` on `/mcp` with the token; returns the status and the text. */
export async function callHello(
  mcpUrl: string,
  token: string,
  name: string,
): Promise<{ status: number; text?: string; wwwAuthenticate?: string }> {
  const res = await fetch(mcpUrl, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "hello", arguments: { name } },
    }),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return {
      status: res.status,
      wwwAuthenticate: res.headers.get("www-authenticate") ?? undefined,
    };
  }
  const message = await readJsonRpc(res);
  const result = message.result as { content?: { type: string; text?: string }[] } | undefined;
  return { status: res.status, text: result?.content?.[0]?.text };
}

/** A child process whose output is collected and which can be awaited with a bound. */
export interface Child {
  process: ChildProcess;
  /** stdout and stderr interleaved, as printed so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code; rejects (and kills) after `timeoutMs`. */
  exit(timeoutMs: number): Promise<number | null>;
  /**
   * SIGTERM by PID (to its process group with `group`), then SIGKILL after 2 s;
   * resolves when the process is gone.
   */
  stop(): Promise<void>;
}

/** How {@linkcode spawnChild} starts the process. */
export interface SpawnOptions {
  /** Working folder. @default ROOT */
  cwd?: string;
  /** Added to the test's own environment. */
  env?: Record<string, string>;
  /**
   * `"pipe"` keeps stdin open until `stop()` (CLIs such as mcp-remote shut down when
   * stdin ends); `"ignore"` gives the child none.
   * @default "pipe"
   */
  stdin?: "pipe" | "ignore";
  /**
   * Runs the child in its own process group and sends every signal to the whole
   * group, so that `stop()` also reaches the processes it started.
   * @default false
   */
  group?: boolean;
}

/** Spawns a command, collecting its output. */
export function spawnChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? "pipe", "pipe", "pipe"],
    detached: options.group ?? false,
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: unknown) => {
    out += String(d);
    for (const l of listeners) l();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      for (const l of listeners) l();
      resolve(code);
    });
    child.once("error", () => resolve(null));
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const signal = (name: NodeJS.Signals) => {
    if (!options.group) {
      child.kill(name);
      return;
    }
    try {
      process.kill(-child.pid!, name);
    } catch { /* the group is already gone */ }
  };
  return {
    process: child,
    output: () => out,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (gone()) {
            done();
            reject(new Error(`process exited before printing ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async exit(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          signal("SIGKILL");
          reject(new Error(`process did not exit within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      child.stdin?.destroy();
      if (gone()) return;
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Registers a public loopback client, approves as the owner and exchanges the code. */
export async function obtainTokens(
  baseUrl: string,
  clientName = "e2e test client",
): Promise<{ accessToken: string; refreshToken: string; clientId: string }> {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const client = await registerClient(baseUrl, {
    client_name: clientName,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  });
  const { verifier, challenge } = await pkcePair();
  const { code } = await approveAndGetCode(
    authorizeUrl(baseUrl, {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "e2e-state",
      resource: `${baseUrl}/mcp`,
    }),
    PASSWORD,
  );
  const answer = await tokenRequest(baseUrl, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    client_id: client.client_id,
    resource: `${baseUrl}/mcp`,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return {
    accessToken: answer.body.access_token as string,
    refreshToken: answer.body.refresh_token as string,
    clientId: client.client_id,
  };
}
