/**
 * The summary lines `bench/run.sh` writes (`round=N key=value ...`), parsed, and the
 * statistics `summarize.ts` and `table.ts` take of them.
 *
 * @module
 */

/** One summary line: its `key=value` pairs; a bare word (`ERROR`) is a key with no value. */
export type Run = Record<string, string>;

/** The lines of a summary file that start with `round=`, as key-value records. */
export function parse(text: string): Run[] {
  return text.split("\n").filter((l) => l.startsWith("round=")).map((line) =>
    Object.fromEntries(
      line.split(" ").map((kv) => {
        const i = kv.indexOf("=");
        return i < 0 ? [kv, ""] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    )
  );
}

/** The median; NaN for no values. */
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A number with `digits` decimals, or `-` when it is not one. */
export function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** Whether a line reports a failure instead of a measurement. */
export function failed(r: Run): boolean {
  return "ERROR" in r;
}

/**
 * The median over rounds of `value(a) / value(b)` within one round, over the rounds where
 * both have a value: slow drift between rounds hits both sides of each quotient alike.
 */
export function perRound(
  rows: Run[],
  value: (r: Run) => number,
  a: (r: Run) => boolean,
  b: (r: Run) => boolean,
): number {
  const rounds = [...new Set(rows.map((r) => r.round!))];
  const xs = rounds.map((round) => {
    const inRound = rows.filter((r) => r.round === round && !failed(r));
    const va = inRound.find(a), vb = inRound.find(b);
    return va && vb ? value(va) / value(vb) : NaN;
  }).filter(Number.isFinite);
  return median(xs);
}
