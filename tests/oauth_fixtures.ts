/**
 * Shared setup for the in-process endpoint tests: a server on a memory store the test
 * can inspect, and the steps of the OAuth flow (register, consent, tokens, MCP call)
 * as plain `app.fetch(new Request(...))` calls.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { PersonalMcpEvent, PersonalMcpOptions } from "../options.ts";
import { createPersonalMcp, type PersonalMcp } from "../router.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { Store } from "../store/store.ts";
import { tool } from "../transport/tools.ts";
import { formField, pkcePair } from "./helpers.ts";

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

/** Everything in the store, in a stable order, for "changed nothing" assertions. */
export async function snapshot(store: Store): Promise<string> {
  const entries = await store.list([]);
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
    headers?: Record<string, string>;
    request?: string;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    ...options.headers,
  };
  const cookie = options.cookie === undefined ? page.cookie : options.cookie;
  if (cookie !== null) headers.cookie = cookie;
  const origin = options.origin === undefined ? BASE_URL : options.origin;
  if (origin !== null) headers.origin = origin;
  const body = new URLSearchParams({
    request: options.request ?? page.request,
    password: options.password ?? PASSWORD,
    decision: options.decision ?? "approve",
  });
  return await app.fetch(
    new Request(`${BASE_URL}/authorize`, { method: "POST", headers, body }),
    { remoteAddress: options.remoteAddress ?? "192.0.2.10" },
  );
}

/** Runs consent with the owner password and returns the code and its PKCE verifier. */
export async function authorize(
  app: PersonalMcp,
  client: TestClient,
  params: Record<string, string | undefined> = {},
): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = await pkcePair();
  const page = await openConsent(app, authorizeUrl(client, challenge, params));
  const res = await postConsent(app, page);
  assert.equal(res.status, 303, await res.text());
  const location = new URL(res.headers.get("location")!);
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
