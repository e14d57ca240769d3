/**
 * Nobody can take the server down, tried against real server processes under Deno and
 * Bun: a flood of idle connections under a small descriptor limit, connections that
 * never finish their headers or sit idle, bodies that stall, and a start that fails.
 */
import assert from "node:assert/strict";
import {
  BUN_BIN,
  DENO_BIN,
  holdSockets,
  initializeRequest,
  obtainTokens,
  PASSWORD,
  rawExchange,
  RUNTIMES,
  type ServerProcess,
  spawnChild,
  startScript,
} from "../fixtures.ts";

/** A script that serves the demo tools on a free port with `options` and prints events. */
function serveScript(options: string): string {
  return `
    import { demoTools, servePersonalMcp } from "./mod.ts";
    const server = await servePersonalMcp(demoTools, {
      port: 0, store: "memory", password: ${JSON.stringify(PASSWORD)}, banner: false, ${options}
      onEvent: (e) => console.log("EVENT " + JSON.stringify({ ...e, error: String(e.error ?? "") })),
    });
    console.log("LISTENING " + server.port);
  `;
}

/** The status of the discovery document, retried until it answers or `timeoutMs` passes. */
async function answers(server: ServerProcess, timeoutMs: number): Promise<number | string> {
  const deadline = Date.now() + timeoutMs;
  let last: number | string = "no answer";
  while (Date.now() < deadline && server.child.exitCode === null) {
    try {
      const res = await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`, {
        signal: AbortSignal.timeout(3000),
      });
      await res.body?.cancel();
      if (res.ok) return res.status;
      last = res.status;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return server.child.exitCode === null ? last : `exited with ${server.child.exitCode}`;
}

/** Opens a 2025-era session and its standalone SSE stream; returns a reader of it. */
async function openStream(baseUrl: string, token: string) {
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  const init = await fetch(`${baseUrl}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify(initializeRequest("availability")),
  });
  await init.text();
  const session = init.headers.get("mcp-session-id");
  assert.ok(session, "initialize opened a session");
  const sessionHeaders = { ...headers, "mcp-session-id": session };
  const note = await fetch(`${baseUrl}/mcp`, {
    method: "POST",
    headers: sessionHeaders,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await note.body?.cancel();
  const stream = await fetch(`${baseUrl}/mcp`, {
    headers: { ...sessionHeaders, accept: "text/event-stream" },
  });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = stream.body!.getReader();
  const decoder = new TextDecoder();
  return {
    /** Reads until `text` has been received after this call; rejects after `timeoutMs`. */
    async waitFor(text: string, timeoutMs: number): Promise<void> {
      let seen = "";
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} on the stream`)), timeoutMs)
      );
      while (!seen.includes(text)) {
        const { done, value } = await Promise.race([reader.read(), timeout]);
        if (done) throw new Error("the stream ended");
        seen += decoder.decode(value);
      }
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

for (const runtime of RUNTIMES) {
  Deno.test(`under ulimit -n 256, 300 idle connections do not take the server down (${runtime})`, async () => {
    const server = await startScript(runtime, serveScript(""), { ulimit: 256 });
    try {
      const held = await holdSockets(server.port, 300);
      try {
        assert.equal(await answers(server, 60_000), 200, server.output());
        assert.equal(server.child.exitCode, null, "the process is still running");
      } finally {
        held.destroy();
      }
      assert.equal(await answers(server, 30_000), 200, server.output());
    } finally {
      await server.stop();
    }
  });

  Deno.test(`idle connections and unfinished headers are closed, an SSE stream stays open (${runtime})`, async () => {
    const server = await startScript(runtime, serveScript("sseKeepaliveSeconds: 1,"), {
      ulimit: 256,
    });
    try {
      const { accessToken } = await obtainTokens(server.baseUrl);
      const stream = await openStream(server.baseUrl, accessToken);
      try {
        // More than half the descriptors: idle, half a request head, a finished
        // request on a kept-alive connection.
        const idle = await holdSockets(server.port, 140);
        const head = await holdSockets(server.port, 1, "GET / HTTP/1.1\r\nHost: x\r\n");
        const kept = await holdSockets(server.port, 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        try {
          await Promise.all([
            idle.waitClosed(140, 60_000),
            head.waitClosed(1, 60_000),
            kept.waitClosed(1, 60_000),
          ]);
        } finally {
          idle.destroy();
          head.destroy();
          kept.destroy();
        }
        await stream.waitFor(": keepalive", 10_000);
        assert.equal(await answers(server, 10_000), 200);
      } finally {
        await stream.close();
      }
    } finally {
      await server.stop();
    }
  });

  Deno.test(`a stalled body is answered 408 (${runtime})`, async () => {
    const server = await startScript(
      runtime,
      serveScript("bodyTimeoutSeconds: 1, mcpBodyTimeoutSeconds: 2,"),
    );
    try {
      const { accessToken } = await obtainTokens(server.baseUrl);
      const stalled = (path: string, type: string, extra = "") =>
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\ncontent-type: ${type}\r\n` +
        `content-length: 100\r\n${extra}\r\n{`;
      const form = "application/x-www-form-urlencoded";
      const cases = [
        ["/register", stalled("/register", "application/json")],
        ["/token", stalled("/token", form)],
        ["/revoke", stalled("/revoke", form)],
        ["/authorize", stalled("/authorize", form)],
        ["/mcp", stalled("/mcp", "application/json", `authorization: Bearer ${accessToken}\r\n`)],
      ] as const;
      // Deno.serve 2.9 keeps a connection until its body ends, whatever the answer
      // says (it is reclaimed under descriptor pressure, test above): there the answer
      // is all there is to wait for.
      const untilClosed = runtime === "bun";
      const exchanges = await Promise.all(
        cases.map(([, text]) => rawExchange(server.port, text, 20_000, { untilClosed })),
      );
      for (const [i, [path]] of cases.entries()) {
        const { response, closed } = exchanges[i]!;
        assert.match(response, /^HTTP\/1\.1 408 /, `${path}: ${response.slice(0, 200)}`);
        assert.match(response, /\r\nconnection: close\r\n/i, path);
        if (untilClosed) assert.ok(closed, `${path}: the connection is closed`);
      }
      assert.equal(await answers(server, 10_000), 200);
    } finally {
      await server.stop();
    }
  });

  Deno.test(`a start that fails answers waiting requests 503 and rejects (${runtime})`, async () => {
    const script = `
      import { createMemoryStore, demoTools, servePersonalMcp } from "./mod.ts";
      import { createServer } from "node:net";
      import { existsSync, mkdtempSync } from "node:fs";
      import { tmpdir } from "node:os";
      import { join } from "node:path";
      const freePort = () => new Promise((resolve) => {
        const s = createServer();
        s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
      });
      const result = {};

      // A bad option is refused before a store is opened or a port bound.
      const blocker = createServer();
      await new Promise((r) => blocker.listen(0, "127.0.0.1", r));
      const stateDir = join(mkdtempSync(join(tmpdir(), "pmcp-start-")), "state");
      try {
        await servePersonalMcp(demoTools, {
          port: blocker.address().port, store: "file", stateDir, banner: false, scopes: [],
        });
        result.badOption = "started";
      } catch (error) {
        result.badOption = error.message;
      }
      result.stateDirCreated = existsSync(stateDir);
      blocker.close();

      // A failure once listening: the waiting request gets 503, the start rejects.
      const inner = createMemoryStore();
      let release;
      const gate = new Promise((r) => (release = r));
      const store = {
        get: async (key) => {
          if (key[0] === "owner") { await gate; throw new Error("disk on fire"); }
          return await inner.get(key);
        },
        list: (prefix) => inner.list(prefix),
        transact: (keys, plan) => inner.transact(keys, plan),
        write: (ops) => inner.write(ops),
        close: () => inner.close(),
      };
      const port = await freePort();
      const starting = servePersonalMcp(demoTools, { port, store, banner: false })
        .then(() => "started", (error) => "rejected: " + error.message);
      let waiting;
      for (let i = 0; i < 200 && !waiting; i++) {
        try {
          await new Promise((resolve, reject) => {
            const s = createServer().listen(port, "127.0.0.1", () => s.close(() => reject(new Error("free"))));
            s.on("error", resolve);
          });
          waiting = fetch("http://127.0.0.1:" + port + "/.well-known/oauth-authorization-server", {
            signal: AbortSignal.timeout(15000),
          }).then((res) => res.status, (error) => String(error));
        } catch { await new Promise((r) => setTimeout(r, 25)); }
      }
      await new Promise((r) => setTimeout(r, 300));
      release();
      result.start = await starting;
      result.waiting = await waiting;
      result.afterwards = await fetch("http://127.0.0.1:" + port + "/").then(
        (res) => res.status, () => "refused");
      console.log("RESULT " + JSON.stringify(result));
      process.exit(0);
    `;
    const [bin, args] = runtime === "deno"
      ? [DENO_BIN, ["eval", script]]
      : [BUN_BIN, ["-e", script]];
    const child = spawnChild(bin, args, { stdin: "ignore" });
    try {
      const [, json] = await child.waitFor(/RESULT (.*)/, 60_000);
      const result = JSON.parse(json!);
      assert.match(result.badOption, /"scopes"/, "the option's own error, not the busy port's");
      assert.equal(result.stateDirCreated, false, "nothing was set up for a bad option");
      assert.equal(result.start, "rejected: disk on fire");
      assert.equal(result.waiting, 503, "the request that came early is answered");
      assert.equal(result.afterwards, "refused", "nothing listens after a failed start");
    } finally {
      await child.stop();
    }
  });
}
