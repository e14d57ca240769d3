/**
 * The Bun listener (`Bun.serve`). Loaded only on Bun.
 *
 * @module
 */

interface BunServer {
  port: number;
  requestIP(request: Request): { address: string } | null;
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
  handler: (request: Request, remoteAddress: () => string) => Promise<Response>,
) {
  const bun = (globalThis as unknown as { Bun: BunServe }).Bun;
  const server = bun.serve({
    hostname,
    port,
    // SSE responses can stay open longer than Bun's 10 s default.
    idleTimeout: 0,
    // The address is looked up only when asked for (not on most /mcp calls).
    fetch: (request, srv) => handler(request, () => srv.requestIP(request)?.address ?? "unknown"),
  });
  return {
    port: server.port,
    async stop() {
      await server.stop();
    },
  };
}
