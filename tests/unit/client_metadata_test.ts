/**
 * Client ID Metadata Documents: the SSRF address filter (table), and the resolver's
 * checks with the network replaced by a scripted DNS and HTTP peer, since no public
 * host is reachable from tests; then what happens when the document cannot be
 * fetched, against real failing sockets (a refused port, an untrusted certificate, a
 * local host answering a challenge page): transport-shaped failures fall back to the
 * stored, then the built-in copy, the publisher's refusals are final. The real fetch
 * path is covered by tests/e2e/cimd_test.ts and tests/e2e/claude_offline_test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILTIN_DOCUMENTS,
  CHATGPT_DOCUMENT,
  CLAUDE_CODE_DOCUMENT,
  CLAUDE_CONNECTOR_DOCUMENT,
} from "../../auth/clients/builtin_documents.ts";
import {
  createMetadataResolver,
  DocumentError,
  type DocumentFailure,
  type DocumentSource,
  FAILURE_CACHE_MS,
  failureLine,
  MAX_KEPT_DOCUMENTS,
  type MetadataFetchDeps,
  UNAVAILABLE_CACHE_MS,
  validateDocument,
} from "../../auth/clients/metadata.ts";
import type { ClientMetadataCopy } from "../../auth/records.ts";
import { matchRedirect } from "../../auth/clients/redirects.ts";
import { addressBlocked } from "../../auth/clients/ssrf.ts";
import type { Store } from "../../store/store.ts";
import { countUnder, freePort, makeLocalTls } from "../fixtures.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";
import { createMemoryStore } from "../../store/memory.ts";

Deno.test("addressBlocked allows global unicast only", async () => {
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
  for (const a of blocked) assert.equal(await addressBlocked(a), true, `${a} should be blocked`);
  for (const a of allowed) assert.equal(await addressBlocked(a), false, `${a} should be allowed`);
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
    store: createMemoryStore(),
    deps,
  });
}

Deno.test("a valid metadata document becomes a public client", async () => {
  const { deps, calls } = scripted({});
  const { client, source } = await resolver(deps).resolve(URL_ID);
  assert.deepEqual(source, { kind: "publisher" });
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
    }, /shared secret/],
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
  const { client } = await resolver(deps, () => 0, true).resolve(id);
  assert.equal(client.clientId, id);
  assert.equal(calls.lookup, 0);
  const outside = scripted({ addresses: ["10.0.0.1"] });
  await assert.rejects(resolver(outside.deps, () => 0, true).resolve(URL_ID), /forbidden address/);
});

// --- When the document cannot be fetched: failures told apart, stored and built-in copies.

const CONNECTOR_ID = CLAUDE_CONNECTOR_DOCUMENT.client_id;

/** A challenge page as claude.ai's edge answers some datacenter addresses. */
function challenge(_req: IncomingMessage, res: ServerResponse) {
  res.writeHead(403, {
    "content-type": "text/html; charset=UTF-8",
    "cf-mitigated": "challenge",
    "cf-ray": "8f00aa11bb22cc33-FRA",
  });
  res.end("<!DOCTYPE html><title>Just a moment...</title>");
}

/**
 * A real local HTTP server standing in for the documents' host: the resolver's DNS
 * answers a public address and its fetch is sent to this server, path kept. What it
 * answers can change between requests.
 */
async function localHost(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const peer = { answer, requests: 0 };
  const server = createHttpServer((req, res) => {
    peer.requests++;
    peer.answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const deps: MetadataFetchDeps = {
    lookup: () => Promise.resolve(["93.184.215.14"]),
    fetch: (url, init) => fetch(`http://127.0.0.1:${port}${new URL(url).pathname}`, init),
  };
  return {
    deps,
    peer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive connections would hold close() open
      }),
  };
}

/** Serves `doc` (with its client_id set to the URL asked), never cacheable. */
function serves(doc: Record<string, unknown>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({ ...doc, client_id: `https://client.example${req.url}` }));
  };
}

function answers(status: number, headers: Record<string, string> = {}, body = "") {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

interface Report {
  clientId: string;
  failure: DocumentFailure;
  fallback?: DocumentSource;
}

function resolverWith(
  deps: MetadataFetchDeps,
  extra: { store?: Store; now?: () => number; allowlist?: readonly string[] } = {},
) {
  const reports: Report[] = [];
  const store = extra.store ?? createMemoryStore();
  const r = createMetadataResolver({
    allowInsecureLoopback: false,
    allowlist: extra.allowlist ?? DEFAULT_REDIRECT_ALLOWLIST,
    now: extra.now ?? (() => 0),
    store,
    deps,
    onFailure: (clientId, failure, fallback) => reports.push({ clientId, failure, fallback }),
  });
  return { resolver: r, reports, store };
}

Deno.test("the built-in copies of Claude's documents pass the same validation as a fetched one", async (t) => {
  await t.step("each copy is a valid document for its own URL under the default allowlist", () => {
    const connector = validateDocument(
      CONNECTOR_ID,
      structuredClone(CLAUDE_CONNECTOR_DOCUMENT),
      DEFAULT_REDIRECT_ALLOWLIST,
    );
    assert.equal(connector.clientName, "Claude");
    assert.deepEqual(connector.redirectUris, ["https://claude.ai/api/mcp/auth_callback"]);
    assert.equal(connector.authMethod, "none");
    assert.deepEqual(connector.grantTypes, ["authorization_code", "refresh_token"]);
    const code = validateDocument(
      CLAUDE_CODE_DOCUMENT.client_id,
      structuredClone(CLAUDE_CODE_DOCUMENT),
      DEFAULT_REDIRECT_ALLOWLIST,
    );
    assert.equal(code.clientName, "Claude Code");
    // RFC 8252 7.3: the portless loopback redirects match the port Claude Code picks.
    assert.equal(
      matchRedirect("http://localhost:54321/callback", code.redirectUris),
      "http://localhost/callback",
    );
    assert.equal(
      matchRedirect("http://127.0.0.1:8080/callback", code.redirectUris),
      "http://127.0.0.1/callback",
    );
    const chatgpt = validateDocument(
      CHATGPT_DOCUMENT.client_id,
      structuredClone(CHATGPT_DOCUMENT),
      DEFAULT_REDIRECT_ALLOWLIST,
    );
    // It offers `none` beside private_key_jwt: a public client that may also sign.
    assert.equal(chatgpt.authMethod, "none");
    assert.equal(chatgpt.clientName, "ChatGPT");
    assert.equal(BUILTIN_DOCUMENTS.size, 3);
  });

  await t.step("a copy whose redirect the owner's allowlist refuses is refused", async () => {
    assert.throws(
      () =>
        validateDocument(CONNECTOR_ID, structuredClone(CLAUDE_CONNECTOR_DOCUMENT), ["loopback"]),
      /redirect URI not allowed/,
    );
    // Through the resolver, with the network failing: the same check decides.
    const offline: MetadataFetchDeps = {
      lookup: () => Promise.reject(Object.assign(new Error("not found"), { code: "ENOTFOUND" })),
      fetch: () => Promise.reject(new TypeError("unreachable")),
    };
    const { resolver: r } = resolverWith(offline, { allowlist: ["loopback"] });
    await assert.rejects(r.resolve(CONNECTOR_ID), DocumentError);
    const code = await r.resolve(CLAUDE_CODE_DOCUMENT.client_id);
    assert.equal(code.source.kind, "builtin");
    assert.equal(code.client.clientName, "Claude Code");
  });
});

Deno.test("transport-shaped failures fall back to the built-in copy; the publisher's refusals are final", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-cimd-tls-"));
  const tls = await makeLocalTls(dir);
  // An https host whose certificate this process does not trust: a real TLS failure.
  const untrusted = createHttpsServer(tls, (_req, res) => res.end("{}"));
  await new Promise<void>((resolve) => untrusted.listen(0, "127.0.0.1", resolve));
  const tlsPort = (untrusted.address() as AddressInfo).port;
  const closedPort = await freePort(); // nothing listens: connections are refused
  const host = await localHost(challenge);
  const valid = { ...CLAUDE_CONNECTOR_DOCUMENT, client_name: "Claude (as published)" };
  const timeout = () => Promise.reject(new DOMException("signal timed out", "TimeoutError"));
  // [what, the host's answer or a network replacement, fallback used?, reason]
  const cases: [
    string,
    ((req: IncomingMessage, res: ServerResponse) => void) | Partial<MetadataFetchDeps>,
    "builtin" | "refused",
    RegExp,
  ][] = [
    [
      "a name that does not resolve",
      {
        lookup: () => Promise.reject(Object.assign(new Error("nope"), { code: "ENOTFOUND" })),
      },
      "builtin",
      /the name did not resolve \(ENOTFOUND\)/,
    ],
    [
      "a refused connection",
      {
        fetch: (url, init) => fetch(`http://127.0.0.1:${closedPort}${new URL(url).pathname}`, init),
      },
      "builtin",
      /could not connect/,
    ],
    [
      "a TLS failure",
      {
        fetch: (url, init) => fetch(`https://127.0.0.1:${tlsPort}${new URL(url).pathname}`, init),
      },
      "builtin",
      /could not connect/,
    ],
    ["a timeout", { fetch: timeout }, "builtin", /no answer within 5 s/],
    ["a 503", answers(503, { "content-type": "text/html" }, "busy"), "builtin", /answered 503/],
    [
      "a redirect",
      answers(302, { location: "https://claude.ai/login" }),
      "builtin",
      /answered 302, a redirect/,
    ],
    ["a challenge page (403, cf-mitigated)", challenge, "builtin", /403 with a challenge page/],
    [
      "a 200 answer that is not JSON",
      answers(200, { "content-type": "text/html" }, "<html>hi</html>"),
      "builtin",
      /not JSON \(text\/html\)/,
    ],
    ["a 404", answers(404), "refused", /answered 404/],
    ["a 410", answers(410), "refused", /answered 410/],
    [
      "a document naming another client_id",
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ...valid, client_id: "https://claude.ai/other" }));
      },
      "refused",
      /does not equal its URL/,
    ],
    [
      "a document with a redirect outside the allowlist",
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ...valid, redirect_uris: ["https://evil.example/cb"] }));
      },
      "refused",
      /redirect URI not allowed/,
    ],
  ];
  try {
    for (const [what, answer, expected, reason] of cases) {
      await t.step(
        `${what}: ${expected === "builtin" ? "the built-in copy" : "refused"}`,
        async () => {
          const deps = typeof answer === "function"
            ? (host.peer.answer = answer, host.deps)
            : { ...host.deps, ...answer };
          const { resolver: r, reports } = resolverWith(deps);
          if (expected === "builtin") {
            const { client, source } = await r.resolve(CONNECTOR_ID);
            assert.equal(source.kind, "builtin");
            assert.equal(client.clientName, "Claude");
            assert.equal(reports[0]?.failure.kind, "unreachable");
            assert.equal(reports[0]?.fallback?.kind, "builtin");
          } else {
            await assert.rejects(r.resolve(CONNECTOR_ID), (error: unknown) => {
              assert.ok(error instanceof DocumentError);
              assert.equal(error.failure.kind, "refused");
              return true;
            });
            assert.equal(reports[0]?.failure.kind, "refused");
            assert.equal(reports[0]?.fallback, undefined);
          }
          assert.equal(reports.length, 1);
          assert.match(reports[0]!.failure.reason, reason);
        },
      );
    }
    await t.step("the challenge's cf-mitigated and cf-ray are reported", async () => {
      host.peer.answer = challenge;
      const { resolver: r, reports } = resolverWith(host.deps);
      await r.resolve(CONNECTOR_ID);
      assert.equal(reports[0]!.failure.status, 403);
      assert.equal(reports[0]!.failure.cfMitigated, "challenge");
      assert.equal(reports[0]!.failure.cfRay, "8f00aa11bb22cc33-FRA");
    });
    await t.step("a live document is used when the host answers", async () => {
      host.peer.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(valid));
      };
      const { resolver: r, reports } = resolverWith(host.deps);
      const { client, source } = await r.resolve(CONNECTOR_ID);
      assert.equal(source.kind, "publisher");
      assert.equal(client.clientName, "Claude (as published)");
      assert.equal(reports.length, 0);
    });
  } finally {
    await host.close();
    await new Promise((resolve) => untrusted.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("an approved client's last good document stands in before the built-in copy, and a 404 removes it", async () => {
  // The store expires copies by the real clock: a fetch time in the recent past.
  let now = Math.floor(Date.now() / 60_000) * 60_000 - 7 * 24 * 3600_000;
  const fetchedAt = now;
  const host = await localHost((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({ ...CLAUDE_CONNECTOR_DOCUMENT, client_name: "Claude (as published)" }));
  });
  const { resolver: r, reports, store } = resolverWith(host.deps, { now: () => now });
  try {
    assert.equal((await r.resolve(CONNECTOR_ID)).source.kind, "publisher");
    assert.equal(await countUnder(store, "client_metadata"), 0, "fetching alone keeps nothing");
    await r.keep(CONNECTOR_ID);
    const kept = await store.get<ClientMetadataCopy>(["client_metadata", CONNECTOR_ID]);
    assert.equal(kept?.fetchedAt, fetchedAt);

    now += 3 * 24 * 3600_000;
    host.peer.answer = challenge;
    const stood = await r.resolve(CONNECTOR_ID);
    assert.deepEqual(stood.source, {
      kind: "stored",
      fetchedAt,
      failure: reports[0]!.failure,
    });
    assert.equal(stood.client.clientName, "Claude (as published)", "the stored copy, not built-in");
    assert.equal(reports[0]!.fallback?.kind, "stored");
    const line = failureLine(CONNECTOR_ID, reports[0]!.failure, { kind: "stored", fetchedAt });
    assert.match(
      line,
      /transport failure: .*cf-mitigated="challenge" cf-ray="8f00aa11bb22cc33-FRA"/,
    );
    assert.ok(line.endsWith(`using the stored copy fetched ${new Date(fetchedAt).toISOString()}`));

    now += UNAVAILABLE_CACHE_MS + 1; // the challenge is remembered this long
    host.peer.answer = answers(404);
    await assert.rejects(r.resolve(CONNECTOR_ID), /answered 404/);
    assert.equal(await countUnder(store, "client_metadata"), 0, "the publisher withdrew it");

    now += FAILURE_CACHE_MS + 1; // and the 404 this long
    host.peer.answer = challenge;
    assert.equal((await r.resolve(CONNECTOR_ID)).source.kind, "builtin");
  } finally {
    await host.close();
  }
});

Deno.test("a kept copy follows the live document, and is validated again before it stands in", async () => {
  let now = Date.now();
  const host = await localHost(serves({ ...GOOD_DOC, client_name: "First" }));
  const store = createMemoryStore();
  const { resolver: r } = resolverWith(host.deps, { now: () => now, store });
  try {
    await r.resolve(URL_ID);
    await r.keep(URL_ID);
    now += 1000;
    host.peer.answer = serves({ ...GOOD_DOC, client_name: "Second" });
    await r.resolve(URL_ID);
    const kept = await store.get<ClientMetadataCopy>(["client_metadata", URL_ID]);
    assert.equal((kept?.document as { client_name: string }).client_name, "Second");
    assert.equal(kept?.fetchedAt, now);

    // The same store under an allowlist that no longer admits the copy's redirect.
    host.peer.answer = challenge;
    const narrower = resolverWith(host.deps, { now: () => now, store, allowlist: ["loopback"] });
    await assert.rejects(narrower.resolver.resolve(URL_ID), /challenge page/);
    assert.equal(narrower.reports[0]!.fallback, undefined);
    // Under the original allowlist it still stands in.
    assert.equal((await r.resolve(URL_ID)).source.kind, "stored");
  } finally {
    await host.close();
  }
});

Deno.test("at most MAX_KEPT_DOCUMENTS copies are kept; the least recently fetched goes first", async () => {
  let now = Date.now();
  const { deps } = scripted({});
  const { resolver: r, store } = resolverWith(deps, { now: () => now });
  const ids = Array.from(
    { length: MAX_KEPT_DOCUMENTS + 5 },
    (_, i) => `https://client.example/c/${i}.json`,
  );
  for (const id of ids) {
    now += 1000;
    await r.resolve(id);
    await r.keep(id);
  }
  const kept = await store.list<ClientMetadataCopy>(["client_metadata"]);
  assert.equal(kept.length, MAX_KEPT_DOCUMENTS);
  const keptIds = new Set(kept.map((e) => e.key[1]));
  assert.ok(!keptIds.has(ids[0]!) && !keptIds.has(ids[4]!), "the oldest were dropped");
  assert.ok(keptIds.has(ids.at(-1)!) && keptIds.has(ids[5]!));
});

Deno.test("the failure line says which kind, with cf-mitigated and cf-ray escaped from the wire", async () => {
  const { deps } = scripted({
    status: 403,
    body: "<html>",
    headers: {
      "content-type": "text/html",
      "cf-mitigated": "challenge",
      "cf-ray": '8f"; using the built-in copy\u00e9',
    },
  });
  const { resolver: r, reports } = resolverWith(deps);
  await r.resolve(CONNECTOR_ID);
  const line = failureLine(CONNECTOR_ID, reports[0]!.failure, reports[0]!.fallback as never);
  assert.match(line, /transport failure/);
  assert.ok(
    line.includes('cf-ray="8f\\u0022; using the built-in copy\\u00e9"'),
    `the quote cannot end the value early: ${line}`,
  );
  assert.doesNotMatch(line, /[^\x20-\x7e]/);

  const final = scripted({ status: 404 });
  const refusedOne = resolverWith(final.deps);
  await assert.rejects(refusedOne.resolver.resolve(CONNECTOR_ID));
  assert.match(
    failureLine(CONNECTOR_ID, refusedOne.reports[0]!.failure, undefined),
    /final failure: answered 404; client refused$/,
  );
});
