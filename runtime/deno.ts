/**
 * The Deno listener (`Deno.serve`). Loaded only on Deno.
 *
 * @module
 */

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };
}

/** Listens with Deno.serve. */
export function listenDeno(
  hostname: string,
  port: number,
  handler: (request: Request, remoteAddress: () => string) => Promise<Response>,
) {
  const deno = (globalThis as unknown as { Deno: DenoServe }).Deno;
  const server = deno.serve(
    { hostname, port, onListen: () => {} },
    (request, info) => handler(request, () => info.remoteAddr.hostname),
  );
  return {
    port: server.addr.port,
    async stop() {
      await server.shutdown();
    },
  };
}
