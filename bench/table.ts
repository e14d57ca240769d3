/**
 * Issue 23's table from a summary file of `bench/run.sh`, as one markdown table: a row
 * per figure of the issue (share of the raw runtime and of the limit, p99, peak and idle
 * RSS, spawn to first authenticated call, the gateway's cost, the import graph at cold
 * start), a column per runtime and tree (ours, and the baseline when `BASELINE` was set),
 * and the issue's floor and aim.
 *
 * A cell says `-` when the figure was not measured in that run (its part or server was
 * not asked for), and `ERROR` when it was but left no usable line; a figure measured with
 * failed requests or failed body checks says how many.
 *
 * @module
 */
import { failed, fmt, median, perRound, type Run } from "./lines.ts";

type Runtime = "deno" | "bun";
type Tree = "ours" | "base";
interface Column {
  runtime: Runtime;
  tree: Tree;
}
interface Row {
  figure: string;
  floor?: string;
  aim?: string;
  cell: (c: Column) => string;
}

const NOT_RUN = "-";
const ERROR = "ERROR";
/** Our server's load name (`ours-deno`, `base-bun`). */
const server = (c: Column) => `${c.tree}-${c.runtime}`;
/** The runtime label of cold-start, import, gateway and store lines (`deno`, `base-bun`). */
const label = (c: Column) => c.tree === "ours" ? c.runtime : `base-${c.runtime}`;
const pct = (x: number) => Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : NOT_RUN;
const cpuUs = (r: Run) => 1e6 * Number(r.srv_cpu) / Number(r.rps);

/** `" (1 error)"`, `" (N errors)"`, or nothing for none. */
const errorCount = (n: number) => n ? ` (${n} error${n === 1 ? "" : "s"})` : "";

/** The good load runs of a server, or what its cell says when there are none. */
function loadOf(all: Run[], name: string): Run[] | string {
  const rs = all.filter((r) => r.kind === undefined && r.name === name);
  if (!rs.length) return NOT_RUN;
  const ok = rs.filter((r) => !failed(r) && r.rps !== undefined);
  return ok.length ? ok : ERROR;
}

/** Above this many cores used by other processes during a run, bench.sh's run was disturbed. */
const DISTURBED_CPU = 0.1;

/**
 * What a load figure of these servers must be read with: `" (N errors)"` when a run failed
 * or any request or body check did, `" (disturbed)"` when another process took the CPU
 * during a run (`other_cpu`): req/s then moves, CPU per call much less.
 */
function errorsOf(all: Run[], names: string[]): string {
  const rs = all.filter((r) => r.kind === undefined && names.includes(r.name!));
  const n = rs.reduce(
    (s, r) =>
      s + (failed(r) ? 1 : Number(r.non2xx ?? 0) + Number(r.sockerr ?? 0) +
        Number(r.check_bad ?? 0)),
    0,
  );
  const disturbed = rs.some((r) => Number(r.other_cpu) > DISTURBED_CPU);
  return errorCount(n) + (disturbed ? " (disturbed)" : "");
}

/** One load figure of one server: the median over its good runs. */
function loadFigure(all: Run[], name: string, key: string, digits: number): string {
  const rs = loadOf(all, name);
  if (typeof rs === "string") return rs;
  return fmt(median(rs.map((r) => Number(r[key]))), digits) + errorsOf(all, [name]);
}

/**
 * `name`'s share of `ref`: by req/s (the median over rounds of the quotient within a
 * round) or by CPU per request (ref's us / name's us, the same way), with both medians.
 */
function share(all: Run[], name: string, ref: string, by: "rps" | "cpu"): string {
  const a = loadOf(all, name), b = loadOf(all, ref);
  if (typeof a === "string") return a;
  if (typeof b === "string") return b === NOT_RUN ? NOT_RUN : `${ERROR} (${ref})`;
  const rows = [...a, ...b];
  const isA = (r: Run) => r.name === name, isB = (r: Run) => r.name === ref;
  const errors = errorsOf(all, [name, ref]);
  if (by === "rps") {
    const rps = (rs: Run[]) => fmt(median(rs.map((r) => Number(r.rps))));
    return `${pct(perRound(rows, (r) => Number(r.rps), isA, isB))} (${rps(a)} / ${rps(b)})` +
      errors;
  }
  const us = (rs: Run[]) => fmt(median(rs.map(cpuUs)));
  return `${pct(perRound(rows, cpuUs, isB, isA))} (${us(b)} / ${us(a)} us)${errors}`;
}

/** Spawn to first authenticated call, `name` over `peer`: per-round median, and the medians. */
function cold(all: Run[], name: string, peer: string): string {
  const lines = all.filter((r) => r.kind === "cold");
  const of = (n: string) => lines.filter((r) => r.name === n);
  const good = (n: string) => of(n).filter((r) => !failed(r) && r.ms !== undefined);
  if (!of(name).length) return NOT_RUN;
  if (!good(name).length) return ERROR;
  if (!good(peer).length) return of(peer).length ? `${ERROR} (${peer})` : NOT_RUN;
  const x = perRound(lines, (r) => Number(r.ms), (r) => r.name === name, (r) => r.name === peer);
  const ms = (n: string) => fmt(median(good(n).map((r) => Number(r.ms))));
  const bad = of(name).length + of(peer).length - good(name).length - good(peer).length;
  return `${fmt(x, 2)}x (${ms(name)} / ${ms(peer)} ms)${errorCount(bad)}`;
}

/** Median import time of a module in a fresh process, on one runtime and tree. */
function importCost(all: Run[], module: string, runtime: string): string {
  const rs = all.filter((r) => r.kind === "import" && r.module === module && r.runtime === runtime);
  const ok = rs.filter((r) => !failed(r) && r.ms !== undefined);
  if (!rs.length) return NOT_RUN;
  if (!ok.length) return ERROR;
  const bad = rs.length - ok.length;
  return fmt(median(ok.map((r) => Number(r.ms))), 1) + errorCount(bad);
}

/** What the gateway adds at `key` (p50_ms, p99_ms), per concurrency: `+a / +b`. */
function gatewayAdded(all: Run[], runtime: string, key: string): string {
  const rs = all.filter((r) => r.kind === "gateway" && r.runtime === runtime);
  const ok = rs.filter((r) => !failed(r));
  if (!rs.length) return NOT_RUN;
  if (!ok.length) return ERROR;
  const concs = [...new Set(ok.map((r) => r.conc!))].sort((a, b) => Number(a) - Number(b));
  return concs.map((conc) => {
    const at = (path: string) =>
      median(ok.filter((r) => r.conc === conc && r.path === path).map((r) => Number(r[key])));
    const added = at("gateway") - at("direct");
    return Number.isFinite(added) ? `${added < 0 ? "" : "+"}${added.toFixed(3)}` : ERROR;
  }).join(" / ");
}

function rows(all: Run[], conns: string): Row[] {
  const ceiling = (c: Column) => `ceiling-${c.runtime}`;
  const limit = (c: Column) => `limit-${c.runtime}`;
  const concs = [...new Set(all.filter((r) => r.kind === "gateway").map((r) => r.conc!))]
    .filter(Boolean).sort((a, b) => Number(a) - Number(b)).join(" / ");
  const modules = [...new Set(all.filter((r) => r.kind === "import").map((r) => r.module!))];
  return [
    {
      figure: "authenticated tools/call, share of the raw runtime (req/s, ours / ceiling)",
      floor: ">= 25%",
      cell: (c) => share(all, server(c), ceiling(c), "rps"),
    },
    {
      figure: "the same by CPU per call (ceiling us / ours us)",
      floor: ">= 25%",
      cell: (c) => share(all, server(c), ceiling(c), "cpu"),
    },
    {
      figure: "share of the limit (req/s, ours / limit)",
      aim: ">= 80%",
      cell: (c) => share(all, server(c), limit(c), "rps"),
    },
    {
      figure: "the same by CPU per call (limit us / ours us)",
      aim: ">= 80%",
      cell: (c) => share(all, server(c), limit(c), "cpu"),
    },
    {
      figure: "the limit's share of the raw runtime (req/s, limit / ceiling)",
      cell: (c) => c.tree === "ours" ? share(all, limit(c), ceiling(c), "rps") : "",
    },
    {
      figure: `p99 at ${conns} connections (ms)`,
      floor: "<= 5 ms",
      aim: "2 ms",
      cell: (c) => loadFigure(all, server(c), "p99_ms", 2),
    },
    {
      figure: "peak RSS under that load (MB)",
      floor: "<= 96 MB",
      aim: "64 MB",
      cell: (c) => loadFigure(all, server(c), "hwm_mb", 1),
    },
    {
      figure: "idle RSS, after start-up (MB)",
      cell: (c) => loadFigure(all, server(c), "idle_mb", 1),
    },
    {
      figure: "spawn to first authenticated call, ours / SDK 1.x peer (median of rounds)",
      floor: "<= 0.85x",
      aim: "0.75x",
      cell: (c) => cold(all, server(c), `peer-${c.runtime}-sdk`),
    },
    {
      figure: `the gateway's added p50, ${concs || "1 / 50"} in flight (ms)`,
      cell: (c) => gatewayAdded(all, label(c), "p50_ms"),
    },
    {
      figure: `the gateway's added p99, ${concs || "1 / 50"} in flight (ms)`,
      cell: (c) => gatewayAdded(all, label(c), "p99_ms"),
    },
    {
      figure: "JS heap allocated per call, tools/call / tools/list (KB; Deno)",
      cell: (c) =>
        c.runtime === "deno"
          ? ["tools/call", "tools/list"].map((k) => allocation(all, label(c), k)).join(" / ")
          : NOT_RUN,
    },
    ...modules.map((m): Row => ({
      figure: `import in a fresh process: ${m === "mod" ? "mod.ts, whole" : m} (ms)`,
      cell: (c) => importCost(all, m, label(c)),
    })),
  ];
}

/** The heap one call of `which` allocates (KB), from bench/allocation.ts's lines. */
function allocation(all: Run[], runtime: string, which: string): string {
  const rs = all.filter((r) => r.kind === "allocation" && r.runtime === runtime);
  if (!rs.length) return NOT_RUN;
  const kb = rs.filter((r) => r.case === which && !failed(r)).map((r) => Number(r.kb_per_call));
  return kb.length ? median(kb).toFixed(1) : ERROR;
}

/** Pads every column to its widest cell, so the markdown reads as a table in a terminal too. */
function markdown(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/**
 * Issue 23's table, as markdown, from the parsed lines of one summary file and its `#`
 * header line (for the connection count and the commits).
 *
 * @example Print the table of a summary file
 * ```ts ignore
 * import { parse } from "./lines.ts";
 * import { issueTable } from "./table.ts";
 * const text = await Deno.readTextFile("bench/logs/summary.20260101-000000.txt");
 * console.log(issueTable(parse(text), text.split("\n")[0]!));
 * ```
 */
export function issueTable(all: Run[], header: string): string {
  const hasBase = all.some((r) => (r.name ?? r.runtime ?? "").startsWith("base-"));
  const columns: Column[] = (["deno", "bun"] as const).flatMap((runtime) =>
    (hasBase ? ["ours", "base"] as const : ["ours"] as const).map((tree) => ({ runtime, tree }))
  );
  const title = (c: Column) =>
    (c.runtime === "deno" ? "Deno" : "Bun") + (hasBase ? ` ${c.tree}` : "");
  const conns = /conns=(\d+)/.exec(header)?.[1] ?? "50";
  const commits = /commit ([^;]+);/.exec(header)?.[1] ?? "?";
  const body = rows(all, conns).map((row) => [
    row.figure,
    ...columns.map(row.cell),
    row.floor ?? "",
    row.aim ?? "",
  ]);
  return [
    `ISSUE 23 (commit ${commits}${hasBase ? "; base = the baseline tree" : ""})`,
    "",
    markdown(["figure", ...columns.map(title), "floor", "aim"], body),
    "",
    "Shares by req/s are medians over rounds of the quotient within one round (the other",
    "side's medians in parentheses); by CPU, the reference's server CPU per call over ours.",
    "`-` = not measured in this run; ERROR = measured but no usable line (see the log above);",
    "disturbed = other processes used more than 0.1 core during a run that went into the figure.",
  ].join("\n");
}
