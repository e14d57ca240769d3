/**
 * The design card's second way of running, as the README and the file's own comment
 * give it: `bun run examples/hello.ts` (and `deno run -A examples/hello.ts`) with the
 * command line's flags, then an OAuth flow and a tool call. Both runtimes print the
 * same usage: the flags are one parser's, not two.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUN_BIN,
  callHelloAt,
  DENO_BIN,
  obtainTokens,
  PASSWORD,
  RUNTIMES,
  spawnChild,
  startServer,
} from "../fixtures.ts";

for (const runtime of RUNTIMES) {
  Deno.test(`examples/hello.ts serves with the command line's flags, under ${runtime}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "pmcp-hello-"));
    // startServer passes --port, --hostname, --base-url, --state-dir and --password.
    const server = await startServer({
      runtime,
      stateDir: join(dir, "state"),
      password: PASSWORD,
      script: "examples/hello.ts",
      extraArgs: ["--log-format", "json"],
    });
    try {
      const { accessToken } = await obtainTokens(server.baseUrl, "hello example client");
      const answer = await callHelloAt(`${server.baseUrl}/mcp`, accessToken, "Ada");
      assert.equal(answer.status, 200);
      assert.equal(answer.text, "Hello, Ada!");
      // --log-format json: the activity log is JSON lines.
      const consent = server.output().split("\n").find((line) => line.includes('"consent_'));
      assert.ok(consent, `a consent event in the log:\n${server.output()}`);
      assert.doesNotThrow(() => JSON.parse(consent));
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

Deno.test("examples/hello.ts --help prints the same usage under Deno and Bun", async () => {
  const usage: string[] = [];
  for (const [bin, args] of [[DENO_BIN, ["run", "-A"]], [BUN_BIN, ["run"]]] as const) {
    const child = spawnChild(bin, [...args, "examples/hello.ts", "--help"], { stdin: "ignore" });
    assert.equal(await child.exit(30_000), 0, child.output());
    usage.push(child.output());
  }
  assert.match(usage[0]!, /--tools <module>/);
  assert.equal(usage[1], usage[0]);
});
