/**
 * The passkey owner commands as a person runs them (`mod.ts passkey add | list |
 * remove`, `password --remove`) against real server processes: on the file store while
 * the server is stopped and while it runs (through its control endpoint), under Deno and
 * Bun, and on Deno KV shared with a running server. Enrolment goes through the printed
 * link over a socket, answered by a software authenticator and checked by the server's
 * real verifier; the browser's own passkeys are in passkey_browser_test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  enrolThroughLink,
  freePort,
  runMod,
  RUNTIMES,
  type ServerProcess,
  softAuthenticator,
  startServer,
} from "../fixtures.ts";

const LINK = /http:\/\/localhost:\d+\/owner\/passkey\?token=[A-Za-z0-9_-]{43}/;

/** Fetches a localhost URL over 127.0.0.1 (where the server listens), headers kept. */
function viaLoopback(request: Request): Promise<Response> {
  return fetch(new Request(request.url.replace("//localhost:", "//127.0.0.1:"), request));
}

async function enrolFrom(link: string): Promise<void> {
  const res = await enrolThroughLink(viaLoopback, link, await softAuthenticator());
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 300));
  assert.match(html, /Passkey added/);
}

interface PasskeyLine {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

function listed(runtime: "deno" | "bun", stateDir: string, flags: string[] = []): PasskeyLine[] {
  const r = runMod(runtime, ["passkey", "list", "--json", "--state-dir", stateDir], {
    runtimeFlags: flags,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const runtime of RUNTIMES) {
  Deno.test(`passkey commands on the file store, stopped and running (${runtime})`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), `pmcp-passkey-cmd-${runtime}-`));
    let server: ServerProcess | undefined;
    try {
      await t.step("passkey add needs a base URL that names a host; usage errors say so", () => {
        const none = runMod(runtime, ["passkey", "add", "--state-dir", stateDir]);
        assert.equal(none.status, 1);
        assert.match(none.stderr, /--base-url/);
        const ip = runMod(runtime, [
          "passkey",
          "add",
          "--base-url",
          "http://127.0.0.1:8787",
          "--state-dir",
          stateDir,
        ]);
        assert.equal(ip.status, 1);
        assert.match(ip.stderr, /host name/);
        for (
          const args of [
            ["passkey"],
            ["passkey", "frobnicate"],
            ["passkey", "remove"],
            ["passkey", "list", "extra"],
            ["password", "--remove", "--disconnect-all"],
            ["grants", "--name", "x"],
          ]
        ) {
          assert.equal(
            runMod(runtime, [...args, "--state-dir", stateDir]).status,
            2,
            args.join(" "),
          );
        }
      });

      await t.step("password --remove is refused while no passkey exists", () => {
        const r = runMod(runtime, ["password", "--remove", "--state-dir", stateDir]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no passkey is enrolled/);
      });

      const port = await freePort();
      const baseUrl = `http://localhost:${port}`;
      let laptopLink = "";
      await t.step(
        "stopped: passkey add prints a one-time link, and passkey list shows none yet",
        () => {
          const r = runMod(runtime, [
            "passkey",
            "add",
            "--name",
            "Laptop",
            "--base-url",
            baseUrl,
            "--state-dir",
            stateDir,
          ]);
          assert.equal(r.status, 0, r.stderr);
          laptopLink = LINK.exec(r.stdout)?.[0] ?? "";
          assert.ok(laptopLink.startsWith(`${baseUrl}/owner/passkey?token=`), r.stdout);
          assert.deepEqual(listed(runtime, stateDir), []);
          const table = runMod(runtime, ["passkey", "list", "--state-dir", stateDir]);
          assert.match(table.stdout, /No passkey is enrolled/);
        },
      );

      await t.step("the started server honours that link, once", async () => {
        server = await startServer({ runtime, stateDir, port, baseHost: "localhost" });
        await enrolFrom(laptopLink);
        const again = await viaLoopback(new Request(laptopLink));
        assert.equal(again.status, 400);
        await again.body?.cancel();
      });

      let laptop: PasskeyLine;
      await t.step(
        "running: passkey list reaches the server; add prints the server's own link",
        async () => {
          [laptop] = listed(runtime, stateDir) as [PasskeyLine];
          assert.equal(laptop.name, "Laptop");
          assert.equal(laptop.lastUsedAt, null);
          const table = runMod(runtime, ["passkey", "list", "--state-dir", stateDir]);
          assert.match(table.stdout, /^ID +NAME +ADDED +LAST USED +FROM/);
          const r = runMod(runtime, [
            "passkey",
            "add",
            "--name",
            "Phone",
            "--state-dir",
            stateDir,
          ]);
          assert.equal(r.status, 0, r.stderr);
          const link = LINK.exec(r.stdout)?.[0] ?? "";
          assert.ok(link.startsWith(`${server!.baseUrl}/owner/passkey?token=`), r.stdout);
          await enrolFrom(link);
          assert.deepEqual(listed(runtime, stateDir).map((p) => p.name), ["Laptop", "Phone"]);
          // Another --base-url: the running server's wins, and the warning says how to change it.
          const other = `http://127.0.0.1:${port}`;
          const warned = runMod(runtime, [
            "passkey",
            "add",
            "--base-url",
            other,
            "--state-dir",
            stateDir,
          ]);
          assert.equal(warned.status, 0, warned.stderr);
          assert.ok(LINK.exec(warned.stdout)?.[0]?.startsWith(`${server!.baseUrl}/owner/`));
          assert.match(warned.stderr, /the running server's wins/);
          assert.match(warned.stderr, new RegExp(`restart the server with --base-url ${other}\\.`));
        },
      );

      await t.step("password --remove; then the last passkey cannot be removed", () => {
        const removed = runMod(runtime, ["password", "--remove", "--state-dir", stateDir]);
        assert.equal(removed.status, 0, removed.stderr);
        assert.match(removed.stdout, /only a passkey approves/);
        const unknown = runMod(runtime, ["passkey", "remove", "nope", "--state-dir", stateDir]);
        assert.equal(unknown.status, 1);
        assert.match(unknown.stderr, /no passkey with id nope/);
        const first = runMod(runtime, ["passkey", "remove", laptop.id, "--state-dir", stateDir]);
        assert.equal(first.status, 0, first.stderr);
        assert.match(first.stdout, /Removed passkey/);
        const [phone] = listed(runtime, stateDir);
        const last = runMod(runtime, ["passkey", "remove", phone!.id, "--state-dir", stateDir]);
        assert.equal(last.status, 1);
        assert.match(last.stderr, /only passkey/);
        assert.equal(listed(runtime, stateDir).length, 1);
      });

      await t.step("the server logged each change, by the command line", async () => {
        const expected = [
          /passkey enrolment link created clientAddress="command line"/,
          /passkey added passkeyId=\S+ name=Phone/,
          /owner password removed clientAddress="command line"/,
          /passkey removed passkeyId=\S+ clientAddress="command line"/,
        ];
        // The server's lines arrive through a pipe the blocking commands did not let us read.
        const deadline = Date.now() + 10_000;
        while (!expected.every((re) => re.test(server!.output())) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const re of expected) assert.match(server!.output(), re);
      });

      await t.step("stopped again: the state keeps the passkey and no password", async () => {
        await server!.stop();
        server = undefined;
        assert.deepEqual(listed(runtime, stateDir).map((p) => p.name), ["Phone"]);
        server = await startServer({ runtime, stateDir, port, baseHost: "localhost" });
        const deadline = Date.now() + 10_000;
        while (!/is listening/.test(server.output()) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.match(server.output(), /is listening/);
        // No new password is generated for a state that approves with passkeys only.
        assert.doesNotMatch(server.output(), /Owner password \(shown once/);
        assert.doesNotMatch(server.output(), /owner\/passkey\?token=/);
      });
    } finally {
      await server?.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}

Deno.test("on Deno KV, passkey add beside the running server prints a link that server honours", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "pmcp-passkey-kv-"));
  const kv = ["--unstable-kv"];
  const server = await startServer({
    runtime: "deno",
    stateDir,
    baseHost: "localhost",
    runtimeFlags: kv,
  });
  try {
    const r = runMod("deno", [
      "passkey",
      "add",
      "--base-url",
      server.baseUrl,
      "--state-dir",
      stateDir,
    ], { runtimeFlags: kv });
    assert.equal(r.status, 0, r.stderr);
    await enrolFrom(LINK.exec(r.stdout)![0]);
    assert.equal(listed("deno", stateDir, kv).length, 1);
  } finally {
    await server.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
});
