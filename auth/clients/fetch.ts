/**
 * The one way this server fetches from another host (a Client ID Metadata Document,
 * a client's key set, and anything later that leaves the machine). The host is named
 * by a stranger, so every fetch is guarded the same way:
 * - https only (http to a loopback host in development, when the owner allowed it);
 * - the name is resolved first, within a deadline, and every address it resolves to
 *   must be global unicast (no DNS tricks to internal hosts; see ./ssrf.ts);
 * - redirects are not followed (one could lead anywhere);
 * - the answer comes within a deadline, and its body is read up to a bound.
 *
 * A failure is an {@linkcode OutboundError} naming the step that failed, so that each
 * caller says what it means for its own purpose (a document "unreachable" or
 * "refused", a key set not usable).
 *
 * @module
 */
import { BodyTooLargeError, readLimited } from "../../core/http.ts";
import { isLoopbackHost } from "../../core/config.ts";
import { anyBlocked } from "./ssrf.ts";

/** How long one fetch may take, in ms. */
export const FETCH_TIMEOUT_MS = 5000;
/** How long the DNS lookup before a fetch may take, in ms. */
export const LOOKUP_TIMEOUT_MS = 2000;

/** How an outbound fetch reaches the network; replaceable in tests. */
export interface OutboundDeps {
  lookup(hostname: string): Promise<string[]>;
  fetch(url: string, init: RequestInit): Promise<Response>;
}

/** The network as the runtime offers it. */
export const NETWORK: OutboundDeps = {
  async lookup(hostname) {
    // Loaded with the first outbound fetch, not when the server starts.
    const { lookup } = await import("node:dns/promises");
    const found = await lookup(hostname, { all: true, verbatim: true });
    return found.map((a) => a.address);
  },
  fetch: (url, init) => fetch(url, init),
};

/**
 * Text from the wire made safe for a log line or a page: bounded, and everything
 * outside printable ASCII, and `"` and `\`, written as a `\uXXXX` escape (so a
 * quoted value cannot end early or fake another field).
 *
 * @example
 * ```ts
 * import { printable } from "./fetch.ts";
 * if (printable('a"b\nc') !== "a\\u0022b\\u000ac") throw new Error(printable('a"b\nc'));
 * ```
 */
export function printable(text: string, max = 200): string {
  return text.slice(0, max).replace(
    /[^\x20\x21\x23-\x5b\x5d-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The step of a guarded fetch that failed: `scheme` (not https), `lookup` (the name
 * did not resolve in time), `address` (it resolves to a forbidden address), `connect`
 * and `timeout` (no answer), `status` (an answer the caller does not read), `size`
 * (a body past the bound), `broken` (the body broke off), `json` (not UTF-8 JSON).
 */
export type OutboundStep =
  | "scheme"
  | "lookup"
  | "address"
  | "connect"
  | "timeout"
  | "status"
  | "size"
  | "broken"
  | "json";

/** A guarded fetch that failed; its message is safe to log (wire values escaped). */
export class OutboundError extends Error {
  /** `answer` is set once the host answered: its status and headers. */
  constructor(
    readonly step: OutboundStep,
    message: string,
    readonly answer?: { status: number; headers: Headers },
  ) {
    super(message);
    this.name = "OutboundError";
  }
}

/** What a guarded fetch asks for, and within which bounds. */
export interface OutboundRequest {
  /** The `Accept` header. */
  accept: string;
  /** Largest body read, in bytes. */
  maxBytes: number;
  /**
   * Development only (the owner's flag): a loopback host may be reached, over http or
   * https, without the address check.
   */
  allowLoopback: boolean;
  /** What the URL is, for the messages ("client_id URL", "jwks_uri"). */
  subject: string;
  /** @default NETWORK */
  deps?: OutboundDeps;
  /** @default LOOKUP_TIMEOUT_MS */
  lookupTimeoutMs?: number;
  /** Whether the body of an answer is read; others fail at `status`. @default status 200 */
  usable?: (response: Response) => boolean;
}

/** The answer of a guarded fetch: its status, headers and the body as parsed JSON. */
export interface OutboundAnswer {
  status: number;
  headers: Headers;
  json: unknown;
}

/**
 * Fetches `url` under the guards and parses its body as JSON; throws
 * {@linkcode OutboundError} saying which step failed.
 *
 * @example Refusing a name that resolves inside the network
 * ```ts
 * import { fetchJson, OutboundError } from "./fetch.ts";
 * const deps = {
 *   lookup: () => Promise.resolve(["10.0.0.7"]),
 *   fetch: () => Promise.reject(new Error("must not be reached")),
 * };
 * const request = { accept: "application/json", maxBytes: 1024, allowLoopback: false, subject: "the URL", deps };
 * await fetchJson(new URL("https://inside.example/doc.json"), request).then(
 *   () => { throw new Error("fetched"); },
 *   (e) => { if (!(e instanceof OutboundError) || e.step !== "address") throw e; },
 * );
 * ```
 */
export async function fetchJson(url: URL, request: OutboundRequest): Promise<OutboundAnswer> {
  const deps = request.deps ?? NETWORK;
  const loopback = request.allowLoopback && isLoopbackHost(url.hostname);
  if (url.protocol !== "https:" && !(loopback && url.protocol === "http:")) {
    throw new OutboundError("scheme", `${request.subject} must use https`);
  }
  if (!loopback) await checkAddresses(url, request, deps);
  const response = await send(url, request, deps);
  const answer = { status: response.status, headers: response.headers };
  const usable = request.usable ?? ((r: Response) => r.status === 200);
  if (!usable(response)) {
    await response.body?.cancel().catch(() => {});
    throw new OutboundError("status", `answered ${response.status}`, answer);
  }
  const bytes = await readBody(response, request.maxBytes, answer);
  try {
    return { ...answer, json: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch {
    throw new OutboundError("json", "the answer is not UTF-8 JSON", answer);
  }
}

/** Every address the name resolves to must be public (no DNS tricks to internal hosts). */
async function checkAddresses(
  url: URL,
  request: OutboundRequest,
  deps: OutboundDeps,
): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = await lookupWithin(deps, host, request.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS);
  if (addresses.length === 0 || await anyBlocked(addresses)) {
    throw new OutboundError("address", `${request.subject} resolves to a forbidden address`);
  }
}

/** A DNS lookup that gives up after `timeoutMs`: a slow resolver must not hold requests. */
async function lookupWithin(
  deps: OutboundDeps,
  host: string,
  timeoutMs: number,
): Promise<string[]> {
  const late = `looking up the name took longer than ${timeoutMs / 1000} s`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OutboundError("lookup", late)), timeoutMs);
  });
  try {
    return await Promise.race([deps.lookup(host), timeout]);
  } catch (error) {
    if (error instanceof OutboundError) throw error;
    const code = (error as { code?: unknown })?.code;
    throw new OutboundError(
      "lookup",
      `the name did not resolve${typeof code === "string" ? ` (${printable(code, 40)})` : ""}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The request itself: no redirect followed, an answer within the deadline. */
async function send(url: URL, request: OutboundRequest, deps: OutboundDeps): Promise<Response> {
  try {
    return await deps.fetch(url.href, {
      redirect: "manual", // a redirect could lead anywhere; what is fetched is served directly
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      headers: { accept: request.accept },
    });
  } catch (error) {
    const e = error as Error;
    if (e?.name === "TimeoutError") {
      throw new OutboundError("timeout", `no answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    }
    throw new OutboundError(
      "connect",
      `could not connect (${printable(String(e?.message ?? e), 160)})`,
    );
  }
}

/** The body, up to `maxBytes` (a declared or actual length past it is refused). */
async function readBody(
  response: Response,
  maxBytes: number,
  answer: { status: number; headers: Headers },
): Promise<Uint8Array> {
  try {
    return await readLimited(response.body, maxBytes, response.headers.get("content-length"));
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      throw new OutboundError("size", `the answer is larger than ${maxBytes} bytes`, answer);
    }
    throw new OutboundError(
      "broken",
      `the answer broke off (${printable(String(error), 160)})`,
      answer,
    );
  }
}
