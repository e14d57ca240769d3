/**
 * Reading requests safely: body size limits enforced while reading, the OAuth form and
 * JSON readers that turn malformed input into a standard error, and the client address.
 * Shared by the OAuth endpoints, the MCP endpoint and the metadata-document fetch.
 *
 * @module
 */
import { OAuthError } from "../auth/errors.ts";

/** Raised when a body exceeds the limit; answered with 413. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
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
  remoteAddress: string,
  trustProxy: boolean,
): string {
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
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 3.2). A parameter sent
 * twice is an error (RFC 6749 3.1), so returns a plain record of single values.
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
