/**
 * Keep-alive for server-sent event streams: a comment line between events whenever
 * the stream has been quiet for a while.
 *
 * @module
 */

const KEEPALIVE = new TextEncoder().encode(": keepalive\n\n");

/** Whether a chunk of an event stream ends an event (a blank line). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  return n >= 2 && chunk[n - 1] === 10 && (chunk[n - 2] === 10 || chunk[n - 3] === 10);
}

/**
 * An SSE answer that sends a comment line between events whenever it has been quiet
 * for `seconds`: tunnels and proxies keep a busy stream open, and a client that has
 * gone is found out (the write fails and the stream is cancelled).
 *
 * @see {@link https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation | HTML: lines starting with a colon are comments}
 */
export function withKeepalive(response: Response, seconds: number): Response {
  const body = response.body;
  if (!body) return response;
  const reader = body.getReader();
  let timer: ReturnType<typeof setInterval> | undefined;
  let between = true;
  let quiet = true;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        // Only into a stream someone reads: an unread one must not fill with keepalives.
        if (between && quiet && (controller.desiredSize ?? 0) > 0) {
          try {
            controller.enqueue(KEEPALIVE);
          } catch {
            clearInterval(timer); // closed
          }
        }
        quiet = true;
      }, seconds * 1000);
      // The stream below may end (a revoked grant, a closed session) with nobody reading.
      reader.closed.then(() => clearInterval(timer), () => clearInterval(timer));
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          clearInterval(timer);
          controller.close();
          return;
        }
        between = endsEvent(value);
        quiet = false;
        controller.enqueue(value);
      } catch (error) {
        clearInterval(timer);
        controller.error(error);
      }
    },
    cancel(reason) {
      clearInterval(timer);
      return reader.cancel(reason);
    },
  });
  return new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
