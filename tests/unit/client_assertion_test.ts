/**
 * `private_key_jwt` client assertions (RFC 7523): what `createAssertionVerifier`
 * accepts and refuses, as a table, with real keys and signatures (`jose`) and the key
 * set served by a scripted peer (no public host is reachable from tests; the real
 * fetch path is covered by tests/e2e/chatgpt_test.ts). Also how a metadata document's
 * authentication method is read.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import {
  AssertionError,
  CLOCK_SKEW_SECONDS,
  createAssertionVerifier,
  JWKS_REFETCH_MS,
  MAX_ASSERTION_LIFETIME_SECONDS,
} from "../../auth/clients/assertion.ts";
import { type MetadataFetchDeps, validateDocument } from "../../auth/clients/metadata.ts";
import { CHATGPT_DOCUMENT } from "../../auth/clients/builtin_documents.ts";
import type { ClientRecord } from "../../auth/records.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";
import { createMemoryStore } from "../../store/memory.ts";

const ISSUER = "https://me.example.com";
const TOKEN_ENDPOINT = `${ISSUER}/token`;
const CLIENT_ID = "https://client.example/oauth/client.json";
const JWKS_URI = "https://client.example/oauth/jwks.json";
const T0 = 1_800_000_000_000;

const rsa = await generateKeyPair("RS256");
const ec = await generateKeyPair("ES256");
const foreign = await generateKeyPair("RS256");
const publicJwk = async (key: CryptoKey, kid: string): Promise<JWK> => ({
  ...await exportJWK(key),
  kid,
  use: "sig",
});
const RSA_JWK = await publicJwk(rsa.publicKey, "rsa-1");
const EC_JWK = await publicJwk(ec.publicKey, "ec-1");

const CLIENT: ClientRecord = {
  clientId: CLIENT_ID,
  authMethod: "private_key_jwt",
  jwksUri: JWKS_URI,
  assertionAlgs: ["RS256", "ES256"],
  redirectUris: ["https://client.example/cb"],
  grantTypes: ["authorization_code", "refresh_token"],
  metadata: {},
  createdAt: 0,
};

/** A key-set host that answers with `keys()` and counts its fetches. */
function keyHost(keys: () => unknown, addresses = ["93.184.215.14"]) {
  const calls = { fetch: 0, lookup: 0 };
  const deps: MetadataFetchDeps = {
    lookup() {
      calls.lookup++;
      return Promise.resolve(addresses);
    },
    fetch() {
      calls.fetch++;
      return Promise.resolve(
        new Response(JSON.stringify(keys()), { headers: { "content-type": "application/json" } }),
      );
    },
  };
  return { deps, calls };
}

function verifier(deps: MetadataFetchDeps, now = () => T0) {
  return createAssertionVerifier({
    audiences: [ISSUER, TOKEN_ENDPOINT],
    allowInsecureLoopback: false,
    store: createMemoryStore(),
    now,
    deps,
  });
}

/** Signs an assertion; `claims` override the good ones (undefined removes a claim). */
async function sign(
  claims: Record<string, unknown> = {},
  options: { key?: CryptoKey; alg?: string; kid?: string } = {},
): Promise<string> {
  const t = Math.floor(T0 / 1000);
  const all: Record<string, unknown> = {
    iss: CLIENT_ID,
    sub: CLIENT_ID,
    aud: TOKEN_ENDPOINT,
    exp: t + 60,
    iat: t,
    jti: crypto.randomUUID(),
    ...claims,
  };
  for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
  return await new SignJWT(all)
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? "rsa-1" })
    .sign(options.key ?? rsa.privateKey);
}

Deno.test("a good assertion verifies, signed with RS256 or ES256, for the issuer or the token endpoint", async (t) => {
  const { deps } = keyHost(() => ({ keys: [RSA_JWK, EC_JWK] }));
  const v = verifier(deps);
  await t.step("RS256, aud the token endpoint", async () => {
    await v.verify(CLIENT, await sign());
  });
  await t.step("ES256, aud the issuer", async () => {
    await v.verify(
      CLIENT,
      await sign({ aud: ISSUER }, { key: ec.privateKey, alg: "ES256", kid: "ec-1" }),
    );
  });
  await t.step("aud an array naming this server", async () => {
    await v.verify(CLIENT, await sign({ aud: ["https://other.example", ISSUER] }));
  });
});

Deno.test("assertions that must be refused are refused", async (t) => {
  const t0 = Math.floor(T0 / 1000);
  const cases: [why: string, make: () => Promise<string>, reason: RegExp][] = [
    [
      "signed by a key the client does not publish",
      () => sign({}, { key: foreign.privateKey }),
      /verify/,
    ],
    ["iss another client", () => sign({ iss: "https://evil.example/c.json" }), /verify/],
    ["sub another client", () => sign({ sub: "https://evil.example/c.json" }), /verify/],
    ["aud another server", () => sign({ aud: "https://other.example/token" }), /verify/],
    ["no aud", () => sign({ aud: undefined }), /verify/],
    ["no exp", () => sign({ exp: undefined }), /verify/],
    ["expired", () => sign({ exp: t0 - CLOCK_SKEW_SECONDS - 1 }), /verify/],
    [
      "exp too far ahead",
      () => sign({ exp: t0 + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS + 1 }),
      /too far ahead/,
    ],
    ["issued in the future", () => sign({ iat: t0 + 600 }), /future/],
    ["not yet valid", () => sign({ nbf: t0 + 600 }), /verify/],
    ["no jti", () => sign({ jti: undefined }), /verify/],
    ["a jti that is not a string", () => sign({ jti: 42 }), /jti/],
    ["an algorithm the client did not name (PS256)", async () => {
      const ps = await generateKeyPair("PS256");
      return await sign({}, { key: ps.privateKey, alg: "PS256" });
    }, /verify/],
    ["HS256 keyed with the public key", async () => {
      const secret = new TextEncoder().encode(JSON.stringify(RSA_JWK));
      return await new SignJWT({
        iss: CLIENT_ID,
        sub: CLIENT_ID,
        aud: ISSUER,
        exp: t0 + 60,
        jti: "x",
      })
        .setProtectedHeader({ alg: "HS256", kid: "rsa-1" }).sign(secret);
    }, /verify/],
    ["alg none", () => {
      const part = (o: object) => btoa(JSON.stringify(o)).replaceAll("=", "");
      return Promise.resolve(
        `${part({ alg: "none" })}.${
          part({ iss: CLIENT_ID, sub: CLIENT_ID, aud: ISSUER, exp: t0 + 60, jti: "n" })
        }.`,
      );
    }, /compact JWS/],
    ["not a JWT", () => Promise.resolve("not-a-jwt"), /compact JWS/],
    ["far too long", () => Promise.resolve(`${"a".repeat(9000)}.b.c`), /compact JWS/],
  ];
  for (const [why, make, reason] of cases) {
    await t.step(`refuses ${why}`, async () => {
      const { deps } = keyHost(() => ({ keys: [RSA_JWK, EC_JWK] }));
      await assert.rejects(verifier(deps).verify(CLIENT, await make()), (e: unknown) => {
        assert.ok(e instanceof AssertionError, String(e));
        assert.match(e.message, reason);
        return true;
      });
    });
  }
  await t.step("refuses an ES256 assertion when the document names RS256 only", async () => {
    const { deps } = keyHost(() => ({ keys: [RSA_JWK, EC_JWK] }));
    const rsOnly = { ...CLIENT, assertionAlgs: ["RS256" as const] };
    const es = await sign({}, { key: ec.privateKey, alg: "ES256", kid: "ec-1" });
    await assert.rejects(verifier(deps).verify(rsOnly, es), AssertionError);
  });
});

Deno.test("a jti is used once", async () => {
  const { deps } = keyHost(() => ({ keys: [RSA_JWK] }));
  const v = verifier(deps);
  const assertion = await sign();
  await v.verify(CLIENT, assertion);
  await assert.rejects(v.verify(CLIENT, assertion), /already used/);
  await assert.rejects(
    v.verify(CLIENT, await sign({ jti: JSON.parse(atob(assertion.split(".")[1]!)).jti })),
    /already used/,
  );
  await v.verify(CLIENT, await sign()); // a new jti is fine
});

Deno.test("the key set is fetched under the document guards and refetched once for an unknown key id", async (t) => {
  await t.step("a host resolving to a private address is refused", async () => {
    const { deps, calls } = keyHost(() => ({ keys: [RSA_JWK] }), ["10.0.0.7"]);
    await assert.rejects(verifier(deps).verify(CLIENT, await sign()), /forbidden address/);
    assert.equal(calls.fetch, 0);
  });
  await t.step("plain http is refused without the development flag", async () => {
    const { deps } = keyHost(() => ({ keys: [RSA_JWK] }));
    const client = { ...CLIENT, jwksUri: "http://127.0.0.1:9/jwks.json" };
    await assert.rejects(verifier(deps).verify(client, await sign()), /https/);
  });
  await t.step(
    "without a kid, the key whose signature matches is found among several",
    async () => {
      const { kid: _, ...bare } = RSA_JWK;
      const other = { ...await publicJwk(foreign.publicKey, "x"), kid: undefined };
      const { deps } = keyHost(() => ({ keys: [other, bare] }));
      const assertion = await new SignJWT({
        iss: CLIENT_ID,
        sub: CLIENT_ID,
        aud: ISSUER,
        exp: Math.floor(T0 / 1000) + 60,
        jti: crypto.randomUUID(),
      }).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
      await verifier(deps).verify(CLIENT, assertion);
    },
  );
  await t.step("a rotated key is found by fetching again, at most every 30 s", async () => {
    let published = [RSA_JWK];
    let t = T0;
    const { deps, calls } = keyHost(() => ({ keys: published }));
    const v = verifier(deps, () => t);
    await v.verify(CLIENT, await sign());
    assert.equal(calls.fetch, 1);
    await v.verify(CLIENT, await sign());
    assert.equal(calls.fetch, 1, "the key set is cached");
    published = [RSA_JWK, EC_JWK];
    const rotated = () => sign({}, { key: ec.privateKey, alg: "ES256", kid: "ec-1" });
    await assert.rejects(v.verify(CLIENT, await rotated()), /verify/);
    assert.equal(calls.fetch, 1, "not refetched within 30 s of the last fetch");
    t += JWKS_REFETCH_MS + 1;
    const later = await new SignJWT({
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      aud: ISSUER,
      exp: Math.floor(t / 1000) + 60,
      jti: crypto.randomUUID(),
    }).setProtectedHeader({ alg: "ES256", kid: "ec-1" }).sign(ec.privateKey);
    await v.verify(CLIENT, later);
    assert.equal(calls.fetch, 2);
  });
});

Deno.test("a metadata document's authentication method is read as the document offers it", async (t) => {
  const base = {
    client_id: CLIENT_ID,
    redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
  };
  const ok: [why: string, doc: Record<string, unknown>, method: string, jwks?: string][] = [
    ["no method: none", {}, "none"],
    ["none", { token_endpoint_auth_method: "none" }, "none"],
    [
      "private_key_jwt that also offers none (ChatGPT's stable document): none, may sign",
      {
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
        jwks_uri: JWKS_URI,
      },
      "none",
      JWKS_URI,
    ],
    [
      "private_key_jwt only (ChatGPT's per-connector documents)",
      {
        token_endpoint_auth_method: "private_key_jwt",
        jwks_uri: JWKS_URI,
        token_endpoint_auth_signing_alg: "RS256",
      },
      "private_key_jwt",
      JWKS_URI,
    ],
    [
      "private_key_jwt with an unusable jwks_uri, offering none: none",
      {
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
        jwks_uri: "http://client.example/jwks.json",
      },
      "none",
    ],
  ];
  for (const [why, extra, method, jwks] of ok) {
    await t.step(`accepts ${why}`, () => {
      const client = validateDocument(CLIENT_ID, { ...base, ...extra }, DEFAULT_REDIRECT_ALLOWLIST);
      assert.equal(client.authMethod, method);
      assert.equal(client.jwksUri, jwks);
    });
  }
  const refused: [why: string, doc: Record<string, unknown>, reason: RegExp][] = [
    ["a shared secret", { token_endpoint_auth_method: "client_secret_basic" }, /shared secret/],
    ["client_secret_jwt", { token_endpoint_auth_method: "client_secret_jwt" }, /shared secret/],
    [
      "an unknown method",
      { token_endpoint_auth_method: "tls_client_auth" },
      /none or private_key_jwt/,
    ],
    [
      "private_key_jwt without jwks_uri",
      { token_endpoint_auth_method: "private_key_jwt" },
      /jwks_uri/,
    ],
    [
      "private_key_jwt with an http jwks_uri off loopback",
      { token_endpoint_auth_method: "private_key_jwt", jwks_uri: "http://client.example/j.json" },
      /jwks_uri/,
    ],
    [
      "private_key_jwt with an algorithm we do not verify",
      {
        token_endpoint_auth_method: "private_key_jwt",
        jwks_uri: JWKS_URI,
        token_endpoint_auth_signing_alg: "HS256",
      },
      /RS256 or ES256/,
    ],
  ];
  for (const [why, extra, reason] of refused) {
    await t.step(`refuses ${why}`, () => {
      assert.throws(
        () => validateDocument(CLIENT_ID, { ...base, ...extra }, DEFAULT_REDIRECT_ALLOWLIST),
        reason,
      );
    });
  }
  await t.step(
    "ChatGPT's stable document (the built-in constant) is a public client that may sign",
    () => {
      const client = validateDocument(
        CHATGPT_DOCUMENT.client_id,
        CHATGPT_DOCUMENT,
        DEFAULT_REDIRECT_ALLOWLIST,
      );
      assert.equal(client.authMethod, "none");
      assert.equal(client.jwksUri, "https://chatgpt.com/oauth/jwks.json");
      assert.deepEqual(client.assertionAlgs, ["RS256"]);
      assert.equal(client.clientName, "ChatGPT");
    },
  );
});
