/**
 * The in-process tests (`app.fetch(new Request(...))`: every endpoint, the security
 * rules, the store contract that needs no Deno API) run under the real Bun binary too,
 * file by file: the same test code, with a minimal `Deno.test` installed by
 * `runDenoTestFiles` in fixtures.ts. A runtime difference in Request, Response, streams,
 * timers or Web Crypto then fails here rather than in production.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { BUN_BIN, ROOT, spawnChild } from "../fixtures.ts";

/** Unit tests that use no Deno API (store_test and cli_test do: Deno KV, Deno.Command). */
const UNIT_FILES = [
  "tests/unit/client_metadata_limits_test.ts",
  "tests/unit/client_metadata_test.ts",
  "tests/unit/crypto_test.ts",
  "tests/unit/grant_rules_test.ts",
  "tests/unit/log_test.ts",
  "tests/unit/options_test.ts",
  "tests/unit/redirects_test.ts",
  "tests/unit/session_records_test.ts",
  "tests/unit/token_index_test.ts",
  "tests/unit/routes_test.ts",
  "tests/unit/public_api_test.ts",
  "tests/unit/permissions_test.ts",
];
const ENDPOINT_FILES = readdirSync(`${ROOT}tests/endpoints`)
  .filter((f) => f.endsWith("_test.ts"))
  .sort()
  .map((f) => `tests/endpoints/${f}`);

// Exits when the tests are done, as `deno test` does: a stream a test left open (an SSE
// stream with its keepalive timer) must not keep the process up until the step's timeout.
const RUNNER = 'import { runDenoTestFiles } from "./tests/fixtures.ts";' +
  "process.exit((await runDenoTestFiles(process.argv.slice(1))) === 0 ? 0 : 1);";

Deno.test("the in-process tests pass under Bun", async (t) => {
  for (const file of [...ENDPOINT_FILES, ...UNIT_FILES]) {
    await t.step(file, async () => {
      const child = spawnChild(BUN_BIN, ["-e", RUNNER, file], { stdin: "ignore" });
      try {
        const code = await child.exit(120_000);
        const out = child.output();
        assert.equal(code, 0, `bun ${file}:\n${out}`);
        assert.match(out, /^\d+ passed, 0 failed$/m, out);
        assert.doesNotMatch(out, /^0 passed/m, `no test ran in ${file}`);
      } finally {
        await child.stop();
      }
    });
  }
});
