/**
 * Metadata-document clients when the document cannot be fetched, through the whole
 * server in process: a real local document host (admitted by insecureClientMetadata)
 * that serves the document, then a challenge page, then 404; a refused port; and the
 * off switch. The consent page and the error pages must tell the owner the truth.
 * tests/e2e/claude_offline_test.ts runs the same against Deno and Bun server processes.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FAILURE_CACHE_MS, UNAVAILABLE_CACHE_MS } from "../../auth/clients/metadata.ts";
import type { ClientMetadataCopy } from "../../auth/records.ts";
import {
  advanceClock,
  authorizeUrl,
  BASE_URL,
  CLAUDE_REDIRECT,
  countUnder,
  freePort,
  mcpStatus,
  openConsent,
  pkcePair,
  postForm,
  refreshWith,
  registerClient,
  resetClock,
  snapshot,
  type TestClient,
  testServer,
  tokenSet,
  tokensFor,
} from "../fixtures.ts";

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

/** A document host on a loopback port; what it answers can change between requests. */
async function documentHost(answer: Answer) {
  const peer = { answer, requests: 0 };
  const server = createServer((req, res) => {
    peer.requests++;
    peer.answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    peer,
    host: `127.0.0.1:${port}`,
    clientId: `http://127.0.0.1:${port}/client.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serveDocument(clientId: string): Answer {
  return (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({
      client_id: clientId,
      client_name: "Document Client",
      redirect_uris: [CLAUDE_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }));
  };
}

const challenge: Answer = (_req, res) => {
  res.writeHead(403, {
    "content-type": "text/html; charset=UTF-8",
    "cf-mitigated": "challenge",
    "cf-ray": "8f00aa11bb22cc33-FRA",
  });
  res.end("<!DOCTYPE html><title>Just a moment...</title>");
};

const notFound: Answer = (_req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
};

async function page(app: { fetch(r: Request): Promise<Response> }, url: string) {
  const res = await app.fetch(new Request(url));
  const html = await res.text();
  assert.equal(res.headers.get("location"), null, "a page, never a redirect");
  return { status: res.status, html };
}

Deno.test("an approved metadata-document client keeps working while its host answers a challenge; a 404 ends it", async (t) => {
  const doc = await documentHost(challenge);
  doc.peer.answer = serveDocument(doc.clientId);
  const { app, store, events } = testServer({ insecureClientMetadata: true });
  const client: TestClient = { clientId: doc.clientId, redirectUris: [CLAUDE_REDIRECT] };
  const failures = () => events.filter((e) => e.type === "client_metadata_failed");
  try {
    await t.step("the consent page leads with the host that publishes the document", async () => {
      const { html } = await openConsent(app, authorizeUrl(client, (await pkcePair()).challenge));
      assert.ok(
        html.includes(
          `<h1>Allow <bdi>Document Client</bdi> from ${doc.host} to use personal-mcp?</h1>`,
        ),
        html,
      );
      assert.ok(html.indexOf("Published by") < html.indexOf("<dt>App</dt>"));
      assert.doesNotMatch(html, /could not be reached/);
      assert.equal(await countUnder(store, "client_metadata"), 0, "showing a page keeps nothing");
    });

    let tokens!: Awaited<ReturnType<typeof tokensFor>>;
    await t.step("the owner's approval keeps the document in the store", async () => {
      const before = Date.now();
      tokens = await tokensFor(app, client);
      const kept = await store.get<ClientMetadataCopy>(["client_metadata", doc.clientId]);
      assert.equal((kept?.document as { client_name?: string }).client_name, "Document Client");
      assert.ok(kept!.fetchedAt >= before && kept!.fetchedAt <= Date.now());
    });

    await t.step("behind a challenge, the stored copy stands in and the page says so", async () => {
      doc.peer.answer = challenge;
      const { html } = await openConsent(app, authorizeUrl(client, (await pkcePair()).challenge));
      assert.match(
        html,
        new RegExp(
          `${doc.host} could not be reached; using the copy from \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC`,
        ),
      );
      assert.match(html, /Reason: answered 403 with a challenge page/);
      const event = failures().at(-1);
      assert.ok(event?.type === "client_metadata_failed");
      assert.equal(event.failure, "transport");
      assert.equal(event.fallback, "stored_copy");
      assert.equal(event.cfMitigated, "challenge");
      assert.equal(event.cfRay, "8f00aa11bb22cc33-FRA");
      assert.match(event.message, /cf-mitigated="challenge" cf-ray="8f00aa11bb22cc33-FRA"/);
      assert.match(event.message, /using the stored copy fetched/);
    });

    await t.step("behind a challenge, consent, code, token and refresh still work", async () => {
      const fresh = await tokensFor(app, client);
      assert.equal(await mcpStatus(app, fresh.access_token), 200);
      const refreshed = await tokenSet(await refreshWith(app, client, tokens.refresh_token));
      assert.equal(await mcpStatus(app, refreshed.access_token), 200);
      tokens = refreshed;
    });

    await t.step(
      "a 404 is final: a page naming the host and why; the copy is dropped",
      async () => {
        // Once the challenge is no longer remembered (the negative cache), the host is asked again.
        advanceClock(UNAVAILABLE_CACHE_MS + 1000);
        doc.peer.answer = notFound;
        const { status, html } = await page(
          app,
          authorizeUrl(client, (await pkcePair()).challenge),
        );
        assert.equal(status, 400);
        assert.match(html, /App refused/);
        assert.ok(html.includes(`a document that ${doc.host} publishes`), html);
        assert.match(html, /answered 404/);
        assert.doesNotMatch(html, /not registered/);
        const event = failures().at(-1);
        assert.ok(event?.type === "client_metadata_failed");
        assert.equal(event.failure, "final");
        assert.equal(event.fallback, "none");
        assert.equal(await countUnder(store, "client_metadata"), 0);
      },
    );

    await t.step(
      "after the 404, neither refresh nor a challenge brings the client back",
      async () => {
        const refused = await refreshWith(app, client, tokens.refresh_token);
        assert.equal(refused.status, 401);
        assert.equal((await refused.json()).error, "invalid_client");
        advanceClock(FAILURE_CACHE_MS + 1000); // the 404 is remembered this long
        doc.peer.answer = challenge;
        const { status, html } = await page(
          app,
          authorizeUrl(client, (await pkcePair()).challenge),
        );
        assert.equal(status, 503, "temporary: try again");
        assert.ok(html.includes(`Could not reach ${doc.host}`), html);
      },
    );
  } finally {
    resetClock();
    await app.close();
    await doc.close();
  }
});

Deno.test("a metadata URL with no copy is refused with a page naming the host and the failure", async (t) => {
  const { app, store } = testServer({ insecureClientMetadata: true });
  const closed = await freePort(); // nothing listens there: the connection is refused
  const doc = await documentHost(challenge);
  try {
    const cases: [what: string, clientId: string, host: string, reason: RegExp][] = [
      [
        "a refused connection",
        `http://127.0.0.1:${closed}/client.json`,
        `127.0.0.1:${closed}`,
        /could not connect/,
      ],
      ["a challenge page", doc.clientId, doc.host, /answered 403 with a challenge page/],
    ];
    for (const [what, clientId, host, reason] of cases) {
      await t.step(what, async () => {
        const before = await snapshot(store);
        const client = { clientId, redirectUris: [CLAUDE_REDIRECT] };
        const { status, html } = await page(
          app,
          authorizeUrl(client, (await pkcePair()).challenge),
        );
        assert.equal(status, 503, "temporary: try again");
        assert.ok(html.includes(`<h1>Could not reach ${host}</h1>`), html);
        assert.ok(html.includes(`could not be fetched from ${host}: `), html);
        assert.match(html, reason);
        assert.doesNotMatch(html, /not registered|add it again/);
        const token = await postForm(app, "/token", {
          grant_type: "refresh_token",
          refresh_token: "x".repeat(43),
          client_id: clientId,
        });
        // The publisher has not spoken: "try again", never invalid_client ("start over").
        assert.equal(token.status, 503);
        assert.equal((await token.json()).error, "temporarily_unavailable");
        assert.equal(await snapshot(store), before, "nothing stored");
      });
    }
  } finally {
    await app.close();
    await doc.close();
  }
});

Deno.test("with clientMetadataDocuments off, documents are not advertised and URL client_ids get a page saying so", async (t) => {
  const doc = await documentHost(challenge);
  doc.peer.answer = serveDocument(doc.clientId);
  const { app } = testServer({ clientMetadataDocuments: false, insecureClientMetadata: true });
  try {
    await t.step(
      "the metadata no longer advertises client_id_metadata_document_supported",
      async () => {
        const res = await app.fetch(
          new Request(`${BASE_URL}/.well-known/oauth-authorization-server`),
        );
        const meta = await res.json();
        assert.equal("client_id_metadata_document_supported" in meta, false);
        assert.equal(meta.registration_endpoint, `${BASE_URL}/register`);
      },
    );

    await t.step(
      "a URL client_id gets a page that says why, and its host is not asked",
      async () => {
        for (
          const clientId of [doc.clientId, "https://claude.ai/oauth/mcp-oauth-client-metadata"]
        ) {
          const client = { clientId, redirectUris: [CLAUDE_REDIRECT] };
          const { status, html } = await page(
            app,
            authorizeUrl(client, (await pkcePair()).challenge),
          );
          assert.equal(status, 400);
          assert.match(html, /App not accepted/);
          assert.match(html, /set not to accept metadata documents/);
          const token = await postForm(app, "/token", {
            grant_type: "refresh_token",
            refresh_token: "x".repeat(43),
            client_id: clientId,
          });
          assert.equal(token.status, 401);
          await token.body?.cancel();
        }
        assert.equal(doc.peer.requests, 0);
      },
    );

    await t.step("registering still works, and so does its flow", async () => {
      const client = await registerClient(app);
      const tokens = await tokensFor(app, client);
      assert.equal(await mcpStatus(app, tokens.access_token), 200);
    });
  } finally {
    await app.close();
    await doc.close();
  }
});
