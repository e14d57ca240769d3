/**
 * The one helper module of the tests.
 *
 * - In process: a server on a memory store the test can inspect, and the steps of the
 *   OAuth flow (register, consent, tokens, MCP call) as `app.fetch(new Request(...))`.
 * - Over sockets: real server processes under Deno and Bun, the owner's browser as a
 *   form submitter, the raw OAuth requests a client sends (`...At(baseUrl, ...)`), an
 *   OAuth client provider for the official MCP SDK client, and child processes (Node
 *   CLIs) with bounded waits that are always stopped by their PID.
 */
import assert from "node:assert/strict";
import type { OAuthClientMetadata, OAuthClientProvider } from "@modelcontextprotocol/client";
import type { BrowserContext } from "playwright-core";
import type { PersonalMcpOptions } from "../server/options.ts";
import type { PersonalMcpEvent } from "../core/config.ts";
import type { ConnectionInfo } from "../core/http.ts";
import type { Store } from "../store/store.ts";
import { createMemoryStore } from "../store/memory.ts";
import { createPersonalMcp, type PersonalMcp } from "../server/create.ts";
import { connect, createServer, type Socket } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { tool } from "../transport/tools.ts";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { z } from "zod";

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
  /**
   * Where the browser goes next: the Location of a 303 (a custom-scheme redirect), or
   * the link of the page that answers a decision for an http(s) redirect.
   */
  location?: string;
  /** The page body (for non-redirect answers). */
  body?: string;
}

/** Undoes the consent page's HTML escaping (`&#NN;`). */
function unescapeHtml(text: string): string {
  return text.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)));
}

/**
 * The URL the page answering the owner's decision sends the browser on to, checked to
 * be the same in its `meta refresh` and its visible link; undefined for another page.
 */
export function continueLink(html: string): string | undefined {
  const link = /<a id="continue" href="([^"]*)"/.exec(html);
  const refresh = /<meta http-equiv="refresh" content="0;url=([^"]*)"/.exec(html);
  if (!link || !refresh) return undefined;
  assert.equal(refresh[1], link[1], "the refresh and the link lead to the same place");
  return unescapeHtml(link[1]!);
}

/**
 * Where the browser lands after the owner's decision, from a 303 or from the page
 * that navigates on; fails the test on any other answer.
 */
export async function decisionLanding(res: Response): Promise<URL> {
  if (res.status === 303) {
    await res.body?.cancel();
    return new URL(res.headers.get("location")!);
  }
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 300));
  const link = continueLink(html);
  assert.ok(link, `a page that navigates on: ${html.slice(0, 300)}`);
  return new URL(link);
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
  const body = await res.text();
  const location = res.headers.get("location") ??
    (res.status === 200 ? continueLink(body) : undefined);
  return { status: res.status, location, body };
}

/** Approves with the password and returns the `code` from the redirect; throws otherwise. */
export async function approveAndGetCode(
  authorizeUrl: string | URL,
  password: string,
): Promise<{ code: string; location: URL }> {
  const result = await submitConsent(authorizeUrl, password, "approve");
  if (!result.location) {
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

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; throws after `timeoutMs`. */
export async function waitForListener(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (connected) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let clockOffsetMs = 0;
const realNow = Date.now;

/**
 * Moves the in-process clock (`Date.now`) forward by `ms`, on top of earlier moves, so
 * that a test can let a cache or a window pass; `resetClock()` puts it back.
 */
export function advanceClock(ms: number): void {
  clockOffsetMs += ms;
  Date.now = () => realNow() + clockOffsetMs;
}

/** Undoes every {@linkcode advanceClock}. */
export function resetClock(): void {
  clockOffsetMs = 0;
  Date.now = realNow;
}

/** Debian's Chromium, for the tests a person would click through (apt-get install chromium). */
export const CHROMIUM = "/usr/bin/chromium";
/**
 * Chromium's flags on these machines (TESTING.md): headless, no sandbox as root, and no
 * background networking, whose connections this closed network refuses many at a time.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Whether Chromium is installed; under CI=true a browser test fails without it. */
export const haveChromium = existsSync(CHROMIUM);
/** Whether a browser test must run (CI) rather than be skipped without Chromium. */
export const mustRunBrowser = process.env.CI === "true";

/**
 * A test a person would click through: skipped with a message when Chromium is missing,
 * except under CI=true, where it fails saying how to install it.
 */
export function browserTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  if (!haveChromium && !mustRunBrowser) {
    console.warn(`skipped, ${CHROMIUM} not found (apt-get install -y chromium): ${name}`);
  }
  Deno.test({
    name,
    ignore: !haveChromium && !mustRunBrowser,
    async fn(t) {
      if (!haveChromium) {
        throw new Error(`CI=true but ${CHROMIUM} is missing: apt-get install -y chromium`);
      }
      await fn(t);
    },
  });
}

/** A loopback page standing in for an app's redirect target: it answers "Signed in." */
export async function startCallbackServer(): Promise<{ url: string; server: HttpServer }> {
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Callback</title><p>Signed in.</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/callback`, server };
}

/** A headless Chromium that lets only loopback requests through. */
export interface LoopbackBrowser {
  context: BrowserContext;
  /** Requests that tried to leave the machine; each was aborted. */
  offHost: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Launches Chromium (CHROMIUM_ARGS, a fresh profile) with a route that aborts and
 * records every request not to 127.0.0.1 or localhost: this closed network refuses
 * them anyway, and a test must not depend on the outside.
 */
export async function openBrowser(options: {
  javaScriptEnabled?: boolean;
  viewport?: { width: number; height: number };
  /** Launch timeout. @default 30_000 */
  timeout?: number;
} = {}): Promise<LoopbackBrowser> {
  const { chromium } = await import("playwright-core");
  const profile = await mkdtemp(join(tmpdir(), "pmcp-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
    ...options,
  }).catch(async (error) => {
    await rm(profile, { recursive: true, force: true });
    throw error;
  });
  const offHost: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.hostname === "localhost") return route.continue();
    offHost.push(url.href);
    return route.abort();
  });
  return {
    context,
    offHost,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A server process started by a test. */
export interface ServerProcess {
  /** Its `--base-url`. */
  baseUrl: string;
  /** Where this process itself listens: `http://127.0.0.1:<port>`. */
  localUrl: string;
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
  /** Flags for the runtime itself, before the script (e.g. Deno's `--unstable-kv`). */
  runtimeFlags?: string[];
  /**
   * The host of `--base-url` (the server still listens on 127.0.0.1). "localhost" for
   * passkeys: WebAuthn needs a host name, and http://localhost is a secure context.
   * @default "127.0.0.1"
   */
  baseHost?: string;
  /**
   * The public `--base-url`, when clients reach the server through something else (a
   * proxy in front of several servers). @default `http://<baseHost>:<port>`
   */
  publicUrl?: string;
  /** Runs the server under `ulimit -n <n>` (soft and hard limit of open descriptors). */
  ulimit?: number;
}): Promise<ServerProcess> {
  const port = options.port ?? await freePort();
  const local = `http://127.0.0.1:${port}`;
  const baseUrl = options.publicUrl ?? `http://${options.baseHost ?? "127.0.0.1"}:${port}`;
  const readyUrl = `${local}/.well-known/oauth-authorization-server`;
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
  // A script written outside the repository (a test's own server) still needs its import map.
  const config = script.startsWith("/") && !script.startsWith(ROOT)
    ? ["--config", `${ROOT}deno.json`]
    : [];
  const runtimeFlags = options.runtimeFlags ?? [];
  const [bin, args] = options.runtime === "deno"
    ? [DENO_BIN, ["run", "-A", ...config, ...runtimeFlags, script, ...flags]]
    : [BUN_BIN, ["run", ...runtimeFlags, script, ...flags]];
  const child = spawnRuntime(bin, args, options);
  const server = serverProcess(child, port, baseUrl);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`server exited (${child.exitCode}): ${server.output()}`);
    }
    try {
      const res = await fetch(readyUrl);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not become ready: ${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}

/** What a command run to its end printed. */
export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mod.ts <args>` to its end under the real Deno or Bun, as the owner types it
 * (`deno run -A mod.ts grants`, `bun run mod.ts grants`). The owner password and base
 * URL of the test's own environment are left out unless `env` gives them; standard
 * input is `stdin` (empty by default); `runtimeFlags` go to Deno (e.g. `--unstable-kv`).
 */
export function runMod(
  runtime: "deno" | "bun",
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; runtimeFlags?: string[] } = {},
): CommandResult {
  const [bin, prefix] = runtime === "deno"
    ? [DENO_BIN, ["run", "-A", ...(options.runtimeFlags ?? [])]]
    : [BUN_BIN, ["run"]];
  const env = { ...process.env, ...options.env };
  if (!options.env?.PERSONAL_MCP_PASSWORD) delete env.PERSONAL_MCP_PASSWORD;
  if (!options.env?.PERSONAL_MCP_BASE_URL) delete env.PERSONAL_MCP_BASE_URL;
  const r = spawnSync(bin, [...prefix, "mod.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
    input: options.stdin ?? "",
    env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Spawns a runtime binary, under `ulimit -n` when asked (exec keeps the PID the server's). */
function spawnRuntime(
  bin: string,
  args: string[],
  options: { env?: Record<string, string>; ulimit?: number },
): ChildProcess {
  const [command, argv] = options.ulimit === undefined
    ? [bin, args]
    : ["bash", ["-c", `ulimit -n ${options.ulimit} && exec "$0" "$@"`, bin, ...args]];
  return spawn(command, argv, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function serverProcess(
  child: ChildProcess,
  port: number,
  baseUrl = `http://127.0.0.1:${port}`,
): ServerProcess {
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    baseUrl,
    localUrl: `http://127.0.0.1:${port}`,
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
 * Runs `code` (TypeScript, with imports relative to the repository root, e.g.
 * `"./mod.ts"`) under the real Deno (`deno eval`) or Bun (`bun -e`) binary. The code
 * serves on a port of its choice and prints `LISTENING <port>` when ready; this
 * resolves then, with the process.
 */
export async function startScript(
  runtime: "deno" | "bun",
  code: string,
  options: { env?: Record<string, string>; ulimit?: number } = {},
): Promise<ServerProcess> {
  const [bin, args] = runtime === "deno" ? [DENO_BIN, ["eval", code]] : [BUN_BIN, ["-e", code]];
  const child = spawnRuntime(bin, args, options);
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`script did not print LISTENING within 30 s:\n${out}`));
    }, 30_000);
    const onData = (d: unknown) => {
      out += String(d);
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`script exited (${code}) before listening:\n${out}`));
    });
  });
  const server = serverProcess(child, port);
  const output = server.output;
  return { ...server, output: () => out + output() };
}

/** A raw HTTP answer. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * One HTTP/1.1 request over a fresh socket bound to `localAddress` (a loopback alias
 * such as 127.0.0.2), so that the server sees the request come from that address.
 */
export function requestFrom(
  localAddress: string,
  url: string | URL,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  const target = new URL(url);
  const body = init.body ?? "";
  const head = [
    `${init.method ?? "GET"} ${target.pathname}${target.search} HTTP/1.1`,
    `host: ${target.host}`,
    "connection: close",
    ...(init.body !== undefined
      ? [`content-length: ${new TextEncoder().encode(body).length}`]
      : []),
    ...Object.entries(init.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ].join("\r\n");
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = connect({
      host: target.hostname,
      port: Number(target.port),
      localAddress,
    }, () => socket.write(`${head}\r\n\r\n${body}`));
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer from ${url}`)));
    socket.on("data", (d: Uint8Array) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const split = raw.indexOf("\r\n\r\n");
      if (split < 0) return reject(new Error(`no HTTP answer from ${url}: ${raw.slice(0, 200)}`));
      const [statusLine, ...lines] = raw.slice(0, split).split("\r\n");
      const headers = new Headers();
      for (const line of lines) {
        const i = line.indexOf(":");
        headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
      let text = raw.slice(split + 4);
      if (headers.get("transfer-encoding")?.includes("chunked")) {
        let decoded = "";
        for (;;) {
          const eol = text.indexOf("\r\n");
          const size = parseInt(text.slice(0, eol), 16);
          if (!size) break;
          decoded += text.slice(eol + 2, eol + 2 + size);
          text = text.slice(eol + 2 + size + 2);
        }
        text = decoded;
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: text });
    });
  });
}

/** Sockets a test holds open against a server. */
export interface HeldSockets {
  /** How many the server (or the kernel) has closed so far. */
  closed(): number;
  /** Resolves once `count` of them are closed; rejects after `timeoutMs`. */
  waitClosed(count: number, timeoutMs: number): Promise<void>;
  /** Closes every socket still open. */
  destroy(): void;
}

/**
 * Opens `count` connections to `port` and writes `first` on each (nothing by default:
 * idle connections), then holds them. Resolves once every connection is either
 * established or refused.
 */
export async function holdSockets(port: number, count: number, first = ""): Promise<HeldSockets> {
  const sockets: Socket[] = [];
  let closed = 0;
  const listeners = new Set<() => void>();
  await Promise.all(Array.from({ length: count }, () =>
    new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        if (first) socket.write(first);
        resolve();
      });
      socket.on("data", () => {});
      socket.on("error", () => resolve());
      socket.on("close", () => {
        closed++;
        resolve();
        for (const l of listeners) l();
      });
      sockets.push(socket);
    })));
  return {
    closed: () => closed,
    waitClosed(n, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (closed < n) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`only ${closed} of ${n} sockets closed within ${timeoutMs} ms`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    destroy() {
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * Sends `text` on a fresh connection and collects what comes back until the server
 * closes it (or, with `untilClosed: false`, until an answer's head has arrived) or
 * `timeoutMs` passes; `closed` says whether the server closed the connection.
 */
export function rawExchange(
  port: number,
  text: string,
  timeoutMs: number,
  options: { untilClosed?: boolean } = {},
): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve) => {
    let response = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("data", (d) => {
      response += d;
      if (options.untilClosed === false && response.includes("\r\n\r\n")) done(false);
    });
    socket.on("error", () => {});
    socket.on("close", () => done(true));
  });
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

export const BASE_URL = "http://127.0.0.1:8787";
export const MCP_URL = `${BASE_URL}/mcp`;
export const PASSWORD = "owner-password-for-tests";
export const CLAUDE_REDIRECT = "https://claude.ai/api/mcp/auth_callback";
export const LOOPBACK_REDIRECT = "http://127.0.0.1:53682/callback";
export const RESOURCE_METADATA_URL = `${BASE_URL}/.well-known/oauth-protected-resource/mcp`;

/** A server under test, its store and the events it reported. */
export interface TestServer {
  app: PersonalMcp;
  store: Store;
  events: PersonalMcpEvent[];
}

/** A server with the `hello` tool on a fresh memory store; options override the defaults. */
export function testServer(options: Partial<PersonalMcpOptions> = {}): TestServer {
  const store = createMemoryStore();
  const events: PersonalMcpEvent[] = [];
  const app = createPersonalMcp({
    hello: tool({
      description: "Say hello",
      input: { name: z.string() },
      run: ({ name }) => `Hello, ${name}!`,
    }),
  }, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { app, store, events };
}

/**
 * Everything in the store, in a stable order, for "changed nothing" assertions. The
 * activity log (`["activity", ...]`) is left out: recording a refused request is the
 * one write a refusal is meant to make.
 */
export async function snapshot(store: Store): Promise<string> {
  const entries = (await store.list([])).filter((e) => e.key[0] !== "activity");
  return JSON.stringify(
    entries
      .map((e) => [e.key, e.value] as const)
      .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0]))),
  );
}

/** How many stored records live under a key prefix (e.g. `["code"]`). */
export async function countUnder(store: Store, prefix: string): Promise<number> {
  return (await store.list([prefix])).length;
}

/** A form POST to one of the server's endpoints. */
export async function postForm(
  app: PersonalMcp,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await app.fetch(
    new Request(`${BASE_URL}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params),
    }),
  );
}

/** A JSON POST (any body text) to one of the server's endpoints. */
export async function postJson(
  app: PersonalMcp,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await app.fetch(
    new Request(`${BASE_URL}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

/** A client as the test knows it after registration. */
export interface TestClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
}

/** Registers a client (Claude-like by default) and returns its credentials. */
export async function registerClient(
  app: PersonalMcp,
  metadata: Record<string, unknown> = {},
): Promise<TestClient> {
  const res = await postJson(app, "/register", {
    client_name: "Test client",
    redirect_uris: [CLAUDE_REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
    ...metadata,
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return {
    clientId: body.client_id,
    clientSecret: body.client_secret,
    redirectUris: body.redirect_uris,
  };
}

/** `client_id` (and `client_secret`, when the client has one) as form fields. */
export function clientCredentials(client: TestClient): Record<string, string> {
  return client.clientSecret === undefined
    ? { client_id: client.clientId }
    : { client_id: client.clientId, client_secret: client.clientSecret };
}

/**
 * An /authorize URL for `client` with a valid request; `params` override or, when
 * `undefined`, remove a parameter.
 */
export function authorizeUrl(
  client: TestClient,
  challenge: string,
  params: Record<string, string | undefined> = {},
): string {
  const all: Record<string, string | undefined> = {
    response_type: "code",
    client_id: client.clientId,
    redirect_uri: client.redirectUris[0],
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "state-123",
    scope: "mcp offline_access",
    resource: MCP_URL,
    ...params,
  };
  const url = new URL(`${BASE_URL}/authorize`);
  for (const [k, v] of Object.entries(all)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

/** The consent page as the owner's browser received it. */
export interface ConsentPage {
  response: Response;
  html: string;
  /** The signed request carried in the form. */
  request: string;
  /** `name=value` of the consent cookie. */
  cookie: string;
}

/** GETs the consent page; fails the test unless it is a 200 page with a form. */
export async function openConsent(
  app: PersonalMcp,
  url: string,
  heldCookie?: string,
): Promise<ConsentPage> {
  // A browser sends the consent cookie it already holds.
  const response = await app.fetch(
    new Request(url, { headers: heldCookie ? { cookie: heldCookie } : {} }),
  );
  const html = await response.text();
  assert.equal(response.status, 200, html.slice(0, 300));
  const request = formField(html, "request");
  assert.ok(request, "the consent page carries the signed request");
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0]!;
  return { response, html, request, cookie };
}

/** Submits the consent form as a same-origin browser post; fields override the defaults. */
export async function postConsent(
  app: PersonalMcp,
  page: Pick<ConsentPage, "request" | "cookie">,
  options: {
    password?: string;
    decision?: string;
    cookie?: string | null;
    origin?: string | null;
    remoteAddress?: string;
    /** The runtime's connection info (instead of `{ remoteAddress }`); `null`: none. */
    info?: ConnectionInfo | null;
    headers?: Record<string, string>;
    request?: string;
    /** More form fields (a passkey's `credential`). */
    fields?: Record<string, string>;
  } = {},
): Promise<Response> {
  const body = new URLSearchParams({
    request: options.request ?? page.request,
    password: options.password ?? PASSWORD,
    decision: options.decision ?? "approve",
    ...options.fields,
  });
  const info = options.info === undefined
    ? { remoteAddress: options.remoteAddress ?? "192.0.2.10" }
    : options.info ?? undefined;
  return await postBrowserForm(app, "/authorize", body, page.cookie, options, info);
}

/**
 * A form POST as a same-origin browser sends it: the page's cookie and this origin,
 * unless `options` replaces them (`null`: left out).
 */
async function postBrowserForm(
  app: PersonalMcp,
  path: string,
  body: URLSearchParams,
  pageCookie: string,
  options: { cookie?: string | null; origin?: string | null; headers?: Record<string, string> },
  info: ConnectionInfo | undefined,
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    ...options.headers,
  };
  const cookie = options.cookie === undefined ? pageCookie : options.cookie;
  if (cookie) headers.cookie = cookie;
  const origin = options.origin === undefined ? BASE_URL : options.origin;
  if (origin !== null) headers.origin = origin;
  return await app.fetch(
    new Request(`${BASE_URL}${path}`, { method: "POST", headers, body }),
    info,
  );
}

/** The owner page as a browser received it. */
export interface OwnerPageView {
  response: Response;
  html: string;
  /** The signed form token of the page's forms. */
  csrf: string;
  /** `name=value` of the owner cookie the browser holds after this answer. */
  cookie: string;
}

/** The `name=value` an answer's Set-Cookie gives, or undefined. */
export function setCookieOf(res: Response): string | undefined {
  const header = res.headers.get("set-cookie");
  return header ? header.split(";")[0]! : undefined;
}

/** GETs /owner as a browser holding `cookie`; fails the test unless it is a 200 page. */
export async function openOwner(
  app: PersonalMcp,
  cookie?: string,
  query = "",
): Promise<OwnerPageView> {
  const response = await app.fetch(
    new Request(`${BASE_URL}/owner${query}`, { headers: cookie ? { cookie } : {} }),
  );
  const html = await response.text();
  assert.equal(response.status, 200, html.slice(0, 300));
  const csrf = formField(html, "csrf");
  assert.ok(csrf, "the owner page carries a signed form token");
  return { response, html, csrf, cookie: setCookieOf(response) ?? cookie ?? "" };
}

/** Posts an owner-page form as a same-origin browser; options override the defaults. */
export async function postOwner(
  app: PersonalMcp,
  page: Pick<OwnerPageView, "csrf" | "cookie">,
  fields: Record<string, string>,
  options: {
    cookie?: string | null;
    origin?: string | null;
    remoteAddress?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  return await postBrowserForm(
    app,
    "/owner",
    new URLSearchParams({ csrf: page.csrf, ...fields }),
    page.cookie,
    options,
    { remoteAddress: options.remoteAddress ?? "192.0.2.20" },
  );
}

/** Signs in on /owner with the password; returns the signed-in page (its cookie is the session). */
export async function signInOwner(
  app: PersonalMcp,
  options: { password?: string; remoteAddress?: string } = {},
): Promise<OwnerPageView> {
  const form = await openOwner(app);
  const res = await postOwner(app, form, {
    action: "sign-in",
    password: options.password ?? PASSWORD,
  }, { remoteAddress: options.remoteAddress });
  assert.equal(res.status, 303, await res.text());
  const session = setCookieOf(res);
  assert.ok(session, "signing in sets the session cookie");
  return await openOwner(app, session);
}

/** Runs consent with the owner password and returns the code and its PKCE verifier. */
export async function authorize(
  app: PersonalMcp,
  client: TestClient,
  params: Record<string, string | undefined> = {},
): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge, params));
  const location = await decisionLanding(await postConsent(app, page));
  const code = location.searchParams.get("code");
  assert.ok(code, `a code in ${location.href}`);
  return { code, verifier, location };
}

/** A successful token response. */
export interface TokenSet {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

/** POSTs an authorization_code request; `extra` overrides or adds fields. */
export async function exchangeCode(
  app: PersonalMcp,
  client: TestClient,
  code: string,
  verifier: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return await postForm(app, "/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: client.redirectUris[0]!,
    resource: MCP_URL,
    ...clientCredentials(client),
    ...extra,
  });
}

/** POSTs a refresh_token request. */
export async function refreshWith(
  app: PersonalMcp,
  client: TestClient,
  refreshToken: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return await postForm(app, "/token", {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...clientCredentials(client),
    ...extra,
  });
}

/** Reads a 200 token response; fails the test otherwise. */
export async function tokenSet(res: Response): Promise<TokenSet> {
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

/** Consent plus code exchange: a fresh grant's tokens. */
export async function tokensFor(
  app: PersonalMcp,
  client: TestClient,
  params: Record<string, string | undefined> = {},
): Promise<TokenSet> {
  const { code, verifier } = await authorize(app, client, params);
  return await tokenSet(await exchangeCode(app, client, code, verifier));
}

/**
 * An MCP `initialize` request (2025-06-18): what a client sends to open a 2025-era
 * session, declaring `capabilities` (e.g. `{ elicitation: {} }`).
 */
export function initializeRequest(
  clientName: string,
  capabilities: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities,
      clientInfo: { name: clientName, version: "1.0.0" },
    },
  };
}

/** A lone JSON-RPC POST to /mcp, as Claude.ai sends it (no session). */
export async function mcpPost(
  app: PersonalMcp,
  message: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await app.fetch(
    new Request(MCP_URL, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        ...headers,
      },
      body: JSON.stringify(message),
    }),
  );
}

/** `tools/call hello` with a bearer token. */
export async function callHello(
  app: PersonalMcp,
  accessToken: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await mcpPost(app, {
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name: "hello", arguments: { name: "Ada" } },
  }, { authorization: `Bearer ${accessToken}`, ...headers });
}

/** The JSON-RPC message of a response that is either JSON or an SSE stream. */
export async function rpcMessage(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    const data = text.split("\n").filter((l) => l.startsWith("data:")).map((l) =>
      JSON.parse(l.slice(5))
    );
    const message = data.find((m) => "result" in m || "error" in m);
    assert.ok(message, `a JSON-RPC answer in the stream: ${text.slice(0, 300)}`);
    return message;
  }
  return JSON.parse(text);
}

/** Whether an access token currently opens /mcp: the status of a hello call. */
export async function mcpStatus(app: PersonalMcp, accessToken: string): Promise<number> {
  const res = await callHello(app, accessToken);
  await res.body?.cancel();
  return res.status;
}

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
export async function registerAt(
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
export function authorizeUrlAt(baseUrl: string, params: Record<string, string | undefined>): URL {
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
export async function callHelloAt(
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
  const client = await registerAt(baseUrl, {
    client_name: clientName,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  });
  const { verifier, challenge } = await pkcePair();
  const { code } = await approveAndGetCode(
    authorizeUrlAt(baseUrl, {
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

/** A test as `Deno.test` registers it. */
interface RegisteredTest {
  name: string;
  fn: (t: MiniTestContext) => unknown;
  ignore: boolean;
}

/** The part of Deno's `TestContext` the tests here use. */
interface MiniTestContext {
  name: string;
  step(
    nameOrDef: string | { name: string; fn: (t: MiniTestContext) => unknown; ignore?: boolean },
    fn?: (t: MiniTestContext) => unknown,
  ): Promise<boolean>;
}

function miniContext(name: string): MiniTestContext {
  return {
    name,
    async step(nameOrDef, fn) {
      const def = typeof nameOrDef === "string" ? { name: nameOrDef, fn: fn! } : nameOrDef;
      if ("ignore" in def && def.ignore) return false;
      await def.fn(miniContext(`${name} > ${def.name}`));
      return true;
    },
  };
}

/**
 * Runs `Deno.test` files in a runtime that has no `Deno` (Bun): installs a minimal
 * `Deno.test` (the forms used here, and `t.step`), imports the files, runs their tests
 * one after another and prints one line per test, then `N passed, M failed`. The tests
 * are the same code that `deno test` runs, so the in-process security tests prove the
 * same behaviour under Bun's Request, Response, streams and crypto.
 * `tests/e2e/bun_in_process_test.ts` runs it in the real Bun binary.
 */
export async function runDenoTestFiles(files: string[]): Promise<number> {
  const g = globalThis as { Deno?: unknown };
  if (g.Deno !== undefined) throw new Error("runDenoTestFiles is for runtimes without Deno");
  const tests: RegisteredTest[] = [];
  g.Deno = {
    test(a: unknown, b?: unknown, c?: unknown) {
      if (typeof a === "string") {
        const fn = (typeof b === "function" ? b : c) as RegisteredTest["fn"];
        const ignore = typeof b === "object" && b !== null &&
          Boolean((b as { ignore?: boolean }).ignore);
        tests.push({ name: a, fn, ignore });
      } else if (typeof a === "function") {
        tests.push({ name: a.name, fn: a as RegisteredTest["fn"], ignore: false });
      } else {
        const def = a as { name: string; fn: RegisteredTest["fn"]; ignore?: boolean };
        tests.push({ name: def.name, fn: def.fn, ignore: Boolean(def.ignore) });
      }
    },
  };
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    tests.length = 0;
    await import(new URL(file, `file://${ROOT}`).href);
    for (const test of tests) {
      if (test.ignore) continue;
      try {
        await test.fn(miniContext(test.name));
        passed++;
        console.log(`ok ${file} :: ${test.name}`);
      } catch (error) {
        failed++;
        console.log(`FAILED ${file} :: ${test.name}\n${(error as Error)?.stack ?? error}`);
      }
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

// ---------------------------------------------------------------------------------------
// Passkeys (WebAuthn) without a browser.

/** A base URL whose host WebAuthn accepts as an RP ID (a name, not an IP address). */
export const PASSKEY_BASE_URL = "http://localhost:8787";

function b64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(
    atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)),
    (c) => c.charCodeAt(0),
  );
}

async function sha256Bytes(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function counterBytes(counter: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, counter);
  return out;
}

/** What an assertion or registration may get wrong on purpose. */
export interface SoftCeremony {
  /** The origin the browser would write into clientDataJSON. */
  origin?: string;
  /** The RP ID whose hash goes into authenticatorData. @default the options' */
  rpId?: string;
  /** The challenge signed. @default the options' */
  challenge?: string;
  /** The signature counter reported. @default the authenticator's, plus one */
  counter?: number;
  /** Whether the user-verified flag is set. @default true */
  userVerified?: boolean;
  /** clientDataJSON's type. */
  type?: string;
}

/**
 * A software WebAuthn authenticator (one EdDSA credential) for in-process tests: it
 * answers `navigator.credentials.create()` and `.get()` options as a browser and an
 * authenticator together would, so that the server's real verifier
 * (`@simplewebauthn/server`) checks what it receives. The CBOR of the attestation and
 * the COSE key are encoded with that library's own encoder.
 */
export interface SoftAuthenticator {
  /** The credential id (base64url). */
  readonly credentialId: string;
  /** The last counter reported. */
  counter: number;
  /** A registration answer (PublicKeyCredential JSON) for creation options (JSON text). */
  register(options: string, ceremony?: SoftCeremony & { origin: string }): Promise<string>;
  /** An assertion answer (PublicKeyCredential JSON) for request options (JSON text). */
  assert(options: string, ceremony: SoftCeremony & { origin: string }): Promise<string>;
}

/** Makes a software authenticator; `counter` starts where given (0: a synced passkey). */
export async function softAuthenticator(counter = 0): Promise<SoftAuthenticator> {
  const { isoCBOR } = await import("@simplewebauthn/server/helpers");
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const x = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
  const id = crypto.getRandomValues(new Uint8Array(16));
  const credentialId = b64url(id);
  // RFC 9053 2.2 / RFC 9052 7: an OKP key, EdDSA, curve Ed25519.
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([[1, 1], [3, -8], [-1, 6], [
      -2,
      x as Uint8Array<ArrayBuffer>,
    ]]),
  );
  let userHandle: string | undefined;

  function clientData(type: string, challenge: string, origin: string): Uint8Array {
    return new TextEncoder().encode(
      JSON.stringify({ type, challenge, origin, crossOrigin: false }),
    );
  }

  const self: SoftAuthenticator = {
    credentialId,
    counter,
    async register(optionsText, ceremony) {
      const options = JSON.parse(optionsText);
      userHandle = options.user.id;
      const rpId = ceremony?.rpId ?? options.rp.id;
      const flags = 0x01 | (ceremony?.userVerified === false ? 0 : 0x04) | 0x40;
      const authData = concat(
        await sha256Bytes(rpId),
        new Uint8Array([flags]),
        counterBytes(self.counter),
        new Uint8Array(16),
        new Uint8Array([id.length >> 8, id.length & 0xff]),
        id,
        cose,
      );
      const attestation = isoCBOR.encode(
        new Map<string, unknown>([["fmt", "none"], ["attStmt", new Map()], [
          "authData",
          authData,
        ]]) as Parameters<typeof isoCBOR.encode>[0],
      );
      const data = clientData(
        ceremony?.type ?? "webauthn.create",
        ceremony?.challenge ?? options.challenge,
        ceremony?.origin ?? "",
      );
      return JSON.stringify({
        id: credentialId,
        rawId: credentialId,
        type: "public-key",
        response: {
          clientDataJSON: b64url(data),
          attestationObject: b64url(attestation),
          transports: ["internal"],
        },
        clientExtensionResults: {},
      });
    },
    async assert(optionsText, ceremony) {
      const options = JSON.parse(optionsText);
      const rpId = ceremony.rpId ?? options.rpId;
      const next = ceremony.counter ?? (self.counter === 0 ? 0 : self.counter + 1);
      self.counter = next;
      const flags = 0x01 | (ceremony.userVerified === false ? 0 : 0x04);
      const authData = concat(await sha256Bytes(rpId), new Uint8Array([flags]), counterBytes(next));
      const data = clientData(
        ceremony.type ?? "webauthn.get",
        ceremony.challenge ?? options.challenge,
        ceremony.origin,
      );
      const signature = new Uint8Array(
        await crypto.subtle.sign(
          "Ed25519",
          keys.privateKey,
          concat(authData, await sha256Bytes(data)) as BufferSource,
        ),
      );
      return JSON.stringify({
        id: credentialId,
        rawId: credentialId,
        type: "public-key",
        response: {
          clientDataJSON: b64url(data),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          ...(userHandle ? { userHandle } : {}),
        },
        clientExtensionResults: {},
      });
    },
  };
  return self;
}

/** The WebAuthn options a page's passkey button carries (its `data-options`), or undefined. */
export function passkeyOptionsOf(html: string): string | undefined {
  const m = /id="passkey-button"[^>]*data-options="([^"]*)"/.exec(html);
  return m ? unescapeHtml(m[1]!) : undefined;
}

/** Decodes a base64url challenge, for tests that look inside clientDataJSON. */
export function challengeBytes(challenge: string): Uint8Array {
  return fromB64url(challenge);
}

/**
 * Enrols `authenticator` through a one-time link (a URL `passkey add` printed): GETs the
 * page as a browser, answers its options and posts the form from `origin`. Returns the
 * answer of the post. `fetcher` is `app.fetch` in process, or `fetch` over a socket.
 */
export async function enrolThroughLink(
  fetcher: (request: Request) => Promise<Response>,
  link: string,
  authenticator: SoftAuthenticator,
  options: { origin?: string; name?: string; ceremony?: SoftCeremony } = {},
): Promise<Response> {
  const url = new URL(link);
  const origin = options.origin ?? url.origin;
  const page = await fetcher(new Request(url));
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 300));
  const createOptions = passkeyOptionsOf(html);
  const enrol = formField(html, "enrol");
  assert.ok(createOptions && enrol, "the enrolment page carries its options and form token");
  const credential = await authenticator.register(createOptions, {
    origin,
    ...options.ceremony,
  });
  return await fetcher(
    new Request(new URL("/owner/passkey", url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: new URLSearchParams({
        enrol,
        credential,
        name: options.name ?? formField(html, "name") ?? "",
      }),
    }),
  );
}

/** A public loopback client registered at `baseUrl`, and a fresh authorize URL for it. */
export async function consentTarget(baseUrl: string): Promise<() => Promise<URL>> {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const client = await registerAt(baseUrl, {
    client_name: "lockout test client",
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: "none",
  });
  return async () =>
    authorizeUrlAt(baseUrl, {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: redirectUri,
      code_challenge: (await pkcePair()).challenge,
      code_challenge_method: "S256",
      state: "s",
    });
}

/**
 * The owner's browser at `localAddress`: opens the consent page, then approves with
 * `password`, sending the consent cookie plus `cookie` (e.g. a device cookie) and any
 * extra `headers` (e.g. `X-Forwarded-For` as a tunnel adds it) on both requests.
 */
export async function consentFrom(
  localAddress: string,
  authorizeUrl: URL,
  options: { password: string; cookie?: string; headers?: Record<string, string> },
): Promise<RawAnswer> {
  const page = await requestFrom(localAddress, authorizeUrl, { headers: options.headers });
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const request = formField(page.body, "request");
  assert.ok(request, "the consent page carries the signed request");
  const consent = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
  return await requestFrom(localAddress, new URL("/authorize", authorizeUrl), {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: authorizeUrl.origin,
      cookie: [consent, options.cookie].filter(Boolean).join("; "),
      ...options.headers,
    },
    body: new URLSearchParams({ request, password: options.password, decision: "approve" })
      .toString(),
  });
}
