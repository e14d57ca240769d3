/**
 * The owner commands as a person runs them (`deno run -A mod.ts grants`, `revoke`,
 * `password`) against real server processes: on the file store while the server runs
 * (through its local control endpoint) and while it is stopped, on Deno KV shared by
 * both processes (the server sees the revocation notice within a second), under Deno
 * and Bun; and the activity log the server prints, as text or JSON lines.
 */
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REVOCATION_NOTICE_POLL_MS } from "../../auth/grants/token_index.ts";
import {
  approveAndGetCode,
  authorizeUrlAt,
  callHelloAt,
  obtainTokens,
  PASSWORD,
  pkcePair,
  registerAt,
  runMod,
  RUNTIMES,
  type ServerProcess,
  startServer,
} from "../fixtures.ts";

interface GrantLine {
  id: string;
  clientId: string;
  clientName: string | null;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  lastAddress: string | null;
  liveTokens: boolean;
}

function grantsJson(
  runtime: "deno" | "bun",
  stateDir: string,
  runtimeFlags?: string[],
): GrantLine[] {
  const r = runMod(runtime, ["grants", "--json", "--state-dir", stateDir], { runtimeFlags });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function withStateDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-owner-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const runtime of RUNTIMES) {
  Deno.test(`grants and revoke work while the server runs on the file store (${runtime})`, async (t) => {
    await withStateDir(async (stateDir) => {
      const server = await startServer({ runtime, stateDir, password: PASSWORD });
      try {
        const laptop = await obtainTokens(server.baseUrl, "Laptop");
        const phone = await obtainTokens(server.baseUrl, "Phone");
        const mcp = `${server.baseUrl}/mcp`;
        assert.equal((await callHelloAt(mcp, laptop.accessToken, "a")).status, 200);

        await t.step("the control file is readable by the owner only", () => {
          assert.equal(statSync(join(stateDir, "control.json")).mode & 0o777, 0o600);
        });

        await t.step("the control endpoint refuses browsers and wrong credentials", async () => {
          const control = JSON.parse(await readFile(join(stateDir, "control.json"), "utf8"));
          assert.match(control.url, /^http:\/\/127\.0\.0\.1:\d+$/);
          const send = async (headers: Record<string, string>) => {
            const res = await fetch(control.url, {
              method: "POST",
              headers: { "content-type": "application/json", ...headers },
              body: JSON.stringify({ op: "revokeAll" }),
            });
            await res.body?.cancel();
            return res.status;
          };
          const bearer = `Bearer ${control.token}`;
          assert.equal(await send({ authorization: bearer, origin: "http://evil.example" }), 403);
          assert.equal(await send({ authorization: bearer, "sec-fetch-site": "cross-site" }), 403);
          assert.equal(await send({}), 401);
          assert.equal(await send({ authorization: `Bearer ${control.token}x` }), 401);
          assert.equal((await callHelloAt(mcp, laptop.accessToken, "a")).status, 200);
        });

        let grants: GrantLine[] = [];
        await t.step("grants --json lists what the server issued", () => {
          grants = grantsJson(runtime, stateDir);
          assert.equal(grants.length, 2);
          const g = grants.find((x) => x.clientId === laptop.clientId)!;
          assert.equal(g.clientName, "Laptop");
          assert.deepEqual(g.scopes, ["mcp", "offline_access"]);
          assert.match(g.createdAt, /^\d{4}-\d\d-\d\dT/);
          assert.match(g.lastUsedAt!, /^\d{4}-\d\d-\d\dT/);
          assert.equal(g.lastAddress, "127.0.0.1");
          assert.equal(g.liveTokens, true);
          assert.match(g.id, /^[A-Za-z0-9_-]{22}$/);
        });

        await t.step("grants prints a table", () => {
          const r = runMod(runtime, ["grants", "--state-dir", stateDir]);
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stdout, /^GRANT +APP \(name given by the app\)/);
          assert.match(r.stdout, /Laptop/);
          assert.match(r.stdout, /Phone/);
        });

        await t.step("revoke <grant id> ends it at once; the other app keeps working", async () => {
          const id = grants.find((x) => x.clientId === laptop.clientId)!.id;
          const r = runMod(runtime, ["revoke", id, "--state-dir", stateDir]);
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stdout, /Disconnected 1 grant of Laptop\./);
          assert.equal((await callHelloAt(mcp, laptop.accessToken, "a")).status, 401);
          assert.equal((await callHelloAt(mcp, phone.accessToken, "b")).text, "Hello, b!");
        });

        await t.step("revoke <client id> ends every grant of that client", async () => {
          const r = runMod(runtime, ["revoke", phone.clientId, "--state-dir", stateDir]);
          assert.equal(r.status, 0, r.stderr);
          assert.equal((await callHelloAt(mcp, phone.accessToken, "b")).status, 401);
          assert.deepEqual(grantsJson(runtime, stateDir), []);
        });

        await t.step("revoke of an unknown id fails and says so", () => {
          const r = runMod(runtime, ["revoke", "no-such-grant", "--state-dir", stateDir]);
          assert.equal(r.status, 1);
          assert.match(r.stderr, /no grant or client with id no-such-grant/);
        });

        await t.step("the server logged the revocations, by the command line", () => {
          assert.match(
            server.output(),
            /Z access revoked grantId=\S+ reason="disconnected by the owner" clientId=\S+ clientAddress="command line"/,
          );
        });
      } finally {
        await server.stop();
      }
      assert.equal(existsSync(join(stateDir, "control.json")), false, "removed at shutdown");
    });
  });
}

Deno.test("owner commands work on the file store while the server is stopped, and the server honours them", async () => {
  await withStateDir(async (stateDir) => {
    let server: ServerProcess | undefined = await startServer({
      runtime: "deno",
      stateDir,
      password: PASSWORD,
    });
    try {
      const tokens = await obtainTokens(server.baseUrl, "Stopped");
      await server.stop();
      server = undefined;
      assert.equal(grantsJson("deno", stateDir).length, 1);
      const r = runMod("deno", ["revoke", "--all", "--state-dir", stateDir]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Disconnected 1 grant\./);
      server = await startServer({ runtime: "deno", stateDir, password: PASSWORD });
      assert.equal(
        (await callHelloAt(`${server.baseUrl}/mcp`, tokens.accessToken, "x")).status,
        401,
      );
    } finally {
      await server?.stop();
    }
  });
});

Deno.test("on Deno KV, a revocation by the command applies in the running server within a second", async () => {
  await withStateDir(async (stateDir) => {
    const kv = ["--unstable-kv"];
    const server = await startServer({
      runtime: "deno",
      stateDir,
      password: PASSWORD,
      runtimeFlags: kv,
    });
    try {
      assert.ok(existsSync(join(stateDir, "kv.sqlite3")), "the server uses Deno KV");
      const one = await obtainTokens(server.baseUrl, "KV one");
      const two = await obtainTokens(server.baseUrl, "KV two");
      const mcp = `${server.baseUrl}/mcp`;
      // Both tokens are now in the server's in-memory index.
      assert.equal((await callHelloAt(mcp, one.accessToken, "1")).status, 200);
      assert.equal((await callHelloAt(mcp, two.accessToken, "2")).status, 200);

      const withoutKv = runMod("deno", ["grants", "--state-dir", stateDir]);
      assert.equal(withoutKv.status, 1);
      assert.match(withoutKv.stderr, /--unstable-kv/);

      const grants = grantsJson("deno", stateDir, kv);
      assert.equal(grants.length, 2);
      const id = grants.find((g) => g.clientId === one.clientId)!.id;
      const r = runMod("deno", ["revoke", id, "--state-dir", stateDir], { runtimeFlags: kv });
      assert.equal(r.status, 0, r.stderr);
      await new Promise((resolve) => setTimeout(resolve, REVOCATION_NOTICE_POLL_MS + 100));
      assert.equal((await callHelloAt(mcp, one.accessToken, "1")).status, 401);
      assert.equal((await callHelloAt(mcp, two.accessToken, "2")).status, 200);
    } finally {
      await server.stop();
    }
  });
});

/** Whether the consent page accepts `password` for a fresh authorization request. */
async function consentStatus(baseUrl: string, password: string): Promise<number> {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const client = await registerAt(baseUrl, {
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: "none",
  });
  const { challenge } = await pkcePair();
  const url = authorizeUrlAt(baseUrl, {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  try {
    await approveAndGetCode(url, password);
    return 303;
  } catch (error) {
    return Number(/consent did not redirect: (\d+)/.exec(String(error))?.[1] ?? 0);
  }
}

Deno.test("password sets the owner password from standard input or the environment, keeps only its hash, and offers to disconnect everything", async (t) => {
  await withStateDir(async (stateDir) => {
    await t.step("never from a flag, never shorter than 8", () => {
      const flag = runMod("deno", ["password", "--password", "x", "--state-dir", stateDir]);
      assert.equal(flag.status, 2);
      const short = runMod("deno", ["password", "--state-dir", stateDir], { stdin: "short\n" });
      assert.equal(short.status, 1);
      assert.match(short.stderr, /at least 8/);
    });
    await t.step("with no terminal and nothing given, it says how to give one", () => {
      const none = runMod("deno", ["password", "--state-dir", stateDir], { stdin: "" });
      assert.equal(none.status, 1);
      assert.equal(
        none.stderr,
        "error: no password given: set PERSONAL_MCP_PASSWORD, write it on standard input, " +
          "or run the command in a terminal to type it. Nothing was changed\n",
      );
    });
    await t.step("from standard input while the server is stopped", async () => {
      const r = runMod("deno", ["password", "--state-dir", stateDir], { stdin: `${PASSWORD}\n` });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Connected apps stay connected/);
      assert.ok(!(await readFile(join(stateDir, "state.jsonl"), "utf8")).includes(PASSWORD));
    });
    const server = await startServer({ runtime: "deno", stateDir });
    try {
      assert.doesNotMatch(server.output(), /Owner password \(shown once/, "no new one generated");
      const tokens = await obtainTokens(server.baseUrl, "Before the change");
      await t.step("from the environment while it runs, disconnecting everything", async () => {
        const next = "a-brand-new-owner-password";
        const r = runMod("deno", ["password", "--disconnect-all", "--state-dir", stateDir], {
          env: { PERSONAL_MCP_PASSWORD: next },
        });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /Disconnected 1 grant\./);
        const mcp = `${server.baseUrl}/mcp`;
        assert.equal((await callHelloAt(mcp, tokens.accessToken, "x")).status, 401);
        assert.equal(await consentStatus(server.baseUrl, PASSWORD), 401);
        assert.equal(await consentStatus(server.baseUrl, next), 303);
        assert.ok(!(await readFile(join(stateDir, "state.jsonl"), "utf8")).includes(next));
      });
    } finally {
      await server.stop();
    }
  });
});

Deno.test("the server prints one activity line per auth event: JSON lines with --log-format json, no secret, client text escaped", async () => {
  await withStateDir(async (stateDir) => {
    const server = await startServer({
      runtime: "deno",
      stateDir,
      password: PASSWORD,
      extraArgs: ["--log-format", "json"],
    });
    try {
      const forged = "Evil\n2026-01-01T00:00:00.000Z approved clientId=owner\u001b[2K";
      const tokens = await obtainTokens(server.baseUrl, forged);
      const bad = await callHelloAt(`${server.baseUrl}/mcp`, "not-a-token", "x");
      assert.equal(bad.status, 401);
      const lines = server.output().split("\n").filter((l) => l.startsWith("{"));
      const events = lines.map((l) => JSON.parse(l));
      assert.deepEqual(
        events.map((e) => e.event).filter((e) => e !== "consent_shown"),
        ["client_registered", "consent_approved", "token_issued", "request_refused"],
      );
      assert.equal(events[0].clientName, forged, "the name survives, escaped, in the JSON");
      assert.equal(events.at(-1).reason, "token is invalid, expired or revoked");
      const output = server.output();
      assert.doesNotMatch(output, /^2026-01-01T00:00:00\.000Z approved/m);
      assert.ok(!output.includes("\u001b"), "no terminal escape reaches the console");
      for (const secret of [tokens.accessToken, tokens.refreshToken, PASSWORD]) {
        assert.ok(!output.includes(secret), "a secret reached the console");
      }
    } finally {
      await server.stop();
    }
  });
});
