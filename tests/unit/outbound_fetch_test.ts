/**
 * The one guarded outbound fetch (auth/clients/fetch.ts), against a real HTTP server
 * on loopback: which step refuses what (scheme, lookup, address, status, size, JSON),
 * that a redirect is never followed, and what a failed step means for a metadata
 * document (documentErrorOf, as a table). Also that the key set fetch has the lookup
 * deadline documents always had.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  fetchJson,
  NETWORK,
  OutboundError,
  type OutboundRequest,
  type OutboundStep,
} from "../../auth/clients/fetch.ts";
import { documentErrorOf } from "../../auth/clients/document.ts";
import { AssertionError, createAssertionVerifier } from "../../auth/clients/assertion.ts";
import { createMemoryStore } from "../../store/memory.ts";

/** A loopback HTTP server answering by path; counts the requests it saw per path. */
async function host(routes: Record<string, (res: ServerResponse) => void>) {
  const seen: Record<string, number> = {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    seen[path] = (seen[path] ?? 0) + 1;
    (routes[path] ?? ((r) => r.writeHead(404).end()))(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const LOOPBACK: OutboundRequest = {
  accept: "application/json",
  maxBytes: 64,
  allowLoopback: true,
  subject: "the URL",
};

async function stepOf(promise: Promise<unknown>): Promise<OutboundStep> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OutboundError, String(error));
    return error.step;
  }
  throw new Error("fetched");
}

Deno.test("the guarded fetch refuses at the step that fails, against a real server", async (t) => {
  const server = await host({
    "/doc": (res) => res.writeHead(200, { "content-type": "application/json" }).end('{"a":1}'),
    "/moved": (res) => res.writeHead(302, { location: "/doc" }).end(),
    "/big": (res) => res.writeHead(200, { "content-type": "application/json" }).end("x".repeat(65)),
    "/stream": (res) => {
      // No content-length: the bound holds on what is read, not on what is declared.
      res.writeHead(200, { "content-type": "application/json" });
      res.write("[" + "1,".repeat(40));
      res.end("1]");
    },
    "/html": (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>"),
    "/latin1": (res) => res.writeHead(200).end(Buffer.from([0x22, 0xe9, 0x22])),
  });
  try {
    await t.step("a JSON answer is read and parsed", async () => {
      const answer = await fetchJson(new URL(`${server.base}/doc`), LOOPBACK);
      assert.deepEqual(answer.json, { a: 1 });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get("content-type"), "application/json");
    });
    await t.step("a redirect is not followed", async () => {
      const before = server.seen["/doc"];
      const error = await fetchJson(new URL(`${server.base}/moved`), LOOPBACK).catch((e) => e);
      assert.ok(error instanceof OutboundError);
      assert.equal(error.step, "status");
      assert.equal(error.answer?.status, 302);
      assert.equal(server.seen["/doc"], before, "the target was not asked");
    });
    const cases: Array<[string, string, OutboundStep]> = [
      ["a declared length past the bound", "/big", "size"],
      ["a streamed body past the bound", "/stream", "size"],
      ["an answer that is not JSON", "/html", "json"],
      ["an answer that is not UTF-8", "/latin1", "json"],
      ["a 404", "/missing", "status"],
    ];
    for (const [why, path, step] of cases) {
      await t.step(`${why}: ${step}`, async () => {
        assert.equal(await stepOf(fetchJson(new URL(`${server.base}${path}`), LOOPBACK)), step);
      });
    }
    await t.step("plain http to loopback without the development flag: scheme", async () => {
      const before = server.seen["/doc"];
      const request = { ...LOOPBACK, allowLoopback: false };
      assert.equal(await stepOf(fetchJson(new URL(`${server.base}/doc`), request)), "scheme");
      assert.equal(server.seen["/doc"], before, "no request was made");
    });
  } finally {
    await server.close();
  }
});

Deno.test("the guarded fetch checks every address before it connects", async (t) => {
  let fetched = 0;
  const deps = (addresses: string[] | (() => Promise<string[]>)) => ({
    lookup: typeof addresses === "function" ? addresses : () => Promise.resolve(addresses),
    fetch: (url: string, init: RequestInit) => {
      fetched++;
      return NETWORK.fetch(url, init);
    },
  });
  const url = new URL("https://documents.example/client.json");
  const request = (d: OutboundRequest["deps"]) => ({ ...LOOPBACK, allowLoopback: false, deps: d });
  const cases: Array<[string, string[], OutboundStep]> = [
    ["a name resolving to loopback", ["127.0.0.1"], "address"],
    ["one private address among public ones", ["93.184.215.14", "10.0.0.1"], "address"],
    ["IPv4-mapped loopback", ["::ffff:127.0.0.1"], "address"],
    ["no address at all", [], "address"],
  ];
  for (const [why, addresses, step] of cases) {
    await t.step(`${why}: ${step}`, async () => {
      assert.equal(await stepOf(fetchJson(url, request(deps(addresses)))), step);
      assert.equal(fetched, 0);
    });
  }
  await t.step("a lookup that never answers gives up at its deadline", async () => {
    const started = Date.now();
    const hanging = deps(() => new Promise<string[]>(() => {}));
    const error = await fetchJson(url, { ...request(hanging), lookupTimeoutMs: 50 }).catch((e) =>
      e
    );
    assert.ok(error instanceof OutboundError && error.step === "lookup", String(error));
    assert.match(error.message, /took longer than 0.05 s/);
    assert.ok(Date.now() - started < 2000);
  });
  await t.step("a name that does not resolve says its code", async () => {
    const missing = deps(() =>
      Promise.reject(Object.assign(new Error("x"), { code: "ENOTFOUND" }))
    );
    const error = await fetchJson(url, request(missing)).catch((e) => e);
    assert.equal(error.step, "lookup");
    assert.match(error.message, /did not resolve \(ENOTFOUND\)/);
  });
});

Deno.test("what a failed fetch means for a metadata document", () => {
  const answer = (status: number, headers: Record<string, string> = {}) => ({
    status,
    headers: new Headers(headers),
  });
  const cases: Array<[OutboundError, "unreachable" | "refused", RegExp]> = [
    [new OutboundError("lookup", "the name did not resolve"), "unreachable", /did not resolve/],
    [new OutboundError("address", "x resolves to a forbidden address"), "unreachable", /forbidden/],
    [new OutboundError("scheme", "x must use https"), "refused", /https/],
    [new OutboundError("status", "answered 404", answer(404)), "refused", /^answered 404$/],
    [new OutboundError("status", "answered 410", answer(410)), "refused", /^answered 410$/],
    [
      new OutboundError("status", "answered 503", answer(503, { "content-type": "text/html" })),
      "unreachable",
      /^answered 503 \(text\/html\)$/,
    ],
    [
      new OutboundError("status", "answered 301", answer(301)),
      "unreachable",
      /a redirect \(not followed\)/,
    ],
    [
      new OutboundError("status", "answered 200", answer(200, { "cf-mitigated": "challenge" })),
      "unreachable",
      /^answered 200 with a challenge page \(no content type\)$/,
    ],
    [
      new OutboundError("size", "too large", answer(200, { "content-type": "application/json" })),
      "refused",
      /^document too large$/,
    ],
    [
      new OutboundError("size", "too large", answer(200, { "content-type": "text/html" })),
      "unreachable",
      /large body that is not JSON \(text\/html\)/,
    ],
    [
      new OutboundError("json", "not JSON", answer(200, { "content-type": "text/plain" })),
      "unreachable",
      /document that is not JSON \(text\/plain\)/,
    ],
  ];
  for (const [error, kind, reason] of cases) {
    const { failure } = documentErrorOf(error);
    assert.equal(failure.kind, kind, `${error.step} ${error.answer?.status}`);
    assert.match(failure.reason, reason);
    assert.equal(failure.status, error.answer?.status);
  }
  const ray = documentErrorOf(
    new OutboundError("status", "answered 403", answer(403, { "cf-ray": 'x"\u00e9' })),
  );
  assert.equal(ray.failure.cfRay, "x\\u0022\\u00e9", "a header from the wire is escaped");
});

Deno.test("the key set fetch gives up on a name that never resolves, as documents do", async () => {
  const verifier = createAssertionVerifier({
    audiences: ["https://me.example.com"],
    allowInsecureLoopback: false,
    store: createMemoryStore(),
    now: () => Date.now(),
    deps: { lookup: () => new Promise(() => {}), fetch: () => Promise.reject(new Error("no")) },
  });
  const client = {
    clientId: "https://client.example/m.json",
    authMethod: "private_key_jwt" as const,
    jwksUri: "https://client.example/jwks.json",
    redirectUris: [],
    grantTypes: [],
    metadata: {},
    createdAt: 0,
  };
  const part = (o: object) => btoa(JSON.stringify(o)).replaceAll("=", "");
  const jwt = `${part({ alg: "RS256" })}.${part({ sub: client.clientId })}.c2ln`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 5000));
  try {
    const outcome = await Promise.race([verifier.verify(client, jwt).catch((e) => e), hung]);
    assert.ok(outcome instanceof AssertionError, String(outcome));
    assert.match(outcome.message, /took longer than/);
  } finally {
    clearTimeout(timer);
  }
});
