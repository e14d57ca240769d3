/**
 * The owner can always approve, tried against real server processes under Deno and
 * Bun, with callers at distinct loopback addresses (127.0.0.x) or behind a "tunnel"
 * that adds `X-Forwarded-For`: concurrent guesses, a stranger behind the same tunnel,
 * strangers filling the global ceiling, and handlers served without our adapter.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  consentFrom,
  consentTarget,
  continueLink,
  DENO_BIN,
  formField,
  freePort,
  PASSWORD,
  type RawAnswer,
  requestFrom,
  RUNTIMES,
  type ServerProcess,
  spawnChild,
  startScript,
  startServer,
} from "../fixtures.ts";

async function withState<T>(fn: (stateDir: string) => Promise<T>): Promise<T> {
  const stateDir = await mkdtemp(join(tmpdir(), "pmcp-lockout-"));
  try {
    return await fn(stateDir);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function withProcess<T>(
  start: Promise<ServerProcess>,
  fn: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await start;
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** `n` wrong passwords from one caller, one after the other; their statuses. */
async function guess(
  target: () => Promise<URL>,
  n: number,
  from: { local?: string; forwardedFor?: string },
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const answer = await consentFrom(from.local ?? "127.0.0.1", await target(), {
      password: `wrong guess ${i}`,
      headers: from.forwardedFor ? { "x-forwarded-for": from.forwardedFor } : {},
    });
    statuses.push(answer.status);
  }
  return statuses;
}

/** The owner's approval: the browser sent on with a code, or whatever was answered instead. */
async function approve(
  target: () => Promise<URL>,
  from: { local?: string; forwardedFor?: string; cookie?: string },
): Promise<RawAnswer> {
  return await consentFrom(from.local ?? "127.0.0.1", await target(), {
    password: PASSWORD,
    cookie: from.cookie,
    headers: from.forwardedFor ? { "x-forwarded-for": from.forwardedFor } : {},
  });
}

function assertApproved(answer: RawAnswer, why: string) {
  // A 303 (an app's scheme), or the page that navigates on to an http(s) callback.
  const location = answer.status === 303
    ? answer.headers.get("location")
    : answer.status === 200
    ? continueLink(answer.body)
    : undefined;
  assert.ok(location, `${why}: ${answer.status} ${answer.body.slice(0, 200)}`);
  assert.ok(new URL(location).searchParams.get("code"), why);
}

for (const runtime of RUNTIMES) {
  Deno.test(`fifty concurrent wrong guesses from one address: five are checked, the rest get 429 (${runtime})`, async () => {
    await withState((stateDir) =>
      // No --password: the stored PBKDF2 hash, whose check is the slow one.
      withProcess(startServer({ runtime, stateDir }), async (server) => {
        const target = await consentTarget(server.baseUrl);
        const url = await target();
        const page = await requestFrom("127.0.0.1", url);
        const request = formField(page.body, "request")!;
        const cookie = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            requestFrom("127.0.0.1", new URL("/authorize", url), {
              method: "POST",
              headers: {
                "content-type": "application/x-www-form-urlencoded",
                origin: url.origin,
                cookie,
              },
              body: new URLSearchParams({ request, password: `guess ${i}`, decision: "approve" })
                .toString(),
            })),
        );
        const count = (status: number) => answers.filter((a) => a.status === status).length;
        assert.equal(count(401), 5, "five passwords were checked");
        assert.equal(count(429), 45, "the rest were refused before any check");
        const checked = server.output().match(/ wrong password clientAddress=/g) ?? [];
        assert.equal(checked.length, 5, "five failed logins were reported");
      })
    );
  });

  Deno.test(`behind a tunnel, --trust-proxy keeps a stranger from locking the owner out (${runtime})`, async (t) => {
    await t.step(
      "without it everyone is 127.0.0.1: five wrong guesses lock the owner out",
      () =>
        withState((stateDir) =>
          withProcess(startServer({ runtime, stateDir, password: PASSWORD }), async (server) => {
            const target = await consentTarget(server.baseUrl);
            assert.deepEqual(await guess(target, 5, { forwardedFor: "203.0.113.7" }), [
              401,
              401,
              401,
              401,
              401,
            ]);
            const owner = await approve(target, { forwardedFor: "198.51.100.20" });
            assert.equal(owner.status, 429);
          })
        ),
    );
    await t.step(
      "with --trust-proxy the stranger waits and the owner gets a code",
      () =>
        withState((stateDir) =>
          withProcess(
            startServer({ runtime, stateDir, password: PASSWORD, extraArgs: ["--trust-proxy"] }),
            async (server) => {
              const target = await consentTarget(server.baseUrl);
              const stranger = { forwardedFor: "203.0.113.7" };
              assert.deepEqual(await guess(target, 6, stranger), [401, 401, 401, 401, 401, 429]);
              assertApproved(await approve(target, { forwardedFor: "198.51.100.20" }), "owner");
            },
          )
        ),
    );
    await t.step("an IPv6 stranger is counted per /64", () =>
      withState((stateDir) =>
        withProcess(
          startServer({
            runtime,
            stateDir,
            password: PASSWORD,
            env: { PERSONAL_MCP_TRUST_PROXY: "1" },
          }),
          async (server) => {
            const target = await consentTarget(server.baseUrl);
            for (let i = 1; i <= 5; i++) {
              assert.deepEqual(await guess(target, 1, { forwardedFor: `2001:db8:1:2::${i}` }), [
                401,
              ]);
            }
            const sameNet = await approve(target, { forwardedFor: "2001:db8:1:2:ffff::1" });
            assert.equal(sameNet.status, 429, "another address of the same /64 waits too");
            assertApproved(
              await approve(target, { forwardedFor: "2001:db8:1:3::1" }),
              "another /64",
            );
          },
        )
      ));
  });

  Deno.test(`the owner's browser that approved before keeps working while strangers are throttled (${runtime})`, async () => {
    await withState((stateDir) =>
      withProcess(
        startServer({ runtime, stateDir, password: PASSWORD, extraArgs: ["--trust-proxy"] }),
        async (server) => {
          const target = await consentTarget(server.baseUrl);
          const first = await approve(target, { forwardedFor: "198.51.100.20" });
          assertApproved(first, "the first approval");
          const device = (first.headers.get("set-cookie") ?? "").split(", ")
            .find((c) => c.startsWith("pmcp-device="))?.split(";")[0];
          assert.ok(device, `a device cookie: ${first.headers.get("set-cookie")}`);
          assert.match(first.headers.get("set-cookie")!, /HttpOnly; SameSite=Strict/);

          // Seven strangers, five guesses each: over the global ceiling of 30 a minute.
          for (let s = 1; s <= 7; s++) await guess(target, 5, { forwardedFor: `203.0.113.${s}` });
          const fresh = await approve(target, { forwardedFor: "192.0.2.99" });
          assert.equal(fresh.status, 429, "a new address meets the global ceiling");
          const ownerWithout = await approve(target, { forwardedFor: "198.51.100.20" });
          assert.equal(ownerWithout.status, 429, "so does the owner's address without the cookie");

          assertApproved(
            await approve(target, { forwardedFor: "192.0.2.99", cookie: device }),
            "the owner's browser, from anywhere",
          );

          const [name, value] = device.split("=") as [string, string];
          const forged = `${name}=${value.slice(0, -2)}${value.endsWith("AA") ? "BB" : "AA"}`;
          const withForged = await approve(target, { forwardedFor: "192.0.2.98", cookie: forged });
          assert.equal(withForged.status, 429, "a forged cookie gets no exemption");

          // A cookie another server signed (with its own key) is no better.
          await withState((otherDir) =>
            withProcess(
              startServer({ runtime, stateDir: otherDir, password: PASSWORD }),
              async (other) => {
                const otherTarget = await consentTarget(other.baseUrl);
                const theirs = await approve(otherTarget, {});
                assertApproved(theirs, "approval on the other server");
                const foreign = (theirs.headers.get("set-cookie") ?? "").split(";")[0]!;
                const withForeign = await approve(target, {
                  forwardedFor: "192.0.2.97",
                  cookie: foreign,
                });
                assert.equal(withForeign.status, 429, "a foreign cookie gets no exemption");
              },
            )
          );
        },
      )
    );
  });
}

/** Stranger at 127.0.0.2 guesses five times; the owner at 127.0.0.3 must still get a code. */
async function addressesAreSeen(baseUrl: string) {
  const target = await consentTarget(baseUrl);
  assert.deepEqual(await guess(target, 6, { local: "127.0.0.2" }), [401, 401, 401, 401, 401, 429]);
  assertApproved(await approve(target, { local: "127.0.0.3" }), "the owner at another address");
}

const APP = (port: number) => `
  import { createPersonalMcp, demoTools } from "./mod.ts";
  const app = createPersonalMcp(demoTools, {
    baseUrl: "http://127.0.0.1:${port}", password: ${JSON.stringify(PASSWORD)},
    onEvent: (e) => e.type === "warning" && console.log("WARNING " + e.message),
  });
`;

Deno.test("Deno.serve(app.fetch) gives the throttle each caller's address (deno)", async () => {
  const port = await freePort();
  const code = `${APP(port)}
    Deno.serve({ hostname: "127.0.0.1", port: ${port}, onListen: () => console.log("LISTENING ${port}") }, app.fetch);`;
  await withProcess(startScript("deno", code), async (server) => {
    await addressesAreSeen(server.baseUrl);
    assert.doesNotMatch(server.output(), /WARNING fetch\(\) was called without/);
  });
});

Deno.test("Bun.serve({ fetch: app.fetch }) gives the throttle each caller's address (bun)", async () => {
  const port = await freePort();
  const code = `${APP(port)}
    Bun.serve({ hostname: "127.0.0.1", port: ${port}, fetch: app.fetch });
    console.log("LISTENING ${port}");`;
  await withProcess(startScript("bun", code), async (server) => {
    await addressesAreSeen(server.baseUrl);
    assert.doesNotMatch(server.output(), /WARNING fetch\(\) was called without/);
  });
});

Deno.test("the Deno Deploy example under `deno serve` gives the throttle each caller's address", async () => {
  const port = await freePort();
  await withState(async (stateDir) => {
    const child = spawnChild(
      DENO_BIN,
      [
        "serve",
        "-A",
        "--unstable-kv",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "examples/deploy.ts",
      ],
      {
        stdin: "ignore",
        env: {
          PERSONAL_MCP_BASE_URL: `http://127.0.0.1:${port}`,
          PERSONAL_MCP_PASSWORD: PASSWORD,
          PERSONAL_MCP_KV_PATH: join(stateDir, "kv.sqlite3"),
        },
      },
    );
    try {
      await child.waitFor(/Listening on/, 30_000);
      await addressesAreSeen(`http://127.0.0.1:${port}`);
    } finally {
      await child.stop();
    }
  });
});
