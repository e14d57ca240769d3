/**
 * Client ID Metadata Documents: the SSRF address filter (table), and the resolver's
 * checks with the network replaced by a scripted DNS and HTTP peer, since no public
 * host is reachable from tests. The real fetch path is covered by tests/e2e/cimd_test.ts.
 */
import assert from "node:assert/strict";
import { createMetadataResolver, type MetadataFetchDeps } from "../../auth/client_metadata.ts";
import { addressBlocked } from "../../auth/ssrf.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";

Deno.test("addressBlocked allows global unicast only", () => {
  const blocked = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.5",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "fc00::2",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2001:db8::1",
    "[::1]",
    "fe80::1%eth0",
    "not-an-ip",
    "1.2.3",
    "1.2.3.256",
    // Shorthand IPv4 that some parsers read as loopback.
    "127.1",
    "0x7f.0.0.1",
    "2130706433",
    // IPv6 forms that reach IPv4 (private or loopback) or otherwise lead back inside.
    "2002:7f00:1::1", // 6to4 of 127.0.0.1
    "2002:c0a8:101::1", // 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
    "2001::1", // Teredo
    "::ffff:0:7f00:1", // IPv4-translated 127.0.0.1
    "::ffff:0:a00:1", // IPv4-translated 10.0.0.1
    "64:ff9b:1::7f00:1", // local-use NAT64 (RFC 8215)
    "64:ff9b:1::a9fe:a9fe",
    "64:ff9b::808:808", // NAT64 even of a public address: not global unicast
    "::7f00:1", // IPv4-compatible (deprecated)
    "::ffff:8.8.8.8", // IPv4-mapped: a lookup returns IPv4 as IPv4
    "fec0::1", // site-local (deprecated, RFC 3879)
    "feff::1",
    "100::1", // discard-only
    "2001:2::1", // benchmarking
    "3fff::1", // documentation (RFC 9637)
    "5f00::1", // segment routing
    "4000::1", // outside 2000::/3
  ];
  const allowed = [
    "8.8.8.8",
    "1.1.1.1",
    "160.79.104.10",
    "172.32.0.1",
    "2606:4700::1111",
    "2a00:1450:4001::200e",
    "[2606:4700::1111]",
  ];
  for (const a of blocked) assert.equal(addressBlocked(a), true, `${a} should be blocked`);
  for (const a of allowed) assert.equal(addressBlocked(a), false, `${a} should be allowed`);
});

const URL_ID = "https://client.example/oauth/metadata.json";
const GOOD_DOC = {
  client_id: URL_ID,
  client_name: "Example",
  redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
  token_endpoint_auth_method: "none",
};

function scripted(
  answer: {
    addresses?: string[];
    status?: number;
    body?: unknown;
    headers?: Record<string, string>;
  },
) {
  const calls = { lookup: 0, fetch: 0, init: undefined as RequestInit | undefined };
  const deps: MetadataFetchDeps = {
    lookup() {
      calls.lookup++;
      return Promise.resolve(answer.addresses ?? ["93.184.215.14"]);
    },
    fetch(url, init) {
      calls.fetch++;
      calls.init = init;
      // By default the peer serves a valid document for whatever URL was asked.
      const body = typeof answer.body === "string"
        ? answer.body
        : JSON.stringify(answer.body ?? { ...GOOD_DOC, client_id: url });
      return Promise.resolve(
        new Response(body, {
          status: answer.status ?? 200,
          headers: { "content-type": "application/json", ...answer.headers },
        }),
      );
    },
  };
  return { deps, calls };
}

function resolver(deps: MetadataFetchDeps, now = () => 0, allowInsecureLoopback = false) {
  return createMetadataResolver({
    allowInsecureLoopback,
    allowlist: DEFAULT_REDIRECT_ALLOWLIST,
    now,
    deps,
  });
}

Deno.test("a valid metadata document becomes a public client", async () => {
  const { deps, calls } = scripted({});
  const client = await resolver(deps).resolve(URL_ID);
  assert.equal(client.clientId, URL_ID);
  assert.equal(client.authMethod, "none");
  assert.equal(client.clientName, "Example");
  assert.deepEqual(client.redirectUris, GOOD_DOC.redirect_uris);
  assert.equal(calls.init?.redirect, "manual", "redirects are never followed");
});

Deno.test("metadata documents that must be refused are refused", async (t) => {
  // [what, what the network answers, the reason expected, the client_id asked]
  const cases: [string, Parameters<typeof scripted>[0], RegExp, string?][] = [
    ["a name resolving to a private address", { addresses: ["10.0.0.5"] }, /forbidden address/],
    ["a name resolving to cloud metadata", { addresses: ["169.254.169.254"] }, /forbidden address/],
    ["a name resolving to one public and one loopback address", {
      addresses: ["93.184.215.14", "127.0.0.1"],
    }, /forbidden address/],
    [
      "a name resolving to an IPv4-mapped loopback",
      { addresses: ["::ffff:127.0.0.1"] },
      /forbidden address/,
    ],
    [
      "a redirect answer",
      { status: 302, headers: { location: "http://169.254.169.254/" } },
      /answered 302/,
    ],
    ["a non-200 answer", { status: 404 }, /answered 404/],
    ["a document naming another client_id", {
      body: { ...GOOD_DOC, client_id: "https://other.example/x" },
    }, /does not equal its URL/],
    ["a document with a redirect outside the allowlist", {
      body: { ...GOOD_DOC, redirect_uris: ["https://evil.example/cb"] },
    }, /redirect URI not allowed/],
    [
      "a document with no redirect_uris",
      { body: { ...GOOD_DOC, redirect_uris: [] } },
      /redirect_uris/,
    ],
    ["a document asking for a shared secret", {
      body: { ...GOOD_DOC, token_endpoint_auth_method: "client_secret_post" },
    }, /must be none/],
    ["a document that is not JSON", { body: "<html>" }, /not JSON/],
    [
      "a document over 16 KiB",
      { body: { ...GOOD_DOC, client_name: "x".repeat(17000) } },
      /too large/,
    ],
    ["an http URL", {}, /must use https/, "http://client.example/oauth/metadata.json"],
    ["a URL with no path", {}, /must have a path/, "https://client.example/"],
    ["a URL with credentials", {}, /credentials/, "https://user:pw@client.example/m.json"],
    [
      "a loopback URL without the development flag",
      { addresses: ["127.0.0.1"] },
      /forbidden address/,
      "https://localhost/m.json",
    ],
  ];
  for (const [name, answer, reason, id] of cases) {
    await t.step(`refuses ${name}`, async () => {
      const { deps } = scripted(answer);
      await assert.rejects(resolver(deps).resolve(id ?? URL_ID), reason);
    });
  }
});

Deno.test("documents are cached as Cache-Control says, and no-store is not cached", async () => {
  let t = 0;
  const cached = scripted({ headers: { "cache-control": "max-age=600" } });
  const r = resolver(cached.deps, () => t);
  await r.resolve(URL_ID);
  t = 599_000;
  await r.resolve(URL_ID);
  assert.equal(cached.calls.fetch, 1, "served from cache within max-age");
  t = 601_000;
  await r.resolve(URL_ID);
  assert.equal(cached.calls.fetch, 2, "fetched again after max-age");

  const uncached = scripted({ headers: { "cache-control": "no-store" } });
  const r2 = resolver(uncached.deps);
  await r2.resolve(URL_ID);
  await r2.resolve(URL_ID);
  assert.equal(uncached.calls.fetch, 2);
});

Deno.test("the development flag admits loopback document hosts and skips DNS for them only", async () => {
  const id = "http://127.0.0.1:9999/client.json";
  const { deps, calls } = scripted({ body: { ...GOOD_DOC, client_id: id } });
  const client = await resolver(deps, () => 0, true).resolve(id);
  assert.equal(client.clientId, id);
  assert.equal(calls.lookup, 0);
  const outside = scripted({ addresses: ["10.0.0.1"] });
  await assert.rejects(resolver(outside.deps, () => 0, true).resolve(URL_ID), /forbidden address/);
});
