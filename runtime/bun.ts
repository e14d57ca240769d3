/**
 * The Bun listener (`Bun.serve`). Loaded only on Bun.
 *
 * Bun closes a connection that has been silent for `idleTimeout` seconds: one that
 * never sends its headers, an idle keep-alive connection, a stalled body. The handler
 * is handed Bun's server as its second argument, which gives the caller's address and
 * lets a token holder's MCP exchange (a long tool call, an SSE stream) outlive the idle
 * timeout (`server.timeout(request, 0)`, see server/routes.ts).
 *
 * @module
 */
import type { ConnectionInfo } from "../core/http.ts";

/** Seconds of silence after which Bun closes a connection (Bun's own default). */
export const IDLE_TIMEOUT_SECONDS = 10;

interface BunServer extends ConnectionInfo {
  port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout?: number;
    fetch: (request: Request, server: BunServer) => Promise<Response>;
  }): BunServer;
}

/** Listens with Bun.serve. */
export function listenBun(
  hostname: string,
  port: number,
  handler: (request: Request, info: ConnectionInfo) => Promise<Response>,
) {
  const bun = (globalThis as unknown as { Bun: BunServe }).Bun;
  const server = bun.serve({
    hostname,
    port,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    fetch: handler,
  });
  return {
    port: server.port,
    async stop() {
      await server.stop();
    },
  };
}
