/**
 * The gateway's process and lifecycle tests under the real Bun binary: the same files,
 * with the minimal `Deno.test` of fixtures.ts, so that a difference in Bun's
 * node:child_process (process groups, pipes, signals) fails here.
 */
import assert from "node:assert/strict";
import { BUN_BIN, spawnChild } from "../fixtures.ts";

const FILES = [
  "tests/unit/upstream_config_test.ts",
  "tests/upstreams/spawner_test.ts",
  "tests/upstreams/lifecycle_test.ts",
  "tests/upstreams/options_test.ts",
  "tests/upstreams/owner_page_test.ts",
  "tests/upstreams/isolation_test.ts",
  "tests/upstreams/permissions_memory_test.ts",
];
const RUNNER = 'import { runDenoTestFiles } from "./tests/fixtures.ts";' +
  "process.exit((await runDenoTestFiles(process.argv.slice(1))) === 0 ? 0 : 1);";

Deno.test("the upstream tests pass under Bun", async (t) => {
  for (const file of FILES) {
    await t.step(file, async () => {
      const child = spawnChild(BUN_BIN, ["-e", RUNNER, file], { stdin: "ignore", group: true });
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
