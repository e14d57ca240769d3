/**
 * The bench server: the demo `hello` tool served by `servePersonalMcp()` on a memory
 * store, under Deno or Bun. There is no bench backdoor: the token wrk sends is issued by
 * the server's own OAuth flow (bench/token.ts), in two steps that mirror a restart of a
 * server with persistent state.
 *
 * ```sh
 * # 1. Issue a token in process, through the fetch handler; print it, and save the store
 * #    (hashes only, as always) to a snapshot file.
 * TOKEN=$(deno run -A bench/server.ts mint --base-url http://127.0.0.1:8103 \
 *   --password PW --state /tmp/s.json)
 * # 2. Serve: a fresh memory store is filled from the snapshot, then served.
 * deno run -A bench/server.ts serve --port 8103 --password PW --state /tmp/s.json
 * bun run bench/server.ts serve --port 8103 --password PW --state /tmp/s.json
 * ```
 *
 * With `--state-dir DIR`, `mint` also leaves the store in a JSON file store in DIR, and
 * `serve` serves that file store, as a restart does (the cold-start bench).
 *
 * @module
 */
import process from "node:process";
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  createMemoryStore,
  createPersonalMcp,
  demoTools,
  type Entry,
  openFileStore,
  type PersonalMcpEvent,
  servePersonalMcp,
  type Store,
  type WriteOp,
} from "../mod.ts";
import { issueToken } from "./token.ts";

/** What `mint` saves and `serve` restores. */
interface Snapshot {
  baseUrl: string;
  entries: Entry[];
}

function logErrors(event: PersonalMcpEvent): void {
  if (event.type === "error") console.error(`error in ${event.where}:`, event.error);
}

/** Writes that restore entries; records carry their own expiry, the store's is taken from it. */
function restoreOps(entries: Entry[]): WriteOp[] {
  return entries.map(({ key, value }) => {
    const expiresAt = (value as { expiresAt?: unknown } | null)?.expiresAt;
    return typeof expiresAt === "number"
      ? { op: "set", key, value, expiresAt }
      : { op: "set", key, value };
  });
}

async function mint(
  baseUrl: string,
  password: string,
  statePath: string,
  stateDir?: string,
): Promise<string> {
  const store = createMemoryStore();
  const app = createPersonalMcp(demoTools, { baseUrl, password, store, onEvent: logErrors });
  try {
    const token = await issueToken(app, password);
    const snapshot: Snapshot = { baseUrl, entries: await store.list([]) };
    await writeFile(statePath, JSON.stringify(snapshot), { mode: 0o600 });
    if (stateDir) {
      const files = await openFileStore(stateDir);
      await files.write(restoreOps(snapshot.entries));
      await files.close();
    }
    return token;
  } finally {
    await app.close();
  }
}

async function serve(
  port: number,
  password: string,
  statePath: string,
  stateDir?: string,
): Promise<void> {
  const snapshot = JSON.parse(await readFile(statePath, "utf8")) as Snapshot;
  let store: Store | "file";
  if (stateDir) store = "file";
  else {
    store = createMemoryStore();
    await store.write(restoreOps(snapshot.entries));
  }
  const handle = await servePersonalMcp(demoTools, {
    port,
    hostname: "127.0.0.1",
    baseUrl: snapshot.baseUrl,
    store,
    ...(stateDir ? { stateDir } : {}),
    password,
    banner: false,
    onEvent: logErrors,
  });
  console.log(`bench server (${"Bun" in globalThis ? "bun" : "deno"}) on ${handle.url}`);
  // BENCH_MEMORY=1: where the resident memory goes, once a second (stderr).
  if (process.env.BENCH_MEMORY === "1") {
    setInterval(() => {
      const m = process.memoryUsage();
      const mb = (n: number) => (n / 1048576).toFixed(1);
      console.error(
        `memory rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${
          mb(m.external)
        }`,
      );
    }, 1000);
  }
  const stop = () => {
    // A clean exit lets `deno run --cpu-prof` write its profile.
    handle.shutdown().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string" },
    "base-url": { type: "string" },
    password: { type: "string" },
    state: { type: "string" },
    "state-dir": { type: "string" },
  },
  allowPositionals: true,
});
const password = values.password ?? process.env.BENCH_PASSWORD ?? "";
const command = positionals[0];
if (!values.state || !password || (command === "mint" && !values["base-url"])) {
  console.error(
    "usage: server.ts mint --base-url URL --state FILE --password PW\n" +
      "       server.ts serve --port N --state FILE --password PW",
  );
  process.exit(2);
}
if (command === "mint") {
  console.log(await mint(values["base-url"]!, password, values.state, values["state-dir"]));
} else if (command === "serve") {
  await serve(Number(values.port ?? 8103), password, values.state, values["state-dir"]);
} else {
  console.error(`unknown command ${JSON.stringify(command)}: use mint or serve`);
  process.exit(2);
}
