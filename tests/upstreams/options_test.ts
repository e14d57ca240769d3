/**
 * The `servers` option: read once at creation, refused clearly where stdio servers
 * cannot run (createPersonalMcp() alone, Deno Deploy), HTTP servers accepted there, and
 * the upstreams stopped with the server.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { createPersonalMcp } from "../../server/create.ts";
import { servePersonalMcp } from "../../runtime/serve.ts";
import { BASE_URL, PASSWORD } from "../fixtures.ts";

Deno.test("createPersonalMcp() alone refuses stdio servers and names them", () => {
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        servers: {
          mcpServers: { memory: { command: "npx" }, lab: { url: "http://127.0.0.1:9/mcp" } },
        },
      }),
    (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.equal(
        error.message,
        'servers: "memory" is a stdio server, which createPersonalMcp() cannot start (it ' +
          "starts no process: serve with servePersonalMcp() or the command line; Deno Deploy " +
          'runs none); HTTP servers ("url") work everywhere',
      );
      return true;
    },
  );
});

Deno.test("a mistake in the servers option is a TypeError naming the server and key", () => {
  assert.throws(
    () =>
      createPersonalMcp({}, {
        baseUrl: BASE_URL,
        password: PASSWORD,
        servers: { lab: { url: "http://127.0.0.1:9/mcp", headers: { A: "${NOPE_NOT_SET}" } } },
      }),
    {
      name: "TypeError",
      message: 'servers: server "lab": "headers.A" uses ${NOPE_NOT_SET}, which is not set',
    },
  );
});

Deno.test("HTTP servers are taken everywhere, shown to the owner, and stopped with the server", async () => {
  const app = createPersonalMcp({}, {
    baseUrl: BASE_URL,
    password: PASSWORD,
    servers: { lab: { url: "http://127.0.0.1:9/mcp", timeoutMs: 1000 } },
  });
  const [lab] = app.owner.listServers();
  assert.equal(lab?.name, "lab");
  assert.equal(lab?.type, "http");
  assert.ok(["starting", "restarting"].includes(lab!.state), lab!.state);
  await app.close();
  assert.equal(app.owner.listServers()[0]?.state, "stopped");
});

Deno.test("on Deno Deploy, servePersonalMcp() refuses stdio servers at start, clearly", async () => {
  process.env.DENO_DEPLOYMENT_ID = "test-deployment";
  try {
    await assert.rejects(
      servePersonalMcp({}, {
        store: "memory",
        port: 0,
        banner: false,
        password: PASSWORD,
        servers: { mcpServers: { files: { command: "npx", args: ["-y", "x"] } } },
      }),
      {
        name: "TypeError",
        message: 'servers: "files" is a stdio server, which Deno Deploy cannot start (it runs no ' +
          'processes); HTTP servers ("url") work everywhere',
      },
    );
  } finally {
    delete process.env.DENO_DEPLOYMENT_ID;
  }
});

Deno.test("servePersonalMcp() with servers on a memory store starts without a state folder", async () => {
  const { mkdtemp, readdir, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(`${tmpdir()}/pmcp-memory-serve-`);
  const stateDir = `${dir}/never-created`;
  const server = await servePersonalMcp({}, {
    store: "memory",
    stateDir,
    port: 0,
    banner: false,
    password: PASSWORD,
    servers: { lab: { url: "http://127.0.0.1:9/mcp", timeoutMs: 1000 } },
  });
  try {
    assert.equal(server.app.owner.listServers()[0]?.name, "lab");
    assert.deepEqual(await readdir(dir), [], "nothing written for a memory store");
  } finally {
    await server.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});
