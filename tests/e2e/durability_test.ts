/**
 * Crashes and mistakes around the state folder, with real server processes:
 * `kill -9` in the middle of a burst of token issuance loses no token that was
 * answered; a corrupt state file stops the server with a message naming it; a second
 * server on the same folder is refused; nothing secret reaches the server's output.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  approveAndGetCode,
  callHelloAt,
  pkcePair,
  registerAt,
  runMod,
  RUNTIMES,
  startServer,
  tokenRequest,
} from "../fixtures.ts";

const PASSWORD = "durability-owner-password";
const REDIRECT = "http://127.0.0.1:45999/callback";

async function codeFor(baseUrl: string, clientId: string) {
  const { verifier, challenge } = await pkcePair();
  const url = new URL(`${baseUrl}/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
  }).toString();
  const { code } = await approveAndGetCode(url, PASSWORD);
  return { code, verifier };
}

for (const runtime of RUNTIMES) {
  Deno.test(`kill -9 during a burst of token issuance loses no answered token (${runtime})`, async () => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-burst-${runtime}-`));
    let server = await startServer({ runtime, stateDir, password: PASSWORD });
    try {
      const { client_id: clientId } = await registerAt(server.baseUrl, {
        client_name: "burst",
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "none",
      });
      const grants = await Promise.all(
        Array.from({ length: 60 }, () => codeFor(server.baseUrl, clientId)),
      );
      const answered: string[] = [];
      let killed = false;
      // Exchange every code at once; kill the server as soon as some answers are in.
      const exchanges = grants.map(async ({ code, verifier }) => {
        try {
          const answer = await tokenRequest(server.baseUrl, {
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: REDIRECT,
            client_id: clientId,
          });
          if (answer.status === 200) {
            answered.push(answer.body.access_token as string);
            if (answered.length >= 10 && !killed) {
              killed = true;
              server.child.kill("SIGKILL");
            }
          }
        } catch { /* the connection died with the server */ }
      });
      await Promise.all(exchanges);
      await server.stop("SIGKILL");
      assert.ok(answered.length >= 10, `only ${answered.length} exchanges were answered`);
      server = await startServer({ runtime, stateDir, password: PASSWORD, port: server.port });
      for (const token of answered) {
        const { status } = await callHelloAt(`${server.baseUrl}/mcp`, token, "x");
        assert.equal(status, 200, "an answered token was lost");
      }
      // No secret ever reaches the server's output.
      for (const s of [PASSWORD, ...answered, ...grants.map((g) => g.code)]) {
        assert.ok(!server.output().includes(s), "a secret was printed");
      }
    } finally {
      await server.stop("SIGKILL");
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}

/** Starts the CLI (`mod.ts`) under `runtime` on `stateDir` and waits for it to exit. */
function runCli(
  runtime: "deno" | "bun",
  stateDir: string,
): { status: number | null; output: string } {
  const r = runMod(runtime, ["--port", "0", "--state-dir", stateDir, "--password", PASSWORD]);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

Deno.test("a corrupt state file stops the server with a message naming it, and keeps the file", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "pmcp-corrupt-"));
  try {
    const file = join(stateDir, "state.json");
    await writeFile(file, '{"version":1,"records":[{"key":["client","x"],"val', { mode: 0o600 });
    for (const runtime of RUNTIMES) {
      const r = runCli(runtime, stateDir);
      assert.notEqual(r.status, 0, "the server must not start");
      assert.ok(r.output.includes(file), `the message names the file: ${r.output}`);
      assert.match(r.output, /Refusing to start/);
    }
    assert.equal(
      await readFile(file, "utf8"),
      '{"version":1,"records":[{"key":["client","x"],"val',
    );
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});

Deno.test("a state file damaged before its last line stops the server naming the file and the line", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "pmcp-damaged-"));
  try {
    const file = join(stateDir, "state.jsonl");
    const text = '{"format":"personal-mcp-state","version":2}\n' +
      '{"key":["client","a"],"value":{}}\n{"key":["client","b"],"value":\n{"key":["client","c"],"value":{}}\n';
    await writeFile(file, text, { mode: 0o600 });
    for (const runtime of RUNTIMES) {
      const r = runCli(runtime, stateDir);
      assert.notEqual(r.status, 0, "the server must not start");
      assert.ok(r.output.includes(file), `the message names the file: ${r.output}`);
      assert.match(r.output, /line 3/);
      assert.match(r.output, /Refusing to start/);
    }
    assert.equal(await readFile(file, "utf8"), text);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});

for (const runtime of RUNTIMES) {
  Deno.test(`a last change cut short by a crash is dropped with a notice, and the server starts (${runtime})`, async () => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-torn-${runtime}-`));
    const file = join(stateDir, "state.jsonl");
    await writeFile(
      file,
      '{"format":"personal-mcp-state","version":2}\n{"key":["client","a"],"value":{"clientId":"a"',
      { mode: 0o600 },
    );
    const server = await startServer({ runtime, stateDir, password: PASSWORD });
    try {
      const res = await fetch(`${server.baseUrl}/.well-known/oauth-authorization-server`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      assert.match(server.output(), /cut short/);
      assert.ok(server.output().includes(file), server.output());
    } finally {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}

Deno.test("a second server on the same state folder is refused while the first runs", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "pmcp-lock-"));
  const first = await startServer({ runtime: "deno", stateDir, password: PASSWORD });
  try {
    for (const runtime of RUNTIMES) {
      const r = runCli(runtime, stateDir);
      assert.notEqual(r.status, 0);
      assert.match(r.output, new RegExp(`in use by process ${first.child.pid}`));
    }
    // The first server is unharmed.
    const res = await fetch(`${first.baseUrl}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await first.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
});
