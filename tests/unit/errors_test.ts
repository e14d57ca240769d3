/**
 * Anything thrown becomes one refusal (refusalOf), and each surface renders it in its
 * own words: RFC 6749 5.2 JSON, a JSON-RPC error, a readable page. A bug never puts its
 * cause on the wire, whichever surface answers.
 */
import assert from "node:assert/strict";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  jsonRpcRefusal,
  OAuthError,
  oauthErrorResponse,
  refusalOf,
  StoreUnavailableError,
} from "../../core/errors.ts";
import { refusalPage } from "../../auth/pages/page.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";
import { BASE_URL, pkcePair, testServer } from "../fixtures.ts";

const SECRET_CAUSE = "EACCES /var/lib/personal-mcp/secret-path";

Deno.test("refusalOf maps anything thrown to one shape", async (t) => {
  const cases: Array<[string, unknown, Record<string, unknown>]> = [
    [
      "an OAuthError keeps its code, words, status and headers",
      new OAuthError("invalid_token", "token expired", { headers: { "www-authenticate": "B" } }),
      {
        kind: "refused",
        status: 401,
        code: "invalid_token",
        description: "token expired",
        headers: { "www-authenticate": "B" },
        closeConnection: false,
      },
    ],
    [
      "a body too large is 413",
      new BodyTooLargeError(10),
      { kind: "too_large", status: 413, code: "invalid_request", closeConnection: false },
    ],
    [
      "a body too slow is 408 and closes the connection",
      new BodyTimeoutError(5),
      { kind: "too_slow", status: 408, code: "invalid_request", closeConnection: true },
    ],
    [
      "a store that could not keep a change is 503 with a retry",
      new StoreUnavailableError(SECRET_CAUSE),
      {
        kind: "unavailable",
        status: 503,
        code: "temporarily_unavailable",
        description: "the change could not be stored; try again",
        headers: { "retry-after": "5" },
      },
    ],
    [
      "a bug is 500 and says nothing of its cause",
      new Error(SECRET_CAUSE),
      { kind: "internal", status: 500, code: "server_error", description: "internal error" },
    ],
    [
      "something thrown that is not an Error is a bug too",
      SECRET_CAUSE,
      { kind: "internal", status: 500, code: "server_error" },
    ],
  ];
  for (const [name, thrown, expected] of cases) {
    await t.step(name, () => {
      const refusal = refusalOf(thrown);
      for (const [field, value] of Object.entries(expected)) {
        assert.deepEqual(refusal[field as keyof typeof refusal], value, field);
      }
      if (refusal.kind !== "refused") assert.ok(!refusal.description.includes("secret-path"));
    });
  }
});

Deno.test("each surface renders a refusal in its own words", async (t) => {
  await t.step("OAuth JSON: RFC 6749 5.2, never cached, connection closed on 408", async () => {
    const res = oauthErrorResponse(refusalOf(new BodyTimeoutError(5)));
    assert.equal(res.status, 408);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("connection"), "close");
    assert.deepEqual(await res.json(), {
      error: "invalid_request",
      error_description: "the request body did not arrive within 5 s",
    });
  });
  await t.step("JSON-RPC: an error of no request, with the retry of an outage", async () => {
    const res = jsonRpcRefusal(refusalOf(new StoreUnavailableError(SECRET_CAUSE)));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.deepEqual(await res.json(), {
      jsonrpc: "2.0",
      id: null,
      error: { code: -32603, message: "Temporarily unavailable: try again" },
    });
  });
  await t.step("page: readable, escaped, under the page headers", async () => {
    const res = refusalPage(refusalOf(new OAuthError("invalid_request", "bad <redirect_uri>")));
    assert.equal(res.status, 400);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.ok(res.headers.get("content-security-policy"));
    const html = await res.text();
    assert.ok(html.includes("bad &#60;redirect_uri&#62;."), html);
  });
});

/** A memory store whose reads fail like a bug (a plain Error) once `broken` is set. */
function breakableStore(): { store: Store; breakIt(): void } {
  const inner = createMemoryStore();
  let broken = false;
  const store: Store = {
    ...inner,
    get: (key) => broken ? Promise.reject(new Error(SECRET_CAUSE)) : inner.get(key),
    list: (prefix) => broken ? Promise.reject(new Error(SECRET_CAUSE)) : inner.list(prefix),
  };
  return { store, breakIt: () => broken = true };
}

Deno.test("a bug answers 500 in the words of the path's surface, without its cause", async (t) => {
  const { store, breakIt } = breakableStore();
  const { app, events } = testServer({ store });
  const { challenge } = await pkcePair();
  breakIt();
  await t.step("/authorize (a person at a browser): a page", async () => {
    const url = new URL(`${BASE_URL}/authorize`);
    for (
      const [k, v] of Object.entries({
        response_type: "code",
        client_id: "some-client",
        redirect_uri: "https://claude.ai/api/mcp/auth_callback",
        code_challenge: challenge,
        code_challenge_method: "S256",
      })
    ) url.searchParams.set(k, v);
    const res = await app.fetch(new Request(url), { remoteAddress: "192.0.2.1" });
    assert.equal(res.status, 500);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.ok(!(await res.text()).includes("secret-path"));
  });
  await t.step("/token (an OAuth client): RFC 6749 5.2 JSON", async () => {
    const res = await app.fetch(
      new Request(`${BASE_URL}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=authorization_code&code=x&client_id=some-client&code_verifier=v",
      }),
      { remoteAddress: "192.0.2.1" },
    );
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.deepEqual(JSON.parse(body), {
      error: "server_error",
      error_description: "internal error",
    });
  });
  await t.step("the cause goes to the log", () => {
    const errors = events.filter((e) => e.type === "error");
    assert.equal(errors.length, 2);
  });
  await app.close();
});
