/**
 * One live upstream (transport/upstreams/upstream.ts) against the real reference server
 * `server-everything` over stdio and over HTTP, and against misbehaving servers of our
 * own (tests/upstreams/fault_server.mjs): start, kill -9 mid-call, restart with backoff,
 * a server that never answers beside one that does, garbage, a huge line, a server that
 * exits at start, and stop. Node APIs only, so tests/upstreams/bun_test.ts runs this
 * file under Bun too.
 */
import assert from "node:assert/strict";
import process from "node:process";
import type { PersonalMcpEvent } from "../../core/config.ts";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { parseServers, type UpstreamConfig } from "../../transport/upstreams/config.ts";
import {
  createUpstream,
  startUpstreams,
  type Upstream,
  upstreamError,
  UpstreamUnavailableError,
} from "../../transport/upstreams/upstream.ts";
import { freePort, ROOT, spawnChild, waitForListener } from "../fixtures.ts";

const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const FAULT = `${ROOT}tests/upstreams/fault_server.mjs`;
/** Quick restarts, so that a test sees several within seconds. */
const BACKOFF = { initialMs: 100, maxMs: 400, healthyMs: 60_000 };

function config(name: string, entry: Record<string, unknown>): UpstreamConfig {
  return parseServers({ mcpServers: { [name]: entry } }, "test", {})[0]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Calls a tool as the relay does: the configured timeout, restarted by progress. The
 * SDK asks for progress only with an `onprogress`: without one, nothing resets it.
 */
async function call(upstream: Upstream, name: string, args: Record<string, unknown> = {}) {
  try {
    return await upstream.client().callTool({ name, arguments: args }, {
      timeout: upstream.config.timeoutMs,
      resetTimeoutOnProgress: true,
      onprogress: () => {},
    });
  } catch (error) {
    throw upstreamError(upstream, error);
  }
}

function textOf(result: unknown): string {
  return (result as { content: Array<{ text?: string }> }).content.map((c) => c.text).join("");
}

async function waitForState(upstream: Upstream, state: string, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (upstream.status().state !== state) {
    if (Date.now() > end) {
      throw new Error(`still ${JSON.stringify(upstream.status())} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a stdio upstream: start, kill -9 mid-call, restart, stop", async () => {
  const events: PersonalMcpEvent[] = [];
  const upstream = createUpstream(
    config("everything", { command: "node", args: [EVERYTHING, "stdio"], timeoutMs: 20_000 }),
    { spawn: createStdioSpawner(), backoff: BACKOFF, onEvent: (e) => events.push(e) },
  );
  let pids: number[] = [];
  try {
    assert.equal(upstream.status().state, "starting");
    assert.throws(() => upstream.client(), UpstreamUnavailableError);
    await upstream.ready();
    const first = upstream.status();
    assert.equal(first.state, "running");
    assert.ok(first.pid && alive(first.pid));
    assert.ok(first.tools >= 5, `${first.tools} tools`);
    pids.push(first.pid!);
    assert.equal(textOf(await call(upstream, "echo", { message: "hi" })), "Echo: hi");
    for (let i = 0; i < 3; i++) {
      // The last progress and the result often share one chunk: neither may be lost.
      const progress: number[] = [];
      await upstream.client().callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 0.2, steps: 4 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      assert.deepEqual(progress, [1, 2, 3, 4]);
    }

    const slow = call(upstream, "trigger-long-running-operation", { duration: 10, steps: 5 });
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(first.pid!, "SIGKILL");
    const error = await slow.then(() => undefined, (e) => e);
    assert.ok(Date.now() - killedAt < 1000, `the call failed ${Date.now() - killedAt} ms later`);
    assert.ok(error instanceof UpstreamUnavailableError, String(error));
    assert.match(error.message, /^upstream server "everything" is (restarting|starting)/);
    assert.match(error.message, /SIGKILL/);

    await waitForState(upstream, "running", 15_000);
    const second = upstream.status();
    assert.equal(second.restarts, 1);
    assert.notEqual(second.pid, first.pid);
    pids.push(second.pid!);
    assert.equal(textOf(await call(upstream, "echo", { message: "again" })), "Echo: again");
    assert.deepEqual(
      events.filter((e) => e.type === "upstream_state").map((e) => (e as { state: string }).state),
      ["running", "restarting", "starting", "running"],
    );
  } finally {
    await upstream.stop();
  }
  assert.equal(upstream.status().state, "stopped");
  assert.ok(!pids.some(alive), "every process it started is gone");
  pids = [];
  await assert.rejects(upstream.ready(), /"everything" is stopped/);
});

Deno.test("an upstream that never answers times out while another answers meanwhile", async () => {
  const { upstreams, stop } = startUpstreams([
    config("stuck", { command: "node", args: [FAULT, "hang"], timeoutMs: 1500 }),
    config("everything", { command: "node", args: [EVERYTHING, "stdio"] }),
  ], { spawn: createStdioSpawner(), backoff: BACKOFF });
  const [stuck, everything] = upstreams as [Upstream, Upstream];
  try {
    await Promise.all([stuck.ready(), everything.ready()]);
    const started = Date.now();
    const hanging = call(stuck, "poke").then(() => undefined, (e) => e);
    const echoes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      assert.equal(textOf(await call(everything, "echo", { message: `${i}` })), `Echo: ${i}`);
      echoes.push(Date.now() - t);
    }
    const error = await hanging;
    const waited = Date.now() - started;
    assert.ok(error instanceof UpstreamUnavailableError, String(error));
    assert.equal(error.message, 'upstream server "stuck" is running: no answer within 1500 ms');
    assert.ok(waited >= 1400 && waited < 4000, `timed out after ${waited} ms`);
    assert.ok(Math.max(...echoes) < 1000, `echo took ${echoes} ms meanwhile`);
    assert.equal(stuck.status().state, "running", "a slow answer is not a broken connection");
  } finally {
    await stop();
  }
});

Deno.test("garbage or a line over the bound breaks that connection with a clear error", async (t) => {
  for (
    const [mode, expected] of [
      ["garbage", /sent a line that is not JSON-RPC: "this is not JSON-RPC"/],
      ["huge", /sent a message over 16777216 bytes/],
    ] as const
  ) {
    await t.step(mode, async () => {
      const upstream = createUpstream(
        config(mode, { command: "node", args: [FAULT, mode], timeoutMs: 10_000 }),
        { spawn: createStdioSpawner(), backoff: { ...BACKOFF, initialMs: 2000 } },
      );
      try {
        await upstream.ready();
        const pid = upstream.status().pid!;
        const started = Date.now();
        const error = await call(upstream, "poke").then(() => undefined, (e) => e);
        assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms`);
        assert.ok(error instanceof UpstreamUnavailableError, String(error));
        assert.match(error.message, new RegExp(`^upstream server "${mode}" is restarting`));
        assert.match(error.message, expected);
        assert.match(upstream.status().lastError ?? "", expected);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(alive(pid), false, "the broken process was stopped");
      } finally {
        await upstream.stop();
      }
    });
  }
});

Deno.test("a server that exits at start is retried with backoff and reads failed", async () => {
  const states: string[] = [];
  const upstream = createUpstream(
    config("broken", { command: "node", args: [FAULT, "exit"], timeoutMs: 3000 }),
    { spawn: createStdioSpawner(), backoff: BACKOFF },
  );
  upstream.onStateChange((s) => states.push(s.state));
  try {
    const error = await upstream.ready().then(() => undefined, (e) => e);
    assert.ok(error instanceof UpstreamUnavailableError, String(error));
    assert.match(error.message, /^upstream server "broken" is (failed|starting|restarting)/);
    await waitForState(upstream, "failed", 10_000);
    const status = upstream.status();
    assert.ok(status.restarts >= 2, `${status.restarts} restarts`);
    assert.match(status.lastError ?? "", /exited with code 3|Connection closed/);
    assert.ok(status.stderr.includes("fault_server: exiting at start on purpose"));
    assert.equal(status.pid, undefined);
    assert.deepEqual(states.slice(0, 4), ["restarting", "starting", "restarting", "starting"]);
  } finally {
    await upstream.stop();
  }
});

Deno.test("without a spawner (Deno Deploy) a stdio upstream fails at once, clearly", async () => {
  const upstream = createUpstream(config("memory", { command: "npx" }), {});
  await assert.rejects(
    upstream.ready(),
    /"memory" is failed: stdio servers cannot be started here/,
  );
  await upstream.stop();
});

Deno.test("an HTTP upstream: connect, lose the server, reconnect when it is back", async () => {
  const port = await freePort();
  const startEverything = async () => {
    const child = spawnChild("node", [EVERYTHING, "streamableHttp"], {
      env: { PORT: String(port) },
      group: true,
    });
    await waitForListener(port, 15_000);
    return child;
  };
  let server = await startEverything();
  const upstream = createUpstream(
    config("lab", { type: "http", url: `http://127.0.0.1:${port}/mcp`, timeoutMs: 5000 }),
    { backoff: BACKOFF },
  );
  try {
    await upstream.ready();
    assert.equal(upstream.status().type, "http");
    assert.ok(upstream.status().tools >= 5);
    assert.equal(textOf(await call(upstream, "echo", { message: "http" })), "Echo: http");
    await server.stop();
    const error = await call(upstream, "echo", { message: "gone" }).then(() => undefined, (e) => e);
    assert.ok(error instanceof UpstreamUnavailableError, String(error));
    assert.match(
      error.message,
      /^upstream server "lab" is \w+: .*(fetch failed|ECONNRESET|ECONNREFUSED)/,
    );
    await waitForState(upstream, "restarting", 5000);
    assert.match(upstream.status().lastError ?? "", /fetch failed|ECONNRESET|ECONNREFUSED/);
    server = await startEverything();
    await waitForState(upstream, "running", 15_000);
    assert.equal(textOf(await call(upstream, "echo", { message: "back" })), "Echo: back");
  } finally {
    await upstream.stop();
    await server.stop();
  }
});

Deno.test("stop() during the start stops the process just spawned, before it resolves", async () => {
  const spawn = createStdioSpawner();
  const children: Array<ReturnType<typeof spawn>> = [];
  const upstream = createUpstream(
    config("everything", { command: "node", args: [EVERYTHING, "stdio"] }),
    {
      spawn: (target) => {
        const child = spawn(target);
        children.push(child);
        return child;
      },
    },
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(upstream.status().state, "starting");
  await upstream.stop();
  assert.equal(children.length, 1);
  const pid = children[0]!.pid!;
  assert.equal(alive(pid), false, "the process spawned during the start is gone");
  assert.equal(upstream.status().state, "stopped");
});

Deno.test("an HTTP upstream restarted between two calls (its session lost) is reconnected", async () => {
  const port = await freePort();
  const startEverything = async () => {
    const child = spawnChild("node", [EVERYTHING, "streamableHttp"], {
      env: { PORT: String(port) },
      group: true,
    });
    await waitForListener(port, 15_000);
    return child;
  };
  let server = await startEverything();
  const upstream = createUpstream(
    config("lab", { type: "http", url: `http://127.0.0.1:${port}/mcp`, timeoutMs: 5000 }),
    { backoff: BACKOFF },
  );
  try {
    await upstream.ready();
    await server.stop();
    server = await startEverything();
    // Whichever it notices first (its event stream breaking, or the new server refusing
    // the old session), the call in between errs naming the server, never hangs.
    const error = await call(upstream, "echo", { message: "old session" }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof UpstreamUnavailableError, String(error));
    assert.match(
      error.message,
      /^upstream server "lab" is \w+: .*(lost our session|No valid session ID|fetch failed|ECONNREFUSED|ECONNRESET)/,
    );
    await waitForState(upstream, "running", 10_000);
    assert.equal(textOf(await call(upstream, "echo", { message: "new" })), "Echo: new");
    assert.ok(upstream.status().restarts >= 1, "a new connection (and session) was made");
  } finally {
    await upstream.stop();
    await server.stop();
  }
});

Deno.test("an upstream of the 2024-11-05 HTTP+SSE transport (type sse) is served", async () => {
  const port = await freePort();
  const server = spawnChild("node", [EVERYTHING, "sse"], {
    env: { PORT: String(port) },
    group: true,
  });
  const upstream = createUpstream(
    config("old", { type: "sse", url: `http://127.0.0.1:${port}/sse`, timeoutMs: 5000 }),
    { backoff: BACKOFF },
  );
  try {
    await waitForListener(port, 15_000);
    await upstream.ready();
    assert.equal(upstream.status().type, "sse");
    assert.ok(upstream.status().tools >= 5);
    assert.equal(textOf(await call(upstream, "echo", { message: "sse" })), "Echo: sse");
  } finally {
    await upstream.stop();
    await server.stop();
  }
});

Deno.test("progress restarts timeoutMs: a call longer than it, with progress, succeeds", async () => {
  const upstream = createUpstream(
    config("everything", { command: "node", args: [EVERYTHING, "stdio"], timeoutMs: 1500 }),
    { spawn: createStdioSpawner(), backoff: BACKOFF },
  );
  try {
    await upstream.ready();
    const started = Date.now();
    const result = await call(upstream, "trigger-long-running-operation", {
      duration: 3,
      steps: 6,
    });
    assert.ok(Date.now() - started >= 2500, "it ran past timeoutMs");
    assert.match(textOf(result), /Long running operation completed/);
  } finally {
    await upstream.stop();
  }
});

Deno.test("server-memory over stdio: its env reaches it, and its writes land in its file", async () => {
  const { mkdtemp, readFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(`${tmpdir()}/pmcp-memory-`);
  const upstream = createUpstream(
    config("memory", {
      command: "node",
      args: [`${ROOT}node_modules/@modelcontextprotocol/server-memory/dist/index.js`],
      env: { MEMORY_FILE_PATH: `${dir}/memory.jsonl` },
    }),
    { spawn: createStdioSpawner(), backoff: BACKOFF },
  );
  try {
    await upstream.ready();
    await call(upstream, "create_entities", {
      entities: [{ name: "Ada", entityType: "person", observations: ["wrote the first program"] }],
    });
    const file = await readFile(`${dir}/memory.jsonl`, "utf8");
    assert.match(file, /"name":"Ada"/);
  } finally {
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("an HTTP upstream gets the configured headers (${VAR} from the environment), and a refusal is its error", async () => {
  const { createServer, request } = await import("node:http");
  const port = await freePort();
  const everything = spawnChild("node", [EVERYTHING, "streamableHttp"], {
    env: { PORT: String(port) },
    group: true,
  });
  // A gate in front of it, as a home server behind a token would be.
  const seen: Array<string | undefined> = [];
  const gate = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== "Bearer lab-secret") {
      res.writeHead(401, { "content-type": "text/plain" }).end("no");
      return;
    }
    const upstream = request(
      { host: "127.0.0.1", port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => gate.listen(0, "127.0.0.1", resolve));
  const gatePort = (gate.address() as { port: number }).port;
  const entry = (token: string) => ({
    url: `http://127.0.0.1:${gatePort}/mcp`,
    headers: { Authorization: `Bearer \${${token}}` },
    timeoutMs: 5000,
  });
  const env = { LAB_TOKEN: "lab-secret", WRONG_TOKEN: "guess" };
  await waitForListener(port, 15_000);
  const [good, bad] = parseServers(
    { mcpServers: { good: entry("LAB_TOKEN"), bad: entry("WRONG_TOKEN") } },
    "t",
    env,
  )
    .map((c) => createUpstream(c, { backoff: BACKOFF }));
  try {
    await good!.ready();
    assert.equal(
      textOf(await call(good!, "echo", { message: "behind a gate" })),
      "Echo: behind a gate",
    );
    await waitForState(bad!, "failed", 10_000);
    assert.equal(bad!.status().lastError, "HTTP 401: Error POSTing to endpoint: no");
    assert.ok(seen.includes("Bearer guess") && seen.includes("Bearer lab-secret"));
  } finally {
    await good!.stop();
    await bad!.stop();
    const closed = new Promise((resolve) => gate.close(resolve));
    gate.closeAllConnections();
    await closed;
    await everything.stop();
  }
});

Deno.test("the backoff doubles while an upstream keeps dying, and starts over after a healthy run", async () => {
  const gaps: number[] = [];
  let downAt = 0;
  const upstream = createUpstream(
    config("everything", { command: "node", args: [EVERYTHING, "stdio"] }),
    {
      spawn: createStdioSpawner(),
      backoff: { initialMs: 600, maxMs: 10_000, healthyMs: 1500 },
    },
  );
  upstream.onStateChange((s) => {
    if (s.state === "restarting") downAt = Date.now();
    if (s.state === "starting") gaps.push(Date.now() - downAt);
  });
  try {
    for (const healthyFor of [0, 0, 1700]) {
      await waitForState(upstream, "running", 15_000);
      await new Promise((r) => setTimeout(r, healthyFor));
      process.kill(upstream.status().pid!, "SIGKILL");
      await waitForState(upstream, "starting", 15_000);
    }
    const [first, second, afterHealth] = gaps as [number, number, number];
    assert.ok(first >= 550 && first < 1100, `first wait ${first} ms`);
    assert.ok(second >= 1150 && second < 1800, `doubled: ${second} ms`);
    assert.ok(afterHealth >= 550 && afterHealth < 1100, `after a healthy run: ${afterHealth} ms`);
  } finally {
    await upstream.stop();
  }
});

Deno.test("an HTTP upstream's answer over maxMessageBytes (JSON or one SSE event) is cut off with a clear error", async () => {
  const { createServer } = await import("node:http");
  const BIG = "a".repeat(2 * 1024 * 1024);
  // A small streamable-HTTP MCP server (sessionless) whose tools answer too much.
  const server = createServer((req, res) => {
    if (req.method !== "POST") return void res.writeHead(405).end();
    let body = "";
    req.on("data", (c) => body += c);
    req.on("end", () => {
      const message = JSON.parse(body);
      if (message.id === undefined) return void res.writeHead(202).end();
      const json = (result: unknown) => {
        const text = JSON.stringify({ jsonrpc: "2.0", id: message.id, result });
        res.writeHead(200, { "content-type": "application/json" }).end(text);
      };
      if (message.method === "initialize") {
        return json({
          protocolVersion: message.params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: "big", version: "1" },
        });
      }
      if (message.method === "tools/list") {
        return json({
          tools: ["json", "sse"].map((name) => ({ name, inputSchema: { type: "object" } })),
        });
      }
      if (message.method === "tools/call" && message.params.name === "json") {
        return json({ content: [{ type: "text", text: BIG }] });
      }
      if (message.method === "tools/call") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("event: message\ndata: ");
        // One event that never ends, in pieces (no content-length to look at).
        const piece = "b".repeat(64 * 1024);
        let sent = 0;
        const more = () => {
          while (sent < 4 * 1024 * 1024) {
            sent += piece.length;
            if (!res.write(piece)) return void res.once("drain", more);
          }
          res.end("\n\n");
        };
        res.on("error", () => {});
        return more();
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
        jsonrpc: "2.0",
        id: message.id,
        error: { code: -32601, message: "Method not found" },
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const upstream = createUpstream(
    config("big", {
      url: `http://127.0.0.1:${port}/mcp`,
      maxMessageBytes: 1024 * 1024,
      timeoutMs: 10_000,
    }),
    { backoff: BACKOFF },
  );
  try {
    for (const tool of ["json", "sse"]) {
      await waitForState(upstream, "running", 10_000);
      const error = await call(upstream, tool).then(() => undefined, (e) => e);
      assert.ok(error instanceof UpstreamUnavailableError, `${tool}: ${error}`);
      assert.match(
        error.message,
        /^upstream server "big" is \w+: .*sent a message over 1048576 bytes \(its maxMessageBytes\)/,
      );
    }
  } finally {
    await upstream.stop();
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
});

Deno.test("stop() does not wait out an HTTP upstream that never answers its initialize", async () => {
  const { createServer } = await import("node:http");
  const server = createServer(() => {/* never answers */});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const upstream = createUpstream(
    config("mute", { url: `http://127.0.0.1:${port}/mcp`, timeoutMs: 60_000 }),
    { backoff: BACKOFF },
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(upstream.status().state, "starting");
    const started = Date.now();
    await upstream.stop();
    assert.ok(Date.now() - started < 2000, `stop took ${Date.now() - started} ms`);
    assert.equal(upstream.status().state, "stopped");
  } finally {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
});
