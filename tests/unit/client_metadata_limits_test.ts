/**
 * What a stranger can make the metadata-document resolver do, and how it rides out a
 * host's outage: failures are remembered for a while, fetches are budgeted per client
 * address and bounded overall, the DNS lookup times out, and a known document is used
 * through a short outage; without one the answer is "try again", never "invalid".
 */
import assert from "node:assert/strict";
import {
  createMetadataResolver,
  DocumentError,
  FAILURE_CACHE_MS,
  FETCHES_PER_ADDRESS_PER_MINUTE,
  MAX_CONCURRENT_FETCHES,
  type MetadataFetchDeps,
  STALE_IF_ERROR_MS,
  UNAVAILABLE_CACHE_MS,
} from "../../auth/clients/metadata.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";
import { createMemoryStore } from "../../store/memory.ts";

/** "Try again": the publisher has not spoken (a 503 at /token, never invalid_client). */
function unreachable(error: unknown): boolean {
  return error instanceof DocumentError && error.failure.kind === "unreachable";
}

const DOC_URL = "https://client.example/oauth/metadata.json";
const docFor = (url: string) => ({
  client_id: url,
  client_name: "Example",
  redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
  token_endpoint_auth_method: "none",
});

/** A network whose answers the test sets, counting what the resolver asked of it. */
function network() {
  const state = {
    status: 200,
    cacheControl: "max-age=60",
    lookups: 0,
    fetches: 0,
    hang: false,
    lookupHangs: false,
    released: [] as (() => void)[],
  };
  const deps: MetadataFetchDeps = {
    lookup() {
      state.lookups++;
      if (state.lookupHangs) return new Promise(() => {});
      return Promise.resolve(["93.184.215.14"]);
    },
    async fetch(url) {
      state.fetches++;
      if (state.hang) await new Promise<void>((resolve) => state.released.push(resolve));
      if (state.status === 0) throw new TypeError("connection refused");
      return new Response(JSON.stringify(docFor(url)), {
        status: state.status,
        headers: { "content-type": "application/json", "cache-control": state.cacheControl },
      });
    },
  };
  return { state, deps };
}

function setup() {
  let now = 1_000_000;
  const net = network();
  const resolver = createMetadataResolver({
    allowInsecureLoopback: false,
    allowlist: DEFAULT_REDIRECT_ALLOWLIST,
    now: () => now,
    store: createMemoryStore(),
    deps: net.deps,
    lookupTimeoutMs: 50,
  });
  return { resolver, net, advance: (ms: number) => (now += ms) };
}

Deno.test("a document that could not be used is not fetched again for a few minutes", async () => {
  const { resolver, net, advance } = setup();
  net.state.status = 404;
  await assert.rejects(resolver.resolve(DOC_URL, "a"), /answered 404/);
  await assert.rejects(resolver.resolve(DOC_URL, "b"), /answered 404/);
  assert.equal(net.state.fetches, 1, "the failure is remembered");
  advance(FAILURE_CACHE_MS + 1);
  net.state.status = 200;
  assert.equal((await resolver.resolve(DOC_URL, "a")).client.clientId, DOC_URL);
  assert.equal(net.state.fetches, 2);
});

Deno.test("a host that did not answer is asked again sooner, and meanwhile gets 'try again'", async () => {
  const { resolver, net, advance } = setup();
  net.state.status = 503;
  await assert.rejects(resolver.resolve(DOC_URL, "a"), unreachable);
  await assert.rejects(resolver.resolve(DOC_URL, "a"), unreachable);
  assert.equal(net.state.fetches, 1);
  advance(UNAVAILABLE_CACHE_MS + 1);
  net.state.status = 200;
  await resolver.resolve(DOC_URL, "a");
  assert.equal(net.state.fetches, 2);
});

Deno.test("one address gets a budget of fetches per minute; others are not affected", async () => {
  const { resolver, net, advance } = setup();
  const url = (i: number) => `https://client.example/doc-${i}.json`;
  for (let i = 0; i < FETCHES_PER_ADDRESS_PER_MINUTE; i++) {
    await resolver.resolve(url(i), "stranger");
  }
  await assert.rejects(resolver.resolve(url(100), "stranger"), unreachable);
  assert.equal(net.state.fetches, FETCHES_PER_ADDRESS_PER_MINUTE, "no fetch beyond the budget");
  // Cached documents cost nothing; another address has its own budget.
  await resolver.resolve(url(0), "stranger");
  await resolver.resolve(url(100), "owner");
  // The budget is refused, not remembered as the document's failure.
  advance(60_001);
  await resolver.resolve(url(101), "stranger");
});

Deno.test("fetches in flight are bounded for all addresses together", async () => {
  const { resolver, net } = setup();
  net.state.hang = true;
  const url = (i: number) => `https://client.example/slow-${i}.json`;
  const started = Array.from(
    { length: MAX_CONCURRENT_FETCHES },
    (_, i) => resolver.resolve(url(i), `addr-${i}`),
  );
  // Let every one of them reach its fetch.
  while (net.state.fetches < MAX_CONCURRENT_FETCHES) await new Promise((r) => setTimeout(r, 1));
  await assert.rejects(resolver.resolve(url(99), "another"), /at once/);
  // The same document again joins the fetch in flight instead of starting one.
  const joined = resolver.resolve(url(0), "yet-another");
  assert.equal(net.state.fetches, MAX_CONCURRENT_FETCHES);
  for (const release of net.state.released) release();
  await Promise.all([...started, joined]);
});

Deno.test("a DNS lookup that does not answer times out as 'try again'", async () => {
  const { resolver, net } = setup();
  net.state.lookupHangs = true;
  await assert.rejects(resolver.resolve(DOC_URL, "a"), (error: Error) => {
    assert.ok(unreachable(error));
    assert.match(error.message, /took longer than/);
    return true;
  });
  assert.equal(net.state.fetches, 0);
});

Deno.test("a known document is used through its host's short outage (stale-if-error)", async (t) => {
  for (const [outage, status] of [["a 503", 503], ["no answer", 0], ["a 429", 429]] as const) {
    await t.step(outage, async () => {
      const { resolver, net, advance } = setup();
      const first = (await resolver.resolve(DOC_URL, "a")).client;
      advance(61_000); // the cache (max-age=60) has expired
      net.state.status = status;
      const stale = await resolver.resolve(DOC_URL, "a");
      assert.deepEqual(stale.client, first);
      assert.equal(stale.source.kind, "stored", "the page can say a copy stood in");
      assert.equal(net.state.fetches, 2, "it was asked again");
      assert.deepEqual(
        (await resolver.resolve(DOC_URL, "a")).client,
        first,
        "and is left alone a while",
      );
      assert.equal(net.state.fetches, 2);
      advance(STALE_IF_ERROR_MS);
      await assert.rejects(resolver.resolve(DOC_URL, "a"), unreachable);
    });
  }
  await t.step("but not once the host says the document is gone or wrong", async () => {
    const { resolver, net, advance } = setup();
    await resolver.resolve(DOC_URL, "a");
    advance(61_000);
    net.state.status = 404;
    await assert.rejects(resolver.resolve(DOC_URL, "a"), /answered 404/);
  });
  await t.step("nor a document its host said not to store", async () => {
    const { resolver, net } = setup();
    net.state.cacheControl = "no-store";
    await resolver.resolve(DOC_URL, "a");
    net.state.status = 503;
    await assert.rejects(resolver.resolve(DOC_URL, "a"), unreachable);
  });
});
