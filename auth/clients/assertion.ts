/**
 * `private_key_jwt` client authentication (RFC 7523 2.2, RFC 7521 4.2) for clients
 * described by a metadata document: the client signs a short-lived JWT with a key whose
 * public half its document publishes at `jwks_uri`. The keys are fetched under the same
 * guards as documents; the JWT is checked with `jose`, never by hand.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-2.2 | RFC 7523 2.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc7521#section-4.2 | RFC 7521 4.2}
 *
 * @module
 */
import type { JSONWebKeySet, JWK } from "jose";
import type { Store } from "../../store/store.ts";
import { fetchJson, type OutboundDeps, OutboundError } from "./fetch.ts";
import { hashSecret } from "../../core/crypto.ts";
import type { AssertionJtiRecord, ClientRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";

/**
 * RFC 7523 2.2: the `client_assertion_type` of a JWT client assertion.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-2.2 | RFC 7523 2.2}
 */
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Latest `exp` accepted, in seconds from now: an assertion is for one request. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Clock difference tolerated between the client and this server, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;
/** Largest assertion read, in characters. */
export const MAX_ASSERTION_CHARS = 8192;
/** Largest key set accepted, in bytes. */
export const MAX_JWKS_BYTES = 64 * 1024;
/** How long a fetched key set is used before it is fetched again, in ms. */
export const JWKS_CACHE_MS = 10 * 60 * 1000;
/** An unknown key id fetches the key set again (key rotation), at most this often, in ms. */
export const JWKS_REFETCH_MS = 30 * 1000;
const JWKS_ENTRIES = 64;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** jose, loaded when the first assertion comes (most servers never see one). */
let jose: Promise<typeof import("jose")> | undefined;
const loadJose = () => jose ??= import("jose");

/** Why an assertion was refused: the message is safe to log, never sent to the client. */
export class AssertionError extends Error {
  /** The reason, for the log. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Checks client assertions; see {@linkcode createAssertionVerifier}. */
export interface AssertionVerifier {
  /**
   * Verifies `assertion` for `client` (which must have a `jwksUri`) and spends its
   * `jti`; throws {@linkcode AssertionError} with the reason otherwise.
   */
  verify(client: ClientRecord, assertion: string): Promise<void>;
}

/**
 * The client an assertion claims to come from (its `sub`), read without checking the
 * signature: only to find whose keys to check it with.
 *
 * @example Reading the claimed client
 * ```ts
 * import { assertionSubject } from "./assertion.ts";
 * const part = (o: object) => btoa(JSON.stringify(o)).replaceAll("=", "");
 * const jwt = `${part({ alg: "RS256" })}.${part({ sub: "https://c.example/m.json" })}.sig`;
 * if (await assertionSubject(jwt) !== "https://c.example/m.json") throw new Error("not read");
 * ```
 */
export async function assertionSubject(assertion: string): Promise<string | undefined> {
  if (assertion.length > MAX_ASSERTION_CHARS || !COMPACT_JWS.test(assertion)) return undefined;
  const { decodeJwt } = await loadJose();
  try {
    const { sub } = decodeJwt(assertion);
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The set's keys that could verify RS256 or ES256. `jose` picks among them by `kid`,
 * `alg`, `use` and curve, and refuses any that is not a public key.
 */
function signatureKeys(set: unknown): JSONWebKeySet {
  const list = (set as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new AssertionError("the key set has no keys array");
  return {
    keys: list.filter((k): k is JWK => !!k && typeof k === "object" && /^(RSA|EC)$/.test(k.kty)),
  };
}

/** Why a key set could not be used, for the log, by the step of the fetch that failed. */
function keySetFailure(error: OutboundError): string {
  switch (error.step) {
    case "scheme":
    case "address":
      return error.message;
    case "status":
      return `fetching jwks_uri ${error.message}`;
    case "size":
      return "key set too large";
    case "json":
      return "key set is not JSON";
    default:
      return `jwks_uri could not be fetched (${error.message})`;
  }
}

/**
 * Builds the verifier. `audiences` are the values `aud` may name (RFC 7523 3: this
 * server: its issuer or its token endpoint). `allowInsecureLoopback` admits key sets on
 * loopback hosts over http, as `insecureClientMetadata` does for documents.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-3 | RFC 7523 3}
 *
 * @example Refusing an assertion that is not a JWT
 * ```ts
 * import { createAssertionVerifier } from "./assertion.ts";
 * import { createMemoryStore } from "../../store/memory.ts";
 * const verifier = createAssertionVerifier({
 *   audiences: ["https://me.example.com"], allowInsecureLoopback: false,
 *   store: createMemoryStore(), now: () => Date.now(),
 * });
 * const client = { clientId: "https://c.example/m.json", authMethod: "private_key_jwt" as const,
 *   jwksUri: "https://c.example/jwks.json", redirectUris: [], grantTypes: [], metadata: {}, createdAt: 0 };
 * await verifier.verify(client, "not-a-jwt").then(() => { throw new Error("accepted"); }, () => {});
 * ```
 */
export function createAssertionVerifier(options: {
  audiences: string[];
  allowInsecureLoopback: boolean;
  store: Store;
  now: () => number;
  deps?: OutboundDeps;
}): AssertionVerifier {
  const cache = new Map<string, { keys: JSONWebKeySet; fetchedAt: number }>();

  /** The key set at `uri`, fetched under the same guards as documents (./fetch.ts). */
  async function fetchKeys(uri: string): Promise<JSONWebKeySet> {
    let answer;
    try {
      answer = await fetchJson(new URL(uri), {
        accept: "application/json, application/jwk-set+json",
        maxBytes: MAX_JWKS_BYTES,
        allowLoopback: options.allowInsecureLoopback,
        subject: "jwks_uri",
        deps: options.deps,
      });
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      throw new AssertionError(keySetFailure(error));
    }
    return signatureKeys(answer.json);
  }

  async function keysFor(uri: string, fresh: boolean): Promise<JSONWebKeySet> {
    const hit = cache.get(uri);
    const t = options.now();
    const age = hit ? t - hit.fetchedAt : Infinity;
    if (hit && age < (fresh ? JWKS_REFETCH_MS : JWKS_CACHE_MS)) return hit.keys;
    const fetched = await fetchKeys(uri);
    cache.delete(uri);
    if (cache.size >= JWKS_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(uri, { keys: fetched, fetchedAt: t });
    return fetched;
  }

  async function check(client: ClientRecord, assertion: string, fresh: boolean) {
    const { createLocalJWKSet, errors, jwtVerify } = await loadJose();
    const keySet = createLocalJWKSet(await keysFor(client.jwksUri!, fresh));
    const rules = {
      // RFC 8725 3.1: the algorithms are ours to choose, never the header's.
      algorithms: client.assertionAlgs ?? ["RS256", "ES256"],
      // RFC 7523 3: iss and sub are the client, aud is this server, exp is required.
      issuer: client.clientId,
      subject: client.clientId,
      audience: options.audiences,
      requiredClaims: ["exp", "jti"],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(options.now()),
    };
    try {
      return await jwtVerify(assertion, keySet, rules);
    } catch (error) {
      // No kid and several keys of the kind: the signature decides which one it is.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
        try {
          return await jwtVerify(assertion, key, rules);
        } catch { /* the next key */ }
      }
      throw new AssertionError("the assertion does not verify with any of the client's keys");
    }
  }

  return {
    async verify(client, assertion) {
      if (!client.jwksUri) throw new AssertionError("the client publishes no keys");
      if (assertion.length > MAX_ASSERTION_CHARS || !COMPACT_JWS.test(assertion)) {
        throw new AssertionError("the assertion is not a compact JWS");
      }
      const { errors } = await loadJose();
      let payload: Awaited<ReturnType<typeof check>>["payload"];
      try {
        try {
          ({ payload } = await check(client, assertion, false));
        } catch (error) {
          // A key id we do not know: the client may have rotated its keys.
          if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
          ({ payload } = await check(client, assertion, true));
        }
      } catch (error) {
        if (error instanceof AssertionError) throw error;
        const code = (error as { code?: string }).code ?? "invalid";
        throw new AssertionError(`the assertion does not verify (${code})`);
      }
      const nowSeconds = options.now() / 1000;
      const exp = payload.exp!;
      // RFC 7523 3: a short-lived assertion; one valid for longer is refused, not trusted.
      if (exp > nowSeconds + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
        throw new AssertionError("the assertion expires too far ahead");
      }
      if (typeof payload.iat === "number" && payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) {
        throw new AssertionError("the assertion was issued in the future");
      }
      const jti: unknown = payload.jti;
      if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) {
        throw new AssertionError("jti is malformed");
      }
      // RFC 7523 3 (7): a jti is used once; remembered until the assertion expires.
      const key = keys.assertionJti(await hashSecret(`${client.clientId} ${jti}`));
      const expiresAt = (exp + CLOCK_SKEW_SECONDS) * 1000;
      const fresh = await options.store.transact([key], ([seen]) =>
        seen === undefined
          ? {
            ops: [{
              op: "set",
              key,
              value: { clientId: client.clientId, expiresAt } satisfies AssertionJtiRecord,
              expiresAt,
            }],
            result: true,
          }
          : { ops: [], result: false });
      if (!fresh) throw new AssertionError("the assertion's jti was already used");
    },
  };
}
