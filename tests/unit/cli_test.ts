/**
 * `parseCli`: flags, `PERSONAL_MCP_*` environment fallback, precedence, and refusals.
 */
import assert from "node:assert/strict";
import { type CliOptions, parseCli, runCli } from "../../runtime/cli.ts";
import { runOwnerCommand } from "../../runtime/owner_commands.ts";
import type { ServeOptions } from "../../runtime/serve.ts";

function parsed(argv: string[], env: Record<string, string | undefined> = {}): ServeOptions {
  const result = parseCli(argv, env);
  assert.notEqual(result, "help");
  return result as ServeOptions;
}

Deno.test("parseCli reads every flag", () => {
  const options = parsed([
    "--port",
    "9000",
    "--hostname",
    "0.0.0.0",
    "--base-url",
    "https://me.example.com",
    "--state-dir",
    "/tmp/state",
    "--password",
    "a long passphrase",
    "--reset-password",
    "--trust-proxy",
  ]);
  assert.equal(options.port, 9000);
  assert.equal(options.hostname, "0.0.0.0");
  assert.equal(options.baseUrl, "https://me.example.com");
  assert.equal(options.stateDir, "/tmp/state");
  assert.equal(options.password, "a long passphrase");
  assert.equal(options.resetPassword, true);
  assert.equal(options.trustProxy, true);
});

Deno.test("parseCli accepts --flag=value", () => {
  const options = parsed(["--port=0", "--base-url=https://me.example.com"]);
  assert.equal(options.port, 0);
  assert.equal(options.baseUrl, "https://me.example.com");
});

Deno.test("parseCli leaves everything unset when given nothing", () => {
  const options = parsed([]);
  assert.equal(options.port, undefined);
  assert.equal(options.hostname, undefined);
  assert.equal(options.baseUrl, undefined);
  assert.equal(options.stateDir, undefined);
  assert.equal(options.password, undefined);
  assert.equal(options.resetPassword, false);
  assert.equal(options.trustProxy, false, "trusting X-Forwarded-For is opt-in");
});

Deno.test("parseCli falls back to PERSONAL_MCP_* environment variables", () => {
  const options = parsed([], {
    PERSONAL_MCP_PORT: "8788",
    PERSONAL_MCP_HOSTNAME: "::1",
    PERSONAL_MCP_BASE_URL: "https://env.example.com",
    PERSONAL_MCP_STATE_DIR: "/var/lib/pmcp",
    PERSONAL_MCP_PASSWORD: "password from env",
    PERSONAL_MCP_RESET_PASSWORD: "yes",
    PERSONAL_MCP_TRUST_PROXY: "1",
  });
  assert.equal(options.port, 8788);
  assert.equal(options.hostname, "::1");
  assert.equal(options.baseUrl, "https://env.example.com");
  assert.equal(options.stateDir, "/var/lib/pmcp");
  assert.equal(options.password, "password from env");
  assert.equal(options.resetPassword, true);
  assert.equal(options.trustProxy, true);
});

Deno.test("parseCli prefers a flag over the environment", () => {
  const options = parsed(["--port", "9001", "--base-url", "https://flag.example.com"], {
    PERSONAL_MCP_PORT: "8788",
    PERSONAL_MCP_BASE_URL: "https://env.example.com",
    PERSONAL_MCP_PASSWORD: "password from env",
  });
  assert.equal(options.port, 9001);
  assert.equal(options.baseUrl, "https://flag.example.com");
  assert.equal(options.password, "password from env", "unflagged options still come from env");
});

Deno.test("parseCli treats an empty environment variable as unset", () => {
  const options = parsed([], { PERSONAL_MCP_PORT: "", PERSONAL_MCP_BASE_URL: "" });
  assert.equal(options.port, undefined);
  assert.equal(options.baseUrl, undefined);
});

Deno.test("parseCli reads PERSONAL_MCP_RESET_PASSWORD as a boolean", async (t) => {
  const cases: [value: string | undefined, expected: boolean][] = [
    ["1", true],
    ["true", true],
    ["TRUE", true],
    ["yes", true],
    ["0", false],
    ["false", false],
    ["no", false],
    ["", false],
    [undefined, false],
  ];
  for (const [value, expected] of cases) {
    await t.step(`${JSON.stringify(value)} -> ${expected}`, () => {
      assert.equal(parsed([], { PERSONAL_MCP_RESET_PASSWORD: value }).resetPassword, expected);
    });
  }
});

Deno.test("parseCli turns metadata documents off by flag or PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS", async (t) => {
  const cases: [argv: string[], env: Record<string, string>, expected: false | undefined][] = [
    [[], {}, undefined],
    [["--no-client-metadata-documents"], {}, false],
    [[], { PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS: "1" }, false],
    [[], { PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS: "true" }, false],
    [[], { PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS: "0" }, undefined],
    [[], { PERSONAL_MCP_NO_CLIENT_METADATA_DOCUMENTS: "" }, undefined],
  ];
  for (const [argv, env, expected] of cases) {
    await t.step(`${JSON.stringify(argv)} ${JSON.stringify(env)} -> ${expected}`, () => {
      assert.equal(parsed(argv, env).clientMetadataDocuments, expected);
    });
  }
});

Deno.test("parseCli refuses a bad port, from a flag or the environment", async (t) => {
  const cases: [argv: string[], env: Record<string, string>][] = [
    [["--port", "abc"], {}],
    [["--port=-1"], {}],
    [["--port", "65536"], {}],
    [["--port", "80.5"], {}],
    [[], { PERSONAL_MCP_PORT: "http" }],
    [[], { PERSONAL_MCP_PORT: "70000" }],
  ];
  for (const [argv, env] of cases) {
    await t.step(`${JSON.stringify(argv)} ${JSON.stringify(env)}`, () => {
      assert.throws(() => parseCli(argv, env), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /--port must be an integer from 0 to 65535/);
        return true;
      });
    });
  }
});

// BUG: cli.ts parseCli converts the port with Number(), so "" and " " become 0 (any
// free port) and "0x50" / "1e3" become 80 / 1000 instead of being refused.
Deno.test({
  name: "parseCli refuses port text that is not plain decimal digits",
  ignore: false,
  fn: async (t) => {
    for (const text of ["", " ", "0x50", "1e3", "+80", " 80"]) {
      await t.step(JSON.stringify(text), () => {
        assert.throws(() => parseCli(["--port", text], {}), RangeError);
      });
    }
  },
});

Deno.test("parseCli refuses unknown flags and positional arguments", async (t) => {
  for (const argv of [["--prot", "80"], ["serve"], ["--password"]]) {
    await t.step(JSON.stringify(argv), () => {
      assert.throws(() => parseCli(argv, {}), TypeError);
    });
  }
});

Deno.test("parseCli answers --help, whatever else is given", () => {
  assert.equal(parseCli(["--help"], {}), "help");
  assert.equal(parseCli(["--port", "80", "--help"], { PERSONAL_MCP_PORT: "x" }), "help");
});

Deno.test("runCli --help prints the usage and serves nothing", async () => {
  const printed: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    assert.equal(await runCli({}, ["--help"]), undefined);
  } finally {
    console.log = original;
  }
  assert.match(printed.join("\n"), /^Usage: /);
  assert.match(printed.join("\n"), /PERSONAL_MCP_BASE_URL/);
});

Deno.test("parseCli reads --log-format (text or json) from the flag or PERSONAL_MCP_LOG_FORMAT", async (t) => {
  await t.step("json from the flag", () => {
    assert.equal((parseCli(["--log-format", "json"], {}) as CliOptions).logFormat, "json");
  });
  await t.step("text from the environment", () => {
    assert.equal(
      (parseCli([], { PERSONAL_MCP_LOG_FORMAT: "text" }) as CliOptions).logFormat,
      "text",
    );
  });
  await t.step("anything else is refused", () => {
    assert.throws(() => parseCli(["--log-format", "xml"], {}), RangeError);
  });
});

Deno.test("owner commands refuse a password given as a flag, and unknown commands", async (t) => {
  const io = (out: string[]) => ({
    env: {},
    stdout: (s: string) => void out.push(s),
    stderr: (s: string) => void out.push(s),
    stdinIsTerminal: false,
    readStdin: () => Promise.resolve(""),
    ask: () => Promise.resolve(""),
  });
  for (
    const argv of [
      ["password", "--password", "secret-secret"],
      ["password", "secret-secret"],
      ["revoke"],
      ["revoke", "a", "b"],
      ["revoke", "--all", "a"],
      ["grants", "extra"],
    ]
  ) {
    await t.step(JSON.stringify(argv), async () => {
      const out: string[] = [];
      assert.equal(await runOwnerCommand(argv, io(out)), 2);
      assert.match(out.join(""), /^error: /);
      assert.ok(!out.join("").includes("secret-secret"), "the value is not echoed");
    });
  }
});

Deno.test("revoke takes a grant or client id that begins with a dash as the id", async () => {
  // Ids are base64url: one in 64 begins with "-", which must not be read as a flag.
  const dir = await Deno.makeTempDir();
  const out: string[] = [];
  const io = {
    env: {},
    stdout: (s: string) => void out.push(s),
    stderr: (s: string) => void out.push(s),
    stdinIsTerminal: false,
    readStdin: () => Promise.resolve(""),
    ask: () => Promise.resolve(""),
  };
  try {
    const code = await runOwnerCommand(
      ["revoke", "-I5ZghqutSptk73izUUJ4A", "--state-dir", dir],
      io,
    );
    assert.equal(code, 1, out.join(""));
    assert.doesNotMatch(out.join(""), /Unknown option/);
    assert.match(out.join(""), /-I5ZghqutSptk73izUUJ4A/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
