/**
 * What a `jsr:` user gets: the file set `deno publish --dry-run` lists (read from its
 * output, never written down here), copied to a folder under /tmp with no
 * `node_modules` above it, runs under `deno run -A --node-modules-dir=none`, with every
 * npm dependency resolved by Deno itself from the registry into a fresh `DENO_DIR` of
 * the test's own: the closest local equivalent of `deno run -A jsr:@x/personal-mcp`.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { DENO_BIN, obtainTokens, PASSWORD, ROOT, spawnChild } from "../fixtures.ts";

/** What must never be published: the npm side of the repository, tests, benchmarks, CI. */
const NEVER_PUBLISHED = [
  "package.json",
  "package-lock.json",
  "node_modules/",
  "tests/",
  "bench/",
  ".ci/",
];

/** Runs `deno publish --dry-run --allow-dirty` and returns its exit code and output. */
async function dryRun(): Promise<{ code: number | null; output: string }> {
  const child = spawnChild(DENO_BIN, ["publish", "--dry-run", "--allow-dirty"], {
    env: { NO_COLOR: "1" },
    stdin: "ignore",
  });
  try {
    const code = await child.exit(120_000);
    return { code, output: child.output() };
  } finally {
    await child.stop();
  }
}

/** The files of the simulated publish, relative to the repository root ("a/b.ts"). */
function publishedFiles(output: string): string[] {
  const start = output.search(/^Simulating publish of .* with files:$/m);
  assert.ok(start >= 0, `no file list in the dry run's output:\n${output}`);
  const files: string[] = [];
  for (const line of output.slice(start).split("\n").slice(1)) {
    const m = /^\s+(file:\/\/\S+) \([^)]*\)$/.exec(line);
    if (!m) break;
    const path = relative(ROOT, fileURLToPath(m[1]!));
    assert.ok(!path.startsWith(".."), `published from outside the repository: ${m[1]}`);
    files.push(path.split(sep).join("/"));
  }
  return files;
}

/** A folder and every folder above it: where Deno or Node would look for node_modules. */
function selfAndAncestors(dir: string): string[] {
  const out = [dir];
  while (dirname(out.at(-1)!) !== out.at(-1)) out.push(dirname(out.at(-1)!));
  return out;
}

Deno.test("the published file set serves on its own, with dependencies Deno resolves from npm", async (t) => {
  const { code, output } = await dryRun();
  assert.equal(code, 0, `deno publish --dry-run failed:\n${output}`);
  const files = publishedFiles(output);
  assert.ok(files.length > 20, `the file list was read: ${files.join(", ")}`);

  await t.step(
    "the dry run publishes the module, its docs and examples, and nothing of npm, tests, bench or CI",
    () => {
      for (const needed of ["mod.ts", "deno.json", "LICENSE", "README.md"]) {
        assert.ok(files.includes(needed), `${needed} is published: ${files.join(", ")}`);
      }
      assert.ok(files.some((f) => f.startsWith("examples/")), "the examples are published");
      for (const never of NEVER_PUBLISHED) {
        const hits = files.filter((f) => never.endsWith("/") ? f.startsWith(never) : f === never);
        assert.deepEqual(hits, [], `${never} must not be published`);
      }
    },
  );

  // Under /tmp itself, not TMPDIR: a folder nobody set up with node_modules.
  const root = await mkdtemp("/tmp/pmcp-published-");
  const pkg = join(root, "package");
  const user = join(root, "user");
  const denoDir = join(root, "deno_dir");
  let server: ReturnType<typeof spawnChild> | undefined;
  try {
    await t.step("no node_modules or npm/Deno config is above the copy", () => {
      for (const dir of selfAndAncestors(root)) {
        for (const name of ["node_modules", "package.json", "deno.json", "deno.jsonc"]) {
          assert.ok(!existsSync(join(dir, name)), `${join(dir, name)} would be found`);
        }
      }
    });
    for (const file of files) {
      await mkdir(dirname(join(pkg, file)), { recursive: true });
      await copyFile(join(ROOT, file), join(pkg, file));
    }
    await mkdir(user);

    await t.step("deno run -A --node-modules-dir=none <package>/mod.ts listens", async () => {
      server = spawnChild(DENO_BIN, [
        "run",
        "-A",
        "--node-modules-dir=none",
        join(pkg, "mod.ts"),
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
        // The file store (Deno KV needs --unstable-kv), in the test's folder.
        "--state-dir",
        join(root, "state"),
      ], {
        cwd: user,
        // A DENO_DIR of its own: nothing comes from a cache the repository filled.
        env: { DENO_DIR: denoDir, PERSONAL_MCP_PASSWORD: PASSWORD, NO_COLOR: "1" },
        stdin: "ignore",
      });
      await server.waitFor(/MCP endpoint: http:\/\/127\.0\.0\.1:\d+\/mcp/, 90_000);
    });
    const base = /MCP endpoint: (http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(server!.output())![1]!;

    await t.step("/healthz, the discovery documents and the 401 on /mcp answer", async () => {
      const health = await fetch(`${base}/healthz`);
      await health.body?.cancel();
      assert.equal(health.status, 200, "the store is reachable");

      const resource = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
      assert.equal(resource.status, 200);
      const prm = await resource.json();
      assert.equal(prm.resource, `${base}/mcp`);
      assert.deepEqual(prm.authorization_servers, [base]);

      const as = await fetch(`${base}/.well-known/oauth-authorization-server`);
      assert.equal(as.status, 200);
      const metadata = await as.json();
      assert.equal(metadata.issuer, base);
      assert.deepEqual(metadata.code_challenge_methods_supported, ["S256"]);

      const mcp = await fetch(`${base}/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      await mcp.body?.cancel();
      assert.equal(mcp.status, 401);
      const challenge = mcp.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /^Bearer /);
      assert.ok(
        challenge.includes(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`),
        challenge,
      );
    });

    await t.step(
      "--tools serves a user's tools.ts that imports the package and its own zod, through the OAuth flow",
      async () => {
        // As the README's jsr: user writes it, with the package's path for jsr: (not
        // reachable here) and a zod of their own: another copy than the package's, of an
        // older minor version on purpose (the package builds its objects with its own).
        await writeFile(
          join(user, "tools.ts"),
          [
            `import { tool } from ${JSON.stringify(join(pkg, "mod.ts"))};`,
            `import { z } from "npm:zod@4.1.0";`,
            `export default {`,
            `  shout: tool({`,
            `    description: "Shout a text",`,
            `    input: { text: z.string(), times: z.number().int().optional() },`,
            `    run: ({ text, times }) => (text.toUpperCase() + "!").repeat(times ?? 1),`,
            `  }),`,
            `};`,
          ].join("\n"),
        );
        const served = spawnChild(DENO_BIN, [
          "run",
          "-A",
          "--node-modules-dir=none",
          join(pkg, "mod.ts"),
          "--tools",
          "./tools.ts",
          "--port",
          "0",
          "--hostname",
          "127.0.0.1",
          "--state-dir",
          join(root, "state-tools"),
        ], {
          cwd: user,
          env: { DENO_DIR: denoDir, PERSONAL_MCP_PASSWORD: PASSWORD, NO_COLOR: "1" },
          stdin: "ignore",
        });
        try {
          await served.waitFor(/MCP endpoint: http:\/\/127\.0\.0\.1:\d+\/mcp/, 90_000);
          const url = /MCP endpoint: (http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(served.output())![1]!;
          const { accessToken } = await obtainTokens(url, "jsr user's client");
          const shout = async (args: unknown) => {
            const res = await fetch(`${url}/mcp`, {
              method: "POST",
              headers: {
                authorization: `Bearer ${accessToken}`,
                "content-type": "application/json",
                accept: "application/json, text/event-stream",
              },
              body: JSON.stringify({
                jsonrpc: "2.0",
                id: 1,
                method: "tools/call",
                params: { name: "shout", arguments: args },
              }),
            });
            assert.equal(res.status, 200);
            return await res.json();
          };
          const answer = await shout({ text: "hi", times: 2 });
          assert.deepEqual(
            answer.result?.content,
            [{ type: "text", text: "HI!HI!" }],
            JSON.stringify(answer),
          );
          // Their schemas validate: a number for the text is refused, the tool not run.
          const refused = await shout({ text: 5 });
          assert.equal(refused.result?.isError, true, JSON.stringify(refused));
          assert.match(JSON.stringify(refused.result?.content), /text/);
        } finally {
          await served.stop();
        }
      },
    );

    await t.step(
      "every module, lazily loaded ones too, resolves and type-checks in the copy",
      async () => {
        const env = { DENO_DIR: denoDir, NO_COLOR: "1" };
        // The whole graph, dynamic imports included (`deno run` resolves those only when
        // they run, and `deno check` lets an unresolved type-only import pass).
        const info = await new Deno.Command(DENO_BIN, {
          args: ["info", "--json", "--node-modules-dir=none", "mod.ts"],
          cwd: pkg,
          env,
          stdin: "null",
        }).output();
        const errors = new TextDecoder().decode(info.stderr);
        assert.equal(info.code, 0, errors);
        const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
          modules: {
            specifier: string;
            error?: string;
            dependencies?: {
              specifier: string;
              code?: { error?: string };
              type?: { error?: string };
            }[];
          }[];
        };
        const unresolved = graph.modules.flatMap((m) => [
          ...(m.error ? [`${m.specifier}: ${m.error}`] : []),
          ...(m.dependencies ?? []).flatMap((d) =>
            [d.code?.error, d.type?.error].filter((e) => e !== undefined)
              .map((e) => `${m.specifier} imports ${d.specifier}: ${e}`)
          ),
        ]);
        assert.ok(graph.modules.length > 20, "the graph was read");
        assert.deepEqual(unresolved, [], "every import resolves without node_modules");
        const check = await new Deno.Command(DENO_BIN, {
          args: ["check", "--node-modules-dir=none", "mod.ts"],
          cwd: pkg,
          env,
          stdin: "null",
        }).output();
        assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
      },
    );

    await t.step("each npm dependency came from the registry into the test's DENO_DIR", () => {
      const { dependencies } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
      const names = Object.keys(dependencies as Record<string, string>);
      assert.ok(names.includes("@modelcontextprotocol/server"), "package.json was read");
      const npm = join(denoDir, "npm", "registry.npmjs.org");
      for (const name of names) assert.ok(existsSync(join(npm, name)), `${name} in ${npm}`);
      for (const dir of [pkg, user]) {
        assert.ok(!existsSync(join(dir, "node_modules")), `no node_modules in ${dir}`);
      }
    });
  } finally {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});
