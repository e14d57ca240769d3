/**
 * The rules of an authorization request (auth/endpoints/authorize_request.ts) as a
 * table: which parameters make a request, and which error the client's redirect URI
 * gets otherwise (RFC 6749 4.1.2.1, RFC 7636 4.4.1, RFC 8707 2).
 */
import assert from "node:assert/strict";
import {
  callbackUrl,
  checkAuthorizeParams,
  MAX_STATE_LENGTH,
  redirectDisplay,
} from "../../auth/endpoints/authorize_request.ts";

const OPTS = {
  resource: "https://me.example/mcp",
  baseUrl: "https://me.example",
  scopes: ["mcp", "offline_access"],
};
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const GOOD = { response_type: "code", code_challenge: CHALLENGE, code_challenge_method: "S256" };

Deno.test("checkAuthorizeParams accepts a well-formed request and refuses each flaw", async (t) => {
  await t.step("a good request: the challenge, the whole offer, this server's resource", () => {
    assert.deepEqual(checkAuthorizeParams(GOOD, OPTS), {
      ok: true,
      codeChallenge: CHALLENGE,
      scope: "mcp offline_access",
      resource: OPTS.resource,
    });
  });
  await t.step("the origin names the same resource; the scope is narrowed to the offer", () => {
    const check = checkAuthorizeParams(
      { ...GOOD, resource: "https://me.example/", scope: "mcp admin" },
      OPTS,
    );
    assert.deepEqual(check, {
      ok: true,
      codeChallenge: CHALLENGE,
      scope: "mcp",
      resource: OPTS.resource,
    });
  });
  const cases: Array<[string, Record<string, string | undefined>, string, RegExp]> = [
    ["state too long", { state: "s".repeat(MAX_STATE_LENGTH + 1) }, "invalid_request", /state/],
    ["no response_type", { response_type: undefined }, "invalid_request", /required/],
    ["response_type token", { response_type: "token" }, "unsupported_response_type", /code/],
    ["no code_challenge", { code_challenge: undefined }, "invalid_request", /PKCE/],
    ["PKCE plain", { code_challenge_method: "plain" }, "invalid_request", /S256/],
    ["no challenge method", { code_challenge_method: undefined }, "invalid_request", /S256/],
    ["a short challenge", { code_challenge: "abc" }, "invalid_request", /malformed/],
    [
      "a challenge with padding",
      { code_challenge: `${CHALLENGE.slice(1)}=` },
      "invalid_request",
      /malformed/,
    ],
    ["another resource", { resource: "https://other.example/mcp" }, "invalid_target", /own MCP/],
  ];
  for (const [why, change, error, description] of cases) {
    await t.step(`${why}: ${error}`, () => {
      const params = { ...GOOD, ...change } as Record<string, string | undefined>;
      for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
      const check = checkAuthorizeParams(params as Record<string, string>, OPTS);
      assert.equal(check.ok, false);
      if (check.ok) return;
      assert.equal(check.error, error);
      assert.match(check.description, description);
    });
  }
  await t.step("a state at the limit is carried", () => {
    assert.equal(
      checkAuthorizeParams({ ...GOOD, state: "s".repeat(MAX_STATE_LENGTH) }, OPTS).ok,
      true,
    );
  });
});

Deno.test("where a redirect URI leads, as a person reads it, and the answer it gets", () => {
  assert.deepEqual(redirectDisplay("http://127.0.0.1:33418/cb"), {
    display: "an app on this computer (127.0.0.1:33418)",
  });
  assert.deepEqual(redirectDisplay("https://claude.ai/api/mcp/auth_callback"), {
    display: "claude.ai",
  });
  assert.deepEqual(redirectDisplay("cursor://anysphere.cursor-mcp/oauth/callback?x=1"), {
    display: "the cursor app (cursor://anysphere.cursor-mcp/oauth/callback)",
    scheme: "cursor:",
  });
  // RFC 9207 2: iss on every answer; an undefined parameter is left out.
  assert.equal(
    callbackUrl(
      "https://c.example/cb?keep=1",
      { code: "c", state: undefined },
      "https://me.example",
    ),
    "https://c.example/cb?keep=1&code=c&iss=https%3A%2F%2Fme.example",
  );
});
