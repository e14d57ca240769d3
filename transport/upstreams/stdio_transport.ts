/**
 * The MCP SDK `Transport` over a stdio upstream's process: newline-delimited JSON-RPC,
 * read with a bound. A line over `maxMessageBytes`, or one that is not a JSON-RPC
 * message, breaks the connection with an error that names the server: the MCP stdio
 * transport allows nothing else on stdout, and a reader that waited for the end of an
 * endless line would hold memory without bound.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#stdio
 *
 * @module
 */
import {
  type JSONRPCMessage,
  parseJSONRPCMessage,
  type Transport,
} from "@modelcontextprotocol/client";
import type { StdioProcess } from "./types.ts";
import { concatBytes } from "../../core/http.ts";

const NEWLINE = 0x0a;

/** Options of {@linkcode createStdioTransport}. */
export interface StdioTransportOptions {
  /** The upstream's name, for error messages. */
  name: string;
  /** The longest line accepted, in bytes. */
  maxMessageBytes: number;
  /** How long stop() waits before SIGKILL. @default 2000 */
  stopGraceMs?: number;
}

/**
 * Why a stdio connection broke, as the upstream's state reports it
 * (`upstream server "memory" is restarting: <message>`).
 */
export class StdioProtocolError extends Error {
  /** @param message what the upstream did wrong */
  constructor(message: string) {
    super(message);
    this.name = "StdioProtocolError";
  }
}

/**
 * A transport over `child`: `start()` begins reading, `close()` stops the process
 * group, and the process's exit closes the transport.
 *
 * @example
 * ```ts ignore
 * import { Client } from "@modelcontextprotocol/client";
 * import { createStdioSpawner } from "../../runtime/stdio.ts";
 * import { createStdioTransport } from "./stdio_transport.ts";
 * const child = createStdioSpawner()({ type: "stdio", command: "node", args: ["server.js"], env: {} });
 * const client = new Client({ name: "gateway", version: "1" });
 * await client.connect(createStdioTransport(child, { name: "memory", maxMessageBytes: 16 << 20 }));
 * ```
 */
export function createStdioTransport(
  child: StdioProcess,
  options: StdioTransportOptions,
): Transport {
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let closed = false;
  let started = false;
  const queue: JSONRPCMessage[] = [];
  let pumping = false;
  const server = JSON.stringify(options.name);

  const transport: Transport = {
    start() {
      if (started) throw new Error("already started");
      started = true;
      child.onStdout(read);
      child.exit.then((exit) => {
        const why = exit.error ??
          (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`);
        shut(closed ? undefined : new StdioProtocolError(why));
      });
      return Promise.resolve();
    },
    async send(message: JSONRPCMessage) {
      if (closed) throw new StdioProtocolError(`upstream server ${server} is not connected`);
      await child.write(`${JSON.stringify(message)}\n`);
    },
    close() {
      return shut(undefined);
    },
  };

  async function shut(error: Error | undefined): Promise<void> {
    if (closed) return;
    closed = true;
    pending = [];
    queue.length = 0;
    if (error) transport.onerror?.(error);
    // The SDK fails every request in flight on close: a killed process's callers hear at once.
    transport.onclose?.();
    await child.stop(options.stopGraceMs);
  }

  function fail(problem: string): void {
    void shut(new StdioProtocolError(problem));
  }

  function read(chunk: Uint8Array): void {
    if (closed) return;
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, end);
      start = end + 1;
      if (pendingBytes + piece.length > options.maxMessageBytes) return tooLong();
      const line = pending.length === 0
        ? piece
        : concatBytes([...pending, piece], pendingBytes + piece.length);
      pending = [];
      pendingBytes = 0;
      deliver(line);
      if (closed) return;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    if (pendingBytes + rest.length > options.maxMessageBytes) return tooLong();
    pending.push(rest);
    pendingBytes += rest.length;
  }

  function tooLong(): void {
    fail(`sent a message over ${options.maxMessageBytes} bytes (its maxMessageBytes)`);
  }

  function deliver(bytes: Uint8Array): void {
    const line = decoder.decode(bytes).trim();
    if (line === "") return;
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(JSON.parse(line));
    } catch {
      return fail(`sent a line that is not JSON-RPC: ${JSON.stringify(line.slice(0, 80))}`);
    }
    queue.push(message);
    if (!pumping) void pump();
  }

  /**
   * Delivers in order, letting a notification's handler run before the next message:
   * the SDK runs notification handlers a microtask late but responses at once, so a
   * last progress notification and the response in one chunk would otherwise lose the
   * progress (its handler is gone with the response).
   */
  async function pump(): Promise<void> {
    pumping = true;
    while (queue.length > 0 && !closed) {
      const message = queue.shift()!;
      transport.onmessage?.(message);
      // Even with the queue empty: the runtime may hand over the next chunk in this tick.
      if (!("id" in message)) {
        await Promise.resolve();
        await Promise.resolve();
      }
    }
    pumping = false;
  }

  return transport;
}
