/**
 * Requests a 2025-era session's server sends to its client (sampling, elicitation,
 * roots) and the client's answers to them.
 *
 * The client answers with a new POST. With one process that POST reaches the waiting
 * tool; with several processes serving one URL (Deno Deploy, servers on one Deno KV
 * file behind a balancer) it may reach another. So, when the session lives in a shared
 * store, each process names its requests with its own tag (`pmcp:<tag>:<n>`: JSON-RPC
 * ids may be strings), and a process that receives an answer carrying another tag puts
 * it in the store under `["mcp_answer", sessionId, id]`, where the asking process,
 * watching that key, takes it and hands it to its SDK transport as the client's POST.
 *
 * A request tied to no client request goes out on the session's standalone GET stream;
 * when this process holds none, the SDK would drop it and the tool would wait until its
 * timeout. It is answered at once instead, with an error that says why.
 *
 * @module
 */
import {
  INTERNAL_ERROR,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type TransportSendOptions,
  type WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import type { Store } from "../../store/store.ts";
import { keys } from "../../store/keys.ts";
import { replayRequest } from "./wire.ts";

/**
 * How long a request of this process waits for an answer relayed through the store,
 * and how long a relayed answer is kept, in ms (the SDK's own request timeout, 60 s
 * by default, usually ends the wait first).
 */
export const ANSWER_WAIT_MS = 10 * 60_000;
/** How often the answer key is read when the store offers no watch, in ms. */
export const ANSWER_POLL_MS = 250;
/** Most requests of one session waiting for an answer at once; the oldest stops waiting. */
export const MAX_PENDING_PER_SESSION = 32;

/** The error a server-to-client request gets when this process cannot reach the client. */
export const NO_STREAM_MESSAGE =
  "the client has no open stream to this server process for a request that belongs to no " +
  "client request: send it with relatedRequestId (ctx.mcpReq.id), so that it travels on " +
  "the stream of the tool call it serves";

const TAGGED_ID = /^pmcp:([0-9a-f]{8}):(\d{1,15})$/;

/** An answer as it waits in the store. */
interface StoredAnswer {
  /** The grant of the token that posted it: only that grant's session takes it. */
  grantId: string;
  message: JSONRPCMessage;
}

/** What a session's transport gains from {@linkcode AnswerRelay.attach}. */
export interface AttachedSession {
  /**
   * Splits what the client posted: answers to this process's requests (ids given back
   * as the SDK issued them), answers for another process (put in the store), the rest.
   * Resolves with the messages for this process's transport, or undefined when none
   * is left (the POST is answered 202).
   */
  incoming(body: unknown, grantId: string): Promise<unknown | undefined>;
  /** Tells whether the client's standalone GET stream is open here. */
  standaloneStream(open: boolean): void;
  /** Stops waiting for answers (the session closed). */
  detach(): void;
}

/** The relay of one process. */
export interface AnswerRelay {
  /**
   * Takes over `transport.send` of a session, after the SDK server connected to it:
   * tags its requests (when the session is shared) and answers at once those that could
   * only travel on a standalone stream this process does not hold.
   */
  attach(
    sessionId: string,
    grantId: string | undefined,
    transport: WebStandardStreamableHTTPServerTransport,
  ): AttachedSession;
}

function isAnswer(message: unknown): message is JSONRPCMessage & { id: string | number } {
  return isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message);
}

/**
 * Builds the relay. `store` is the shared store (undefined when the process is alone:
 * requests keep the SDK's ids and answers always arrive here).
 */
export function createAnswerRelay(
  store: Store | undefined,
  onError: (error: Error) => void = () => {},
): AnswerRelay {
  const tag = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const answerKey = keys.mcpAnswer;

  return {
    attach(sessionId, grantId, transport) {
      const shared = store !== undefined && grantId !== undefined;
      let counter = 0;
      let standalone = false;
      let detached = false;
      // Tagged id -> the id the SDK gave the request, and how the wait for it ends.
      const pending = new Map<string, { original: string | number; stop: () => void }>();

      const deliver = async (message: unknown) => {
        // Handed over as the client's own POST of `message`.
        const res = await transport.handleRequest(replayRequest(sessionId), {
          parsedBody: message,
        });
        await res.body?.cancel();
      };

      /** Waits for the answer to `id` in the store, until it comes or the wait ends. */
      function waitForAnswer(id: string): () => void {
        const key = answerKey(sessionId, id);
        let done = false;
        let taking = false;
        const take = async () => {
          if (done || taking) return;
          taking = true;
          try {
            const stored = await store!.get<StoredAnswer>(key);
            if (!stored || done) return;
            await store!.write([{ op: "delete", key }]);
            if (stored.grantId !== grantId) return;
            const entry = pending.get(id);
            if (!entry) return;
            stop();
            await deliver({ ...stored.message, id: entry.original });
          } catch (error) {
            onError(error as Error);
          } finally {
            taking = false;
          }
        };
        const unwatch = store!.watch?.(key, () => void take());
        const poll = unwatch ? undefined : setInterval(() => void take(), ANSWER_POLL_MS);
        const timeout = setTimeout(() => stop(), ANSWER_WAIT_MS);
        function stop() {
          if (done) return;
          done = true;
          pending.delete(id);
          unwatch?.();
          clearInterval(poll);
          clearTimeout(timeout);
        }
        return stop;
      }

      const send = transport.send.bind(transport);
      transport.send = (message: JSONRPCMessage, options?: TransportSendOptions) => {
        if (isJSONRPCRequest(message)) {
          if (options?.relatedRequestId === undefined && !standalone) {
            // The SDK would drop it (no stream to put it on) and the tool would hang.
            queueMicrotask(() =>
              transport.onmessage?.({
                jsonrpc: "2.0",
                id: message.id,
                error: { code: INTERNAL_ERROR, message: NO_STREAM_MESSAGE },
              })
            );
            return Promise.resolve();
          }
          if (shared && !detached) {
            const id = `pmcp:${tag}:${counter++}`;
            if (pending.size >= MAX_PENDING_PER_SESSION) {
              pending.values().next().value?.stop();
            }
            pending.set(id, { original: message.id, stop: () => {} });
            pending.get(id)!.stop = waitForAnswer(id);
            return send({ ...message, id }, options).catch((error) => {
              pending.get(id)?.stop();
              throw error;
            });
          }
        } else if (
          shared && isJSONRPCNotification(message) &&
          message.method === "notifications/cancelled"
        ) {
          // The client knows the request by its tagged id.
          const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
          for (const [id, entry] of pending) {
            if (entry.original === requestId) {
              entry.stop();
              return send({ ...message, params: { ...message.params, requestId: id } }, options);
            }
          }
        }
        return send(message, options);
      };

      return {
        async incoming(body, poster) {
          if (!store) return body;
          const messages = Array.isArray(body) ? body : [body];
          const mine: unknown[] = [];
          for (const message of messages) {
            const m = isAnswer(message) && typeof message.id === "string"
              ? TAGGED_ID.exec(message.id)
              : null;
            if (!m) {
              mine.push(message);
            } else if (m[1] === tag) {
              const entry = pending.get(message.id as string);
              // An answer to a request that no longer waits: the SDK says so itself.
              if (!entry) mine.push(message);
              else {
                entry.stop();
                mine.push({ ...message, id: entry.original });
              }
            } else {
              // Another process asked: the answer waits for it in the store.
              await store.write([{
                op: "set",
                key: answerKey(sessionId, message.id as string),
                value: { grantId: poster, message } satisfies StoredAnswer,
                expiresAt: Date.now() + ANSWER_WAIT_MS,
              }]);
            }
          }
          if (mine.length === 0) return undefined;
          return Array.isArray(body) ? mine : mine[0];
        },
        standaloneStream(open) {
          standalone = open;
        },
        detach() {
          detached = true;
          for (const entry of [...pending.values()]) entry.stop();
        },
      };
    },
  };
}
