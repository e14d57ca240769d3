/**
 * Every value that becomes part of a store key is bounded before the store is read:
 * a client_id over Deno KV's 2 KiB key limit (in bytes: multi-byte characters count
 * more) gets the endpoint's standard answer, never a 500. Tokens and codes are looked
 * up by their SHA-256, so they are bounded by construction; huge ones are tried too.
 */
import assert from "node:assert/strict";
import { kvAvailable, openKvStore } from "../../store/kv.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";
import {
  BASE_URL,
  CLAUDE_REDIRECT,
  clientCredentials,
  postForm,
  registerClient,
  testServer,
} from "../fixtures.ts";

const LONG_IDS: Record<string, string> = {
  "3,000 ASCII characters": "a".repeat(3000),
  "1,000 three-byte characters (3,000 bytes)": "€".repeat(1000),
  "700 four-byte characters with NULs": "\u{1F600}\0".repeat(700),
  "a 3,000-character metadata URL": `https://client.example/${"d".repeat(3000)}`,
};
const HUGE = "x".repeat(60_000);

async function checkEndpoints(store: Store, t: Deno.TestContext) {
  const { app, events } = testServer({ store });
  try {
    for (const [label, clientId] of Object.entries(LONG_IDS)) {
      await t.step(`${label}: /authorize shows a page`, async () => {
        const url = new URL(`${BASE_URL}/authorize`);
        url.search = new URLSearchParams({
          response_type: "code",
          client_id: clientId,
          redirect_uri: CLAUDE_REDIRECT,
          code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
          code_challenge_method: "S256",
        }).toString();
        const res = await app.fetch(new Request(url));
        assert.equal(res.status, 400);
        // A URL is a metadata document's name: too long to fetch; anything else names no
        // registered client.
        assert.match(
          await res.text(),
          clientId.startsWith("https://") ? /client_id URL is too long/ : /Unknown app/,
        );
      });
      for (const path of ["/token", "/revoke"]) {
        await t.step(`${label}: ${path} answers invalid_client`, async () => {
          const form: Record<string, string> = path === "/token"
            ? { grant_type: "refresh_token", refresh_token: "r", client_id: clientId }
            : { token: "t", client_id: clientId };
          const res = await postForm(app, path, form);
          assert.equal(res.status, 401);
          assert.equal((await res.json()).error, "invalid_client");
        });
        await t.step(
          `${label}: ${path} with Basic credentials answers invalid_client`,
          async () => {
            const basic = btoa(
              String.fromCharCode(
                ...new TextEncoder().encode(`${encodeURIComponent(clientId)}:secret`),
              ),
            );
            const form: Record<string, string> = path === "/token"
              ? { grant_type: "refresh_token", refresh_token: "r" }
              : { token: "t" };
            const res = await postForm(app, path, form, { authorization: `Basic ${basic}` });
            assert.equal(res.status, 401);
            assert.equal((await res.json()).error, "invalid_client");
          },
        );
      }
    }
    await t.step(
      "a 60 KB code, refresh token or token to revoke gets a standard answer",
      async () => {
        const client = await registerClient(app);
        const creds = clientCredentials(client);
        const code = await postForm(app, "/token", {
          grant_type: "authorization_code",
          code: HUGE,
          code_verifier: "v".repeat(43),
          ...creds,
        });
        assert.equal(code.status, 400);
        assert.equal((await code.json()).error, "invalid_grant");
        const refresh = await postForm(app, "/token", {
          grant_type: "refresh_token",
          refresh_token: HUGE,
          ...creds,
        });
        assert.equal(refresh.status, 400);
        assert.equal((await refresh.json()).error, "invalid_grant");
        const revoke = await postForm(app, "/revoke", { token: HUGE, ...creds });
        assert.equal(revoke.status, 200);
        await revoke.body?.cancel();
      },
    );
    assert.deepEqual(events.filter((e) => e.type === "error"), [], "no internal error");
  } finally {
    await app.close();
  }
}

Deno.test({
  name: "over-long client_ids and tokens get standard answers on Deno KV, never a 500",
  ignore: !kvAvailable(),
  fn: async (t) => await checkEndpoints(await openKvStore(":memory:"), t),
});

/**
 * The memory store with Deno KV's key limit on reads, as KV enforces it (a TypeError),
 * so that the bound is proven before the store on every runtime, Bun included.
 */
function withKvKeyLimit(inner: Store): Store {
  const check = (key: readonly string[]) => {
    const bytes = key.reduce((n, part) => n + 2 + new TextEncoder().encode(part).length, 0);
    if (bytes > 2049) throw new TypeError(`Key too large for read (max 2049 bytes)`);
  };
  return {
    ...inner,
    get: (key) => {
      check(key);
      return inner.get(key);
    },
    list: (prefix) => {
      check(prefix);
      return inner.list(prefix);
    },
  };
}

Deno.test("over-long client_ids never reach a store read, on any runtime", async (t) => {
  await checkEndpoints(withKvKeyLimit(createMemoryStore()), t);
});

Deno.test({
  name: "the Deno KV store reads a key it could never have stored as absent",
  ignore: !kvAvailable(),
  fn: async () => {
    const store = await openKvStore(":memory:");
    try {
      assert.equal(await store.get(["client", "€".repeat(1000)]), undefined);
      assert.deepEqual(await store.list(["client", "a".repeat(3000)]), []);
    } finally {
      await store.close();
    }
  },
});
