/**
 * servePersonalMcp(): real sockets in this process, the owner password set-up, and the
 * refusals that protect a public server from development settings.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoTools, servePersonalMcp } from "../../mod.ts";

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
