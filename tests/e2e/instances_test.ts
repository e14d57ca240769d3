/**
 * Several instances on one Deno KV, the way Deno Deploy runs the server: three server
 * processes (`deno run -A --unstable-kv examples/conformance.ts`) on one state folder
 * (one KV file) and one `--base-url`, behind a round-robin proxy (node:http), so that
 * consecutive requests of one client reach different processes. Through the proxy:
 * the SDK client with a session (sampling and elicitation answered through another
 * process) and sessionless, mcp-remote, the Inspector CLI and the conformance server
 * suite. Then, on the processes directly: a revocation made on one (by `/revoke`, the
 * owner page, refresh-token reuse, an owner command) refuses the token and ends the
 * grant's session stream on the others, with the delay printed; and password and
 * registration bursts spread over the three are limited as on one, with the counts.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { FREE_FAILURES, REGISTRATIONS_PER_MINUTE } from "../../auth/limits/throttle.ts";
import {
  authorizeUrlAt,
  DENO_BIN,
  formField,
  freePort,
  initializeRequest,
  mcpPostAt,
  NODE_BIN,
  obtainTokens,
  PASSWORD,
  pkcePair,
  registerAt,
  ROOT,
  type ServerProcess,
  spawnChild,
  startServer,
  submitConsent,
  TestOAuthProvider,
  tokenRequest,
} from "../fixtures.ts";

const SCRIPT = "examples/conformance.ts";
const SERVER_SUITE = `${ROOT}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const INSPECTOR_CLI = `${ROOT}node_modules/@modelcontextprotocol/inspector-cli/build/index.js`;
const MCP_REMOTE_CLIENT = `${ROOT}node_modules/.bin/mcp-remote-client`;
/** Bound of every wait for a revocation to reach another process (the fallback is 30 s). */
const PROPAGATION_BOUND_MS = 10_000;
const WAIT_MS = 60_000;
const INSTANCES = 3;

/** A round-robin proxy in front of the instances; counts what each one answered. */
interface RoundRobin {
  url: string;
  /** Requests forwarded to each instance. */
  hits: number[];
  close(): Promise<void>;
}

/**
 * A few lines of node:http: each request goes to the next instance, the answer is
 * streamed back (SSE included). `token` is added when the client sends none (the
 * conformance suite does not authenticate).
 */
function roundRobin(port: number, targets: number[], token?: string): Promise<RoundRobin> {
  let next = 0;
  const hits = targets.map(() => 0);
  const server = http.createServer((req, res) => {
    const i = next++ % targets.length;
    hits[i]!++;
    const headers = { ...req.headers };
    if (token && !headers.authorization) headers.authorization = `Bearer ${token}`;
    const upstream = http.request(
      { host: "127.0.0.1", port: targets[i], method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    // A client that goes away (an SSE stream it closed) ends the upstream request too.
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${port}`,
        hits,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The status of a sessionless `tools/list` on an instance with `token`. */
async function listStatus(baseUrl: string, token: string): Promise<number> {
  const res = await mcpPostAt(`${baseUrl}/mcp`, token, {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/list",
  });
  await res.body?.cancel();
  return res.status;
}

/** Milliseconds from `since` until `token` is refused on the instance; throws past the bound. */
async function refusedAfter(baseUrl: string, token: string, since: number): Promise<number> {
  for (;;) {
    if ((await listStatus(baseUrl, token)) === 401) return Date.now() - since;
    if (Date.now() - since > PROPAGATION_BOUND_MS) {
      throw new Error(
        `${baseUrl} still accepts the revoked token after ${PROPAGATION_BOUND_MS} ms`,
      );
    }
    await sleep(20);
  }
}

/**
 * Opens a session on one instance directly and its standalone GET stream; resolves
 * `ended` with the time the stream ended (the server closed it).
 */
async function openStream(baseUrl: string, token: string): Promise<{ ended: Promise<number> }> {
  const init = await mcpPostAt(`${baseUrl}/mcp`, token, initializeRequest("stream-holder"));
  assert.equal(init.status, 200);
  const sessionId = init.headers.get("mcp-session-id")!;
  await init.body?.cancel();
  const ack = await mcpPostAt(`${baseUrl}/mcp`, token, {
    jsonrpc: "2.0",
    method: "notifications/initialized",
  }, sessionId);
  await ack.body?.cancel();
  const stream = await fetch(`${baseUrl}/mcp`, {
    headers: {
      authorization: `Bearer ${token}`,
      accept: "text/event-stream",
      "mcp-protocol-version": "2025-06-18",
      "mcp-session-id": sessionId,
    },
  });
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  const ended = (async () => {
    const bound = setTimeout(() => reader.cancel(), PROPAGATION_BOUND_MS + 5_000);
    try {
      while (!(await reader.read()).done) { /* keep-alives */ }
    } catch { /* cancelled by the bound */ }
    clearTimeout(bound);
    return Date.now();
  })();
  return { ended };
}

/** A revocation made on one instance, watched on the others. */
async function measureRevocation(
  label: string,
  watched: { name: string; url: string }[],
  token: string,
  stream: { name: string; ended: Promise<number> },
  t0: number,
): Promise<void> {
  const delays = await Promise.all(watched.map((w) => refusedAfter(w.url, token, t0)));
  const streamEnd = await stream.ended;
  assert.ok(
    streamEnd - t0 < PROPAGATION_BOUND_MS,
    `the session stream on ${stream.name} was not ended`,
  );
  // Measured from when the revoking call returned; an owner command's revocation may
  // land before its process has exited.
  const after = (ms: number) => ms <= 0 ? "before the revoking call returned" : `after ${ms} ms`;
  console.log(
    `revocation by ${label}: token refused on ${
      watched.map((w, i) => `${w.name} ${after(delays[i]!)}`).join(", ")
    }; the session stream on ${stream.name} ended ${after(streamEnd - t0)}`,
  );
}

/** One consent form of an instance (through the proxy): a client, its request, cookie. */
async function consentForm(baseUrl: string, name: string) {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const client = await registerAt(baseUrl, {
    client_name: name,
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: "none",
  });
  const { challenge } = await pkcePair();
  const page = await fetch(authorizeUrlAt(baseUrl, {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "burst",
    resource: `${baseUrl}/mcp`,
  }));
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 300));
  return {
    request: formField(html, "request")!,
    cookie: (page.headers.get("set-cookie") ?? "").split(";")[0]!,
  };
}

/**
 * `attempts` wrong passwords, one after the other, on `postTo` (the proxy, or one
 * instance); counts those checked (401) and those refused by the throttle (429).
 */
async function passwordBurst(
  formFrom: string,
  postTo: string,
  origin: string,
  attempts: number,
): Promise<{ checked: number; throttled: number }> {
  const form = await consentForm(formFrom, "burst");
  let checked = 0;
  let throttled = 0;
  for (let i = 0; i < attempts; i++) {
    const res = await fetch(`${postTo}/authorize`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        cookie: form.cookie,
        origin,
      },
      body: new URLSearchParams({
        request: form.request,
        password: `wrong ${i}`,
        decision: "approve",
      }),
    });
    await res.body?.cancel();
    if (res.status === 401) checked++;
    else if (res.status === 429) throttled++;
    else assert.fail(`unexpected answer ${res.status} to a wrong password`);
  }
  return { checked, throttled };
}

/** The SDK client's whole flow through the proxy: 401, discovery, consent, token, connect. */
async function sdkClient(
  mcpUrl: URL,
  provider: TestOAuthProvider,
  options: ConstructorParameters<typeof Client>[1] = {},
): Promise<Client> {
  const probe = new Client({ name: "instances-test", version: "1.0.0" }, options);
  await assert.rejects(
    probe.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })),
  );
  await new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })
    .finishAuth(provider.lastRedirect!.searchParams);
  const client = new Client({ name: "instances-test", version: "1.0.0" }, options);
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  return client;
}

/** The text of a tool result's first content block. */
function textOf(result: unknown): string {
  return ((result as { content: { text?: string }[] }).content[0]?.text) ?? "";
}

Deno.test({
  name: "three server processes on one Deno KV behind a round-robin proxy act as one server",
  // The CLIs and the suite keep sockets and timers of their own processes.
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const work = await mkdtemp(join(tmpdir(), "pmcp-instances-"));
  const stateDir = join(work, "state");
  const servers: ServerProcess[] = [];
  const proxies: RoundRobin[] = [];
  const children: ReturnType<typeof spawnChild>[] = [];
  let alone: ServerProcess | undefined;
  try {
    const proxyPort = await freePort();
    const publicUrl = `http://127.0.0.1:${proxyPort}`;
    const ports = await Promise.all([...Array(INSTANCES)].map(() => freePort()));
    const proxy = await roundRobin(proxyPort, ports);
    proxies.push(proxy);
    // One after the other: the first creates the KV file and its tables.
    for (const port of ports) {
      servers.push(
        await startServer({
          runtime: "deno",
          runtimeFlags: ["--unstable-kv"],
          script: SCRIPT,
          stateDir,
          port,
          publicUrl,
          password: PASSWORD,
        }),
      );
    }
    const instances = servers.map((s, i) => ({ name: `instance ${i + 1}`, url: s.localUrl }));
    const mcpUrl = new URL(`${publicUrl}/mcp`);

    await t.step("the SDK client keeps one session across the three processes", async () => {
      const provider = new TestOAuthProvider(PASSWORD);
      const client = await sdkClient(mcpUrl, provider, {
        capabilities: { elicitation: { form: {} }, sampling: {} },
      });
      client.setRequestHandler("elicitation/create", () => ({
        action: "accept",
        content: { username: "owner", email: "owner@example.com" },
      }));
      client.setRequestHandler("sampling/createMessage", () => ({
        model: "test-model",
        role: "assistant",
        content: { type: "text", text: "sampled" },
      }));
      const transport = client.transport as StreamableHTTPClientTransport;
      const sessionId = transport.sessionId;
      assert.ok(sessionId, "a 2025-era session");
      const before = [...proxy.hits];
      for (let i = 0; i < INSTANCES; i++) {
        const simple = await client.callTool({ name: "test_simple_text", arguments: {} });
        assert.match(textOf(simple), /simple text/i);
        // The tool asks the client; its answer is a new POST, to the next process.
        const elicited = await client.callTool({
          name: "test_elicitation",
          arguments: { message: "Who are you?" },
        });
        assert.match(textOf(elicited), /action=accept/);
        assert.match(textOf(elicited), /owner@example\.com/);
        const sampled = await client.callTool({
          name: "test_sampling",
          arguments: { prompt: "Say something" },
        });
        assert.match(textOf(sampled), /sampled/);
      }
      assert.equal(transport.sessionId, sessionId, "the same session throughout");
      assert.ok(
        proxy.hits.every((n, i) => n - before[i]! >= 3),
        `every process answered the session: ${proxy.hits}`,
      );
      await client.close();
    });

    await t.step("the SDK client on the 2026-07-28 revision works without a session", async () => {
      const provider = new TestOAuthProvider(PASSWORD);
      const client = await sdkClient(mcpUrl, provider, {
        versionNegotiation: { mode: { pin: "2026-07-28" } },
      });
      for (let i = 0; i < INSTANCES; i++) {
        const simple = await client.callTool({ name: "test_simple_text", arguments: {} });
        assert.match(textOf(simple), /simple text/i);
      }
      await client.close();
      // And a 2025-era client that never opens a session (Claude.ai's way).
      const token = (await obtainTokens(publicUrl, "sessionless")).accessToken;
      for (let i = 0; i < INSTANCES; i++) {
        const res = await mcpPostAt(`${publicUrl}/mcp`, token, {
          jsonrpc: "2.0",
          id: i,
          method: "tools/call",
          params: { name: "test_simple_text", arguments: {} },
        });
        assert.equal(res.status, 200);
        assert.match(await res.text(), /simple text/i);
      }
    });

    await t.step("mcp-remote signs in and lists the tools through the proxy", async () => {
      const configDir = join(work, "mcp-remote");
      const callbackPort = await freePort();
      const cli = spawnChild(
        NODE_BIN,
        [MCP_REMOTE_CLIENT, mcpUrl.href, String(callbackPort), "--host", "127.0.0.1"],
        { env: { MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "true", DISPLAY: "" } },
      );
      children.push(cli);
      const [, url] = await cli.waitFor(
        /Please authorize this client by visiting:\s+(\S+)/,
        WAIT_MS,
      );
      const consent = await submitConsent(url!, PASSWORD);
      assert.ok(consent.location, consent.body?.slice(0, 300));
      const landing = await fetch(consent.location!, { signal: AbortSignal.timeout(WAIT_MS) });
      assert.equal(landing.status, 200);
      await landing.body?.cancel();
      const code = await cli.exit(WAIT_MS);
      assert.equal(code, 0, cli.output());
      assert.match(
        cli.output().slice(cli.output().indexOf("Tools:")),
        /"name": "test_simple_text"/,
      );
    });

    await t.step("the Inspector CLI lists and calls a tool through the proxy", async () => {
      const token = (await obtainTokens(publicUrl, "MCP Inspector")).accessToken;
      for (
        const args of [
          ["--method", "tools/list"],
          ["--method", "tools/call", "--tool-name", "test_simple_text"],
        ]
      ) {
        const cli = spawnChild(NODE_BIN, [
          INSPECTOR_CLI,
          mcpUrl.href,
          "--transport",
          "http",
          ...args,
          "--header",
          `Authorization: Bearer ${token}`,
        ], { cwd: `${ROOT}tests` });
        children.push(cli);
        const code = await cli.exit(WAIT_MS);
        assert.equal(code, 0, cli.output());
        assert.match(cli.output(), /test_simple_text|simple text/i);
      }
    });

    await t.step("the conformance server suite passes through the proxy", async () => {
      const token = (await obtainTokens(publicUrl, "conformance")).accessToken;
      const suiteProxy = await roundRobin(await freePort(), ports, token);
      proxies.push(suiteProxy);
      const results = join(work, "suite");
      const run = spawnChild(DENO_BIN, [
        "run",
        "-A",
        SERVER_SUITE,
        "server",
        "--url",
        `${suiteProxy.url}/mcp`,
        "--suite",
        "all",
        "--output-dir",
        results,
      ], { cwd: work, env: { NO_COLOR: "1" }, stdin: "ignore", group: true });
      children.push(run);
      const code = await run.exit(WAIT_MS * 2);
      const failed: string[] = [];
      let scenarios = 0;
      for (const entry of await readdir(results)) {
        scenarios++;
        const checks = JSON.parse(await readFile(join(results, entry, "checks.json"), "utf8"));
        for (const c of checks) {
          if (c.status === "FAILURE") failed.push(`${entry} ${c.id}: ${c.errorMessage}`);
        }
      }
      console.log(
        `conformance through the proxy: ${scenarios} scenarios, requests per process ${
          suiteProxy.hits.join("/")
        }`,
      );
      assert.equal(scenarios, 32, "every scenario of --suite all ran");
      assert.deepEqual(failed, []);
      assert.equal(code, 0);
    });

    // Revocations made on one process, watched on the other two (directly, not through
    // the proxy): the token is refused and the grant's session stream ends.

    await t.step("a revocation by /revoke on one process reaches the other two", async () => {
      const tokens = await obtainTokens(publicUrl, "revoked by /revoke");
      for (const i of instances) assert.equal(await listStatus(i.url, tokens.accessToken), 200);
      const stream = await openStream(instances[1]!.url, tokens.accessToken);
      const res = await fetch(`${instances[0]!.url}/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refreshToken, client_id: tokens.clientId }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const t0 = Date.now();
      await measureRevocation("/revoke on instance 1", instances.slice(1), tokens.accessToken, {
        name: instances[1]!.name,
        ended: stream.ended,
      }, t0);
    });

    await t.step(
      "a revocation on the owner page of one process reaches the other two",
      async () => {
        const tokens = await obtainTokens(publicUrl, "revoked on the owner page");
        const owner = instances[1]!.url;
        for (const i of instances) assert.equal(await listStatus(i.url, tokens.accessToken), 200);
        const stream = await openStream(instances[2]!.url, tokens.accessToken);
        // Sign in on this process (the form says the public origin, as a browser would).
        const open = async (cookie?: string) => {
          const res = await fetch(`${owner}/owner`, { headers: cookie ? { cookie } : {} });
          const html = await res.text();
          return {
            html,
            csrf: formField(html, "csrf")!,
            cookie: (res.headers.get("set-cookie") ?? "").split(";")[0] || cookie || "",
          };
        };
        const post = (page: { csrf: string; cookie: string }, fields: Record<string, string>) =>
          fetch(`${owner}/owner`, {
            method: "POST",
            redirect: "manual",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              cookie: page.cookie,
              origin: publicUrl,
            },
            body: new URLSearchParams({ csrf: page.csrf, ...fields }),
          });
        const signIn = await post(await open(), { action: "sign-in", password: PASSWORD });
        assert.equal(signIn.status, 303);
        await signIn.body?.cancel();
        const page = await open((signIn.headers.get("set-cookie") ?? "").split(";")[0]);
        const card = /aria-label="revoked on the owner page"[\s\S]*?name="grant" value="([^"]+)"/
          .exec(page.html);
        assert.ok(card, "the grant is listed on the owner page");
        const res = await post(page, { action: "disconnect", grant: card[1]! });
        const t0 = Date.now();
        assert.equal(res.status, 303);
        await res.body?.cancel();
        await measureRevocation(
          "the owner page of instance 2",
          [instances[0]!, instances[2]!],
          tokens.accessToken,
          { name: instances[2]!.name, ended: stream.ended },
          t0,
        );
      },
    );

    await t.step("refresh-token reuse detected on one process reaches the other two", async () => {
      const tokens = await obtainTokens(publicUrl, "revoked for reuse");
      const at = instances[2]!.url;
      const refresh = (token: string) =>
        tokenRequest(at, {
          grant_type: "refresh_token",
          refresh_token: token,
          client_id: tokens.clientId,
        });
      const first = await refresh(tokens.refreshToken);
      assert.equal(first.status, 200);
      const second = await refresh(first.body.refresh_token as string);
      assert.equal(second.status, 200);
      const access = second.body.access_token as string;
      for (const i of instances) assert.equal(await listStatus(i.url, access), 200);
      const stream = await openStream(instances[0]!.url, access);
      // The first refresh token, two generations back: reuse revokes the grant.
      const reused = await refresh(tokens.refreshToken);
      const t0 = Date.now();
      assert.equal(reused.status, 400);
      await measureRevocation(
        "refresh-token reuse detected on instance 3",
        instances.slice(0, 2),
        access,
        { name: instances[0]!.name, ended: stream.ended },
        t0,
      );
    });

    await t.step("an owner command's revocation reaches all three", async () => {
      const tokens = await obtainTokens(publicUrl, "revoked by a command");
      for (const i of instances) assert.equal(await listStatus(i.url, tokens.accessToken), 200);
      const stream = await openStream(instances[0]!.url, tokens.accessToken);
      const command = spawnChild(DENO_BIN, [
        "run",
        "-A",
        "--unstable-kv",
        "mod.ts",
        "revoke",
        tokens.clientId,
        "--state-dir",
        stateDir,
      ]);
      children.push(command);
      assert.equal(await command.exit(WAIT_MS), 0, command.output());
      const t0 = Date.now();
      await measureRevocation("an owner command (its own process)", instances, tokens.accessToken, {
        name: instances[0]!.name,
        ended: stream.ended,
      }, t0);
    });

    await t.step("a password burst spread over the three is throttled as on one", async () => {
      const attempts = 30;
      alone = await startServer({
        runtime: "deno",
        runtimeFlags: ["--unstable-kv"],
        script: SCRIPT,
        stateDir: join(work, "alone"),
        password: PASSWORD,
      });
      const [three, one] = await Promise.all([
        passwordBurst(publicUrl, publicUrl, publicUrl, attempts),
        passwordBurst(alone.baseUrl, alone.baseUrl, alone.baseUrl, attempts),
      ]);
      console.log(
        `password burst of ${attempts}: three processes behind the proxy checked ${three.checked}, ` +
          `throttled ${three.throttled}; one process alone checked ${one.checked}, throttled ${one.throttled}`,
      );
      // Three throttles of their own would each let FREE_FAILURES through before any wait.
      assert.ok(three.checked < INSTANCES * FREE_FAILURES, `${three.checked} guesses checked`);
      assert.ok(three.checked >= FREE_FAILURES);
    });

    await t.step("a registration burst spread over the three is limited as on one", async () => {
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < REGISTRATIONS_PER_MINUTE + 5; i++) {
        const res = await fetch(`${publicUrl}/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            client_name: `burst ${i}`,
            redirect_uris: ["http://127.0.0.1:53682/callback"],
            token_endpoint_auth_method: "none",
          }),
        });
        await res.body?.cancel();
        if (res.status === 201) accepted++;
        else if (res.status === 429) refused++;
      }
      console.log(
        `registration burst of ${REGISTRATIONS_PER_MINUTE + 5} through the proxy: ` +
          `${accepted} accepted, ${refused} refused (limit ${REGISTRATIONS_PER_MINUTE} a minute, ` +
          `earlier registrations of this test included)`,
      );
      assert.ok(accepted <= REGISTRATIONS_PER_MINUTE, `${accepted} accepted`);
      assert.ok(refused >= 5);
    });
    console.log(`requests per process through the proxy: ${proxy.hits.join("/")}`);
  } catch (error) {
    for (const s of servers) console.log(`--- ${s.localUrl}:\n${s.output().slice(-4000)}`);
    throw error;
  } finally {
    for (const child of children) await child.stop();
    for (const p of proxies) await p.close();
    for (const s of servers) await s.stop();
    await alone?.stop();
    await rm(work, { recursive: true, force: true });
  }
});
