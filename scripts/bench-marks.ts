/**
 * The targets of `npm run bench` as ratios (issue 22). Absolute figures do not carry from one machine to the next,
 * so every target compares two figures measured in the same run: against the workload's ideal time, against a
 * floor the benchmark measures itself (a bare SQLite transaction), or against another path of the same program.
 *
 * Each part of the benchmark is a script that prints its own table for people and, last, one machine-readable line
 * (`BENCH-MARKS <json>`) that `scripts/bench.ts` (the runner) collects into the summary with pass/fail words.
 */

export interface Mark {
  /** What is compared, e.g. `rollout 10,000 cells: wall time / ideal`. */
  target: string;
  /** The two figures the ratio comes from, for people, e.g. `10.9 s / 10.0 s`. */
  measured: string;
  ratio: number;
  /** The ratio allowed: the most (`at-most`, the default) or the least (`at-least`). */
  limit: number;
  direction?: 'at-most' | 'at-least';
}

export const MARKS_PREFIX = 'BENCH-MARKS ';

export function passes(mark: Mark): boolean {
  return (mark.direction ?? 'at-most') === 'at-most' ? mark.ratio <= mark.limit : mark.ratio >= mark.limit;
}

export function markLine(mark: Mark): string {
  const sign = (mark.direction ?? 'at-most') === 'at-most' ? '≤' : '≥';
  const word = passes(mark) ? 'pass' : 'FAIL';
  return `${word}  ${mark.target}: ${mark.ratio.toFixed(2)}× (${mark.measured}; target ${sign} ${mark.limit}×)`;
}

/** Prints the part's marks for people, then the one line the runner reads. */
export function printMarks(part: string, marks: readonly Mark[]): void {
  for (const mark of marks) console.log(markLine(mark));
  console.log(MARKS_PREFIX + JSON.stringify({ part, marks }));
}
