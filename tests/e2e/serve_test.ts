/**
 * servePersonalMcp(): real sockets in this process, the owner password set-up, the
 * refusals that protect a public server from development settings, and the handle's
 * runtime idioms (`await using`, `finished`, `addr`) in this process and in spawned
 * Deno and Bun processes.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createMemoryStore,
  demoTools,
  openFileStore,
  type ServeOptions,
  servePersonalMcp,
  type Store,
} from "../../mod.ts";
import { BUN_BIN, DENO_BIN, RUNTIMES, spawnChild } from "../fixtures.ts";

Deno.test("servePersonalMcp listens, answers discovery and shuts down", async () => {
  const server = await servePersonalMcp(demoTools, {
    port: 0,
    store: "memory",
    password: "serve-test-password",
    banner: false,
  });
  try {
    assert.equal(server.url, `http://127.0.0.1:${server.port}/mcp`);
    const res = await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`);
    assert.equal((await res.json()).issuer, server.baseUrl);
  } finally {
    await server.shutdown();
  }
  await assert.rejects(fetch(`${server.baseUrl}/`), "nothing listens after shutdown");
});

Deno.test("without a password, one is generated once, printed once, and only its hash is kept", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-serve-"));
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void printed.push(args.join(" "));
  try {
    const first = await servePersonalMcp(demoTools, { port: 0, store: "file", stateDir: dir });
    await first.shutdown();
    const password = /Owner password \(shown once, only its hash is stored\): (\S+)/.exec(
      printed.join("\n"),
    )?.[1];
    assert.ok(password && password.length >= 20, "a strong password was printed");
    const state = await readFile(join(dir, "state.jsonl"), "utf8");
    assert.ok(!state.includes(password), "the state file holds no raw password");
    assert.match(state, /PBKDF2-SHA-256/);
    printed.length = 0;
    const second = await servePersonalMcp(demoTools, { port: 0, store: "file", stateDir: dir });
    await second.shutdown();
    assert.ok(
      !printed.join("\n").includes("Owner password"),
      "not printed again on the next start",
    );
    const reset = await servePersonalMcp(demoTools, {
      port: 0,
      store: "file",
      stateDir: dir,
      resetPassword: true,
    });
    await reset.shutdown();
    const fresh = /Owner password \(shown once, only its hash is stored\): (\S+)/.exec(
      printed.join("\n"),
    )?.[1];
    assert.ok(fresh && fresh !== password, "--reset-password prints a new one");
  } finally {
    console.log = log;
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("the development-only metadata flag is refused unless listening on loopback", async () => {
  await assert.rejects(
    servePersonalMcp(demoTools, {
      port: 0,
      hostname: "0.0.0.0",
      store: "memory",
      password: "serve-test-password",
      insecureClientMetadata: true,
      banner: false,
    }),
    /insecureClientMetadata.*loopback/,
  );
});

Deno.test("a bad option is refused before anything listens", async () => {
  await assert.rejects(
    servePersonalMcp(demoTools, { port: 0, store: "memory", password: "short", banner: false }),
    /"password"/,
  );
  await assert.rejects(servePersonalMcp(demoTools, { port: 70000, store: "memory" }), /"port"/);
});

/** Whether anything answers HTTP at `url`. */
const answers = (url: string) =>
  fetch(url).then(async (res) => (await res.body?.cancel(), true), () => false);

/**
 * The handle's runtime idioms, written as a user writes them and run under the real
 * Deno (`deno eval`) or Bun (`bun -e`): `await using` closes the listener, the control
 * endpoint and the file store at the end of its scope; `finished` stays pending while
 * the server runs and settles after `shutdown()` or the signal; `addr` is Deno.NetAddr's
 * shape. Prints `RESULT <json>`.
 */
const IDIOMS_SCRIPT = `
  import { existsSync, readFileSync } from "node:fs";
  import { demoTools, openFileStore, servePersonalMcp } from "./mod.ts";
  const stateDir = process.env.STATE_DIR;
  const password = "serve-test-password";
  const answers = (url) => fetch(url).then(async (res) => (await res.body?.cancel(), true), () => false);
  const out = {};
  let origin, control;
  {
    await using server = await servePersonalMcp(demoTools, { port: 0, store: "file", stateDir, password, banner: false });
    origin = server.baseUrl;
    out.addr = server.addr;
    out.port = server.port;
    out.healthz = (await fetch(origin + "/healthz")).status;
    control = JSON.parse(readFileSync(stateDir + "/control.json", "utf8")).url;
    out.controlDuring = await answers(control);
  }
  out.listeningAfter = await answers(origin);
  out.controlAfter = await answers(control);
  out.controlFileAfter = existsSync(stateDir + "/control.json");
  // The store is closed: its folder lock is free again for this very process.
  const store = await openFileStore(stateDir);
  await store.close();
  out.storeReopened = true;

  const second = await servePersonalMcp(demoTools, { port: 0, store: "memory", password, banner: false });
  let settled = false;
  second.finished.then(() => (settled = true));
  await (await fetch(second.baseUrl + "/healthz")).body?.cancel();
  out.pendingWhileRunning = !settled;
  await second.shutdown();
  await second.finished;
  out.finishedAfterShutdown = settled && !(await answers(second.baseUrl));

  const controller = new AbortController();
  const third = await servePersonalMcp(demoTools, { port: 0, store: "memory", password, banner: false, signal: controller.signal });
  controller.abort();
  await third.finished;
  out.finishedAfterAbort = !(await answers(third.baseUrl));
  console.log("RESULT " + JSON.stringify(out));
`;

for (const runtime of RUNTIMES) {
  Deno.test(`under ${runtime}, await using, finished and addr work as users write them`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-idioms-"));
    const [bin, args] = runtime === "deno"
      ? [DENO_BIN, ["eval", IDIOMS_SCRIPT]]
      : [BUN_BIN, ["-e", IDIOMS_SCRIPT]];
    const child = spawnChild(bin, args, { env: { STATE_DIR: dir }, stdin: "ignore" });
    try {
      // It exits by itself: nothing the three servers opened is left running.
      assert.equal(await child.exit(60_000), 0, child.output());
      const line = /^RESULT (.*)$/m.exec(child.output());
      assert.ok(line, child.output());
      const out = JSON.parse(line[1]!);
      assert.deepEqual(out.addr, { hostname: "127.0.0.1", port: out.port, transport: "tcp" });
      assert.equal(out.healthz, 200);
      assert.equal(out.controlDuring, true, "the control endpoint answered inside the scope");
      assert.equal(out.listeningAfter, false, "the listener is closed at the end of the scope");
      assert.equal(out.controlAfter, false, "so is the control endpoint");
      assert.equal(out.controlFileAfter, false, "and its control.json is gone");
      assert.equal(out.storeReopened, true, "the store's lock was released");
      assert.equal(out.pendingWhileRunning, true, "finished is pending while the server runs");
      assert.equal(out.finishedAfterShutdown, true, "finished settles after shutdown()");
      assert.equal(out.finishedAfterAbort, true, "finished settles after the signal aborts");
    } finally {
      await child.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

Deno.test("await using shuts the server down at the end of its scope, typed as users write it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-using-"));
  let origin: string;
  try {
    {
      await using server = await servePersonalMcp(demoTools, {
        port: 0,
        store: "file",
        stateDir: dir,
        password: "serve-test-password",
        banner: false,
      });
      origin = server.baseUrl;
      assert.deepEqual(server.addr, {
        hostname: "127.0.0.1",
        port: server.port,
        transport: "tcp",
      });
      assert.ok(existsSync(join(dir, "control.json")), "the control endpoint is up");
      assert.equal(await answers(`${origin}/healthz`), true);
    }
    assert.equal(await answers(origin), false, "nothing listens after the scope");
    assert.ok(!existsSync(join(dir, "control.json")), "the control endpoint is closed");
    // The file store is closed: this process can take its folder's lock again.
    await (await openFileStore(dir)).close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("finished settles once the server has stopped, by shutdown() or by the signal", async (t) => {
  const options: ServeOptions = {
    port: 0,
    store: "memory",
    password: "serve-test-password",
    banner: false,
  };
  await t.step("shutdown(), called twice, closes once; finished follows it", async () => {
    const server = await servePersonalMcp(demoTools, options);
    let settled = false;
    server.finished.then(() => (settled = true));
    assert.equal(await answers(`${server.baseUrl}/healthz`), true);
    assert.equal(settled, false, "pending while the server runs");
    const first = server.shutdown();
    assert.equal(server.shutdown(), first, "the same promise");
    await server.finished;
    assert.equal(await answers(server.baseUrl), false);
  });
  await t.step("the signal aborting: settled only once the store is closed too", async () => {
    const memory = createMemoryStore();
    let closed = false;
    const store: Store = {
      ...memory,
      close: async () => {
        await memory.close();
        closed = true;
      },
    };
    const controller = new AbortController();
    const server = await servePersonalMcp(demoTools, {
      ...options,
      store,
      signal: controller.signal,
    });
    controller.abort();
    await server.finished;
    assert.equal(closed, true, "the store was closed before finished settled");
    assert.equal(await answers(server.baseUrl), false);
  });
  await t.step("a signal aborted before the start stops the server at once", async () => {
    const server = await servePersonalMcp(demoTools, {
      ...options,
      signal: AbortSignal.abort(),
    });
    await server.finished;
    assert.equal(await answers(server.baseUrl), false);
  });
});
