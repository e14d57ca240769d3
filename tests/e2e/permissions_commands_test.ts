/**
 * The owner's say per app from the command line, against a real server process on the
 * file store (the commands go through its control endpoint), under Deno and Bun:
 * `permissions` shows and sets an app's tools, a denied call is refused at once,
 * `pending` lists a held call and `confirm` lets it run, `decline` refuses another, and
 * `audit` prints every call with how it ended.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callHelloAt, obtainTokens, PASSWORD, runMod, RUNTIMES, startServer } from "../fixtures.ts";

for (const runtime of RUNTIMES) {
  Deno.test(`permissions, pending, confirm, decline and audit on a running server (${runtime})`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), "pmcp-perm-"));
    const server = await startServer({
      runtime,
      stateDir,
      password: PASSWORD,
      extraArgs: ["--confirm-timeout", "30"],
    });
    const run = (...args: string[]) => runMod(runtime, [...args, "--state-dir", stateDir]);
    try {
      const app = await obtainTokens(server.baseUrl, "Laptop \u202eevil");
      const mcp = `${server.baseUrl}/mcp`;
      assert.equal((await callHelloAt(mcp, app.accessToken, "a")).text, "Hello, a!");

      await t.step("permissions shows the app's tools and their policy", () => {
        const r = run("permissions", app.clientId, "--json");
        assert.equal(r.status, 0, r.stderr);
        const view = JSON.parse(r.stdout);
        assert.deepEqual(
          view.tools.map((x: { name: string; policy: string }) => [x.name, x.policy]),
          [
            ["hello", "allow"],
          ],
        );
        const text = run("permissions", app.clientId);
        assert.ok(!text.stdout.includes("\u202e"), "the app's name is escaped");
      });

      await t.step("--deny applies at once: the call is refused and never runs", async () => {
        const r = run("permissions", app.clientId, "--deny", "hello");
        assert.equal(r.status, 0, r.stderr);
        const refused = await callHelloAt(mcp, app.accessToken, "b");
        assert.equal(refused.status, 200);
        assert.match(refused.text ?? "", /has not allowed this app/);
        const bad = run("permissions", app.clientId, "--deny", "nope");
        assert.equal(bad.status, 1);
        assert.equal(run("permissions", app.clientId, "--deny").status, 2);
      });

      await t.step("--ask holds the call: pending lists it, confirm lets it run", async () => {
        assert.equal(run("permissions", app.clientId, "--ask", "hello").status, 0);
        const call = callHelloAt(mcp, app.accessToken, "c");
        let waiting: { id: string; tool: string; preview: string }[] = [];
        for (let i = 0; i < 50 && waiting.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          waiting = JSON.parse(run("pending", "--json").stdout);
        }
        assert.equal(waiting.length, 1);
        assert.equal(waiting[0]!.preview, '{"name":"c"}');
        const confirmed = run("confirm", waiting[0]!.id);
        assert.equal(confirmed.status, 0, confirmed.stderr);
        assert.equal((await call).text, "Hello, c!");
        assert.equal(run("confirm", waiting[0]!.id).status, 1, "answered once");
      });

      await t.step("decline refuses a held call", async () => {
        const call = callHelloAt(mcp, app.accessToken, "d");
        let waiting: { id: string }[] = [];
        for (let i = 0; i < 50 && waiting.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          waiting = JSON.parse(run("pending", "--json").stdout);
        }
        assert.equal(run("decline", waiting[0]!.id).status, 0);
        assert.match((await call).text ?? "", /declined/);
      });

      await t.step("audit prints every call with how it ended", () => {
        const r = run("audit", "--json", "--app", app.clientId, "--since", "1h");
        assert.equal(r.status, 0, r.stderr);
        const outcomes = JSON.parse(r.stdout).map((x: { outcome: string }) => x.outcome);
        assert.deepEqual(outcomes, ["declined", "confirmed", "denied", "ok"]);
        assert.equal(run("audit", "--since", "yesterday").status, 2);
      });

      await t.step(
        "with the server stopped, the trail and the decisions are read from the store",
        async () => {
          await server.stop();
          const trail = run("audit", "--json", "--app", app.clientId);
          assert.equal(trail.status, 0, trail.stderr);
          assert.equal(JSON.parse(trail.stdout).length, 4, "kept in the store");
          const set = run("permissions", app.clientId, "--allow", "hello", "--json");
          assert.equal(set.status, 0, set.stderr);
          assert.deepEqual(
            JSON.parse(set.stdout).tools.map((
              x: { name: string; policy: string },
            ) => [x.name, x.policy]),
            [["hello", "allow"]],
          );
          assert.deepEqual(JSON.parse(run("pending", "--json").stdout), []);
        },
      );
    } finally {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
}
