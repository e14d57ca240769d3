/**
 * Shared test helpers: the owner's browser as a form submitter, real server
 * processes under Deno and Bun, and an in-memory OAuth client provider for the
 * official MCP SDK client.
 */
import type { OAuthClientMetadata, OAuthClientProvider } from "@modelcontextprotocol/client";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
function firstExisting(paths: string[]): string {
  return paths.find((p) => existsSync(p)) ?? paths[0]!;
}
/**
 * The real runtime binaries (not a Node wrapper, whose PID is not the server's). The
 * npm packages' install scripts move the binary into place; where they did not run,
 * it is still in the platform package.
 */
export const DENO_BIN = firstExisting([
  `${ROOT}node_modules/deno/deno`,
  `${ROOT}node_modules/@deno/linux-x64-glibc/deno`,
]);
export const BUN_BIN = firstExisting([
  `${ROOT}node_modules/bun/bin/bun.exe`,
  `${ROOT}node_modules/@oven/bun-linux-x64/bin/bun`,
]);

export const CLAUDE_REDIRECT = "https://claude.ai/api/mcp/auth_callback";

/** Reads the value of a named input from the consent page's HTML. */
export function formField(html: string, name: string): string | undefined {
  const re = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`);
  const m = re.exec(html);
  return m
    ? m[1]!.replaceAll("&#34;", '"').replaceAll("&#38;", "&").replaceAll("&#39;", "'")
    : undefined;
}

/** What the owner's "browser" saw after submitting the consent form. */
export interface ConsentResult {
  status: number;
  /** The Location header (for 303 answers). */
  location?: string;
  /** The page body (for non-redirect answers). */
  body?: string;
}

/**
 * Acts as the owner's browser: GETs the consent page, then submits the form with the
 * given password and decision, carrying the page's cookie, as a same-origin form post.
 */
export async function submitConsent(
  authorizeUrl: string | URL,
  password: string,
  decision: "approve" | "deny" = "approve",
): Promise<ConsentResult> {
  const page = await fetch(authorizeUrl, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) {
    return { status: page.status, location: page.headers.get("location") ?? undefined, body: html };
  }
  const request = formField(html, "request");
  if (!request) throw new Error(`no request field on consent page: ${html.slice(0, 300)}`);
  const cookie = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
  const url = new URL(authorizeUrl);
  const res = await fetch(new URL("/authorize", url), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: url.origin },
    body: new URLSearchParams({ request, password, decision }),
  });
  const location = res.headers.get("location") ?? undefined;
  const body = await res.text();
  return { status: res.status, location, body };
}

/** Approves with the password and returns the `code` from the redirect; throws otherwise. */
export async function approveAndGetCode(
  authorizeUrl: string | URL,
  password: string,
): Promise<{ code: string; location: URL }> {
  const result = await submitConsent(authorizeUrl, password, "approve");
  if (result.status !== 303 || !result.location) {
    throw new Error(`consent did not redirect: ${result.status} ${result.body?.slice(0, 300)}`);
  }
  const location = new URL(result.location);
  const code = location.searchParams.get("code");
  if (!code) throw new Error(`no code in redirect: ${result.location}`);
  return { code, location };
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A server process started by a test. */
export interface ServerProcess {
  baseUrl: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `mod.ts` (or `script`) under the real Deno or Bun binary and waits until
 * `/.well-known/oauth-authorization-server` answers (the CLI's readiness contract).
 */
export async function startServer(options: {
  runtime: "deno" | "bun";
  stateDir: string;
  password?: string;
  script?: string;
  port?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const port = options.port ?? await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const script = options.script ?? "mod.ts";
  const flags = [
    "--port",
    String(port),
    "--hostname",
    "127.0.0.1",
    "--base-url",
    baseUrl,
    "--state-dir",
    options.stateDir,
  ];
  if (options.password !== undefined) flags.push("--password", options.password);
  flags.push(...(options.extraArgs ?? []));
  const [bin, args] = options.runtime === "deno"
    ? [DENO_BIN, ["run", "-A", script, ...flags]]
    : [BUN_BIN, ["run", script, ...flags]];
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${out}`);
    try {
      const res = await fetch(`${baseUrl}/.well-known/oauth-authorization-server`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not become ready: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    port,
    child,
    output: () => out,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * An OAuth client provider for the SDK client that keeps everything in memory and,
 * when sent to the authorization page, approves as the owner with `password`.
 */
export class TestOAuthProvider implements OAuthClientProvider {
  clientInfo?: Awaited<ReturnType<OAuthClientProvider["clientInformation"]>>;
  savedTokens?: Awaited<ReturnType<OAuthClientProvider["tokens"]>>;
  verifier = "";
  /** The authorization code obtained by the last consent. */
  lastCode?: string;
  /** The redirect URL the consent landed on. */
  lastRedirect?: URL;
  clientMetadataUrl?: string;
  discovery?: Awaited<ReturnType<NonNullable<OAuthClientProvider["discoveryState"]>>>;

  constructor(
    readonly password: string,
    readonly metadata: OAuthClientMetadata = {
      client_name: "SDK test client",
      redirect_uris: ["http://127.0.0.1:53682/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    options: { clientMetadataUrl?: string } = {},
  ) {
    this.clientMetadataUrl = options.clientMetadataUrl;
  }
  get redirectUrl() {
    return this.metadata.redirect_uris[0];
  }
  get clientMetadata() {
    return this.metadata;
  }
  clientInformation() {
    return this.clientInfo;
  }
  saveClientInformation(info: NonNullable<TestOAuthProvider["clientInfo"]>) {
    this.clientInfo = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens: NonNullable<TestOAuthProvider["savedTokens"]>) {
    this.savedTokens = tokens;
  }
  async redirectToAuthorization(url: URL) {
    const { code, location } = await approveAndGetCode(url, this.password);
    this.lastCode = code;
    this.lastRedirect = location;
  }
  saveDiscoveryState(state: NonNullable<TestOAuthProvider["discovery"]>) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A PKCE pair. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const verifier = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  const challenge = btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  return { verifier, challenge };
}

/** A throwaway CA and a certificate for 127.0.0.1/localhost signed by it (openssl). */
export async function makeLocalTls(
  dir: string,
): Promise<{ caPath: string; cert: string; key: string }> {
  const { execFileSync } = await import("node:child_process");
  const { readFileSync, writeFileSync } = await import("node:fs");
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=personal-mcp test CA",
  );
  run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(
    `${dir}/leaf.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  run(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.pem",
    "-days",
    "1",
    "-extfile",
    "leaf.ext",
  );
  return {
    caPath: `${dir}/ca.pem`,
    cert: readFileSync(`${dir}/leaf.pem`, "utf8"),
    key: readFileSync(`${dir}/leaf.key`, "utf8"),
  };
}
