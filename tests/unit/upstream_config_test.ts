/**
 * The servers file (Claude Desktop / Cursor `mcpServers`, VS Code `servers`) read into
 * upstream entries, and every kind of mistake stopped with one message naming the
 * file, the server and the key.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  parseServers,
  parseServersFile,
  type UpstreamConfig,
} from "../../transport/upstreams/config.ts";

const ENV = { HOME: "/home/me", LAB_TOKEN: "s3cret", EMPTY: "" };

Deno.test("a Claude Desktop file is read as the owner wrote it", () => {
  const text = JSON.stringify({
    preferences: { menuBarEnabled: true },
    mcpServers: {
      memory: {
        command: "npx",
        args: ["-y", "@modelcontextprotocol/server-memory"],
        env: { MEMORY_FILE_PATH: "${HOME}/memory.jsonl" },
      },
      files: { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/n"] },
      lab: {
        type: "http",
        url: "http://192.168.1.20:3000/mcp",
        headers: { Authorization: "Bearer ${LAB_TOKEN}" },
      },
    },
  });
  const servers = parseServersFile(text, "claude_desktop_config.json", ENV);
  assert.deepEqual(
    servers,
    [
      {
        name: "memory",
        transport: {
          type: "stdio",
          command: "npx",
          args: ["-y", "@modelcontextprotocol/server-memory"],
          env: { MEMORY_FILE_PATH: "/home/me/memory.jsonl" },
        },
        timeoutMs: DEFAULT_TIMEOUT_MS,
        maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      },
      {
        name: "files",
        transport: {
          type: "stdio",
          command: "npx",
          args: ["-y", "@modelcontextprotocol/server-filesystem", "/n"],
          env: {},
        },
        timeoutMs: 60_000,
        maxMessageBytes: 16 * 1024 * 1024,
      },
      {
        name: "lab",
        transport: {
          type: "http",
          url: "http://192.168.1.20:3000/mcp",
          headers: { Authorization: "Bearer s3cret" },
        },
        timeoutMs: 60_000,
        maxMessageBytes: 16 * 1024 * 1024,
      },
    ] satisfies UpstreamConfig[],
  );
});

Deno.test("what is read, case by case", async (t) => {
  const one = (entry: unknown, env: Record<string, string> = ENV) =>
    parseServers({ mcpServers: { s: entry } }, "f.json", env)[0];
  const cases: Array<[string, unknown, Partial<UpstreamConfig> | undefined]> = [
    [
      "VS Code's type stdio, cwd, timeoutMs, prefix, rename",
      {
        type: "stdio",
        command: "node",
        args: ["${env:HOME}/s.js"],
        cwd: "${HOME}",
        timeoutMs: 5000,
        prefix: "",
        rename: { read_graph: "graph" },
      },
      {
        transport: {
          type: "stdio",
          command: "node",
          args: ["/home/me/s.js"],
          env: {},
          cwd: "/home/me",
        },
        timeoutMs: 5000,
        prefix: "",
        rename: { read_graph: "graph" },
      },
    ],
    [
      "a url without a type is HTTP",
      { url: "https://example.test/mcp" },
      { transport: { type: "http", url: "https://example.test/mcp", headers: {} } },
    ],
    [
      "streamable-http and streamableHttp are HTTP",
      { type: "streamable-http", url: "http://127.0.0.1:1/mcp" },
      { transport: { type: "http", url: "http://127.0.0.1:1/mcp", headers: {} } },
    ],
    [
      "sse is the 2024-11-05 transport",
      { type: "sse", url: "http://127.0.0.1:1/sse" },
      { transport: { type: "sse", url: "http://127.0.0.1:1/sse", headers: {} } },
    ],
    [
      "${NAME:-default} and a variable set to the empty string",
      { command: "x", args: ["${NOPE:-fallback}", "${EMPTY}", "$HOME", "$${HOME}"] },
      {
        transport: {
          type: "stdio",
          command: "x",
          args: ["fallback", "", "$HOME", "$/home/me"],
          env: {},
        },
      },
    ],
    [
      "keys of other clients that change nothing here",
      { command: "x", description: "d", autoApprove: ["a"], dev: {}, maxMessageBytes: 2048 },
      { transport: { type: "stdio", command: "x", args: [], env: {} }, maxMessageBytes: 2048 },
    ],
    ["disabled: true leaves the server out", { command: "x", disabled: true }, undefined],
  ];
  for (const [label, entry, expected] of cases) {
    await t.step(label, () => {
      const got = one(entry);
      if (expected === undefined) return assert.equal(got, undefined);
      assert.deepEqual(got, {
        name: "s",
        timeoutMs: DEFAULT_TIMEOUT_MS,
        maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
        ...expected,
      });
    });
  }
  await t.step("VS Code's servers and mcpServers side by side; other keys ignored", () => {
    const got = parseServers(
      { inputs: [], servers: { a: { command: "a" } }, mcpServers: { b: { command: "b" } } },
      "mcp.json",
      {},
    );
    assert.deepEqual(got.map((s) => s.name).sort(), ["a", "b"]);
  });
  await t.step("an empty map is no servers", () => {
    assert.deepEqual(parseServers({ mcpServers: {} }, "f.json", {}), []);
  });
  await t.step("VS Code's JSON with comments and trailing commas", () => {
    const text = `{
      // my servers
      "servers": {
        /* the memory */ "memory": { "type": "stdio", "command": "npx", "args": ["a // b", "c,]"], // trailing
        },
      },
    }`;
    const [memory] = parseServersFile(text, "mcp.json", {});
    assert.deepEqual(memory?.transport, {
      type: "stdio",
      command: "npx",
      args: ["a // b", "c,]"],
      env: {},
    });
  });
});

Deno.test("every mistake stops the start with one message naming the file, server and key", async (t) => {
  const cases: Array<[string, string, string | RegExp]> = [
    ["a file that does not parse", '{"mcpServers": {', /^servers\.json: not valid JSON \(/],
    ["a list instead of an object", "[]", "servers.json: expected a JSON object"],
    ["no servers object", '{"preferences": {}}', /^servers\.json: no "mcpServers"/],
    [
      "mcpServers not an object",
      '{"mcpServers": []}',
      'servers.json: "mcpServers" must be an object',
    ],
    [
      "a typo in a key",
      '{"mcpServers": {"memory": {"comand": "npx"}}}',
      'servers.json: server "memory": unknown key "comand" (did you mean "command"?)',
    ],
    [
      "a key far from any known one",
      '{"mcpServers": {"memory": {"command": "npx", "zzzzzz": 1}}}',
      /^servers\.json: server "memory": unknown key "zzzzzz" \(known: type, /,
    ],
    [
      "an entry that is not an object",
      '{"mcpServers": {"memory": "npx"}}',
      'servers.json: server "memory": "memory" must be an object',
    ],
    [
      "neither command nor url",
      '{"mcpServers": {"m": {"args": []}}}',
      'servers.json: server "m": "command" is missing (or "url" for an HTTP server)',
    ],
    [
      "a command of the wrong type",
      '{"mcpServers": {"m": {"command": ["npx"]}}}',
      'servers.json: server "m": "command" must be a string, not a list',
    ],
    [
      "an empty command",
      '{"mcpServers": {"m": {"command": " "}}}',
      'servers.json: server "m": "command" is empty',
    ],
    [
      "args not a list",
      '{"mcpServers": {"m": {"command": "x", "args": "-y"}}}',
      'servers.json: server "m": "args" must be a list of strings, not a string',
    ],
    [
      "an arg that is a number",
      '{"mcpServers": {"m": {"command": "x", "args": ["a", 3]}}}',
      'servers.json: server "m": "args[1]" must be a string, not number 3',
    ],
    [
      "an env value that is a number",
      '{"mcpServers": {"m": {"command": "x", "env": {"PORT": 3000}}}}',
      'servers.json: server "m": "env.PORT" must be a string, not number 3000',
    ],
    [
      "a variable that is not set",
      '{"mcpServers": {"lab": {"url": "http://h/mcp", "headers": {"Authorization": "Bearer ${NO_TOKEN}"}}}}',
      'servers.json: server "lab": "headers.Authorization" uses ${NO_TOKEN}, which is not set',
    ],
    [
      "a VS Code input variable",
      '{"servers": {"lab": {"command": "x", "args": ["${input:key}"]}}}',
      /^servers\.json: server "lab": "args\[0\]" uses \$\{input:key\}: only/,
    ],
    [
      "an unknown type",
      '{"mcpServers": {"m": {"type": "websocket", "url": "ws://h"}}}',
      'servers.json: server "m": "type" must be one of stdio, http, streamable-http, streamableHttp, sse',
    ],
    [
      "a url on a stdio server",
      '{"mcpServers": {"m": {"type": "stdio", "command": "x", "url": "http://h"}}}',
      'servers.json: server "m": "url" does not apply to a stdio server',
    ],
    [
      "a url that is not http",
      '{"mcpServers": {"m": {"url": "file:///etc/passwd"}}}',
      'servers.json: server "m": "url" must be an absolute http: or https: URL',
    ],
    [
      "a header that would split the request",
      '{"mcpServers": {"m": {"url": "http://h/", "headers": {"X": "a\\r\\nHost: evil"}}}}',
      'servers.json: server "m": "headers.X" is not a valid HTTP header',
    ],
    [
      "a timeout of zero",
      '{"mcpServers": {"m": {"command": "x", "timeoutMs": 0}}}',
      /^servers\.json: server "m": "timeoutMs" must be a whole number from 1 to 86400000, not number 0/,
    ],
    [
      "a timeout as a string",
      '{"mcpServers": {"m": {"command": "x", "timeoutMs": "60s"}}}',
      /"timeoutMs" must be a whole number from 1 to 86400000, not a string/,
    ],
    [
      "a prefix that breaks tool names",
      '{"mcpServers": {"m": {"command": "x", "prefix": "my server."}}}',
      'servers.json: server "m": "prefix" must have up to 63 of a-z, A-Z, 0-9, _ and -',
    ],
    [
      "rename with a non-string",
      '{"mcpServers": {"m": {"command": "x", "rename": {"a": 1}}}}',
      'servers.json: server "m": "rename.a" must be a string, not number 1',
    ],
    [
      "envFile, which is not offered",
      '{"servers": {"m": {"command": "x", "envFile": ".env"}}}',
      /^servers\.json: server "m": "envFile" is not supported: put the variables in "env"/,
    ],
    [
      "disabled not a boolean",
      '{"mcpServers": {"m": {"command": "x", "disabled": "yes"}}}',
      'servers.json: server "m": "disabled" must be a boolean, not a string',
    ],
    [
      "one name in both maps",
      '{"mcpServers": {"m": {"command": "x"}}, "servers": {"m": {"command": "y"}}}',
      'servers.json: server "m": listed twice',
    ],
    [
      "an empty name",
      '{"mcpServers": {"": {"command": "x"}}}',
      'servers.json: server "": a server name has 1 to 128 characters',
    ],
  ];
  for (const [label, text, expected] of cases) {
    await t.step(label, () => {
      assert.throws(
        () => parseServersFile(text, "servers.json", ENV),
        (error: Error) => {
          if (typeof expected === "string") assert.equal(error.message, expected);
          else assert.match(error.message, expected);
          return true;
        },
      );
    });
  }
});

Deno.test("examples/servers.json reads as the README says", async () => {
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(new URL("../../examples/servers.json", import.meta.url), "utf8");
  const servers = parseServersFile(text, "examples/servers.json", { HOME: "/home/me" });
  assert.deepEqual(servers.map((s) => s.name), ["memory", "files"], "lab is disabled");
  assert.deepEqual(servers[0]?.transport, {
    type: "stdio",
    command: "npx",
    args: ["-y", "@modelcontextprotocol/server-memory"],
    env: { MEMORY_FILE_PATH: "/home/me/memory.jsonl" },
  });
});
