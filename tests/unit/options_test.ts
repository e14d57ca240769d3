/**
 * `resolveOptions`: every bad option is refused at creation with an error naming it;
 * every default is filled in.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_REDIRECT_ALLOWLIST,
  type PersonalMcpOptions,
  resolveOptions,
} from "../../server/options.ts";
import { createPersonalMcp } from "../../server/create.ts";

const VALID: PersonalMcpOptions = { baseUrl: "http://127.0.0.1:8787", password: "long enough" };

Deno.test("resolveOptions refuses bad options with an error that names the option", async (t) => {
  const cases: [
    why: string,
    options: Record<string, unknown>,
    type: typeof TypeError | typeof RangeError,
    message: RegExp,
  ][] = [
    ["baseUrl missing", { baseUrl: undefined }, TypeError, /"baseUrl"/],
    ["baseUrl not a URL", { baseUrl: "me.example.com" }, TypeError, /"baseUrl" must be an abs/],
    ["baseUrl not http(s)", { baseUrl: "ftp://me.example.com" }, TypeError, /"baseUrl"/],
    ["baseUrl http to a public host", { baseUrl: "http://me.example.com" }, TypeError, /https/],
    ["baseUrl with a path", { baseUrl: "https://me.example.com/mcp" }, TypeError, /"baseUrl"/],
    ["baseUrl with a query", { baseUrl: "https://me.example.com/?a=1" }, TypeError, /"baseUrl"/],
    ["baseUrl with a fragment", { baseUrl: "https://me.example.com/#x" }, TypeError, /"baseUrl"/],
    ["baseUrl with credentials", { baseUrl: "https://u:p@me.example.com" }, TypeError, /baseUrl/],
    ["password too short", { password: "short" }, RangeError, /"password"/],
    ["password not a string", { password: 12345678 }, RangeError, /"password"/],
    ["scopes empty", { scopes: [] }, TypeError, /"scopes"/],
    ["scopes not an array", { scopes: "mcp" }, TypeError, /"scopes"/],
    ["scope with a space", { scopes: ["mcp read"] }, TypeError, /"scopes"/],
    ["scope with a quote", { scopes: ['mc"p'] }, TypeError, /"scopes"/],
    ["scope empty string", { scopes: [""] }, TypeError, /"scopes"/],
    ["accessTokenTtlSeconds zero", { accessTokenTtlSeconds: 0 }, RangeError, /accessTokenTtl/],
    [
      "refreshTokenTtlSeconds negative",
      { refreshTokenTtlSeconds: -1 },
      RangeError,
      /"refreshTokenTtlSeconds"/,
    ],
    ["codeTtlSeconds fractional", { codeTtlSeconds: 1.5 }, RangeError, /"codeTtlSeconds"/],
    ["codeTtlSeconds a string", { codeTtlSeconds: "60" }, RangeError, /"codeTtlSeconds"/],
    ["refreshGraceSeconds NaN", { refreshGraceSeconds: NaN }, RangeError, /refreshGrace/],
    [
      "refreshReuseWindowSeconds negative",
      { refreshReuseWindowSeconds: -1 },
      RangeError,
      /"refreshReuseWindowSeconds"/,
    ],
    ["maxClients zero", { maxClients: 0 }, RangeError, /"maxClients"/],
    [
      "clientMetadataDocuments not a boolean",
      { clientMetadataDocuments: "no" },
      TypeError,
      /"clientMetadataDocuments" must be a boolean/,
    ],
    ["maxBodyBytes infinite", { maxBodyBytes: Infinity }, RangeError, /"maxBodyBytes"/],
    ["bodyTimeoutSeconds zero", { bodyTimeoutSeconds: 0 }, RangeError, /"bodyTimeoutSeconds"/],
    [
      "mcpBodyTimeoutSeconds fractional",
      { mcpBodyTimeoutSeconds: 0.5 },
      RangeError,
      /"mcpBodyTimeoutSeconds"/,
    ],
    [
      "sseKeepaliveSeconds negative",
      { sseKeepaliveSeconds: -15 },
      RangeError,
      /"sseKeepaliveSeconds"/,
    ],
    [
      "allowedRedirects entry with a path",
      { allowedRedirects: ["https://example.com/cb"] },
      TypeError,
      /"allowedRedirects"/,
    ],
    [
      "allowedRedirects entry not a string",
      { allowedRedirects: [42] },
      TypeError,
      /"allowedRedirects"/,
    ],
    [
      "allowedOrigins entry that is no origin",
      { allowedOrigins: ["localhost"] },
      TypeError,
      /"allowedOrigins"/,
    ],
    [
      "allowedOrigins entry not http(s)",
      { allowedOrigins: ["ftp://files.example"] },
      TypeError,
      /"allowedOrigins"/,
    ],
  ];
  for (const [why, override, type, message] of cases) {
    await t.step(why, () => {
      const options = { ...VALID, ...override } as PersonalMcpOptions;
      assert.throws(() => resolveOptions(options), (error: unknown) => {
        assert.ok(error instanceof type, `${String(error)} is a ${type.name}`);
        assert.match((error as Error).message, message);
        return true;
      });
    });
  }
});

Deno.test("resolveOptions fills in the documented defaults", async (t) => {
  const resolved = resolveOptions({ baseUrl: "https://me.example.com" });
  const defaults: [field: keyof typeof resolved, expected: unknown][] = [
    ["baseUrl", "https://me.example.com"],
    ["issuer", "https://me.example.com"],
    ["resource", "https://me.example.com/mcp"],
    ["origin", "https://me.example.com"],
    ["name", "personal-mcp"],
    ["version", "0.1.0"],
    ["instructions", undefined],
    ["accessTokenTtlSeconds", 30 * 24 * 3600],
    ["refreshTokenTtlSeconds", 365 * 24 * 3600],
    ["codeTtlSeconds", 120],
    ["refreshGraceSeconds", 60],
    ["refreshReuseWindowSeconds", 4 * 3600],
    ["allowedRedirects", [...DEFAULT_REDIRECT_ALLOWLIST]],
    ["allowedOrigins", ["loopback"]],
    ["scopes", ["mcp", "offline_access"]],
    ["trustProxy", false],
    ["clientMetadataDocuments", true],
    ["maxClients", 1000],
    ["maxBodyBytes", 65536],
    ["bodyTimeoutSeconds", 10],
    ["mcpBodyTimeoutSeconds", 60],
    ["sseKeepaliveSeconds", 15],
  ];
  for (const [field, expected] of defaults) {
    await t.step(`${field} defaults to ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(resolved[field], expected);
    });
  }
});

Deno.test("resolveOptions normalises the base URL and allowlist entries", async (t) => {
  const cases: [baseUrl: string, expected: string][] = [
    ["https://me.example.com/", "https://me.example.com"],
    ["https://ME.Example.COM", "https://me.example.com"],
    ["https://me.example.com:443", "https://me.example.com"],
    ["https://me.example.com:8443", "https://me.example.com:8443"],
    ["http://localhost:8787", "http://localhost:8787"],
    ["http://[::1]:8787/", "http://[::1]:8787"],
    ["http://127.0.0.1:8787", "http://127.0.0.1:8787"],
  ];
  for (const [baseUrl, expected] of cases) {
    await t.step(`${baseUrl} -> ${expected}`, () => {
      const resolved = resolveOptions({ baseUrl });
      assert.equal(resolved.baseUrl, expected);
      assert.equal(resolved.issuer, expected);
      assert.equal(resolved.resource, `${expected}/mcp`);
    });
  }
  await t.step("an origin entry with a trailing slash becomes the bare origin", () => {
    const resolved = resolveOptions({
      baseUrl: "https://me.example.com",
      allowedRedirects: ["https://Example.com/", "cursor:", "loopback"],
    });
    assert.deepEqual(resolved.allowedRedirects, ["https://example.com", "cursor:", "loopback"]);
  });
  await t.step("repeated scopes are kept once, in order", () => {
    const resolved = resolveOptions({
      baseUrl: "https://me.example.com",
      scopes: ["mcp", "read", "mcp"],
    });
    assert.deepEqual(resolved.scopes, ["mcp", "read"]);
  });
});

Deno.test("createPersonalMcp validates its options when it is called", () => {
  assert.throws(
    () => createPersonalMcp({}, { baseUrl: "http://me.example.com", password: "long enough" }),
    /"baseUrl" must use https/,
  );
});
