/**
 * The in-process tests (`app.fetch(new Request(...))`: every endpoint, the security
 * rules, the store contract that needs no Deno API) run under the real Bun binary too,
 * file by file: the same test code, with a minimal `Deno.test` installed by
 * `runDenoTestFiles` in fixtures.ts. A runtime difference in Request, Response, streams,
 * timers or Web Crypto then fails here rather than in production.
 */
import { readdirSync } from "node:fs";
import { bunTestSteps, ROOT } from "../fixtures.ts";

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
  "tests/unit/canonical_json_test.ts",
];
const ENDPOINT_FILES = readdirSync(`${ROOT}tests/endpoints`)
  .filter((f) => f.endsWith("_test.ts"))
  .sort()
  .map((f) => `tests/endpoints/${f}`);

Deno.test("the in-process tests pass under Bun", async (t) => {
  await bunTestSteps(t, [...ENDPOINT_FILES, ...UNIT_FILES]);
});
