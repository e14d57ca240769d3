/**
 * Records a V8 CPU profile of a running process through its inspector (Chrome DevTools
 * Protocol), for runtimes without `--cpu-prof`. Start the server with
 * `--inspect=127.0.0.1:PORT`, then:
 *
 * ```sh
 * deno run -A bench/cdp_profile.ts http://127.0.0.1:9331 SECONDS OUT.cpuprofile
 * ```
 *
 * Prints `profiling` once sampling runs, and writes the profile after SECONDS.
 *
 * @module
 */

const [inspector, secondsText, out] = Deno.args;
if (!inspector || !secondsText || !out) {
  throw new TypeError("usage: cdp_profile.ts INSPECTOR_URL SECONDS OUT.cpuprofile");
}
const targets = await (await fetch(`${inspector}/json/list`)).json() as {
  webSocketDebuggerUrl: string;
}[];
const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});

let nextId = 1;
const pending = new Map<number, (result: unknown) => void>();
ws.onmessage = (event) => {
  const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
  if (msg.id === undefined) return;
  if (msg.error) throw new Error(`CDP error: ${JSON.stringify(msg.error)}`);
  pending.get(msg.id)?.(msg.result);
  pending.delete(msg.id);
};
function send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params }));
  return new Promise((resolve) => pending.set(id, resolve as (r: unknown) => void));
}

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 250 });
await send("Profiler.start");
console.log("profiling");
await new Promise((resolve) => setTimeout(resolve, Number(secondsText) * 1000));
const { profile } = await send<{ profile: unknown }>("Profiler.stop");
await Deno.writeTextFile(out, JSON.stringify(profile));
ws.close();
console.log(`wrote ${out}`);
