/**
 * The `fetch` an HTTP upstream's SDK transport uses, with a bound on what one message
 * may hold: a JSON answer, or one event of an SSE stream (a long-lived stream is fine;
 * one endless event is not). The SDK reads bodies whole, so without this an upstream
 * on the network could make the server hold any amount of memory.
 *
 * @module
 */
import type { FetchLike } from "@modelcontextprotocol/client";

/** Words every over-the-bound error carries, however the SDK wraps it. */
export const TOO_LARGE = "(its maxMessageBytes)";

/** An upstream's message over its `maxMessageBytes`. */
export class MessageTooLargeError extends Error {
  /** @param maxBytes the bound */
  constructor(maxBytes: number) {
    super(`sent a message over ${maxBytes} bytes ${TOO_LARGE}`);
    this.name = "MessageTooLargeError";
  }
}

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * `fetchImpl` with every response body cut off with a {@linkcode MessageTooLargeError}
 * once one message passes `maxBytes`.
 *
 * @example
 * ```ts ignore
 * const transport = new StreamableHTTPClientTransport(url, { fetch: boundedFetch(16 << 20) });
 * ```
 */
export function boundedFetch(maxBytes: number, fetchImpl: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    const response = await fetchImpl(url, init);
    if (!response.body || NULL_BODY.has(response.status)) return response;
    const sse = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    const length = Number(response.headers.get("content-length") ?? NaN);
    if (!sse && length > maxBytes) {
      await response.body.cancel().catch(() => {});
      throw new MessageTooLargeError(maxBytes);
    }
    let size = 0;
    let lastByte = -1;
    const bound = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        // An SSE event ends at a blank line: count from the last one seen.
        const end = sse ? eventEnd(chunk, lastByte) : -1;
        size = end >= 0 ? chunk.length - end : size + chunk.length;
        if (chunk.length > 0) lastByte = chunk[chunk.length - 1]!;
        if (size > maxBytes) controller.error(new MessageTooLargeError(maxBytes));
        else controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(bound), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/**
 * The index just past the last blank line (`\n\n`, `\n\r\n`) in `chunk`, or -1;
 * `before` is the byte that came just before the chunk.
 */
function eventEnd(chunk: Uint8Array, before: number): number {
  for (let i = chunk.length - 1; i >= 0; i--) {
    if (chunk[i] !== 0x0a) continue;
    const prev = i > 0 ? chunk[i - 1] : before;
    const prev2 = i > 1 ? chunk[i - 2] : i === 1 ? before : -1;
    if (prev === 0x0a || (prev === 0x0d && prev2 === 0x0a)) return i + 1;
  }
  return -1;
}
