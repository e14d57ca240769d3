/**
 * Reading a body under a size limit that is enforced while reading, before anything
 * is buffered beyond it. Shared by the OAuth endpoints, the MCP endpoint and the
 * metadata-document fetch.
 *
 * @module
 */

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
