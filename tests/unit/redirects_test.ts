/**
 * Who may receive authorization codes and how requested redirect URIs are matched:
 * `redirectAllowed`, `matchRedirect` and `originAllowed` as tables.
 */
import assert from "node:assert/strict";
import { matchRedirect, originAllowed, redirectAllowed } from "../../auth/clients/redirects.ts";
import { DEFAULT_REDIRECT_ALLOWLIST } from "../../server/options.ts";

Deno.test("redirectAllowed accepts the known clients' redirect URIs", async (t) => {
  const allowed: [client: string, uri: string][] = [
    ["Claude.ai", "https://claude.ai/api/mcp/auth_callback"],
    ["Claude.com", "https://claude.com/api/mcp/auth_callback"],
    ["ChatGPT", "https://chatgpt.com/connector_platform_oauth_redirect"],
    ["VS Code web", "https://vscode.dev/redirect"],
    ["VS Code Insiders web", "https://insiders.vscode.dev/redirect"],
    ["VS Code desktop (loopback)", "http://127.0.0.1:33418/"],
    ["VS Code URI handler", "vscode://vscode.github-authentication/did-authenticate"],
    ["Cursor", "cursor://anysphere.cursor-retrieval/oauth/user-abc/callback"],
    ["Claude Code (localhost, ephemeral port)", "http://localhost:53682/callback"],
    ["mcp-remote", "http://localhost:3334/oauth/callback"],
    ["IPv6 loopback", "http://[::1]:8080/callback"],
    ["another 127/8 address", "http://127.0.0.2:9000/cb"],
    ["a query string is kept", "https://claude.ai/cb?x=1"],
  ];
  for (const [client, uri] of allowed) {
    await t.step(`${client}: ${uri}`, () => {
      assert.equal(redirectAllowed(uri, DEFAULT_REDIRECT_ALLOWLIST), true);
    });
  }
});

Deno.test("redirectAllowed refuses lookalikes, script schemes and unsafe URIs", async (t) => {
  const refused: [why: string, uri: string][] = [
    ["allowed host as a subdomain of another", "https://claude.ai.evil.example/cb"],
    ["allowed host in the path", "https://evil.example/claude.ai/x"],
    ["allowed host as userinfo", "https://claude.ai@evil.example/cb"],
    ["userinfo on an allowed host", "https://user:pw@claude.ai/cb"],
    ["empty userinfo on an allowed host", "https://@claude.ai/cb"],
    ["backslash userinfo trick", "https://claude.ai\\@evil.example/cb"],
    ["backslash in the path", "https://claude.ai/cb\\..\\x"],
    ["backslash as a slash", "https:\\\\claude.ai/cb"],
    ["a fragment", "https://claude.ai/cb#frag"],
    ["an empty fragment", "https://claude.ai/cb#"],
    ["plain http to a public host", "http://claude.ai/api/mcp/auth_callback"],
    ["plain http to an unknown host", "http://evil.example/cb"],
    ["https on an allowed host but another port", "https://claude.ai:8443/cb"],
    ["trailing dot host", "https://claude.ai./cb"],
    ["percent-encoded dot in the host", "https://claude.ai%2eevil.example/cb"],
    ["punycode lookalike", "https://xn--claud-gxa.ai/cb"],
    ["unicode lookalike", "https://claudé.ai/cb"],
    ["javascript:", "javascript:alert(1)"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
    ["file:", "file:///etc/passwd"],
    ["vbscript:", "vbscript:msgbox(1)"],
    ["localhost lookalike", "http://localhost.evil.example/cb"],
    ["loopback address as a subdomain", "http://127.0.0.1.nip.io/cb"],
    ["https to loopback (not in the allowlist)", "https://localhost:8443/cb"],
    ["leading whitespace", " https://claude.ai/cb"],
    ["trailing newline", "https://claude.ai/cb\n"],
    ["tab inside", "https://claude.ai/c\tb"],
    ["relative URI", "/api/mcp/auth_callback"],
    ["scheme-relative URI", "//claude.ai/cb"],
    ["not a URI", "claude.ai"],
    ["empty string", ""],
  ];
  for (const [why, uri] of refused) {
    await t.step(`${why}: ${JSON.stringify(uri)}`, () => {
      assert.equal(redirectAllowed(uri, DEFAULT_REDIRECT_ALLOWLIST), false);
    });
  }
});

Deno.test("redirectAllowed follows the owner's allowlist, not the defaults", async (t) => {
  const cases: [allowlist: string[], uri: string, expected: boolean][] = [
    [["https://example.com"], "https://example.com/cb", true],
    [["https://example.com"], "https://claude.ai/api/mcp/auth_callback", false],
    [["https://example.com"], "http://127.0.0.1:1234/cb", false],
    [["loopback"], "http://127.0.0.1:1234/cb", true],
    [["loopback"], "cursor://x/cb", false],
    [["cursor:"], "cursor://x/cb", true],
    [["cursor:"], "vscode://x/cb", false],
    // A scheme entry never opens plain http or https to any host.
    [["http:"], "http://evil.example/cb", false],
    [["https:"], "https://evil.example/cb", false],
    [["javascript:"], "javascript:alert(1)", false],
    [[], "https://claude.ai/cb", false],
  ];
  for (const [allowlist, uri, expected] of cases) {
    await t.step(`${JSON.stringify(allowlist)} ${expected ? "allows" : "refuses"} ${uri}`, () => {
      assert.equal(redirectAllowed(uri, allowlist), expected);
    });
  }
});

Deno.test("matchRedirect matches exactly, except loopback on any port", async (t) => {
  const cases: [why: string, requested: string, registered: string[], expected?: string][] = [
    [
      "exact https match",
      "https://claude.ai/api/mcp/auth_callback",
      ["https://claude.ai/api/mcp/auth_callback"],
      "https://claude.ai/api/mcp/auth_callback",
    ],
    [
      "exact match among several (Cursor registers three)",
      "cursor://anysphere.cursor-retrieval/oauth/cb",
      [
        "http://localhost:1234/cb",
        "cursor://anysphere.cursor-retrieval/oauth/cb",
        "https://vscode.dev/redirect",
      ],
      "cursor://anysphere.cursor-retrieval/oauth/cb",
    ],
    [
      "loopback 127.0.0.1 on another port, same path",
      "http://127.0.0.1:40001/callback",
      ["http://127.0.0.1:53682/callback"],
      "http://127.0.0.1:53682/callback",
    ],
    [
      "loopback registered without a port",
      "http://localhost:53682/callback",
      ["http://localhost/callback"],
      "http://localhost/callback",
    ],
    [
      "IPv6 loopback on another port",
      "http://[::1]:2/cb",
      ["http://[::1]:1/cb"],
      "http://[::1]:1/cb",
    ],
    [
      "VS Code's root path on another port",
      "http://127.0.0.1:5555/",
      ["http://127.0.0.1:33418/"],
      "http://127.0.0.1:33418/",
    ],
    ["loopback with a different path", "http://127.0.0.1:4000/other", [
      "http://127.0.0.1:53682/callback",
    ]],
    ["loopback with a trailing slash added", "http://127.0.0.1:53682/callback/", [
      "http://127.0.0.1:53682/callback",
    ]],
    ["loopback with a different query", "http://127.0.0.1:4000/cb?a=2", [
      "http://127.0.0.1:53682/cb?a=1",
    ]],
    ["loopback with a fragment", "http://127.0.0.1:4000/cb#x", ["http://127.0.0.1:53682/cb"]],
    ["loopback with userinfo", "http://evil@127.0.0.1:4000/cb", ["http://127.0.0.1:53682/cb"]],
    ["localhost is not 127.0.0.1", "http://localhost:53682/callback", [
      "http://127.0.0.1:53682/callback",
    ]],
    ["127.0.0.1 is not localhost", "http://127.0.0.1:53682/callback", [
      "http://localhost:53682/callback",
    ]],
    ["https loopback gets no port leniency", "https://127.0.0.1:4000/cb", [
      "https://127.0.0.1:53682/cb",
    ]],
    ["a different https path", "https://claude.ai/api/mcp/other", [
      "https://claude.ai/api/mcp/auth_callback",
    ]],
    ["a different https host", "https://claude.com/api/mcp/auth_callback", [
      "https://claude.ai/api/mcp/auth_callback",
    ]],
    ["a different https port", "https://claude.ai:444/api/mcp/auth_callback", [
      "https://claude.ai/api/mcp/auth_callback",
    ]],
    ["an extra query on https", "https://claude.ai/api/mcp/auth_callback?x=1", [
      "https://claude.ai/api/mcp/auth_callback",
    ]],
    ["nothing registered", "https://claude.ai/cb", []],
  ];
  for (const [why, requested, registered, expected] of cases) {
    await t.step(`${expected ? "matches" : "refuses"}: ${why}`, () => {
      assert.equal(matchRedirect(requested, registered), expected);
    });
  }
});

Deno.test("originAllowed admits the own origin, loopback and listed origins only", async (t) => {
  const own = "https://me.example.com";
  const cases: [origin: string, entries: string[], expected: boolean][] = [
    [own, [], true],
    ["http://localhost:6274", ["loopback"], true],
    ["http://127.0.0.1:6274", ["loopback"], true],
    ["https://localhost:6274", ["loopback"], true],
    ["http://[::1]:6274", ["loopback"], true],
    ["https://inspector.example", ["https://inspector.example"], true],
    ["http://localhost:6274", [], false],
    ["https://evil.example", ["loopback"], false],
    ["http://localhost.evil.example", ["loopback"], false],
    ["https://inspector.example.evil", ["https://inspector.example"], false],
    ["https://inspector.example:8443", ["https://inspector.example"], false],
    // An Origin header is a bare origin: a path or slash means it is not one.
    ["http://localhost:6274/", ["loopback"], false],
    ["http://localhost:6274/x", ["loopback"], false],
    ["null", ["loopback"], false],
    ["", ["loopback"], false],
    ["https://me.example.com.evil.example", [], false],
  ];
  for (const [origin, entries, expected] of cases) {
    await t.step(
      `${JSON.stringify(origin)} with ${JSON.stringify(entries)} -> ${expected}`,
      () => {
        assert.equal(originAllowed(origin, entries, own), expected);
      },
    );
  }
});
