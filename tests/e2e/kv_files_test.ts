/**
 * The local Deno KV database is the owner's alone, like the file store: its folder is
 * 0700, and the database with its -wal and -shm files 0600, whether the server creates
 * them or finds them left 0644 by an earlier version. (Deno only: Bun has no Deno KV.)
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { servePersonalMcp } from "../../runtime/serve.ts";
import { kvAvailable, openKvStore } from "../../store/kv.ts";
import { PASSWORD } from "../fixtures.ts";

async function modes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir)) {
    out[name] = ((await stat(join(dir, name))).mode & 0o777).toString(8);
  }
  return out;
}

Deno.test({
  name: "Deno KV files are 0600 in a 0700 folder",
  ignore: !kvAvailable() || Deno.build.os === "windows",
  async fn(t) {
    const root = await mkdtemp(join(tmpdir(), "pmcp-kv-modes-"));
    try {
      await t.step("servePersonalMcp with the kv store", async () => {
        const stateDir = join(root, "state");
        const server = await servePersonalMcp({}, {
          port: 0,
          store: "kv",
          stateDir,
          password: PASSWORD,
          banner: false,
        });
        try {
          const res = await fetch(`${server.baseUrl}/register`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ redirect_uris: ["http://127.0.0.1:1/cb"] }),
          });
          assert.equal(res.status, 201);
          await res.body?.cancel();
          assert.equal(((await stat(stateDir)).mode & 0o777).toString(8), "700");
          const files = await modes(stateDir);
          assert.ok(files["kv.sqlite3"], JSON.stringify(files));
          for (const [name, mode] of Object.entries(files)) assert.equal(mode, "600", name);
        } finally {
          await server.shutdown();
        }
      });
      await t.step("files left 0644 by an earlier version are tightened", async () => {
        const dir = join(root, "old");
        await Deno.mkdir(dir, { mode: 0o700 });
        const path = join(dir, "kv.sqlite3");
        const old = await Deno.openKv(path);
        await old.set(["a"], 1);
        old.close();
        for (const name of await readdir(dir)) await chmod(join(dir, name), 0o644);
        const store = await openKvStore(path);
        try {
          await store.write([{ op: "set", key: ["b"], value: 2 }]);
          for (const [name, mode] of Object.entries(await modes(dir))) {
            assert.equal(mode, "600", name);
          }
        } finally {
          await store.close();
        }
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
});
