/**
 * Reading requests safely: body size limits and deadlines enforced while reading, the
 * OAuth form and JSON readers that turn malformed input into a standard error, and the
 * client address as the runtime reports it. Shared by the OAuth endpoints, the MCP
 * endpoint and the metadata-document fetch.
 *
 * @module
 */
import { BodyTimeoutError, BodyTooLargeError, CLOSE_CONNECTION, OAuthError } from "./errors.ts";

// The body readers throw these; their callers find them here, next to the readers.
export { BodyTimeoutError, BodyTooLargeError, CLOSE_CONNECTION };

/**
 * What the runtime tells the handler about the connection, in any of the forms the
 * runtimes pass as `fetch`'s second argument, so that `Deno.serve(app.fetch)`,
 * `export default app` under `deno serve`, and `Bun.serve({ fetch: app.fetch })` all
 * give the handler the caller's address:
 * - `{ remoteAddress }`, from code of your own;
 * - Deno's `ServeHandlerInfo` (`info.remoteAddr.hostname`);
 * - Bun's `Server` (`server.requestIP(request)`; `server.timeout(request, seconds)`
 *   lets a long MCP exchange outlive Bun's idle timeout).
 */
export interface ConnectionInfo {
  /** The peer's IP address, for throttling. */
  remoteAddress?: string;
  /** Deno: the peer's address (`{ hostname, port }` over TCP). */
  remoteAddr?: unknown;
  /** Bun: the peer's address of a request. */
  requestIP?(request: Request): { address: string } | null;
  /** Bun: the idle timeout of a request's connection, in seconds (0: none). */
  timeout?(request: Request, seconds: number): void;
}

/**
 * The caller's IP address from the runtime's connection info, or undefined when the
 * handler was called without any. IPv4-mapped IPv6 addresses are given as IPv4.
 *
 * @example The three forms
 * ```ts
 * import { remoteAddressOf } from "./http.ts";
 * const request = new Request("http://127.0.0.1/");
 * const deno = { remoteAddr: { hostname: "192.0.2.1", port: 5000, transport: "tcp" } };
 * const bun = { requestIP: (_: Request) => ({ address: "::ffff:192.0.2.2", port: 5000 }) };
 * if (remoteAddressOf(request, deno) !== "192.0.2.1") throw new Error("Deno");
 * if (remoteAddressOf(request, bun) !== "192.0.2.2") throw new Error("Bun");
 * if (remoteAddressOf(request, { remoteAddress: "192.0.2.3" }) !== "192.0.2.3") throw new Error("own");
 * if (remoteAddressOf(request, undefined) !== undefined) throw new Error("none");
 * ```
 */
export function remoteAddressOf(
  request: Request,
  info: ConnectionInfo | undefined,
): string | undefined {
  if (!info || typeof info !== "object") return undefined;
  let address: string | undefined = info.remoteAddress;
  if (typeof address !== "string") {
    address = (info.remoteAddr as { hostname?: string } | undefined)?.hostname;
  }
  if (typeof address !== "string" && typeof info.requestIP === "function") {
    try {
      address = info.requestIP(request)?.address;
    } catch { /* not a request of this server */ }
  }
  if (typeof address !== "string" || address === "") return undefined;
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * Sets the idle timeout of the request's connection where the runtime lets a handler
 * do so (Bun); elsewhere does nothing.
 */
export function setConnectionIdle(
  request: Request,
  info: ConnectionInfo | undefined,
  seconds: number,
): void {
  if (typeof info?.timeout !== "function") return;
  try {
    info.timeout(request, seconds);
  } catch { /* the connection is gone */ }
}

/**
 * The request with its body bounded in time: a read of the body that has not ended
 * `seconds` after this call fails with {@linkcode BodyTimeoutError}. A request without
 * a body is returned as it is.
 */
export function withBodyDeadline(request: Request, seconds: number): Request {
  const body = request.body;
  if (!body) return request;
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired: Promise<never> | undefined;
  // The clock starts at the first read: a body nobody reads holds no timer.
  const deadline = () => {
    expired ??= new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BodyTimeoutError(seconds)), seconds * 1000);
    });
    expired.catch(() => {}); // observed by whichever read is waiting
    return expired;
  };
  const stop = () => clearTimeout(timer);
  const bounded = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await Promise.race([reader.read(), deadline()]);
        if (next.done) {
          stop();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        stop();
        reader.cancel().catch(() => {});
        controller.error(error);
      }
    },
    cancel(reason) {
      stop();
      return reader.cancel(reason);
    },
  });
  return new Request(request, { body: bounded, duplex: "half" } as RequestInit);
}

/** How often reads waiting on their deadline are looked at, in ms. */
export const DEADLINE_SWEEP_MS = 250;

interface Waiting {
  /** Epoch ms after which the read fails. */
  until: number;
  fail(): void;
}

/**
 * Body reads waiting on their deadline, looked at every {@linkcode DEADLINE_SWEEP_MS}
 * by one timer while any waits: a timer set and cleared for each request cost the hot
 * path more than the read itself (issue 23), and a deadline of seconds does not need
 * millisecond precision.
 */
const waiting = new Set<Waiting>();
let sweeper: ReturnType<typeof setInterval> | undefined;

/**
 * Fails the reads past their deadline. The timer stops at a tick that finds nothing
 * waiting, not as the last read ends: under load the set empties between two requests,
 * and starting a timer again for each one cost as much as the timer per request did.
 */
function sweep(): void {
  if (waiting.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
    return;
  }
  const now = Date.now();
  for (const entry of waiting) {
    if (entry.until > now) continue;
    waiting.delete(entry);
    entry.fail();
  }
}

/** Starts the sweeper (it stops itself once nothing waits: see sweep). */
function startSweeper(): void {
  sweeper = setInterval(sweep, DEADLINE_SWEEP_MS);
}

/**
 * Settles as `reading` does, or fails with {@linkcode BodyTimeoutError} once `seconds`
 * have passed (within {@linkcode DEADLINE_SWEEP_MS}).
 */
function withinDeadline<T>(reading: Promise<T>, seconds: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: Waiting = {
      until: Date.now() + seconds * 1000,
      fail: () => reject(new BodyTimeoutError(seconds)),
    };
    waiting.add(entry);
    if (sweeper === undefined) startSweeper();
    reading.then((value) => {
      waiting.delete(entry);
      resolve(value);
    }, (error) => {
      waiting.delete(entry);
      reject(error);
    });
  });
}

/**
 * Reads a body as text within `limit` bytes and `seconds`. A body of declared length
 * is read by the runtime in one go (the fast path); a chunked one under the bound.
 */
export function readTextWithin(
  request: Request,
  limit: number,
  seconds: number,
): Promise<string> {
  const declared = request.headers.get("content-length");
  // With a declared length the runtime reads exactly that many bytes, so the fast
  // reader is safe once the length is checked; a chunked body is read under the bound.
  const reading = declared !== null && Number(declared) <= limit
    ? request.text()
    : readLimited(request.body, limit, declared).then((bytes) => new TextDecoder().decode(bytes));
  return withinDeadline(reading, seconds);
}

/** Reads a whole body stream, refusing more than `limit` bytes. */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  declaredLength?: string | null,
): Promise<Uint8Array> {
  if (declaredLength != null && Number(declaredLength) > limit) {
    await body?.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  return concatBytes(chunks, size);
}

/** The chunks as one array of `size` bytes (the first itself when it is the only one). */
export function concatBytes(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

/**
 * The address a request comes from, for throttling. Forwarding headers are trusted
 * only when told to (behind one reverse proxy of the owner's), and then only the
 * right-most `X-Forwarded-For` entry: the one that proxy added; the rest is whatever
 * the client wrote.
 */
export function clientAddress(
  request: Request,
  remoteAddress: string | undefined,
  trustProxy: boolean,
): string | undefined {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",").map((s) => s.trim())
      .filter(Boolean);
    if (forwarded?.length) return forwarded[forwarded.length - 1]!;
  }
  return remoteAddress;
}

/** Reads the body as UTF-8 text, refusing more than `limit` bytes. */
export async function readBodyText(request: Request, limit: number): Promise<string> {
  const bytes = await readLimited(request.body, limit, request.headers.get("content-length"));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OAuthError("invalid_request", "request body is not valid UTF-8");
  }
}

function mediaType(request: Request): string {
  return (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Reads an `application/x-www-form-urlencoded` body. A parameter sent twice is an
 * error, so returns a plain record of single values.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-3.2 | RFC 6749 3.2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-3.1 | RFC 6749 3.1}
 */
export async function readForm(request: Request, limit: number): Promise<Record<string, string>> {
  if (mediaType(request) !== "application/x-www-form-urlencoded") {
    throw new OAuthError(
      "invalid_request",
      "content-type must be application/x-www-form-urlencoded",
    );
  }
  const params = new URLSearchParams(await readBodyText(request, limit));
  return singleValues(params);
}

/** A parameter record from URLSearchParams; a repeated parameter is refused. */
export function singleValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of params) {
    if (name in out) throw new OAuthError("invalid_request", `parameter "${name}" is repeated`);
    out[name] = value;
  }
  return out;
}

/** Reads a JSON object body. */
export async function readJsonObject(
  request: Request,
  limit: number,
  code: "invalid_request" | "invalid_client_metadata" = "invalid_request",
): Promise<Record<string, unknown>> {
  if (mediaType(request) !== "application/json") {
    throw new OAuthError(code, "content-type must be application/json");
  }
  const text = await readBodyText(request, limit);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OAuthError(code, "request body is not valid JSON");
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new OAuthError(code, "request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Reads one cookie from a request. */
export function readCookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}
