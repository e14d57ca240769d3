/**
 * Medians and ratios of ours to the baselines, from the summary file that `bench/run.sh`
 * writes: load lines (`round=N name=... rps=... p99_ms=...`), cold-start lines
 * (`kind=cold`), import lines (`kind=import`), file-store lines (`kind=store`) and
 * gateway lines (`kind=gateway`); then issue 23's table of all of them (`table.ts`).
 *
 * ```sh
 * deno run --allow-read bench/summarize.ts bench/logs/summary.20260101-000000.txt
 * ```
 *
 * @module
 */

import { fmt, median, parse, type Run } from "./lines.ts";
import { issueTable } from "./table.ts";

const BASELINES = [
  "ceiling-deno",
  "limit-deno",
  "peer-deno-sdk",
  "base-deno",
  "ceiling-bun",
  "limit-bun",
  "peer-bun-sdk",
  "base-bun",
];

const path = Deno.args[0];
if (!path) throw new TypeError("usage: summarize.ts SUMMARY_FILE");
const text = await Deno.readTextFile(path);
const all = parse(text);
// A run whose driver died before printing leaves a bare "round=N": counted, not named.
const unnamed = all.filter((r) => r.kind === undefined && r.name === undefined).length;
if (unnamed) console.log(`${unnamed} run(s) printed nothing (see the log above)`);
const runs = all.filter((r) => r.kind === undefined && r.name !== undefined);
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
if (names.length) console.log("LOAD: /mcp tools/call under wrk");
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
if (names.length) {
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
}

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
if (names.length) {
  console.log(
    "\nratios of medians; req/s/round = median over rounds of the req/s ratio within one round",
  );
}
const bases = BASELINES.filter((b) => med.has(b));
// Each of ours against the baselines of its own runtime, and the ceiling of the other.
ratios(
  "ratio",
  ours.flatMap((o) =>
    bases.filter((b) => b.split("-").includes(o.split("-")[1]!) || b.startsWith("ceiling-"))
      .map((b): [string, string] => [o, b])
  ),
);
// Experiments (bench/variants.ts) against the unchanged wiring on the same runtime.
ratios(
  "experiment ratio",
  names.filter((n) => n.startsWith("var-") && !n.startsWith("var-endpoint-"))
    .map((v): [string, string] => [v, `var-endpoint-${v.split("-").at(-1)}`])
    .filter(([, b]) => med.has(b)),
);

/** Median over rounds of a per-round quotient. */
function perRoundOf(rows: Run[], pick: (r: Run) => boolean, a: string, b: string, key: string) {
  const xs = [...new Set(rows.map((r) => r.round!))].map((round) => {
    const inRound = rows.filter((r) => r.round === round && pick(r));
    const va = Number(inRound.find((r) => r.name === a || r.module === a)?.[key]);
    const vb = Number(inRound.find((r) => r.name === b || r.module === b)?.[key]);
    return va / vb;
  }).filter(Number.isFinite);
  return xs.length ? median(xs) : NaN;
}

// Cold start: spawn to first correct authenticated call.
const cold = all.filter((r) => r.kind === "cold");
if (cold.length) {
  console.log("\nCOLD START: spawn to first correct authenticated tools/call (ms)");
  console.log(
    "server".padEnd(16) + row([["runs", 6], ["median", 9], ["min", 9], ["max", 9], ["errors", 8]]),
  );
  const coldNames = [...new Set(cold.map((r) => r.name!))];
  for (const name of coldNames) {
    const xs = cold.filter((r) => r.name === name && r.ms !== undefined).map((r) => Number(r.ms));
    const errors = cold.filter((r) => r.name === name && "ERROR" in r).length;
    console.log(
      name.padEnd(16) +
        row([[String(xs.length), 6], [fmt(median(xs), 1), 9], [fmt(Math.min(...xs), 1), 9], [
          fmt(Math.max(...xs), 1),
          9,
        ], [String(errors), 8]]),
    );
  }
  for (const rt of ["deno", "bun"]) {
    for (const b of [`peer-${rt}-sdk`, `base-${rt}`]) {
      const a = `ours-${rt}`;
      if (!coldNames.includes(a) || !coldNames.includes(b)) continue;
      console.log(
        `${a} / ${b}: ${
          fmt(perRoundOf(cold, () => true, a, b, "ms"), 3)
        } (median of per-round ratios)`,
      );
    }
  }
}

// Import cost of modules in a fresh process.
const imports = all.filter((r) => r.kind === "import");
if (imports.length) {
  console.log("\nIMPORT: load + evaluate in a fresh process (ms, median)");
  const mods = [...new Set(imports.map((r) => r.module!))];
  const runtimes = ["deno", "base-deno", "bun", "base-bun"].filter((rt) =>
    imports.some((r) => r.runtime === rt)
  );
  const w = Math.max(10, ...mods.map((m) => m.length + 2));
  console.log("module".padEnd(w) + row(runtimes.map((rt) => [rt, 11])));
  for (const m of mods) {
    const ms = (rt: string) =>
      median(
        imports.filter((r) => r.module === m && r.runtime === rt && !("ERROR" in r))
          .map((r) => Number(r.ms)),
      );
    console.log(m.padEnd(w) + row(runtimes.map((rt) => [fmt(ms(rt), 1), 11])));
  }
}

// The JSON file store at each size.
const stores = all.filter((r) => r.kind === "store");
if (stores.length) {
  console.log(
    "\nFILE STORE: code exchanges per second (8 in flight), start-up, RSS (medians)",
  );
  console.log(
    "runtime grants".padEnd(18) +
      row([["runs", 6], ["exch/s", 9], ["open ms", 9], ["rss open", 10], ["peak MB", 9], [
        "errors",
        8,
      ]]),
  );
  const sizes = [...new Set(stores.map((r) => r.grants!))].sort((a, b) => Number(a) - Number(b));
  const runtimes = ["deno", "base-deno", "bun", "base-bun"].filter((rt) =>
    stores.some((r) => r.runtime === rt)
  );
  for (const rt of runtimes) {
    for (const g of sizes) {
      const rs = stores.filter((r) => r.runtime === rt && r.grants === g && !("ERROR" in r));
      const bad = stores.filter((r) => r.runtime === rt && r.grants === g).length - rs.length;
      if (!rs.length && !bad) continue;
      const col = (k: string) => median(rs.map((r) => Number(r[k])));
      const errors = rs.reduce((s, r) => s + Number(r.errors ?? 0), 0) + bad;
      console.log(
        `${rt} ${g}`.padEnd(18) +
          row([
            [String(rs.length), 6],
            [fmt(col("rate"), 1), 9],
            [fmt(col("open_ms")), 9],
            [
              fmt(col("rss_open_mb"), 1),
              10,
            ],
            [fmt(col("hwm_mb"), 1), 9],
            [String(errors), 8],
          ]),
      );
    }
    const small = sizes[0];
    for (const g of sizes.slice(1)) {
      const xs = [...new Set(stores.map((r) => r.round!))].map((round) => {
        const at = (n: string) =>
          Number(
            stores.find((r) => r.round === round && r.runtime === rt && r.grants === n)?.rate,
          );
        return at(g) / at(small!);
      }).filter(Number.isFinite);
      if (xs.length) {
        console.log(
          `${rt}: exchanges/s at ${g} grants / at ${small}: ${
            fmt(median(xs), 3)
          } (per-round median)`,
        );
      }
    }
  }
}

// Ours against the baseline tree, per size: exchanges per second, start-up, peak RSS.
for (const rt of ["deno", "bun"]) {
  if (!stores.some((r) => r.runtime === `base-${rt}`)) continue;
  const sizes = [...new Set(stores.map((r) => r.grants!))].sort((a, b) => Number(a) - Number(b));
  for (const g of sizes) {
    const pick = (k: string) => {
      const xs = [...new Set(stores.map((r) => r.round!))].map((round) => {
        const at = (runtime: string) =>
          Number(
            stores.find((r) => r.round === round && r.runtime === runtime && r.grants === g)?.[k],
          );
        return at(rt) / at(`base-${rt}`);
      }).filter(Number.isFinite);
      return xs.length ? median(xs) : NaN;
    };
    console.log(
      `${rt} ${g} grants, ours / base: exchanges/s ${fmt(pick("rate"), 2)}, start-up ${
        fmt(pick("open_ms"), 2)
      }, peak RSS ${fmt(pick("hwm_mb"), 2)} (per-round medians)`,
    );
  }
}

// What the gateway adds to a tools/call of server-everything's echo (bench/gateway.ts).
const gateway = all.filter((r) => r.kind === "gateway");
if (gateway.length) {
  console.log(
    "\nGATEWAY: everything's echo, SDK client over its own stdio vs through our server (medians, ms)",
  );
  console.log(
    "runtime conc".padEnd(14) +
      row([
        ["direct p50", 11],
        ["ours p50", 10],
        ["added", 8],
        ["direct p99", 11],
        ["ours p99", 10],
        [
          "added",
          8,
        ],
      ]),
  );
  for (const rt of ["deno", "base-deno", "bun", "base-bun"]) {
    if (gateway.some((r) => r.runtime === rt && "ERROR" in r)) console.log(`${rt}: ERROR`);
    for (const conc of [...new Set(gateway.filter((r) => r.conc).map((r) => r.conc!))]) {
      const of = (path: string, k: string) =>
        median(
          gateway.filter((r) => r.runtime === rt && r.conc === conc && r.path === path)
            .map((r) => Number(r[k])),
        );
      if (!gateway.some((r) => r.runtime === rt && r.conc === conc)) continue;
      const [d50, g50, d99, g99] = [
        of("direct", "p50_ms"),
        of("gateway", "p50_ms"),
        of("direct", "p99_ms"),
        of("gateway", "p99_ms"),
      ];
      console.log(
        `${rt} ${conc}`.padEnd(14) +
          row([[fmt(d50, 3), 11], [fmt(g50, 3), 10], [fmt(g50 - d50, 3), 8], [fmt(d99, 2), 11], [
            fmt(g99, 2),
            10,
          ], [fmt(g99 - d99, 2), 8]]),
      );
    }
  }
}

// Issue 23's table: every figure, ours and the baseline side by side, floors and aims.
console.log(`\n${issueTable(all, text.split("\n").find((l) => l.startsWith("# ")) ?? "")}`);
