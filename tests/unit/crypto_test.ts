/**
 * The synchronous SHA-256 of the bearer check (`node:crypto`) gives the same token
 * hash as Web Crypto, so the index keyed by it finds every token whichever path hashed it.
 */
import assert from "node:assert/strict";
import { hashSecret, hashSecretSync, loadSyncHash } from "../../core/crypto.ts";

Deno.test("hashSecretSync gives the base64url SHA-256 that hashSecret gives", async (t) => {
  await loadSyncHash();
  const cases: [string, string][] = [
    ["empty", ""],
    ["a token", "xMIzQNj1VFd2dScjNRxjeDsFEqRy28ILivFgqg-unj0"],
    ["not ASCII", "héllo, 世界 🔑"],
    ["long", "x".repeat(10_000)],
  ];
  for (const [name, input] of cases) {
    await t.step(name, async () => {
      assert.equal(hashSecretSync(input), await hashSecret(input));
    });
  }
  // SHA-256("abc"), FIPS 180-2 B.1, base64url without padding.
  assert.equal(hashSecretSync("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
});
