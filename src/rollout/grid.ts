import type { CellRow, CellStatus } from '../store/rollouts.ts';
import { metricsOf, policiesOf, type CellEffects } from './report.ts';
import { summarize, type Summary } from './stats.ts';

/**
 * The rollout grid as the TUI shows it: one row per variant, one column per scenario (or per metric), each grid
 * cell holding that variant's runs there (one per repeat) with their statuses and mean score, and a last column with
 * the variant's mean and 95% interval. Pure: the TUI draws it, tests check it.
 */
export interface GridCell {
  readonly runs: readonly {
    readonly status: CellStatus;
    readonly session: string | null;
    readonly value: number | null;
    readonly seed: number;
  }[];
  readonly mean: number | null;
}

export interface GridRow {
  readonly team: string;
  readonly variant: string;
  readonly cells: readonly GridCell[];
  readonly aggregate: Summary;
  /** The effects policy the variant's cells ran under (as rollout show says it), when the caller gave them. */
  readonly effects?: string;
}

export interface Grid {
  readonly columns: readonly string[];
  readonly rows: readonly GridRow[];
  readonly metrics: readonly string[];
  readonly metric: string | null;
  readonly counts: {
    readonly total: number;
    readonly done: number;
    readonly failed: number;
    readonly running: number;
    readonly pending: number;
  };
}

export interface GridOptions {
  /** Which score the grid shows (default: the first metric). */
  readonly metric?: string;
  /** Columns: the scenarios (with `metric`'s scores), or the metrics (means over scenarios). */
  readonly by?: 'scenarios' | 'metrics';
  /** Rows in spec order, or by their aggregate, best first. */
  readonly sort?: 'spec' | 'score';
  /** Which policy each cell ran under (report.ts's cellEffects): each row then says its variant's. */
  readonly effects?: CellEffects;
}

export function gridOf(cells: readonly CellRow[], options: GridOptions = {}): Grid {
  const metrics = metricsOf(cells);
  const metric =
    options.metric !== undefined && metrics.includes(options.metric) ? options.metric : (metrics[0] ?? null);
  const by = options.by ?? 'scenarios';
  const scenarios = [...new Set(cells.map((c) => c.scenario))];
  const columns = by === 'scenarios' ? scenarios : metrics;
  const groups = new Map<string, CellRow[]>();
  for (const c of cells) {
    const key = `${c.team}\n${c.variant}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [c]);
    else group.push(c);
  }
  const valueOf = (c: CellRow, m: string | null): number | null => {
    if (m === null || c.status !== 'done') return null;
    const v = c.metrics?.scores[m];
    return typeof v === 'number' ? v : null;
  };
  const mean = (values: readonly (number | null)[]): number | null => {
    const ok = values.filter((v): v is number => v !== null);
    return ok.length === 0 ? null : ok.reduce((a, b) => a + b, 0) / ok.length;
  };
  let rows: GridRow[] = [...groups.values()].map((list) => {
    const gridCells = columns.map((col): GridCell => {
      const inColumn = by === 'scenarios' ? list.filter((c) => c.scenario === col) : list;
      const m = by === 'scenarios' ? metric : col;
      const runs = inColumn.map((c) => ({ status: c.status, session: c.session, value: valueOf(c, m), seed: c.seed }));
      return { runs, mean: mean(runs.map((r) => r.value)) };
    });
    return {
      team: list[0]!.team,
      variant: list[0]!.variant,
      cells: gridCells,
      aggregate: summarize(list.map((c) => valueOf(c, metric)).filter((v): v is number => v !== null)),
      ...(options.effects === undefined ? {} : { effects: policiesOf(list, options.effects) ?? '' }),
    };
  });
  if (options.sort === 'score') rows = [...rows].sort((a, b) => (b.aggregate.mean ?? -1) - (a.aggregate.mean ?? -1));
  const count = (s: CellStatus): number => cells.filter((c) => c.status === s).length;
  return {
    columns,
    rows,
    metrics,
    metric,
    counts: {
      total: cells.length,
      done: count('done'),
      failed: count('failed'),
      running: count('running'),
      pending: count('pending'),
    },
  };
}
