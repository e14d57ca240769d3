/**
 * Log lines cannot be forged: every request value that reaches one is escaped (control
 * characters, terminal escapes, line breaks, invisible format characters) and quoted.
 */
import assert from "node:assert/strict";
import { formatEvent } from "../../auth/owner/activity.ts";
import { describeError, escapeForLog, quoteForLog } from "../../core/log.ts";

/** What must never appear raw in a log line. */
const RAW_UNSAFE =
  // deno-lint-ignore no-control-regex -- these are exactly the characters looked for
  /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\u{e0000}-\u{e007f}]/u;

const NASTY: Record<string, string> = {
  "a line break and a forged line": "x\nwrong owner password from 10.0.0.1",
  "CR LF": "x\r\nerror in /token: internal",
  "a terminal escape that clears the line": "\x1b[2K\rwrong owner password from 10.0.0.1",
  "C1 CSI": "\x9b2K",
  "DEL and NUL": "\x7f\x00",
  "Unicode line and paragraph separators": "a\u2028b\u2029c",
  "a right-to-left override": "moc.elgoog\u202e",
  "bidi isolates and marks": "\u2066a\u2069\u200f",
  "zero-width characters": "a\u200b\u200c\u200d\u2060\ufeffb",
  "a tag character": "a\u{e0041}",
  "a backslash that fakes an escape": "\\x0a",
};

Deno.test("escapeForLog and quoteForLog leave nothing that moves the cursor or hides text", async (t) => {
  for (const [label, value] of Object.entries(NASTY)) {
    await t.step(label, () => {
      for (const out of [escapeForLog(value), quoteForLog(value)]) {
        assert.doesNotMatch(out, RAW_UNSAFE, JSON.stringify(out));
      }
      const quoted = quoteForLog(value);
      assert.ok(quoted.startsWith('"') && quoted.endsWith('"'));
      // The quotes cannot be closed early from inside.
      assert.doesNotMatch(quoted.slice(1, -1), /(^|[^\\])"/);
    });
  }
  await t.step("an escaped backslash cannot be read as an escape", () => {
    assert.equal(escapeForLog("\\x0a"), "\\\\x0a");
    assert.notEqual(escapeForLog("\\x0a"), escapeForLog("\n"));
  });
  await t.step("plain text and non-Latin names stay readable", () => {
    assert.equal(
      escapeForLog("Claude Code (laptop) — Zürich 東京"),
      "Claude Code (laptop) — Zürich 東京",
    );
  });
});

Deno.test("formatEvent writes every event on one line, request values quoted", async (t) => {
  const forged = "203.0.113.9\r\n\x1b[32mwrong owner password from 127.0.0.1";
  const error = new Error(`Unsupported protocol version: ${forged}`);
  const events = [
    { type: "owner_login_failed", clientAddress: forged },
    { type: "warning", message: `client metadata document ${forged} refused` },
    { type: "mcp_rejected", error },
    { type: "error", where: `/x${forged}`, error },
    { type: "grant_revoked", grantId: "g", reason: forged },
    { type: "something_new", detail: forged },
  ] as const;
  for (const event of events) {
    await t.step(event.type, () => {
      const typed = event as unknown as Parameters<typeof formatEvent>[0];
      for (const format of ["text", "json"] as const) {
        const line = formatEvent(typed, 0, format);
        assert.ok(!line.includes("\n"), `one line: ${line}`);
        assert.doesNotMatch(line, RAW_UNSAFE, line);
        assert.match(line, /\\(x1b|u001b)/, "the escape is shown, not acted on");
      }
    });
  }
  await t.step("an error's stack frames follow on their own lines, its message escaped", () => {
    const [first, ...frames] = describeError(error).split("\n");
    assert.doesNotMatch(first!, RAW_UNSAFE, first);
    assert.ok(frames.length > 0);
    for (const frame of frames) assert.match(frame, /^ {4}at /, frame);
  });
});
