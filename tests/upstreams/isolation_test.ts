/**
 * Faults in upstreams never slow the server's own tools: with one upstream that never
 * answers (not even initialize), one that answers initialize and then nothing, and one
 * flooding stderr, the owner's own tool answers as fast as ever, through the whole
 * OAuth flow and `/mcp`.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createPersonalMcpOn } from "../../server/create.ts";
import { createStdioSpawner } from "../../runtime/stdio.ts";
import { createMemoryStore } from "../../store/memory.ts";
import { tool } from "../../transport/tools.ts";
import {
  BASE_URL,
  callHello,
  PASSWORD,
  registerClient,
  ROOT,
  rpcMessage,
  tokensFor,
} from "../fixtures.ts";

const FAULT = `${ROOT}tests/upstreams/fault_server.mjs`;

Deno.test("the owner's own tools answer at once while upstreams misbehave", async () => {
  const app = createPersonalMcpOn({
    hello: tool({
      description: "Say hello",
      input: { name: z.string() },
      run: ({ name }) => `Hello, ${name}!`,
    }),
  }, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    store: createMemoryStore(),
    servers: {
      silent: { command: "node", args: [FAULT, "silent"], timeoutMs: 30_000 },
      stuck: { command: "node", args: [FAULT, "hang"], timeoutMs: 30_000 },
      noisy: { command: "node", args: [FAULT, "noisy"] },
    },
  }, { spawn: createStdioSpawner(), env: {} });
  try {
    const client = await registerClient(app);
    const { access_token: accessToken } = await tokensFor(app, client);
    await new Promise((r) => setTimeout(r, 500));
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const message = await rpcMessage(await callHello(app, accessToken));
      times.push(performance.now() - started);
      assert.deepEqual(
        (message.result as { content: unknown[] }).content,
        [{ type: "text", text: "Hello, Ada!" }],
      );
    }
    times.sort((a, b) => a - b);
    assert.ok(times[times.length - 1]! < 500, `slowest own call ${times.at(-1)} ms`);
    const states = Object.fromEntries(app.owner.listServers().map((s) => [s.name, s.state]));
    assert.equal(states.silent, "starting", "still waiting for its initialize");
    assert.equal(states.stuck, "running");
  } finally {
    await app.close();
  }
});
