/**
 * Two servers on one store that says it is shared (as servers on one Deno KV, or Deno
 * Deploy's isolates, are): a session opened on one is answered by the other with the
 * client's capabilities, the client's answer to an elicitation reaches the server that
 * asked wherever it was posted, a session ended or a grant revoked on one closes what
 * the other holds of it, and the password throttle and registration limit count for
 * both. On a store only one process writes, the counts stay in memory.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { FREE_FAILURES, REGISTRATIONS_PER_MINUTE } from "../../auth/limits/throttle.ts";
import { createPersonalMcp, type PersonalMcp } from "../../server/create.ts";
import { createMemoryStore } from "../../store/memory.ts";
import type { Store } from "../../store/store.ts";
import { NO_STREAM_MESSAGE } from "../../transport/mcp/relay.ts";
import { tool } from "../../transport/tools.ts";
import {
  authorizeUrl,
  BASE_URL,
  clientCredentials,
  countUnder,
  initializeRequest,
  MCP_URL,
  mcpPost,
  mcpStatus,
  openConsent,
  PASSWORD,
  postConsent,
  postForm,
  readUntil,
  registerClient,
  tokensFor,
} from "../fixtures.ts";

/** A memory store that says it is shared, as a Deno KV store does. */
function sharedStore(): Store {
  return { ...createMemoryStore(), shared: true };
}

/** A server with tools that ask the client, on `store`. */
function server(store: Store): PersonalMcp {
  return createPersonalMcp({
    hello: tool({
      description: "Say hello",
      input: { name: z.string() },
      run: ({ name }) => `Hello, ${name}!`,
    }),
    ask: tool({
      description: "Asks the client for a name, on the tool call's stream",
      run: async (_args, ctx) => {
        const answer = await ctx.mcpReq.elicitInput({
          mode: "form",
          message: "Your name?",
          requestedSchema: { type: "object", properties: { name: { type: "string" } } },
        }, { relatedRequestId: ctx.mcpReq.id });
        return `answered ${answer.action} ${JSON.stringify(answer.content ?? {})}`;
      },
    }),
    ask_unrelated: tool({
      description: "Asks the client on no stream in particular",
      run: async (_args, ctx) => {
        try {
          await ctx.mcpReq.elicitInput({
            mode: "form",
            message: "Your name?",
            requestedSchema: { type: "object", properties: { name: { type: "string" } } },
          });
          return "answered";
        } catch (error) {
          return `refused: ${(error as Error).message}`;
        }
      },
    }),
  }, { baseUrl: BASE_URL, password: PASSWORD, store });
}

const INITIALIZE = initializeRequest("two-servers", { elicitation: { form: {} } });

/** Opens a session on `app`; returns the headers of later requests in it. */
async function openSession(app: PersonalMcp, token: string): Promise<Record<string, string>> {
  const init = await mcpPost(app, INITIALIZE, { authorization: `Bearer ${token}` });
  assert.equal(init.status, 200);
  await init.body?.cancel();
  const headers = {
    authorization: `Bearer ${token}`,
    "mcp-session-id": init.headers.get("mcp-session-id")!,
    "mcp-protocol-version": "2025-06-18",
  };
  const ack = await mcpPost(app, { jsonrpc: "2.0", method: "notifications/initialized" }, headers);
  await ack.body?.cancel();
  return headers;
}

/** The standalone GET stream of a session on `app`. */
async function standalone(app: PersonalMcp, headers: Record<string, string>) {
  const get = await app.fetch(
    new Request(MCP_URL, { headers: { ...headers, accept: "text/event-stream" } }),
  );
  assert.equal(get.status, 200);
  return get.body!.getReader();
}

/** Bound of every wait below: a bound on waiting, not a timing claim. */
const BOUND_MS = 5000;

/** Resolves "ended" when the stream ends, "open" when it has not within the bound. */
async function outcome(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = new Promise<string>((
    resolve,
  ) => (timer = setTimeout(() => resolve("open"), BOUND_MS)));
  const ended = (async () => {
    try {
      while (!(await reader.read()).done) { /* keep-alives */ }
    } catch { /* an error ends it too */ }
    return "ended";
  })();
  try {
    return await Promise.race([ended, open]);
  } finally {
    clearTimeout(timer);
    if ((await Promise.race([ended, Promise.resolve("open")])) === "open") {
      await reader.cancel().catch(() => {});
    }
  }
}

async function twoServers() {
  const store = sharedStore();
  const a = server(store);
  const b = server(store);
  const client = await registerClient(a);
  const tokens = await tokensFor(a, client);
  return { store, a, b, client, tokens };
}

Deno.test("a session opened on one server is answered by another sharing the store, capabilities and all", async () => {
  const { a, b, tokens } = await twoServers();
  try {
    const headers = await openSession(a, tokens.access_token);
    // On b, the session is built again from its record: the SDK knows the client can
    // answer an elicitation, and asks it on the tool call's stream.
    const call = await mcpPost(b, {
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "ask", arguments: {} },
    }, headers);
    assert.equal(call.status, 200);
    assert.equal(call.headers.get("mcp-session-id"), headers["mcp-session-id"]);
    const reader = call.body!.getReader();
    const asked = await readUntil(reader, /elicitation\/create/);
    const request = JSON.parse(
      asked.split("\n").find((l) => l.startsWith("data:") && l.includes("elicitation"))!.slice(5),
    );
    // The client answers with a new POST, which reaches a; it goes on to b.
    const answer = await mcpPost(a, {
      jsonrpc: "2.0",
      id: request.id,
      result: { action: "accept", content: { name: "Ada" } },
    }, headers);
    assert.equal(answer.status, 202);
    await answer.body?.cancel();
    assert.match(await readUntil(reader, /"result"/), /answered accept \{\\"name\\":\\"Ada\\"\}/);
    await reader.cancel();
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a session the client ended on one server is closed on the other", async () => {
  const { a, b, tokens } = await twoServers();
  try {
    const headers = await openSession(a, tokens.access_token);
    const stream = await standalone(b, headers);
    const end = await a.fetch(new Request(MCP_URL, { method: "DELETE", headers }));
    assert.equal(end.status, 200);
    await end.body?.cancel();
    assert.equal(await outcome(stream), "ended");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a grant revoked on one server loses its token and its session stream on the other at once", async () => {
  const { a, b, client, tokens } = await twoServers();
  try {
    const headers = await openSession(a, tokens.access_token);
    assert.equal(await mcpStatus(b, tokens.access_token), 200, "b indexes the token");
    const stream = await standalone(b, headers);
    const res = await postForm(a, "/revoke", {
      ...clientCredentials(client),
      token: tokens.refresh_token,
    });
    assert.equal(res.status, 200);
    assert.equal(await outcome(stream), "ended", "b ends the grant's stream");
    // The store can be watched: no poll interval to wait for.
    assert.equal(await mcpStatus(b, tokens.access_token), 401);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("password failures on one server count on the other when they share the store", async () => {
  const { a, b, client } = await twoServers();
  try {
    const address = "198.51.100.40";
    const page = await openConsent(a, authorizeUrl(client, "x".repeat(43)));
    for (let i = 0; i < FREE_FAILURES; i++) {
      const res = await postConsent(i % 2 ? a : b, page, {
        password: "wrong",
        remoteAddress: address,
      });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    const next = await postConsent(b, page, { password: "wrong", remoteAddress: address });
    assert.equal(next.status, 429, "the sixth guess waits, whichever server gets it");
    await next.body?.cancel();
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("registrations on two servers sharing the store count against one limit", async () => {
  const { a, b } = await twoServers();
  try {
    const register = (app: PersonalMcp) =>
      app.fetch(
        new Request(`${BASE_URL}/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            client_name: "burst",
            redirect_uris: ["http://127.0.0.1:53682/callback"],
            token_endpoint_auth_method: "none",
          }),
        }),
        { remoteAddress: "198.51.100.41" },
      );
    const statuses: number[] = [];
    for (let i = 0; i < REGISTRATIONS_PER_MINUTE + 2; i++) {
      const res = await register(i % 2 ? a : b);
      statuses.push(res.status);
      await res.body?.cancel();
    }
    assert.equal(statuses.filter((s) => s === 201).length, REGISTRATIONS_PER_MINUTE);
    assert.deepEqual(statuses.slice(-2), [429, 429]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("on a store no other process writes, the limits count in memory", async () => {
  const store = createMemoryStore();
  const app = server(store);
  try {
    const client = await registerClient(app);
    const page = await openConsent(app, authorizeUrl(client, "x".repeat(43)));
    const res = await postConsent(app, page, { password: "wrong" });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    assert.equal(await countUnder(store, "limit"), 0, "no count written to the store");
    assert.equal(await countUnder(store, "mcp_session"), 0);
  } finally {
    await app.close();
  }
});

Deno.test("a server request tied to no client request, with no stream open here, fails at once and says why", async () => {
  const app = server(createMemoryStore());
  try {
    const client = await registerClient(app);
    const tokens = await tokensFor(app, client);
    const headers = await openSession(app, tokens.access_token);
    const call = mcpPost(app, {
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "ask_unrelated", arguments: {} },
    }, headers);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the tool still waits")), BOUND_MS);
    });
    try {
      const res = await Promise.race([call, bound]);
      const text = await Promise.race([res.text(), bound]);
      assert.ok(text.includes("refused: "), text);
      assert.ok(text.includes(NO_STREAM_MESSAGE.slice(0, 40)), text);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await app.close();
  }
});
