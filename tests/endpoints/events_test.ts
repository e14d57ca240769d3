/**
 * What the server reports through onEvent: a message built from request data carries
 * that data quoted and escaped, so an event log cannot be fed forged lines.
 */
import assert from "node:assert/strict";
import { formatEvent } from "../../server/log.ts";
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
  const warnings = events.filter((e) => e.type === "warning");
  assert.equal(warnings.length, 1, JSON.stringify(events));
  const message = (warnings[0] as { message: string }).message;
  assert.doesNotMatch(message, RAW_UNSAFE, JSON.stringify(message));
  assert.match(message, /"https:\/\/evil\.example\/x\\x0a\\x1b\[2K\\x0dwrong owner password/);
  for (const event of events) assert.doesNotMatch(formatEvent(event).line, RAW_UNSAFE);
  await app.close();
});
