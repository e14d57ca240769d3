/**
 * A bounded fuzz run over every endpoint: random methods, paths, parameters, bodies
 * and headers, some carrying a real client id, code, token or consent request so that
 * the deep paths are reached. Nothing may answer 5xx or report an internal error.
 */
import assert from "node:assert/strict";
import { createMemoryStore, createPersonalMcp, demoTools } from "../../mod.ts";
import type { PersonalMcpEvent } from "../../core/config.ts";
import { decisionLanding, formField, pkcePair } from "../fixtures.ts";

const BASE = "http://127.0.0.1:8787";
const PASSWORD = "fuzz-owner-password";
const REDIRECT = "https://claude.ai/api/mcp/auth_callback";

/** xorshift32: a seeded generator, so a failure can be replayed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, pick };
}

Deno.test("a fuzz run over every endpoint gets no 5xx and no internal error", async () => {
  const events: PersonalMcpEvent[] = [];
  const store = createMemoryStore();
  const app = createPersonalMcp(demoTools, {
    baseUrl: BASE,
    password: PASSWORD,
    store,
    onEvent: (e) => events.push(e),
  });
  const fetchApp = (req: Request) => app.fetch(req, { remoteAddress: "203.0.113.9" });

  // Real values for the fuzzer to mix in.
  const reg = await (await fetchApp(
    new Request(`${BASE}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "client_secret_post",
      }),
    }),
  )).json();
  const { verifier, challenge } = await pkcePair();
  const authUrl = `${BASE}/authorize?` + new URLSearchParams({
    response_type: "code",
    client_id: reg.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const page = await fetchApp(new Request(authUrl));
  const html = await page.text();
  const consentRequest = formField(html, "request")!;
  const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
  const approved = await fetchApp(
    new Request(`${BASE}/authorize`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: BASE },
      body: new URLSearchParams({
        request: consentRequest,
        password: PASSWORD,
        decision: "approve",
      }),
    }),
  );
  const code = (await decisionLanding(approved)).searchParams.get("code")!;
  const tokens = await (await fetchApp(
    new Request(`${BASE}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: reg.client_id,
        client_secret: reg.client_secret,
      }),
    }),
  )).json();
  assert.ok(tokens.access_token);

  const r = rng(0x5eed);
  const paths = [
    "/",
    "/mcp",
    "/mcp/",
    "/token",
    "/register",
    "/revoke",
    "/authorize",
    "/owner",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/openid-configuration",
    "/%2e%2e/etc/passwd",
    "/authorize/../token",
    "/nope",
  ];
  const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
  const strings = [
    "",
    "x",
    "\u0000",
    "%00",
    "\ud800",
    "a".repeat(5000),
    "<script>",
    "' OR 1=1 --",
    "../../",
    "null",
    "[]",
    "{}",
    "S256",
    "plain",
    "code",
    "token",
    "authorization_code",
    "refresh_token",
    REDIRECT,
    "https://evil.example/cb",
    "javascript:alert(1)",
    "http://127.0.0.1:1/cb",
    reg.client_id,
    reg.client_secret,
    code,
    verifier,
    challenge,
    tokens.access_token,
    tokens.refresh_token,
    consentRequest,
    `${BASE}/mcp`,
    "https://other.example/mcp",
    "approve",
    "deny",
    PASSWORD,
    "mcp offline_access",
  ];
  const names = [
    "csrf",
    "action",
    "grant",
    "grant_type",
    "code",
    "code_verifier",
    "redirect_uri",
    "client_id",
    "client_secret",
    "refresh_token",
    "token",
    "token_type_hint",
    "resource",
    "scope",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "request",
    "password",
    "decision",
    "redirect_uris",
  ];
  const contentTypes = [
    "application/x-www-form-urlencoded",
    "application/json",
    "text/plain",
    "multipart/form-data",
    "application/json; charset=utf-8",
    "",
  ];
  const jsonRpc = () =>
    JSON.stringify(r.pick([
      {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "hello", arguments: { name: r.pick(strings) } },
      },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: r.pick(strings), arguments: r.pick([null, 1, "x", {}]) },
      },
      { jsonrpc: "2.0", id: 3, method: "tools/list" },
      {
        jsonrpc: "2.0",
        id: 4,
        method: "initialize",
        params: {
          protocolVersion: r.pick(strings),
          capabilities: {},
          clientInfo: { name: "f", version: "1" },
        },
      },
      { jsonrpc: "1.0", id: {}, method: 7 },
      [{ jsonrpc: "2.0", method: "notifications/initialized" }],
      { jsonrpc: "2.0", id: 5, method: r.pick(strings) },
    ]));

  const statuses = new Map<number, number>();
  for (let i = 0; i < 2500; i++) {
    const path = r.pick(paths);
    const method = r.pick(methods);
    const params = new URLSearchParams();
    for (let k = Math.floor(r.next() * 6); k > 0; k--) {
      params.append(r.pick(names), r.pick(strings));
    }
    const query = r.next() < 0.5 ? `?${params}` : "";
    const headers = new Headers();
    // Header values the Headers class itself refuses (NUL, lone surrogates) are skipped.
    const set = (name: string, value: string) => {
      try {
        headers.set(name, value);
      } catch { /* not sendable */ }
    };
    const ct = r.pick(contentTypes);
    if (ct) set("content-type", ct);
    if (r.next() < 0.4) {
      set(
        "authorization",
        r.pick([
          `Bearer ${tokens.access_token}`,
          `Bearer ${r.pick(strings)}`,
          `Basic ${btoa(`${reg.client_id}:${reg.client_secret}`)}`,
          "Basic !!!",
          "Bearer",
        ]),
      );
    }
    if (r.next() < 0.3) {
      set(
        "origin",
        r.pick([BASE, "https://evil.example", "http://localhost:6274", "null"]),
      );
    }
    if (r.next() < 0.3) {
      set(
        "cookie",
        r.pick([cookie, "pmcp-consent=x", "a=b; pmcp-consent=", "pmcp-owner=x", "pmcp-owner="]),
      );
    }
    if (r.next() < 0.3) {
      set(
        "accept",
        r.pick([
          "application/json",
          "text/event-stream",
          "application/json, text/event-stream",
          "*/*",
        ]),
      );
    }
    if (r.next() < 0.3) {
      set(
        "mcp-protocol-version",
        r.pick(["2025-06-18", "2025-11-25", "2026-07-28", "1999-01-01", "x"]),
      );
    }
    if (r.next() < 0.2) set("mcp-session-id", r.pick(["abc", "", "\u00ff"]));
    let body: string | undefined;
    if (method !== "GET" && method !== "HEAD") {
      body = r.pick([
        params.toString(),
        JSON.stringify(Object.fromEntries(params)),
        jsonRpc(),
        r.pick(strings),
        '{"redirect_uris":' + r.pick(["[]", "null", `["${REDIRECT}"]`, "[1]", '"x"']) + "}",
        "x".repeat(70_000),
      ]);
    }
    let request: Request;
    try {
      request = new Request(`${BASE}${path}${query}`, { method, headers, body });
    } catch {
      continue; // a combination the Request constructor itself refuses
    }
    const res = await fetchApp(request);
    await res.body?.cancel();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    // A deliberate "try again" (a metadata document that cannot be fetched here: no
    // network) is a 503 with Retry-After; any other 5xx is a failure.
    const tryAgain = res.status === 503 && res.headers.get("retry-after") !== null;
    assert.ok(
      res.status < 500 || tryAgain,
      `#${i} ${method} ${path}${query} answered ${res.status}`,
    );
  }
  console.log("statuses:", JSON.stringify([...statuses].sort((a, b) => a[0] - b[0])));
  const errors = events.filter((e) => e.type === "error");
  assert.deepEqual(errors, [], "internal errors were reported");
  // The run reached more than one kind of answer on the way.
  for (const status of [200, 400, 401, 404, 405]) {
    assert.ok(statuses.has(status), `never saw ${status}`);
  }
  await app.close();
});
