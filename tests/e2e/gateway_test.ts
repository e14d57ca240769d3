/**
 * The gateway end to end (issue 21), under Deno and under Bun: a real server process
 * with the reference servers as its upstreams (server-everything, server-memory with its
 * file, server-filesystem on a temporary folder), reached through the whole OAuth flow
 * by the official SDK client, and once by mcp-remote (what Claude Desktop runs).
 */
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  NODE_BIN,
  PASSWORD,
  ROOT,
  RUNTIMES,
  type ServerProcess,
  spawnChild,
  startScript,
  submitConsent,
  TestOAuthProvider,
} from "../fixtures.ts";

const PACKAGES = `${ROOT}node_modules/@modelcontextprotocol`;
const WAIT_MS = 60_000;

/** A server process serving the demo tools and the three reference servers. */
async function startGateway(runtime: "deno" | "bun", dir: string): Promise<ServerProcess> {
  const servers = {
    everything: { command: "node", args: [`${PACKAGES}/server-everything/dist/index.js`, "stdio"] },
    memory: {
      command: "node",
      args: [`${PACKAGES}/server-memory/dist/index.js`],
      // `${VAR}` is read from the server's environment.
      env: { MEMORY_FILE_PATH: "${GATEWAY_TEST_MEMORY}" },
    },
    files: {
      command: "node",
      args: [`${PACKAGES}/server-filesystem/dist/index.js`, `${dir}/files`],
    },
  };
  return await startScript(
    runtime,
    `
    import { demoTools, servePersonalMcp } from "./mod.ts";
    const server = await servePersonalMcp(demoTools, {
      port: 0, store: "memory", password: ${JSON.stringify(PASSWORD)}, banner: false,
      stateDir: ${JSON.stringify(dir)},
      servers: ${JSON.stringify(servers)},
      // The owner lets every app write through the filesystem server without asking
      // (unannotated or destructive upstream tools are held for the owner by default).
      toolPolicy: { files_write_file: "allow" },
    });
    console.log("LISTENING " + server.port);
  `,
    { env: { GATEWAY_TEST_MEMORY: `${dir}/memory.jsonl` } },
  );
}

/** The SDK client through discovery, registration, consent and the code exchange. */
async function connectWithOAuth(
  mcpUrl: string,
  options: ConstructorParameters<typeof Client>[1],
  setup: (client: Client) => void,
): Promise<Client> {
  const provider = new TestOAuthProvider(PASSWORD);
  const make = () => {
    const client = new Client({ name: "gateway-e2e", version: "1.0.0" }, options);
    setup(client);
    return client;
  };
  const transport = () =>
    new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await assert.rejects(make().connect(transport()), UnauthorizedError);
  assert.ok(provider.lastCode, "the SDK went through the consent page and got a code");
  await transport().finishAuth(provider.lastRedirect!.searchParams);
  const client = make();
  await client.connect(transport());
  return client;
}

const text = (result: { content?: unknown }) => JSON.stringify(result.content);

for (const runtime of RUNTIMES) {
  Deno.test(`the gateway serves the reference servers through the OAuth flow under ${runtime}`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), `pmcp-gateway-${runtime}-`));
    await Deno.mkdir(`${dir}/files`);
    await writeFile(`${dir}/files/note.txt`, "a note on disk\n");
    const server = await startGateway(runtime, dir);
    const client = await connectWithOAuth(`${server.baseUrl}/mcp`, {
      capabilities: { sampling: {}, elicitation: { form: {} } },
    }, (c) => {
      c.setRequestHandler("sampling/createMessage", () => ({
        role: "assistant",
        model: "e2e-model",
        content: { type: "text", text: "sampled through the gateway" },
      }));
      c.setRequestHandler("elicitation/create", () => ({
        action: "accept",
        content: {
          name: "Ada",
          check: true,
          email: "ada@example.com",
          integer: 3,
          number: 2.5,
          color: "blue",
        },
      }));
    });
    try {
      await t.step("listing: the demo tools and every upstream's, namespaced", async () => {
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        for (
          const name of [
            "everything_echo",
            "everything_get-structured-content",
            "everything_trigger-sampling-request",
            "everything_trigger-elicitation-request",
            "memory_create_entities",
            "memory_read_graph",
            "files_read_text_file",
            "files_write_file",
          ]
        ) assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
      });

      await t.step("every result kind of server-everything", async () => {
        assert.equal(
          text(await client.callTool({ name: "everything_echo", arguments: { message: "hi" } })),
          JSON.stringify([{ type: "text", text: "Echo: hi" }]),
        );
        const image = await client.callTool({ name: "everything_get-tiny-image", arguments: {} });
        assert.ok((image.content as Array<{ type: string }>).some((c) => c.type === "image"));
        const structured = await client.callTool({
          name: "everything_get-structured-content",
          arguments: { location: "New York" },
        });
        assert.equal(
          typeof (structured.structuredContent as { temperature?: number })?.temperature,
          "number",
        );
        const links = await client.callTool({
          name: "everything_get-resource-links",
          arguments: { count: 2 },
        });
        assert.equal(
          (links.content as Array<{ type: string }>).filter((c) => c.type === "resource_link")
            .length,
          2,
        );
        const annotated = await client.callTool({
          name: "everything_get-annotated-message",
          arguments: { messageType: "success", includeImage: false },
        });
        assert.match(JSON.stringify(annotated.content), /"annotations"/);
        const embedded = await client.callTool({
          name: "everything_get-resource-reference",
          arguments: { resourceType: "Text", resourceId: 1 },
        });
        assert.ok((embedded.content as Array<{ type: string }>).some((c) => c.type === "resource"));
      });

      await t.step("progress from trigger-long-running-operation", async () => {
        const seen: number[] = [];
        await client.callTool(
          {
            name: "everything_trigger-long-running-operation",
            arguments: { duration: 1, steps: 3 },
          },
          { onprogress: (p) => void seen.push(p.progress) },
        );
        assert.deepEqual(seen, [1, 2, 3]);
      });

      await t.step("a sampling and an elicitation round trip", async () => {
        const sampled = await client.callTool({
          name: "everything_trigger-sampling-request",
          arguments: { prompt: "hello", maxTokens: 5 },
        });
        assert.match(text(sampled), /sampled through the gateway/);
        const elicited = await client.callTool({
          name: "everything_trigger-elicitation-request",
          arguments: {},
        });
        assert.match(text(elicited), /Ada/);
      });

      await t.step("resources and prompts", async () => {
        const { resources } = await client.listResources();
        assert.ok(resources.length > 0);
        const read = await client.readResource({ uri: resources[0]!.uri });
        assert.equal(read.contents[0]?.uri, resources[0]!.uri);
        const { prompts } = await client.listPrompts();
        assert.ok(prompts.some((p) => p.name === "everything_simple-prompt"));
        const got = await client.getPrompt({ name: "everything_simple-prompt" });
        assert.ok(got.messages.length > 0);
      });

      await t.step("list_changed reaches the session", async () => {
        let changed = 0;
        client.setNotificationHandler("notifications/resources/list_changed", () => void changed++);
        await client.callTool({
          name: "everything_gzip-file-as-resource",
          arguments: {
            name: "e2e.gz",
            data: `data:text/plain;base64,${btoa("x")}`,
            outputType: "resourceLink",
          },
        });
        const deadline = Date.now() + 5000;
        while (changed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        assert.ok(changed > 0);
      });

      await t.step("server-memory writes its file", async () => {
        const result = await client.callTool({
          name: "memory_create_entities",
          arguments: {
            entities: [{ name: "Gateway", entityType: "test", observations: [`via ${runtime}`] }],
          },
        });
        assert.notEqual(result.isError, true, text(result));
        const file = await readFile(`${dir}/memory.jsonl`, "utf8");
        assert.match(file, /"name":"Gateway"/);
        assert.match(file, new RegExp(`via ${runtime}`));
      });

      await t.step("server-filesystem reads and writes its folder", async () => {
        const read = await client.callTool({
          name: "files_read_text_file",
          arguments: { path: `${dir}/files/note.txt` },
        });
        assert.match(text(read), /a note on disk/);
        await client.callTool({
          name: "files_write_file",
          arguments: { path: `${dir}/files/new.txt`, content: "written through the gateway" },
        });
        assert.equal(await readFile(`${dir}/files/new.txt`, "utf8"), "written through the gateway");
        const outside = await client.callTool({
          name: "files_read_text_file",
          arguments: { path: "/etc/hostname" },
        });
        assert.equal(outside.isError, true);
      });
    } finally {
      await client.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

Deno.test("mcp-remote signs in and lists the upstream tools", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pmcp-gateway-remote-"));
  await Deno.mkdir(`${dir}/files`);
  const server = await startGateway("deno", dir);
  const configDir = await mkdtemp(join(tmpdir(), "mcp-remote-"));
  const callbackPort = await freePort();
  const cli = spawnChild(
    NODE_BIN,
    [
      `${ROOT}node_modules/.bin/mcp-remote-client`,
      `${server.baseUrl}/mcp`,
      String(callbackPort),
      "--host",
      "127.0.0.1",
    ],
    { env: { MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "true", DISPLAY: "" } },
  );
  try {
    const [, url] = await cli.waitFor(/Please authorize this client by visiting:\s+(\S+)/, WAIT_MS);
    const consent = await submitConsent(new URL(url!), PASSWORD);
    assert.ok(consent.location, consent.body);
    const res = await fetch(consent.location!, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(await cli.exit(WAIT_MS), 0, cli.output());
    const tools = cli.output().slice(cli.output().indexOf("Tools:"));
    assert.match(tools, /"name": "everything_echo"/);
    assert.match(tools, /"name": "memory_read_graph"/);
    assert.match(tools, /"name": "files_read_text_file"/);
  } finally {
    await cli.stop();
    await server.stop();
    await rm(configDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
});
