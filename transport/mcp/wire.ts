/**
 * What the MCP endpoint reads from and writes to the wire around the SDK: the bounded
 * POST body, JSON-RPC errors that belong to no request, the answer in the form the
 * client accepts, and the body-less request that hands a transport a parsed message.
 *
 * @module
 */
import { jsonRpcError, jsonRpcRefusal, refusalOf } from "../../core/errors.ts";
import { readTextWithin } from "../../core/http.ts";

// Written once, in core/errors.ts, with the other refusals; the endpoint's parts find it here.
export { jsonRpcError };

/** Largest POST body the endpoint reads, in bytes (the SDK's own default). */
export const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Reads a POST body once, under the bound, so that it can be classified and handed on
 * parsed; a JSON-RPC error response when it cannot be read or parsed.
 */
export async function readBody(
  request: Request,
  bodyTimeoutSeconds: number,
): Promise<{ body: unknown } | Response> {
  let text: string;
  try {
    text = await readTextWithin(request, MAX_MCP_BODY_BYTES, bodyTimeoutSeconds);
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal.kind !== "too_large" && refusal.kind !== "too_slow") throw error;
    return jsonRpcRefusal(refusal);
  }
  try {
    return { body: JSON.parse(text) };
  } catch {
    return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
  }
}

/**
 * What a POST's `Accept` header allows. Streamable HTTP asks POSTs to accept both JSON
 * and SSE, and the SDK answers 406 otherwise; real clients differ, so the endpoint
 * accepts either and answers in a form they read.
 */
export function acceptsOf(request: Request): { json: boolean; sse: boolean } {
  const accept = request.headers.get("accept") ?? "";
  return {
    json: /application\/json|\*\/\*/i.test(accept),
    sse: /text\/event-stream/i.test(accept),
  };
}

/** The request as the SDK wants it: accepting both JSON and SSE. */
export function acceptingBoth(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.set("accept", "application/json, text/event-stream");
  return new Request(request, { headers });
}

/**
 * Collapses a finished SSE answer into the JSON answer a client that accepts only
 * JSON expects: the JSON-RPC response(s) it carried; notifications are dropped.
 */
export async function sseToJson(response: Response): Promise<Response> {
  const text = await response.text();
  const replies: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart()).join("\n");
    if (!data) continue;
    try {
      const message = JSON.parse(data);
      if (
        message && typeof message === "object" && "id" in message &&
        ("result" in message || "error" in message)
      ) {
        replies.push(message);
      }
    } catch { /* not JSON: skip */ }
  }
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  if (replies.length === 0) return new Response(null, { status: 202, headers });
  return new Response(JSON.stringify(replies.length === 1 ? replies[0] : replies), {
    status: response.status,
    headers,
  });
}

/**
 * A POST with no body of its own, for handing a session's transport a message it is
 * given parsed (a replayed `initialize`, an answer relayed through the store).
 */
export function replayRequest(sessionId?: string): Request {
  return new Request("http://replay.invalid/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(sessionId !== undefined ? { "mcp-session-id": sessionId } : {}),
    },
    body: "{}",
  });
}
