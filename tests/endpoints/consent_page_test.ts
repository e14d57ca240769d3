/**
 * The consent page shows a client's self-chosen name as the owner can trust it to look:
 * no invisible or direction-changing characters, never blank, isolated from the
 * sentence around it, and labelled as given by the app, unverified, with its age.
 */
import assert from "node:assert/strict";
import { consentPage, displayName, UNNAMED_APP } from "../../auth/pages/consent.ts";
import { authorizeUrl, openConsent, pkcePair, registerClient, testServer } from "../fixtures.ts";

const INVISIBLE_OR_BIDI =
  /[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u3164\u115f\u2800\u{e0000}-\u{e007f}]/u;

Deno.test("displayName strips invisible and direction-changing characters", async (t) => {
  const cases: [string, string | undefined, string][] = [
    ["zero-width characters only", "\u200b\u200c\u200d\u2060\ufeff", UNNAMED_APP],
    ["spaces, soft hyphens and Hangul fillers only", " \u00ad\u3164\u115f\u2800 ", UNNAMED_APP],
    ["tag characters only", "\u{e0041}\u{e0042}", UNNAMED_APP],
    ["nothing", undefined, UNNAMED_APP],
    ["a right-to-left override", "Claude\u202e edoC", "Claude edoC"],
    ["bidi isolates and marks", "\u2067Cursor\u2069\u200f", "Cursor"],
    ["zero widths inside a word", "Cl\u200bau\u200dde", "Claude"],
    ["line breaks and runs of spaces", "My\n\n  app\u2028x", "My app x"],
    ["a plain name", "Claude Code (laptop)", "Claude Code (laptop)"],
    ["a right-to-left script", "تطبيق", "تطبيق"],
    ["an emoji", "🤖 bot", "🤖 bot"],
  ];
  for (const [label, input, shown] of cases) {
    await t.step(label, () => assert.equal(displayName(input), shown));
  }
});

Deno.test("the consent page never shows a blank name, isolates it, and says it is unverified", async (t) => {
  const { app } = testServer();
  const open = async (clientName: string) => {
    const client = await registerClient(app, { client_name: clientName });
    const { challenge } = await pkcePair();
    return (await openConsent(app, authorizeUrl(client, challenge))).html;
  };
  await t.step("a name of zero-width characters reads as an unnamed app", async () => {
    const html = await open("\u200b\u200b\u200d");
    assert.match(html, /<h1>Allow <bdi>An unnamed app<\/bdi> to use personal-mcp\?<\/h1>/);
    assert.match(html, /<title>Allow An unnamed app\?<\/title>/);
  });
  await t.step("a right-to-left override is removed and the name isolated", async () => {
    const html = await open("Claude\u202e\u2066 gnp.exe");
    assert.doesNotMatch(html, INVISIBLE_OR_BIDI);
    assert.match(html, /<dd><bdi>Claude gnp\.exe<\/bdi>/);
  });
  await t.step("the name is said to come from the app, unverified, with its age", async () => {
    const html = await open("Claude");
    assert.match(html, /Name given by the app itself; not verified\. Registered just now\./);
  });
  await app.close();
});

Deno.test("the consent page says how long ago a client registered, and where a document's name comes from", () => {
  const base = {
    serverName: "s",
    clientName: "A",
    clientId: "c",
    redirectDisplay: "x",
    redirectTarget: "https://x",
    scope: "mcp",
    request: "r",
  };
  const page = async (extra: Record<string, unknown>) =>
    await consentPage({ ...base, ...extra }).text();
  return (async () => {
    assert.match(await page({ registeredAgoMs: 5 * 60_000 }), /Registered 5 minutes ago\./);
    assert.match(await page({ registeredAgoMs: 60 * 60_000 }), /Registered 1 hour ago\./);
    assert.match(await page({ registeredAgoMs: 3 * 86_400_000 }), /Registered 3 days ago\./);
    const doc = await page({ clientIdHost: "claude.ai" });
    assert.match(doc, /Name given in the app's own document on claude\.ai; not verified\./);
    assert.doesNotMatch(doc, /Registered/);
  })();
});
