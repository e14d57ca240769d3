/**
 * The router reads a request's path without the URL parser when the path is plain, and
 * must then give exactly what the parser gives (and the parser's answer otherwise).
 */
import assert from "node:assert/strict";
import { pathnameOf } from "../../server/routes.ts";

Deno.test("pathnameOf gives the URL parser's pathname for every request URL", async (t) => {
  const urls = [
    "http://127.0.0.1:8787/mcp",
    "http://127.0.0.1:8787/mcp?x=1#frag",
    "https://me.example.com/.well-known/oauth-protected-resource/mcp",
    "https://me.example.com",
    "https://me.example.com?x",
    "https://me.example.com/",
    "http://[::1]:8787/token",
    "http://localhost/a/../mcp",
    "http://localhost/./mcp",
    "http://localhost/%6Dcp",
    "http://localhost/m%2Fcp",
    "http://localhost\\mcp",
    "http://localhost/a\\b",
    "http://user:pass@localhost/mcp",
    "http://localhost/mcp/",
    "http://localhost//mcp",
    "http://localhost/owner?x=/../",
    "HTTP://LOCALHOST/MCP",
    "http://localhost/ümlaut",
    "http://localhost/a b",
  ];
  for (const url of urls) {
    await t.step(url, () => assert.equal(pathnameOf(url), new URL(url).pathname));
  }
  await t.step("not a URL", () => assert.equal(pathnameOf("not a url"), undefined));
});
