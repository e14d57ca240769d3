/**
 * The owner can always approve (in process; tests/e2e/lockout_test.ts runs the same
 * attacks against real Deno and Bun servers): concurrent guesses are counted before
 * they are checked, the owner's browser keeps a lane of its own, IPv6 callers are
 * counted per /64, and every runtime's connection info reaches the throttle.
 */
import assert from "node:assert/strict";
import { setOwnerPassword } from "../../auth/owner/password.ts";
import type { ConnectionInfo } from "../../core/http.ts";
import {
  authorizeUrl,
  decisionLanding,
  openConsent,
  PASSWORD,
  pkcePair,
  postConsent,
  registerClient,
  type TestServer,
  testServer,
} from "../fixtures.ts";

async function consentPage(server: TestServer) {
  const client = await registerClient(server.app);
  return await openConsent(server.app, authorizeUrl(client, (await pkcePair()).challenge));
}

async function status(res: Response): Promise<number> {
  await res.body?.cancel();
  return res.status;
}

/** The owner's approval went through: the browser is sent on with a code (303 or page). */
async function assertApproved(res: Response): Promise<void> {
  const landing = await decisionLanding(res);
  assert.ok(landing.searchParams.get("code"), `a code: ${landing}`);
}

const failedLogins = (server: TestServer) =>
  server.events.filter((e) => e.type === "owner_login_failed").length;

Deno.test("fifty concurrent wrong guesses from one address: five are checked, the rest get 429", async () => {
  // The stored PBKDF2 hash: the slow check that concurrent guesses used to race past.
  const server = testServer({ password: undefined });
  await setOwnerPassword(server.store, PASSWORD);
  const page = await consentPage(server);
  const statuses = await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) =>
        postConsent(server.app, page, { password: `guess ${i}`, remoteAddress: "198.51.100.7" })
          .then(status),
    ),
  );
  assert.equal(statuses.filter((s) => s === 401).length, 5);
  assert.equal(statuses.filter((s) => s === 429).length, 45);
  assert.equal(failedLogins(server), 5, "five passwords were checked");
  await server.app.close();
});

Deno.test("the owner's device cookie approves while strangers are throttled; a forged or foreign one does not", async (t) => {
  const server = testServer();
  const page = await consentPage(server);
  const first = await postConsent(server.app, page, { remoteAddress: "203.0.113.1" });
  const device = first.headers.getSetCookie().find((c) => c.startsWith("pmcp-device="));
  assert.ok(device, "a successful approval sets a device cookie");
  await assertApproved(first);
  assert.match(device, /; Path=\/; HttpOnly; SameSite=Strict; Max-Age=31536000$/);
  const deviceCookie = device.split(";")[0]!;
  const withDevice = (cookie: string) => `${page.cookie}; ${cookie}`;

  // Seven strangers at five guesses each: beyond the global ceiling.
  for (let s = 0; s < 7; s++) {
    for (let i = 0; i < 5; i++) {
      await status(
        await postConsent(server.app, page, {
          password: "guess",
          remoteAddress: `198.51.100.${s}`,
        }),
      );
    }
  }
  await t.step("everyone else waits, the owner's address included", async () => {
    assert.equal(
      await status(await postConsent(server.app, page, { remoteAddress: "192.0.2.1" })),
      429,
    );
    assert.equal(
      await status(await postConsent(server.app, page, { remoteAddress: "203.0.113.1" })),
      429,
    );
  });
  await t.step("the browser that approved before still gets its code", async () => {
    const res = await postConsent(server.app, page, {
      remoteAddress: "198.51.100.0",
      cookie: withDevice(deviceCookie),
    });
    await assertApproved(res);
  });
  await t.step("a forged device cookie gets no exemption", async () => {
    const [name, value] = deviceCookie.split("=") as [string, string];
    const [payload, mac] = value.split(".") as [string, string];
    // The first character: all its bits count (the last one of 43 carries padding bits,
    // and changing only those would leave the same MAC).
    const forgedMac = `${name}=${payload}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    const otherId = `${name}=${
      btoa(JSON.stringify({ typ: "device", id: "x", issuedAt: Date.now() }))
        .replaceAll("=", "")
    }.${mac}`;
    for (const forged of [forgedMac, otherId, `${name}=garbage`]) {
      const res = await postConsent(server.app, page, {
        remoteAddress: "192.0.2.2",
        cookie: withDevice(forged),
      });
      assert.equal(await status(res), 429, forged);
    }
  });
  await t.step("a device cookie signed by another server gets no exemption", async () => {
    const other = testServer();
    const otherPage = await consentPage(other);
    const theirs = await postConsent(other.app, otherPage, { remoteAddress: "203.0.113.1" });
    const foreign = theirs.headers.getSetCookie()[0]!.split(";")[0]!;
    const res = await postConsent(server.app, page, {
      remoteAddress: "192.0.2.3",
      cookie: withDevice(foreign),
    });
    assert.equal(await status(res), 429);
    await other.app.close();
  });
  await t.step("a consent-page request, signed by this server, is no device cookie", async () => {
    const res = await postConsent(server.app, page, {
      remoteAddress: "192.0.2.4",
      cookie: withDevice(`pmcp-device=${page.request}`),
    });
    assert.equal(await status(res), 429);
  });
  await server.app.close();
});

Deno.test("IPv6 callers are counted per /64", async () => {
  const server = testServer();
  const page = await consentPage(server);
  for (let i = 1; i <= 5; i++) {
    const res = await postConsent(server.app, page, {
      password: "guess",
      remoteAddress: `2001:db8:7:7::${i}`,
    });
    assert.equal(await status(res), 401);
  }
  assert.equal(
    await status(await postConsent(server.app, page, { remoteAddress: "2001:db8:7:7:abcd::1" })),
    429,
  );
  await assertApproved(await postConsent(server.app, page, { remoteAddress: "2001:db8:7:8::1" }));
  await server.app.close();
});

Deno.test("each runtime's own connection info gives the throttle the caller's address", async (t) => {
  const forms: [name: string, info: (address: string) => ConnectionInfo][] = [
    ["{ remoteAddress }", (address) => ({ remoteAddress: address })],
    ["Deno's ServeHandlerInfo", (address) => ({
      remoteAddr: { transport: "tcp", hostname: address, port: 40000 },
      completed: Promise.resolve(),
    } as ConnectionInfo)],
    ["Bun's server", (address) => ({
      requestIP: (_request: Request) => ({ address: `::ffff:${address}`, family: "IPv6", port: 1 }),
      timeout: () => {},
    })],
  ];
  for (const [name, info] of forms) {
    await t.step(name, async () => {
      const server = testServer();
      const page = await consentPage(server);
      for (let i = 0; i < 5; i++) {
        const res = await postConsent(server.app, page, {
          password: "guess",
          info: info("198.51.100.7"),
        });
        assert.equal(await status(res), 401);
      }
      assert.equal(
        await status(await postConsent(server.app, page, { info: info("198.51.100.7") })),
        429,
      );
      await assertApproved(await postConsent(server.app, page, { info: info("192.0.2.8") }));
      assert.deepEqual(
        server.events.filter((e) => e.type === "owner_login_failed").map((e) =>
          e.type === "owner_login_failed" && e.clientAddress
        ),
        Array(5).fill("198.51.100.7"),
      );
      await server.app.close();
    });
  }
});

Deno.test("a handler called without connection info says so once through onEvent", async () => {
  const server = testServer();
  const page = await consentPage(server);
  for (let i = 0; i < 3; i++) {
    await status(await postConsent(server.app, page, { password: "guess", info: null }));
  }
  const warnings = server.events.filter((e) => e.type === "warning");
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!.type === "warning" ? warnings[0]!.message : "",
    /without the connection's address.*Deno\.serve\(app\.fetch\)/,
  );
  await server.app.close();
});
