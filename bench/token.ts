/**
 * A real access token for the bench: the OAuth flow an MCP client runs (dynamic client
 * registration, consent with the owner password, code exchange with PKCE), driven
 * through the server's own fetch handler. No socket, no shortcut into the store.
 *
 * @module
 */
import { createMemoryStore, createPersonalMcp, demoTools, type PersonalMcp } from "../mod.ts";

/** The request every bench run sends: the demo tool, called once. */
export const TOOLS_CALL_BODY = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "hello", arguments: { name: "bench" } },
});

/** The headers wrk sends with {@linkcode TOOLS_CALL_BODY} (see the shared mcp-post.lua). */
export function toolsCallHeaders(token: string): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
  };
}

const REDIRECT_URI = "http://127.0.0.1:9/callback";

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function expectStatus(res: Response, status: number, step: string): Promise<Response> {
  if (res.status !== status) {
    throw new Error(`${step}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  return res;
}

/**
 * Registers a public client, approves it on the consent page with `password`, redeems
 * the code and checks the token on one `tools/call`. Returns the access token.
 */
export async function issueToken(app: PersonalMcp, password: string): Promise<string> {
  const baseUrl = app.baseUrl;
  const call = (path: string, init?: RequestInit) =>
    app.fetch(new Request(new URL(path, baseUrl), init), { remoteAddress: "127.0.0.1" });

  // RFC 7591: a public client, as Claude.ai and mcp-remote register.
  const reg = await expectStatus(
    await call("/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "personal-mcp bench",
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      }),
    }),
    201,
    "/register",
  );
  const { client_id: clientId } = await reg.json() as { client_id: string };

  // RFC 7636: S256 PKCE.
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const authorize = new URL("/authorize", baseUrl);
  const params = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    scope: "mcp",
    resource: `${baseUrl}/mcp`,
  };
  for (const [k, v] of Object.entries(params)) authorize.searchParams.set(k, v);

  // The owner's browser: read the consent page, post its form back with its cookie.
  const page = await expectStatus(await call(authorize.href), 200, "GET /authorize");
  const cookie = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
  const html = await page.text();
  const request = /<input[^>]*name="request"[^>]*value="([^"]*)"/.exec(html)?.[1];
  if (!request) throw new Error("GET /authorize: no request field on the consent page");
  const consent = await expectStatus(
    await call("/authorize", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        cookie,
        origin: new URL(baseUrl).origin,
      },
      body: new URLSearchParams({ request, password, decision: "approve" }),
    }),
    200,
    "POST /authorize",
  );
  // An http(s) redirect is reached through a page that navigates on (meta refresh + link).
  const link = /<a id="continue" href="([^"]*)"/.exec(await consent.text())?.[1] ?? "";
  const location = new URL(link.replaceAll("&#38;", "&"));
  const code = location.searchParams.get("code");
  if (!code || location.searchParams.get("state") !== state) {
    throw new Error(`POST /authorize: unexpected redirect ${location.href}`);
  }

  const tokenRes = await expectStatus(
    await call("/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT_URI,
        client_id: clientId,
        code_verifier: verifier,
        resource: `${baseUrl}/mcp`,
      }),
    }),
    200,
    "/token",
  );
  const { access_token: accessToken } = await tokenRes.json() as { access_token: string };

  // The token must work before anything is measured with it.
  const check = await expectStatus(
    await call("/mcp", {
      method: "POST",
      headers: toolsCallHeaders(accessToken),
      body: TOOLS_CALL_BODY,
    }),
    200,
    "POST /mcp",
  );
  const text = await check.text();
  if (!text.includes('"Hello, bench!"')) throw new Error(`POST /mcp: ${text.slice(0, 300)}`);
  return accessToken;
}

/** Where the in-process benches (hot_path.ts, allocation.ts) say their server is. */
export const IN_PROCESS_URL = "http://127.0.0.1:8199";

/**
 * The demo tools on a memory store, and a token of its own OAuth flow: the server the
 * in-process benches drive through its fetch handler.
 */
export async function demoServer(): Promise<{ app: PersonalMcp; token: string }> {
  const password = "bench-owner-password-0123";
  const app = createPersonalMcp(demoTools, {
    baseUrl: IN_PROCESS_URL,
    password,
    store: createMemoryStore(),
  });
  return { app, token: await issueToken(app, password) };
}
