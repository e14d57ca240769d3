/**
 * The JSON file store under load: authorization-code exchanges (`POST /token`) per second
 * with 8 in flight, start-up time and peak RSS, at a given number of live grants. Each
 * measurement runs in a fresh process, so that its start-up and peak RSS are its own.
 *
 * ```sh
 * # 1. A state folder holding N grants (and the one client they belong to), written in the
 * #    first file format (state.json), which every version of the store can open.
 * deno run -A bench/store.ts gen --grants 10000 --dir /tmp/s10k --meta /tmp/s10k.meta.json
 * # 2. Open it once (a store that migrates the old format does it here, not in the run).
 * deno run -A bench/store.ts open --dir /tmp/s10k --meta /tmp/s10k.meta.json
 * # 3. Measure: open (start-up), then exchange codes for SECONDS of measured time.
 * deno run -A bench/store.ts run --dir /tmp/s10k --meta /tmp/s10k.meta.json --seconds 5
 * bun bench/store.ts run ...
 * ```
 *
 * Codes are what the consent page would have stored (the same record, through the same
 * store), written in batches outside the measured time: the consent page's password
 * hash (PBKDF2, 600,000 rounds) would otherwise be what is measured. Everything else
 * is the real `/token` endpoint of `createPersonalMcp()` on `openFileStore()`.
 *
 * Prints one line: `kind=store runtime=.. grants=N exchanges=.. seconds=.. rate=..
 * open_ms=.. rss_open_mb=.. hwm_mb=.. errors=..`.
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createMemoryStore, createPersonalMcp, demoTools, openFileStore } from "../mod.ts";
import { hashSecret, randomToken, s256Challenge } from "../core/crypto.ts";
import { grantWrite, pairWrites } from "../auth/grants/grants.ts";
import type { CodeRecord, GrantRecord } from "../auth/records.ts";
import { keys } from "../store/keys.ts";

const BASE_URL = "http://127.0.0.1:8199";
const PASSWORD = "bench-owner-password-0123";
const REDIRECT_URI = "http://127.0.0.1:9/callback";
const RESOURCE = `${BASE_URL}/mcp`;
const SCOPE = "mcp offline_access";
const DAY_MS = 24 * 3600 * 1000;

/** What `gen` leaves next to the state folder for `run`. */
interface Meta {
  grants: number;
  clientId: string;
  verifier: string;
}

const runtime = "Bun" in globalThis ? "bun" : "deno";

/** Peak and current RSS of this process, in MB (Linux). */
function memoryMb(): { hwm: number; rss: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  return { hwm: field("VmHWM"), rss: field("VmRSS") };
}

async function gen(grants: number, dir: string, metaPath: string): Promise<void> {
  // The client, registered through the real endpoint on a memory store.
  const store = createMemoryStore();
  const app = createPersonalMcp(demoTools, { baseUrl: BASE_URL, password: PASSWORD, store });
  const res = await app.fetch(
    new Request(`${BASE_URL}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "bench",
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      }),
    }),
  );
  if (res.status !== 201) throw new Error(`/register: ${res.status} ${await res.text()}`);
  const { client_id: clientId } = await res.json() as { client_id: string };
  const records: { key: string[]; value: unknown; expiresAt?: number }[] = [];
  for (const { key, value } of await store.list([])) records.push({ key: [...key], value });
  await app.close();

  // N grants as /token leaves them: the grant, its access token, its refresh index.
  const t = Date.now();
  const life = {
    accessMs: 30 * DAY_MS,
    refreshMs: 365 * DAY_MS,
    graceMs: 60_000,
    reuseWindowMs: 0,
  };
  for (let i = 0; i < grants; i++) {
    const grant: GrantRecord = {
      grantId: randomToken(16),
      clientId,
      scope: SCOPE,
      resource: RESOURCE,
      createdAt: t,
      refresh: [],
      clientName: "bench",
      redirectUri: REDIRECT_URI,
    };
    const { slot, ops } = pairWrites(
      grant,
      SCOPE,
      { accessHash: await hashSecret(randomToken()), refreshHash: await hashSecret(randomToken()) },
      t,
      life,
    );
    grant.refresh.push(slot);
    for (const op of [...ops, grantWrite(grant)]) {
      if (op.op === "set") {
        records.push({ key: [...op.key], value: op.value, expiresAt: op.expiresAt });
      }
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The first file format: what an existing installation has on disk.
  await writeFile(join(dir, "state.json"), JSON.stringify({ version: 1, records }), {
    mode: 0o600,
  });
  const meta: Meta = { grants, clientId, verifier: randomToken() };
  await writeFile(metaPath, JSON.stringify(meta));
}

async function open(dir: string): Promise<void> {
  const store = await openFileStore(dir);
  await store.close();
}

async function run(dir: string, meta: Meta, seconds: number, inflight: number): Promise<void> {
  const t0 = performance.now();
  const store = await openFileStore(dir);
  const app = createPersonalMcp(demoTools, { baseUrl: BASE_URL, password: PASSWORD, store });
  const openMs = performance.now() - t0;
  const rssOpen = memoryMb().rss;
  const challenge = await s256Challenge(meta.verifier);

  let measuredMs = 0;
  let exchanges = 0;
  let errors = 0;
  let firstError = "";
  const batchSize = inflight * 32;
  while (measuredMs < seconds * 1000) {
    // Unmeasured: the codes the consent page would have stored, in one write.
    const codes: string[] = [];
    const ops = [];
    for (let i = 0; i < batchSize; i++) {
      const code = randomToken();
      const record: CodeRecord = {
        clientId: meta.clientId,
        redirectUri: REDIRECT_URI,
        redirectUriSent: true,
        codeChallenge: challenge,
        resource: RESOURCE,
        scope: SCOPE,
        grantId: randomToken(16),
        expiresAt: Date.now() + 600_000,
      };
      codes.push(code);
      ops.push({
        op: "set" as const,
        key: keys.code(await hashSecret(code)),
        value: record,
        expiresAt: record.expiresAt,
      });
    }
    await app.store.write(ops);

    // Measured: the exchanges, `inflight` at a time, until the batch or the time is used up.
    const started = performance.now();
    const budget = seconds * 1000 - measuredMs;
    const worker = async () => {
      for (;;) {
        if (performance.now() - started >= budget) return;
        const code = codes.pop();
        if (code === undefined) return;
        const res = await app.fetch(
          new Request(`${BASE_URL}/token`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "authorization_code",
              code,
              redirect_uri: REDIRECT_URI,
              client_id: meta.clientId,
              code_verifier: meta.verifier,
              resource: RESOURCE,
            }),
          }),
        );
        const text = await res.text();
        if (res.status === 200 && text.includes('"access_token"')) exchanges++;
        else {
          errors++;
          firstError ||= `${res.status} ${text.slice(0, 120)}`;
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    measuredMs += performance.now() - started;
  }
  await app.close();
  const { hwm } = memoryMb();
  console.log(
    [
      "kind=store",
      `runtime=${runtime}`,
      `grants=${meta.grants}`,
      `exchanges=${exchanges}`,
      `seconds=${(measuredMs / 1000).toFixed(2)}`,
      `rate=${(exchanges / (measuredMs / 1000)).toFixed(1)}`,
      `open_ms=${openMs.toFixed(0)}`,
      `rss_open_mb=${rssOpen.toFixed(1)}`,
      `hwm_mb=${hwm.toFixed(1)}`,
      `errors=${errors}`,
    ].join(" "),
  );
  if (firstError) console.error(`first error: ${firstError}`);
}

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    grants: { type: "string" },
    dir: { type: "string" },
    meta: { type: "string" },
    seconds: { type: "string" },
    inflight: { type: "string" },
  },
  allowPositionals: true,
});
const command = positionals[0];
if (!values.dir || !values.meta) {
  console.error(
    "usage: store.ts gen --grants N --dir DIR --meta FILE\n" +
      "       store.ts open --dir DIR --meta FILE\n" +
      "       store.ts run --dir DIR --meta FILE [--seconds 5] [--inflight 8]",
  );
  process.exit(2);
}
if (command === "gen") {
  await gen(Number(values.grants ?? 10), values.dir, values.meta);
} else if (command === "open") {
  await open(values.dir);
} else if (command === "run") {
  const meta = JSON.parse(await readFile(values.meta, "utf8")) as Meta;
  await run(values.dir, meta, Number(values.seconds ?? 5), Number(values.inflight ?? 8));
} else {
  console.error(`unknown command ${JSON.stringify(command)}: use gen, open or run`);
  process.exit(2);
}
process.exit(0);
