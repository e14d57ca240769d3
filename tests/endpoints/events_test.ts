/**
 * What the server reports through onEvent: a message built from request data carries
 * that data quoted and escaped, so an event log cannot be fed forged lines.
 */
import assert from "node:assert/strict";
import { formatEvent } from "../../auth/owner/activity.ts";
import { BASE_URL, CLAUDE_REDIRECT, testServer } from "../fixtures.ts";

// deno-lint-ignore no-control-regex -- these are exactly the characters looked for
const RAW_UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

Deno.test("a client_id with line breaks and terminal escapes reaches the event log quoted", async () => {
  const { app, events } = testServer();
  const forged = "https://evil.example/x\n\x1b[2K\rwrong owner password from 127.0.0.1\u202e";
  const url = new URL(`${BASE_URL}/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: forged,
    redirect_uri: CLAUDE_REDIRECT,
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
  }).toString();
  const res = await app.fetch(new Request(url));
  assert.equal(res.status, 400);
  await res.body?.cancel();
  const failures = events.filter((e) => e.type === "client_metadata_failed");
  assert.equal(failures.length, 1, JSON.stringify(events));
  const message = (failures[0] as { message: string }).message;
  assert.doesNotMatch(message, RAW_UNSAFE, JSON.stringify(message));
  assert.match(message, /https:\/\/evil\.example\/x\\u000a\\u001b\[2K\\u000dwrong owner password/);
  for (const event of events) {
    for (const format of ["text", "json"] as const) {
      const line = formatEvent(event, 0, format);
      assert.doesNotMatch(line, RAW_UNSAFE, line);
      assert.ok(!line.includes("\n"), line);
    }
  }
  await app.close();
});
