/**
 * The Deno listener (`Deno.serve`). Loaded only on Deno.
 *
 * `Deno.serve` (2.9) has no connection timeouts: a connection that never sends its
 * headers, an idle keep-alive connection, or one whose body stalled after a 408 is kept
 * until the client goes (denoland/deno#3515). Two things keep such connections from
 * taking the server down:
 * - when open descriptors reach half the process limit (at most {@linkcode FD_CEILING}),
 *   the listener is replaced: the old server is shut down gracefully, which closes
 *   every connection without a request in flight and lets the rest (tool calls, SSE
 *   streams) finish, and a new one listens on the same port;
 * - when descriptors run out anyway, `Deno.serve`'s accept loop fails and its server
 *   closes every connection; the listener then listens again instead of leaving the
 *   process without one.
 *
 * @module
 */
import type { ConnectionInfo } from "../core/http.ts";
import type { PersonalMcpEvent } from "../core/config.ts";

/** How often open descriptors are counted, in ms. */
export const FD_CHECK_INTERVAL_MS = 2000;
/** Open descriptors beyond which idle connections are reclaimed, whatever the limit. */
export const FD_CEILING = 4096;

interface DenoServer {
  addr: { port: number };
  finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoApi {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (request: Request, info: ConnectionInfo) => Promise<Response>,
  ): DenoServer;
  permissions: { querySync(descriptor: { name: "read"; path: string }): { state: string } };
  readDirSync(path: string): Iterable<unknown>;
  readTextFileSync(path: string): string;
  unrefTimer(id: number): void;
  addSignalListener(signal: "SIGWINCH", handler: () => void): void;
  removeSignalListener(signal: "SIGWINCH", handler: () => void): void;
}

/** The soft limit of open descriptors, and a way to count them (Linux, when readable). */
function descriptorGauge(deno: DenoApi): { limit: number; open(): number } | undefined {
  try {
    // Asked, never prompted for: without the permission there is no gauge.
    if (deno.permissions.querySync({ name: "read", path: "/proc/self" }).state !== "granted") {
      return undefined;
    }
    const line = deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const limit = Number(line?.split(/\s+/)[3]);
    if (!Number.isFinite(limit) || limit <= 0) return undefined;
    return {
      limit,
      open() {
        let n = 0;
        for (const _ of deno.readDirSync("/proc/self/fd")) n++;
        return n;
      },
    };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Listens with Deno.serve, and keeps listening. */
export function listenDeno(
  hostname: string,
  port: number,
  handler: (request: Request, info: ConnectionInfo) => Promise<Response>,
  emit: (event: PersonalMcpEvent) => void,
) {
  const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;
  // Deno opens its signal pipe on first use and panics if descriptors have run out by
  // then (ext/signals); opening it now keeps a later flood from killing the process.
  // SIGWINCH is ignored by default, so listening and unlistening changes nothing.
  try {
    const noop = () => {};
    deno.addSignalListener("SIGWINCH", noop);
    deno.removeSignalListener("SIGWINCH", noop);
  } catch { /* no signals here (e.g. Deno Deploy) */ }
  const servers = new Set<DenoServer>();
  let stopping = false;
  let replacing = false;

  function serve(onPort: number): DenoServer {
    const server = deno.serve({ hostname, port: onPort, onListen: () => {} }, handler);
    servers.add(server);
    server.finished.then(
      () => servers.delete(server),
      (error) => {
        servers.delete(server);
        // Its connections outlive the accept loop: close those without a request.
        server.shutdown().catch(() => {});
        if (stopping || server !== current) return;
        // Typically "Too many open files": the accept loop is gone, and with it every
        // connection of that server.
        emit({ type: "error", where: "listener", error });
        void replace().then((ok) => {
          if (ok) emit({ type: "warning", message: `listening again on port ${boundPort}` });
        });
      },
    );
    return server;
  }

  let current = serve(port);
  const boundPort = current.addr.port;

  /** A new server on the same port; the old one, if still running, drains gracefully. */
  async function replace(): Promise<boolean> {
    if (replacing || stopping) return false;
    replacing = true;
    const old = current;
    if (servers.has(old)) old.shutdown().catch(() => {});
    // After a failed accept loop descriptors free up only as its connections close.
    if (!servers.has(old)) await sleep(100);
    try {
      for (let attempt = 0; !stopping; attempt++) {
        try {
          current = serve(boundPort);
          return true;
        } catch (error) {
          // The old socket closes asynchronously; descriptors may still be short.
          if (attempt === 50) emit({ type: "error", where: "listener", error });
          await sleep(Math.min(1000, attempt < 10 ? 1 : 10 * 2 ** (attempt - 10)));
        }
      }
    } finally {
      replacing = false;
    }
    return false;
  }

  const gauge = descriptorGauge(deno);
  const threshold = gauge ? Math.min(Math.floor(gauge.limit / 2), FD_CEILING) : 0;
  const watch = gauge
    ? setInterval(() => {
      let open: number;
      try {
        open = gauge.open();
      } catch {
        return;
      }
      if (open < threshold) return;
      emit({
        type: "warning",
        message: `${open} of ${gauge.limit} file descriptors open: ` +
          "closing connections that have no request in flight",
      });
      void replace();
    }, FD_CHECK_INTERVAL_MS)
    : undefined;
  if (watch !== undefined) deno.unrefTimer(watch as unknown as number);

  return {
    port: boundPort,
    async stop() {
      stopping = true;
      clearInterval(watch);
      await Promise.all([...servers].map((s) => s.shutdown().catch(() => {})));
    },
  };
}
