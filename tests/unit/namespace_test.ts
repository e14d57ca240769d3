/**
 * The gateway's one namespace (transport/upstreams/namespace.ts) as tables: exposed
 * names, offenders (bad characters, length, collisions with each other and with the
 * owner's own tools and prompts), and resource URI routing.
 */
import assert from "node:assert/strict";
import {
  buildNameTable,
  buildUriTable,
  exposedName,
  type NamingRules,
} from "../../transport/upstreams/namespace.ts";

Deno.test("exposedName: <server>_<tool>, a prefix instead, or the rename map as written", async (t) => {
  const cases: [why: string, rules: NamingRules, name: string, exposed: string][] = [
    ["default", { name: "memory" }, "read_graph", "memory_read_graph"],
    ["prefix replaces <server>_", { name: "memory", prefix: "m-" }, "read_graph", "m-read_graph"],
    ["empty prefix", { name: "memory", prefix: "" }, "read_graph", "read_graph"],
    ["rename wins over prefix", { name: "m", prefix: "p_", rename: { a: "b" } }, "a", "b"],
    ["rename of another name", { name: "m", rename: { a: "b" } }, "c", "m_c"],
    ["rename is an own key, not inherited", { name: "m", rename: {} }, "toString", "m_toString"],
  ];
  for (const [why, rules, name, exposed] of cases) {
    await t.step(why, () => assert.equal(exposedName(rules, name), exposed));
  }
});

Deno.test("buildNameTable routes exposed names and lists every offender", async (t) => {
  await t.step("names from two servers, in order", () => {
    const { routes, offenders } = buildNameTable("tool", [
      { rules: { name: "memory" }, names: ["read_graph", "create_entities"] },
      { rules: { name: "files" }, names: ["read_file"] },
    ], ["echo"]);
    assert.deepEqual(offenders, []);
    assert.deepEqual([...routes], [
      ["memory_read_graph", { server: "memory", name: "read_graph" }],
      ["memory_create_entities", { server: "memory", name: "create_entities" }],
      ["files_read_file", { server: "files", name: "read_file" }],
    ]);
  });

  const refused: [
    why: string,
    servers: Parameters<typeof buildNameTable>[1],
    own: string[],
    match: RegExp,
  ][] = [
    ["a space", [{ rules: { name: "s" }, names: ["a b"] }], [], /"s_a b" does not match/],
    ["a dot", [{ rules: { name: "s" }, names: ["a.b"] }], [], /"s_a.b" does not match/],
    [
      "a slash in the server name",
      [{ rules: { name: "a/b" }, names: ["t"] }],
      [],
      /"a\/b_t" does not match/,
    ],
    ["non-ASCII", [{ rules: { name: "s" }, names: ["caf\u00e9"] }], [], /does not match/],
    ["65 characters", [{ rules: { name: "s" }, names: ["x".repeat(63)] }], [], /does not match/],
    [
      "empty rename",
      [{ rules: { name: "s", rename: { t: "" } }, names: ["t"] }],
      [],
      /as "" does not match/,
    ],
    [
      "the owner's own tool",
      [{ rules: { name: "s" }, names: ["echo"] }],
      ["s_echo"],
      /collides with the server's own tool/,
    ],
    [
      "two servers, one name",
      [
        { rules: { name: "a" }, names: ["b_c"] },
        { rules: { name: "a_b" }, names: ["c"] },
      ],
      [],
      /server "a_b": tool "c" as "a_b_c" collides with tool "b_c" of server "a"/,
    ],
    [
      "a rename onto another's name",
      [
        { rules: { name: "a" }, names: ["x"] },
        { rules: { name: "b", rename: { y: "a_x" } }, names: ["y"] },
      ],
      [],
      /collides with tool "x" of server "a"/,
    ],
    [
      "a prefix onto another's name",
      [
        { rules: { name: "a" }, names: ["x"] },
        { rules: { name: "b", prefix: "a_" }, names: ["x"] },
      ],
      [],
      /server "b": tool "x" as "a_x" collides/,
    ],
  ];
  for (const [why, servers, own, match] of refused) {
    await t.step(`refused: ${why}`, () => {
      const { offenders, routes } = buildNameTable("tool", servers, own);
      assert.equal(offenders.length, 1, offenders.join("\n"));
      assert.match(offenders[0]!, match);
      // The first holder stays routed; the offender is not.
      assert.equal(routes.size, servers.length - 1);
    });
  }

  await t.step("exactly 64 characters is accepted", () => {
    const { offenders } = buildNameTable("tool", [{
      rules: { name: "s" },
      names: ["x".repeat(62)],
    }], []);
    assert.deepEqual(offenders, []);
  });

  await t.step("a prefix or rename mends an offender", () => {
    const long = "y".repeat(62);
    const { offenders, routes } = buildNameTable("tool", [
      { rules: { name: "server", rename: { [long]: "short" } }, names: [long] },
      { rules: { name: "other", prefix: "o_" }, names: ["x"] },
    ], ["server_x"]);
    assert.deepEqual(offenders, []);
    assert.deepEqual(routes.get("short"), { server: "server", name: long });
    assert.deepEqual(routes.get("o_x"), { server: "other", name: "x" });
  });

  await t.step("one upstream listing a name twice keeps the first and is no offender", () => {
    const { offenders, routes } = buildNameTable("tool", [{
      rules: { name: "s" },
      names: ["t", "t"],
    }], []);
    assert.deepEqual(offenders, []);
    assert.equal(routes.size, 1);
  });

  await t.step("prompts are named and refused the same way", () => {
    const { offenders, routes } = buildNameTable("prompt", [
      { rules: { name: "e" }, names: ["simple-prompt", "bad prompt"] },
    ], ["e_simple-prompt"]);
    assert.equal(routes.size, 0);
    assert.match(
      offenders[0]!,
      /prompt "simple-prompt" as "e_simple-prompt" collides with the server's own prompt/,
    );
    assert.match(offenders[1]!, /prompt "bad prompt" as "e_bad prompt" does not match/);
  });

  await t.step("an offender line escapes what the upstream sent", () => {
    const { offenders } = buildNameTable(
      "tool",
      [{ rules: { name: "s" }, names: ["a\u202eb\n"] }],
      [],
    );
    assert.ok(!/[\u202e\n]/.test(offenders[0]!), offenders[0]!);
    assert.match(offenders[0]!, /\\u202e/);
  });
});

Deno.test("buildUriTable routes resource URIs unchanged and refuses a URI two owners claim", async (t) => {
  await t.step("URIs route to the server that listed them", () => {
    const { routes, offenders } = buildUriTable("resource", [
      { server: "everything", uris: ["demo://resource/static/document/architecture.md"] },
      { server: "files", uris: ["file:///tmp/a.txt"] },
    ], []);
    assert.deepEqual(offenders, []);
    assert.equal(routes.get("file:///tmp/a.txt"), "files");
    assert.equal(routes.get("demo://resource/static/document/architecture.md"), "everything");
  });
  await t.step("a URI listed twice by one server is no offender", () => {
    const { offenders } = buildUriTable("resource", [{ server: "a", uris: ["x:1", "x:1"] }], []);
    assert.deepEqual(offenders, []);
  });
  await t.step("two servers, one URI: the first keeps it, the second is an offender", () => {
    const { routes, offenders } = buildUriTable("resource", [
      { server: "a", uris: ["x:1"] },
      { server: "b", uris: ["x:1", "x:2"] },
    ], []);
    assert.equal(routes.get("x:1"), "a");
    assert.equal(routes.get("x:2"), "b");
    assert.deepEqual(offenders, ['server "b": resource "x:1" is also listed by "a"']);
  });
  await t.step("the owner's own URI", () => {
    const { offenders } = buildUriTable("resource template", [{
      server: "a",
      uris: ["notes://{id}"],
    }], [
      "notes://{id}",
    ]);
    assert.deepEqual(offenders, [
      'server "a": resource template "notes://{id}" is also the server\'s own',
    ]);
  });
});
