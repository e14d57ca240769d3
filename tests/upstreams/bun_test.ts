/**
 * The gateway's process and lifecycle tests under the real Bun binary: the same files,
 * with the minimal `Deno.test` of fixtures.ts, so that a difference in Bun's
 * node:child_process (process groups, pipes, signals) fails here.
 */
import { bunTestSteps } from "../fixtures.ts";

const FILES = [
  "tests/unit/upstream_config_test.ts",
  "tests/upstreams/spawner_test.ts",
  "tests/upstreams/lifecycle_test.ts",
  "tests/upstreams/options_test.ts",
  "tests/upstreams/owner_page_test.ts",
  "tests/upstreams/isolation_test.ts",
  "tests/upstreams/permissions_memory_test.ts",
];
Deno.test("the upstream tests pass under Bun", async (t) => {
  await bunTestSteps(t, FILES, { group: true });
});
