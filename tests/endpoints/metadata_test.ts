/**
 * Discovery: RFC 9728 protected-resource metadata at both paths, RFC 8414
 * authorization-server metadata exactly as SPEC.md lists it, an issuer that never
 * comes from the request, and a plain 404 for OpenID discovery.
 */
import assert from "node:assert/strict";
import { createMemoryStore } from "../../store/memory.ts";
import { BASE_URL, MCP_URL, testServer } from "../fixtures.ts";

const PRM_PATHS = [
  "/.well-known/oauth-protected-resource/mcp",
  "/.well-known/oauth-protected-resource",
];
const ASM_PATH = "/.well-known/oauth-authorization-server";
const ALL_PATHS = [...PRM_PATHS, ASM_PATH];

async function getJson(url: string, init?: RequestInit) {
  const { app } = testServer();
  const res = await app.fetch(new Request(url, init));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return await res.json();
}

// RFC 9728 3.3: each document names the resource its own well-known URL was derived from.
const PRM_RESOURCE: Record<string, string> = {
  "/.well-known/oauth-protected-resource/mcp": MCP_URL,
  "/.well-known/oauth-protected-resource": BASE_URL,
};

for (const path of PRM_PATHS) {
  Deno.test(`${path} names the resource its URL stands for, and this server as its issuer`, async () => {
    const prm = await getJson(`${BASE_URL}${path}`);
    assert.equal(prm.resource, PRM_RESOURCE[path]);
    assert.deepEqual(prm.authorization_servers, [BASE_URL]);
    assert.deepEqual(prm.scopes_supported, ["mcp", "offline_access"]);
    assert.deepEqual(prm.bearer_methods_supported, ["header"]);
  });
}

Deno.test("/.well-known/oauth-authorization-server has every field SPEC.md requires", async (t) => {
  const asm = await getJson(`${BASE_URL}${ASM_PATH}`);
  const fields: [field: string, expected: unknown][] = [
    ["issuer", BASE_URL],
    ["authorization_endpoint", `${BASE_URL}/authorize`],
    ["token_endpoint", `${BASE_URL}/token`],
    ["registration_endpoint", `${BASE_URL}/register`],
    ["revocation_endpoint", `${BASE_URL}/revoke`],
    ["response_types_supported", ["code"]],
    ["grant_types_supported", ["authorization_code", "refresh_token"]],
    ["code_challenge_methods_supported", ["S256"]],
    [
      "token_endpoint_auth_methods_supported",
      ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"],
    ],
    ["token_endpoint_auth_signing_alg_values_supported", ["RS256", "ES256"]],
    [
      "revocation_endpoint_auth_methods_supported",
      ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"],
    ],
    ["revocation_endpoint_auth_signing_alg_values_supported", ["RS256", "ES256"]],
    ["scopes_supported", ["mcp", "offline_access"]],
    ["authorization_response_iss_parameter_supported", true],
    ["client_id_metadata_document_supported", true],
  ];
  for (const [field, expected] of fields) {
    await t.step(`${field} is ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(asm[field], expected);
    });
  }
  await t.step("no field is null or an empty string", () => {
    for (const [field, value] of Object.entries(asm)) {
      assert.ok(value !== null && value !== "", `${field} is empty`);
    }
  });
});

Deno.test("discovery documents follow baseUrl, whatever the request's Host says", async (t) => {
  const { app } = testServer({ baseUrl: "https://me.example.com" });
  for (const path of ALL_PATHS) {
    await t.step(path, async () => {
      const res = await app.fetch(
        new Request(`http://evil.example:9999${path}`, {
          headers: {
            host: "evil.example:9999",
            "x-forwarded-host": "evil.example",
            "x-forwarded-proto": "http",
          },
        }),
      );
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.doesNotMatch(text, /evil\.example/);
      const doc = JSON.parse(text);
      if (path === ASM_PATH) {
        assert.equal(doc.issuer, "https://me.example.com");
        assert.equal(doc.token_endpoint, "https://me.example.com/token");
      } else {
        assert.equal(doc.resource, PRM_RESOURCE[path]!.replace(BASE_URL, "https://me.example.com"));
        assert.deepEqual(doc.authorization_servers, ["https://me.example.com"]);
      }
    });
  }
});

Deno.test("/.well-known/openid-configuration is a plain 404", async () => {
  const { app } = testServer();
  const res = await app.fetch(new Request(`${BASE_URL}/.well-known/openid-configuration`));
  assert.equal(res.status, 404);
  assert.doesNotMatch(res.headers.get("content-type") ?? "", /json/);
  await res.body?.cancel();
});

Deno.test("discovery answers HEAD like GET", async (t) => {
  const { app } = testServer();
  for (const path of ALL_PATHS) {
    await t.step(path, async () => {
      const res = await app.fetch(new Request(`${BASE_URL}${path}`, { method: "HEAD" }));
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      await res.body?.cancel();
    });
  }
});

Deno.test("discovery refuses POST with 405 and Allow: GET", async (t) => {
  const { app } = testServer();
  for (const path of ALL_PATHS) {
    await t.step(path, async () => {
      const res = await app.fetch(new Request(`${BASE_URL}${path}`, { method: "POST" }));
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "GET");
      await res.body?.cancel();
    });
  }
});

Deno.test("discovery is readable from any browser origin (CORS)", async (t) => {
  const { app } = testServer();
  for (const path of ALL_PATHS) {
    await t.step(`GET ${path}`, async () => {
      const res = await app.fetch(
        new Request(`${BASE_URL}${path}`, { headers: { origin: "https://inspector.example" } }),
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      await res.body?.cancel();
    });
    await t.step(`OPTIONS ${path}`, async () => {
      const res = await app.fetch(
        new Request(`${BASE_URL}${path}`, {
          method: "OPTIONS",
          headers: {
            origin: "https://inspector.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "mcp-protocol-version",
          },
        }),
      );
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.match(res.headers.get("access-control-allow-headers") ?? "", /mcp-protocol-version/);
    });
  }
});

Deno.test("GET /healthz says whether the store answers, and nothing else", async (t) => {
  await t.step("a working store: 200 ok", async () => {
    const { app } = testServer();
    const res = await app.fetch(new Request(`${BASE_URL}/healthz`));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok\n");
    assert.equal(res.headers.get("cache-control"), "no-store");
    await app.close();
  });
  await t.step("a store that cannot be read: 503, no detail", async () => {
    const store = createMemoryStore();
    const { app } = testServer({
      store: { ...store, get: () => Promise.reject(new Error("database is locked")) },
    });
    const res = await app.fetch(new Request(`${BASE_URL}/healthz`));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "unavailable\n");
  });
  await t.step("other methods: 405", async () => {
    const { app } = testServer();
    const res = await app.fetch(new Request(`${BASE_URL}/healthz`, { method: "POST" }));
    assert.equal(res.status, 405);
    await res.body?.cancel();
    await app.close();
  });
});
