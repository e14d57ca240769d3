/**
 * Reads a `.cpuprofile` (V8 / Chrome format, as written by `bench/cdp_profile.ts` or
 * `bun --cpu-prof`) and prints where the busy time went: the buckets of the /mcp hot
 * path (inclusive: a sample counts for a bucket when one of its frames matches), then
 * the top functions by self and by inclusive time.
 *
 * ```sh
 * deno run --allow-read bench/cpuprofile_summary.ts OUT.cpuprofile [TOP]
 * ```
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Hot-path buckets; a sample counts once per bucket. Order is print order. */
const BUCKETS: [string, (f: CallFrame) => boolean][] = [
  [
    "router: fetch handler (server/routes.ts), everything below it",
    (f) => inFile(f, "/server/routes.ts"),
  ],
  ["  bearer: the gate (hash + index)", (f) => f.functionName === "createBearerGate"],
  ["    SHA-256 of the token (hashSecret)", (f) => f.functionName === "hashSecret"],
  ["  SDK: createMcpHandler fetch (all MCP work)", (f) => sdk(f) && f.functionName === "fetchFace"],
  [
    "    body read + JSON.parse + clone (classifyEntryRequest)",
    (f) => sdk(f) && f.functionName === "classifyEntryRequest",
  ],
  [
    "    factory: new McpServer + registerTools (transport/mcp/servers.ts)",
    (f) =>
      f.functionName === "registerTools" || (sdk(f) && /^(_?McpServer|Server|Protocol)$/.test(
        f.functionName,
      )),
  ],
  ["      registerTools -> server.registerTool", (f) => f.functionName === "registerTools"],
  ["    connect transport (McpServer.connect)", (f) => sdk(f) && f.functionName === "connect"],
  [
    "    transport.handleRequest (parse, dispatch, SSE)",
    (f) => sdk(f) && f.functionName === "handleRequest",
  ],
  [
    "    tools/call handler (validate args with zod, run tool)",
    (f) =>
      sdk(f) && /^(executeToolHandler|validateToolInput|handleAutomaticTaskPolling)$/.test(
        f.functionName,
      ),
  ],
  ["    zod (any frame in zod)", (f) => f.url.includes("/zod/")],
  ["  withHeaders (server/routes.ts)", (f) => f.functionName === "withHeaders"],
  ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  ["(program): native work outside JS (HTTP server, I/O)", (f) => f.functionName === "(program)"],
];

function inFile(f: CallFrame, suffix: string): boolean {
  return f.url.endsWith(suffix) && !f.url.includes("node_modules");
}
function sdk(f: CallFrame): boolean {
  return f.url.includes("@modelcontextprotocol");
}
function where(f: CallFrame): string {
  const file = f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/main\//, "");
  return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
}

const [path, topText] = Deno.args;
if (!path) throw new TypeError("usage: cpuprofile_summary.ts FILE [TOP]");
const top = Number(topText ?? 25);
const profile = JSON.parse(await Deno.readTextFile(path)) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Who the self time belongs to. */
function owner(f: CallFrame): string {
  if (f.functionName === "(garbage collector)") return "garbage collector";
  if (f.functionName === "(program)") return "(program): outside JS";
  if (f.url.includes("@modelcontextprotocol/")) return "MCP SDK (JS)";
  if (f.url.includes("/zod/")) return "zod (JS, called by the SDK)";
  if (f.url.includes("node_modules/")) return "other npm packages";
  if (f.url.startsWith("file://") || f.url.startsWith("/")) return "personal-mcp (our .ts)";
  if (f.url.startsWith("ext:") || f.url.startsWith("node:")) return "runtime JS (ext:, node:)";
  return "native builtins (no url)";
}

const self = new Map<string, number>();
const owners = new Map<string, number>();
const incl = new Map<string, number>();
const bucket = new Map<string, number>();
let busy = 0, idle = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const leaf = byId.get(id)!.callFrame;
  if (leaf.functionName === "(idle)") {
    idle += dt;
    return;
  }
  busy += dt;
  self.set(where(leaf), (self.get(where(leaf)) ?? 0) + dt);
  owners.set(owner(leaf), (owners.get(owner(leaf)) ?? 0) + dt);
  const stack: CallFrame[] = [];
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    stack.push(byId.get(n)!.callFrame);
  }
  for (const key of new Set(stack.map(where))) incl.set(key, (incl.get(key) ?? 0) + dt);
  for (const [name, match] of BUCKETS) {
    if (stack.some(match)) bucket.set(name, (bucket.get(name) ?? 0) + dt);
  }
});

const pct = (x: number) => `${(100 * x / busy).toFixed(1).padStart(5)}%`;
const ms = (x: number) => `${(x / 1000).toFixed(0).padStart(7)} ms`;
console.log(
  `busy ${ms(busy)}  idle ${ms(idle)}  (${(100 * busy / (busy + idle)).toFixed(0)}% busy)\n`,
);
console.log("hot-path buckets, inclusive, % of busy time:");
for (const [name] of BUCKETS) console.log(`${pct(bucket.get(name) ?? 0)}  ${name}`);
const list = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}:`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(v)}  ${k}`);
  }
};
list("self time by owner", owners);
list(`top ${top} by self time`, self);
list(`top ${top} by inclusive time`, incl);
