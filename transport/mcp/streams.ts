/**
 * The open event streams of each grant. An SSE answer (a session's stream, a tool call
 * reporting progress, a 2026 subscription) is handed out through a stream of ours that
 * can be ended from here, whatever the SDK is still doing behind it: a revoked grant
 * keeps nothing open.
 *
 * @module
 */

/** The event streams handed out, by grant. */
export interface StreamTable {
  /**
   * The answer to hand out: an SSE answer of a grant wrapped in a stream that
   * {@linkcode StreamTable.end} can end (`onEnd` runs once when it ends, however it
   * ends); any other answer, or one already tracked, unchanged.
   */
  track(response: Response, grantId: unknown, onEnd?: () => void): Response;
  /** Ends every stream of `grantId`. */
  end(grantId: unknown): void;
  /** The grants with a stream open. */
  grants(): unknown[];
}

/** An empty stream table. */
export function createStreamTable(): StreamTable {
  const byGrant = new Map<unknown, Set<() => void>>();
  // Answers already handed out through a stream of ours (tracked once, not twice).
  const tracked = new WeakSet<Response>();

  function endsOf(grantId: unknown): Set<() => void> {
    let ends = byGrant.get(grantId);
    if (!ends) byGrant.set(grantId, ends = new Set());
    return ends;
  }

  function track(response: Response, grantId: unknown, onEnd?: () => void): Response {
    // The content type first: reading `body` of a Response built from a string turns
    // it into a stream, which the runtime then pumps instead of writing it at once.
    const type = response.headers.get("content-type") ?? "";
    if (
      grantId === undefined || !type.startsWith("text/event-stream") || !response.body ||
      tracked.has(response)
    ) {
      return response;
    }
    const set = endsOf(grantId);
    const forget = (end: () => void) => {
      set.delete(end);
      if (set.size === 0 && byGrant.get(grantId) === set) byGrant.delete(grantId);
    };
    const ours = new Response(endableStream(response.body, set, forget, onEnd), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    tracked.add(ours);
    return ours;
  }

  return {
    track,
    end(grantId) {
      for (const end of [...byGrant.get(grantId) ?? []]) end();
    },
    grants() {
      return [...byGrant.keys()];
    },
  };
}

/**
 * A stream that passes `source` on and whose end function sits in `ends` while it is
 * open; `forget` takes it out, and `onEnd` runs once, when it ends by any path.
 */
function endableStream(
  source: ReadableStream<Uint8Array>,
  ends: Set<() => void>,
  forget: (end: () => void) => void,
  onEnd?: () => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let ended = false;
  let end = () => {};
  const finish = () => {
    if (!ended) onEnd?.();
    ended = true;
    forget(end);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      end = () => {
        if (ended) return;
        finish();
        controller.close();
        reader.cancel().catch(() => {});
      };
      ends.add(end);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (ended) return;
        if (done) {
          finish();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        if (ended) return;
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}
