/**
 * Medians per server and ratios of ours to the baselines, from the summary file that
 * `bench/run.sh` writes (one `round=N name=... rps=... p99_ms=...` line per run).
 *
 * ```sh
 * deno run --allow-read bench/summarize.ts bench/logs/summary.20260101-000000.txt
 * ```
 *
 * @module
 */

type Run = Record<string, string>;

const BASELINES = ["ceiling-deno", "peer-deno-sdk", "ceiling-bun", "peer-bun-sdk"];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function parse(text: string): Run[] {
  return text.split("\n").filter((l) => l.startsWith("round=")).map((line) =>
    Object.fromEntries(
      line.split(" ").map((kv) => {
        const i = kv.indexOf("=");
        return i < 0 ? [kv, ""] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    )
  );
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

const path = Deno.args[0];
if (!path) throw new TypeError("usage: summarize.ts SUMMARY_FILE");
const runs = parse(await Deno.readTextFile(path));
const ok = runs.filter((r) => r.rps !== undefined && !("ERROR" in r));
const names = [...new Set(runs.map((r) => r.name!))];

interface Med {
  n: number;
  rps: number;
  p50: number;
  p99: number;
  hwm: number;
  srvCpu: number;
  /** Server CPU per request, in microseconds of one core: the cost, whatever the noise. */
  cpuUs: number;
  otherMax: number;
  errors: number;
}
const med = new Map<string, Med>();
for (const name of names) {
  const rs = ok.filter((r) => r.name === name);
  const col = (k: string) => rs.map((r) => Number(r[k]));
  med.set(name, {
    n: rs.length,
    rps: median(col("rps")),
    p50: median(col("p50_ms")),
    p99: median(col("p99_ms")),
    hwm: median(col("hwm_mb")),
    srvCpu: median(col("srv_cpu")),
    cpuUs: median(rs.map((r) => 1e6 * Number(r.srv_cpu) / Number(r.rps))),
    otherMax: Math.max(...col("other_cpu")),
    errors: rs.reduce(
      (s, r) => s + Number(r.non2xx ?? 0) + Number(r.sockerr ?? 0) + Number(r.check_bad ?? 0),
      0,
    ) + runs.filter((r) => r.name === name && "ERROR" in r).length,
  });
}

const pad = (s: string, n: number) => s.padStart(n);
const W = Math.max(14, ...names.map((n) => n.length + 2));
const row = (cells: [string, number][]) => cells.map(([s, n]) => pad(s, n)).join("");
console.log(
  "server".padEnd(W) + row([
    ["runs", 5],
    ["req/s", 9],
    ["p50 ms", 9],
    ["p99 ms", 9],
    ["peak MB", 9],
    ["srv cpu", 9],
    ["cpu us/req", 12],
    ["other", 7],
    ["errors", 8],
  ]),
);
for (const [name, m] of med) {
  console.log(
    name.padEnd(W) + row([
      [String(m.n), 5],
      [fmt(m.rps), 9],
      [fmt(m.p50, 2), 9],
      [fmt(m.p99, 2), 9],
      [fmt(m.hwm, 1), 9],
      [fmt(m.srvCpu, 2), 9],
      [fmt(m.cpuUs), 12],
      [fmt(m.otherMax, 2), 7],
      [String(m.errors), 8],
    ]),
  );
}
console.log(
  "(medians; cpu us/req = server CPU time per request; other = max cores used by other\n" +
    " processes during a run: > 0.1 means the run was disturbed)",
);

/** Median over rounds of a/b req/s within the same round: robust to drift between rounds. */
function perRound(a: string, b: string): number {
  const rps = (name: string, round: string) =>
    Number(ok.find((r) => r.name === name && r.round === round)?.rps);
  const xs = [...new Set(ok.map((r) => r.round!))].map((round) => rps(a, round) / rps(b, round))
    .filter(Number.isFinite);
  return xs.length ? median(xs) : NaN;
}

function ratios(title: string, pairs: [string, string][]): void {
  if (!pairs.length) return;
  const w = Math.max(...pairs.map(([a, b]) => a.length + b.length + 5));
  console.log(
    `\n${title.padEnd(w)}` +
      row([["req/s", 8], ["p99", 8], ["peak RSS", 10], ["cpu us/req", 12], ["req/s/round", 13]]),
  );
  for (const [a, b] of pairs) {
    const x = med.get(a)!, y = med.get(b)!;
    console.log(
      `${a} / ${b}`.padEnd(w) + row([
        [fmt(x.rps / y.rps, 3), 8],
        [fmt(x.p99 / y.p99, 2), 8],
        [fmt(x.hwm / y.hwm, 2), 10],
        [fmt(x.cpuUs / y.cpuUs, 2), 12],
        [fmt(perRound(a, b), 3), 13],
      ]),
    );
  }
}

const ours = names.filter((n) => n.startsWith("ours-"));
console.log(
  "\nratios of medians; req/s/round = median over rounds of the req/s ratio within one round",
);
const bases = BASELINES.filter((b) => med.has(b));
ratios("ratio", ours.flatMap((o) => bases.map((b): [string, string] => [o, b])));
// Experiments (bench/variants.ts) against the unchanged wiring on the same runtime.
ratios(
  "experiment ratio",
  names.filter((n) => n.startsWith("var-") && !n.startsWith("var-endpoint-"))
    .map((v): [string, string] => [v, `var-endpoint-${v.split("-").at(-1)}`])
    .filter(([, b]) => med.has(b)),
);
