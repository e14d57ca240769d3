/**
 * A metadata-document client whose document host cannot be reached gets "try again"
 * (503 temporarily_unavailable, or a 503 page), never invalid_client: clients read
 * invalid_client as "register again", which cannot help. The document is served by a
 * real loopback HTTP server (the development flag admits loopback document hosts).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import {
  authorize,
  authorizeUrl,
  exchangeCode,
  LOOPBACK_REDIRECT,
  pkcePair,
  refreshWith,
  testServer,
  tokenSet,
} from "../fixtures.ts";

/** A document host whose answer the test switches: the document, or an error status. */
async function documentHost() {
  const state = { status: 200, requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}${req.url}`;
    if (state.status !== 200) {
      res.writeHead(state.status).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({
      client_id: url,
      client_name: "Document client",
      redirect_uris: [LOOPBACK_REDIRECT],
      token_endpoint_auth_method: "none",
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    state,
    url: (path = "client.json") => `http://127.0.0.1:${port}/${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

Deno.test("a document host's outage answers 'try again', never invalid_client", async (t) => {
  const host = await documentHost();
  const { app } = testServer({ insecureClientMetadata: true });
  try {
    const client = { clientId: host.url(), redirectUris: [LOOPBACK_REDIRECT] };
    const { code, verifier } = await authorize(app, client);
    const tokens = await tokenSet(await exchangeCode(app, client, code, verifier));
    // No copy of the document stands in (one approved before copies were kept, or whose
    // copy expired): client_documents_test.ts covers the client a copy keeps working.
    await app.store.write([{ op: "delete", key: ["client_metadata", client.clientId] }]);
    host.state.status = 503;

    await t.step("/token refresh answers 503 temporarily_unavailable", async () => {
      const res = await refreshWith(app, client, tokens.refresh_token);
      const body = await res.json();
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.error, "temporarily_unavailable");
      assert.ok(res.headers.get("retry-after"));
    });
    await t.step("/authorize shows a 503 page", async () => {
      const res = await app.fetch(
        new Request(authorizeUrl(client, (await pkcePair()).challenge)),
      );
      assert.equal(res.status, 503);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await res.text(), /try again/i);
    });
    await t.step("once the host is back, the same refresh token works", async () => {
      host.state.status = 200;
      // The failure is remembered for a minute; a new server instance has no memory of it.
      const fresh = testServer({ insecureClientMetadata: true, store: app.store });
      await tokenSet(await refreshWith(fresh.app, client, tokens.refresh_token));
      await fresh.app.close();
    });
  } finally {
    await app.close();
    await host.close();
  }
});

Deno.test("one address cannot make the server fetch documents without limit", async () => {
  const host = await documentHost();
  const { app } = testServer({ insecureClientMetadata: true });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const url = authorizeUrl(
        { clientId: host.url(`unknown-${i}.json`), redirectUris: [LOOPBACK_REDIRECT] },
        (await pkcePair()).challenge,
      );
      const res = await app.fetch(new Request(url), { remoteAddress: "203.0.113.7" });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    assert.equal(host.state.requests, 10, `fetches made: ${statuses.join(" ")}`);
    assert.deepEqual(statuses.slice(10), [503, 503, 503, 503, 503]);
    // Another address is not held back by the stranger's.
    const res = await app.fetch(
      new Request(
        authorizeUrl(
          { clientId: host.url("owner.json"), redirectUris: [LOOPBACK_REDIRECT] },
          (await pkcePair()).challenge,
        ),
      ),
      { remoteAddress: "198.51.100.1" },
    );
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await app.close();
    await host.close();
  }
});
