import { UserError } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import {
  cellEffects,
  cellJson,
  metricsOf,
  teamJson,
  variantJson,
  variantReports,
  type VariantReport,
} from '../../rollout/report.ts';
import { teamReports } from '../../rollout/variant-figures.ts';
import type { CellRow, RolloutRow } from '../../store/rollouts.ts';
import { formatUsd } from '../../core/money.ts';
import type { Progress, RunOutcome } from '../../rollout/runner.ts';
import { formatMeanCi } from '../../rollout/stats.ts';
import type { Store } from '../../store/store.ts';
import { fitTable, type Column } from '../render/columns.ts';
import { paint, truncate } from '../render/text.ts';
import stringWidth from 'string-width';
import { EXIT, type CommandContext } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

/**
 * How the rollout commands show progress, per-variant statistics and a run's outcome. The commands load this module
 * when they run (it pulls in the rollout statistics), so it may import what it needs at the top.
 */

/** A gate of `--fail-under metric=value`, checked against every variant's mean. */
export interface Gate {
  readonly metric: string;
  readonly min: number;
}

/**
 * One line, redrawn in place at a terminal; every tenth of the way (or at the end) otherwise. It fits `width` (the
 * command's `--width`, else the terminal's, else 80 columns): a line wider than the terminal would wrap, and a
 * wrapped line is not redrawn in place but repeated. What matters least goes first when it does not fit.
 */
export function progressPrinter(ctx: CommandContext, width?: number): (p: Progress) => void {
  const out = ctx.output;
  let lastDecile = -1;
  let lastRedraw = -Infinity;
  return (p) => {
    const finished = p.done + p.failed;
    // Read at each redraw (the terminal may have been resized); with --json the line goes to stderr: its width.
    const columns = (): number => width ?? (out.json ? process.stderr.columns : process.stdout.columns) ?? 80;
    if (out.interactive && out.redraw !== undefined && !out.json) {
      // The runner reports several times per cell: at most ten redraws a second (each is a write to the terminal),
      // and always the first and the last (nothing running, or every cell finished).
      if (p.elapsedMs - lastRedraw < REDRAW_MS && p.running > 0 && finished < p.total) return;
      lastRedraw = p.elapsedMs;
      // At a terminal the cursor must stay on the line it redraws: one column is left free.
      out.redraw(progressText(p, columns() - 1));
      return;
    }
    // Without a terminal a line every tenth of the way: the text is only made for the lines printed.
    const decile = p.total === 0 ? 10 : Math.floor((finished / p.total) * 10);
    if (decile === lastDecile) return;
    lastDecile = decile;
    const text = progressText(p, columns());
    if (out.json) out.warn(text);
    else out.line(text);
  };
}

/** How often the progress line is redrawn at most, in milliseconds. */
const REDRAW_MS = 100;

/**
 * The progress line in at most `width` columns: the bar shrinks first (to 8), then the parts that say least go
 * (running, elapsed, done, cost, the time left, the bar), and what still does not fit is cut.
 */
export function progressText(p: Progress, width: number): string {
  const finished = p.done + p.failed;
  const parts: { text: string; drop: number }[] = [
    { text: `${finished}/${p.total} cells`, drop: Infinity },
    { text: `${p.done} done`, drop: 3 },
    { text: `${p.failed} failed`, drop: Infinity },
    { text: `${p.running} running`, drop: 1 },
    { text: `${Math.round(p.elapsedMs / 1000)} s`, drop: 2 },
    ...(p.etaMs === null ? [] : [{ text: `~${Math.ceil(p.etaMs / 1000)} s left`, drop: 5 }]),
    { text: formatUsd(p.costUsd), drop: 4 },
  ];
  const bar = (size: number): string => {
    const filled = p.total === 0 ? size : Math.round((finished / p.total) * size);
    return `[${'█'.repeat(filled)}${'·'.repeat(size - filled)}] `;
  };
  const kept = (dropped: number): { text: string; drop: number }[] => parts.filter((x) => x.drop > dropped);
  const line = (size: number, dropped: number): string =>
    (size === 0 ? '' : bar(size)) +
    kept(dropped)
      .map((x) => x.text)
      .join(' · ');
  // Widths added up rather than measured line by line (string-width is costly and this runs for every redraw): the
  // bar is `[`, one column per cell of it, `] `; the parts are joined by ` · `.
  const widths = new Map(parts.map((x) => [x, stringWidth(x.text)]));
  const fits = (size: number, dropped: number): boolean => {
    const shown = kept(dropped);
    const text = shown.reduce((a, x) => a + widths.get(x)!, 0) + 3 * Math.max(0, shown.length - 1);
    return (size === 0 ? 0 : size + 3) + text <= width;
  };
  for (let size = 24; size >= 8; size--) if (fits(size, 0)) return line(size, 0);
  for (let dropped = 1; dropped <= 5; dropped++) if (fits(8, dropped)) return line(8, dropped);
  return truncate(line(0, 5), width);
}

export function printVariants(
  ctx: CommandContext,
  reports: readonly VariantReport[],
  metrics: readonly string[],
  width: number | null,
): void {
  const c = ctx.output.color;
  const column = (header: string, cell: (v: VariantReport) => string, extra: Partial<Column> = {}): Column => ({
    header,
    cells: reports.map(cell),
    ...extra,
  });
  const n = (v: VariantReport): string =>
    String(v.cost.n) +
    (v.failed > 0 ? ` (+${v.failed} failed)` : '') +
    (v.cells - v.failed - v.cost.n > 0 ? ` (${v.cells - v.failed - v.cost.n} not run)` : '');
  const score = (v: VariantReport, m: string): string => {
    const s = v.metrics[m];
    const d = v.vsBaseline[m];
    const diff =
      d === undefined || d.mean === null
        ? ''
        : ` Δ${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)}${d.significant ? '*' : ''}`;
    return s === undefined ? '–' : `${formatMeanCi(s)}${diff}`;
  };
  const columns = (headers: (m: string) => string): Column[] => [
    column('team', (v) => v.team, { key: true }),
    column('variant', (v) => `${v.variant}${v.baseline ? ' (baseline)' : ''}`, { key: true }),
    column('n', n, { key: true }),
    ...metrics.map((m) => column(headers(m), (v) => score(v, m))),
    column('cost', (v) => (v.cost.mean === null ? '–' : formatUsd(v.cost.mean * v.cost.n)), { first: true }),
    column('steps', (v) => (v.steps.mean === null ? '–' : v.steps.mean.toFixed(1)), { first: true }),
    // Which effects policy the variant's cells ran under, when some did not run live.
    ...(reports.some((v) => v.effects !== null && v.effects !== 'live')
      ? [column('effects', (v) => v.effects ?? '–', { first: true })]
      : []),
    ...(reports.some((v) => v.flaky.length > 0)
      ? [column('', (v) => (v.flaky.length === 0 ? '' : `flaky: ${v.flaky.join(', ')}`), { style: 'yellow' })]
      : []),
  ];
  // Stacked, the metric headers drop their "(mean ± 95% CI)" (the note under the table says it once): more fit.
  printFitted(
    ctx,
    columns((m) => `${m} (mean ± 95% CI)`),
    width,
    {
      columns: columns((m) => m),
      note: 'scores: mean ± 95% CI',
    },
  );
  if (reports.some((v) => Object.values(v.vsBaseline).some((d) => d.significant)))
    ctx.output.line(
      paint(
        c,
        'gray',
        "Δ: paired difference to the team's baseline over matched scenarios and seeds; * its 95% interval excludes 0",
      ),
    );
}

/**
 * What `rollout run` ends with and `rollout show` prints: the statistics per variant, then what each variant is and
 * what it used (tokens, time, its agent's final balance, net flow and the cell's transfers), then each team's
 * aggregate, as P2Engine's summary showed them.
 */
export function printSummary(
  ctx: CommandContext,
  cells: readonly CellRow[],
  reports: readonly VariantReport[],
  width: number | null,
  /** The rollout's options: its `--model` shows in each variant's settings. */
  options: RolloutRow['options'] = {},
): void {
  const c = ctx.output.color;
  printVariants(ctx, reports, metricsOf(cells), width);
  const column = <T>(
    rows: readonly T[],
    header: string,
    cell: (r: T) => string,
    extra: Partial<Column> = {},
  ): Column => ({
    header,
    cells: rows.map(cell),
    ...extra,
  });
  const ledger = reports.some((v) => v.ledger.balance !== null);
  const flows = reports.some((v) => v.ledger.netFlow !== null);
  const elapsed = (ms: number | null): string => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);
  const v = (header: string, cell: (r: VariantReport) => string, extra: Partial<Column> = {}): Column =>
    column(reports, header, cell, extra);
  ctx.output.line();
  ctx.output.line(paint(c, 'bold', 'Variants'));
  printFitted(
    ctx,
    [
      v('team', (r) => r.team, { key: true }),
      v('variant', (r) => r.variant, { key: true }),
      v('agent', (r) => r.agent ?? '–', { first: true }),
      v('tokens', (r) => (r.tokens.mean === null ? '–' : count(r.tokens.mean * r.tokens.n)), { first: true }),
      v('elapsed', (r) => elapsed(r.latencyMs.mean), { first: true }),
      ...(ledger ? [v('balance', (r) => amount(r.ledger.balance), { first: true })] : []),
      ...(flows
        ? [
            v('net flow', (r) => amount(r.ledger.netFlow, true), { first: true }),
            v('transfers', (r) => (r.ledger.transfers === null ? '–' : trimmed(r.ledger.transfers)), { first: true }),
          ]
        : []),
      v('settings', (r) => settingsText(r.settings, options.model)),
    ],
    width,
  );
  if (reports.some((r) => r.cost.n > 1)) {
    const note = `(tokens: the variant's total; elapsed${ledger ? ', balance, net flow, transfers' : ''}: mean per cell)`;
    for (const line of wrapWords(note, width)) ctx.output.line(paint(c, 'gray', line));
  }
  const teams = teamReports(reports, cells);
  const paid = teams.some((t) => t.paidOut !== null);
  const t = (header: string, cell: (r: (typeof teams)[number]) => string, extra: Partial<Column> = {}): Column =>
    column(teams, header, cell, extra);
  ctx.output.line();
  ctx.output.line(paint(c, 'bold', 'Teams'));
  printFitted(
    ctx,
    [
      t('team', (r) => r.team, { key: true }),
      t('variants', (r) => String(r.variants)),
      t('best', (r) => (r.best === null ? '–' : `${r.best.variant} (${r.best.metric} ${r.best.mean.toFixed(2)})`)),
      t('tokens', (r) => count(r.tokens)),
      t('cost', (r) => formatUsd(r.costUsd)),
      t('longest cell', (r) => elapsed(r.maxElapsedMs)),
      ...(paid ? [t('paid out', (r) => amount(r.paidOut)), t('received', (r) => amount(r.received))] : []),
    ],
    width,
  );
}

/** The summary as `--json` shows it (run, resume and show): the variants with what each is, and the teams. */
export function summaryJson(
  cells: readonly CellRow[],
  reports: readonly VariantReport[],
): { variants: JsonValue; teams: JsonValue } {
  return { variants: reports.map(variantJson), teams: teamReports(reports, cells).map(teamJson) };
}

/** A note in lines of at most `width` columns (null: one line), broken between words. */
function wrapWords(text: string, width: number | null): string[] {
  if (width === null) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && stringWidth(`${line} ${word}`) > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A number with at most two decimals unless more were there (a mean over cells): `3`, `1.5`. */
function trimmed(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** An amount of the ledger: two decimals at least (`125.00`), four at most, signed for a flow (`+25.00`). */
function amount(n: number | null, signed = false): string {
  if (n === null) return '–';
  const text = n.toFixed(4).replace(/0{1,2}$/, '');
  return signed && n > 0 ? `+${text}` : text;
}

/**
 * A variant's settings on one line, as `rollout validate` lists them: `model=… temperature=0.2 tools=[…]`; with
 * `--model`, the model its cells ran on first, and the spec's model as what it replaced.
 */
function settingsText(settings: Readonly<Record<string, unknown>>, model?: string): string {
  const show = (val: unknown): string =>
    truncate(terminalText(typeof val === 'string' ? val : JSON.stringify(val)), 40);
  const entries = Object.entries(settings).filter(([k]) => model === undefined || k !== 'model');
  const written = settings['model'];
  const overridden =
    model === undefined
      ? []
      : [`model=${terminalText(model)} (--model${written === undefined ? '' : `, not ${show(written)}`})`];
  if (entries.length === 0 && overridden.length === 0) return '(the agent as it is)';
  return [...overridden, ...entries.map(([k, val]) => `${k}=${show(val)}`)].join(' ');
}

/** What `rollout run`, `resume` and `show` say of a rollout run with `--model` or `--judge-model`; undefined: none. */
export function overrideLine(options: RolloutRow['options']): string | undefined {
  const parts = [
    ...(options.model === undefined
      ? []
      : [`model overridden by --model: ${options.model} (every agent of every cell)`]),
    ...(options.judgeModel === undefined ? [] : [`judge: ${options.judgeModel}`]),
  ];
  return parts.length === 0 ? undefined : terminalText(parts.join('; '));
}

/** The override as `--json` of run, resume and show carries it (null: none). */
export function overrideJson(options: RolloutRow['options']): JsonValue {
  return options.model === undefined && options.judgeModel === undefined
    ? null
    : { model: options.model ?? null, judge_model: options.judgeModel ?? null };
}

/** A table fitted to the width, and when it had to be stacked, how to see it whole. */
export function printFitted(
  ctx: CommandContext,
  columns: readonly Column[],
  width: number | null,
  stacked?: { columns: readonly Column[]; note: string },
): void {
  const whole = fitTable(columns, width, ctx.output.color);
  // When the columns must be stacked, the shorter headers may fit more in each block (or all in one).
  const compact = whole.blocks > 1 && stacked !== undefined;
  const fitted = compact ? fitTable(stacked.columns, width, ctx.output.color) : whole;
  for (const line of fitted.lines) ctx.output.line(line);
  const notes: string[] = [];
  if (fitted.blocks > 1 || fitted.cut) {
    const how = fitted.blocks > 1 ? (fitted.cut ? 'stacked and cut' : 'stacked') : 'cut';
    notes.push(`${how} to fit ${width} columns`, '--wide for one table');
  } else if (compact) notes.push('--wide for the full headers');
  if (compact) notes.push(stacked.note);
  if (notes.length > 0) ctx.output.line(paint(ctx.output.color, 'gray', `(${notes.join('; ')})`));
}

/** The outcome of `rollout run` and `rollout resume`: the statistics, failed cells and gates, and the exit code. */
export function report(
  ctx: CommandContext,
  /** Where the cells' sessions are (which effects policy each ran under). */
  store: Pick<Store, 'sessions'>,
  outcome: RunOutcome,
  gates: readonly Gate[],
  width: number | null,
): { exitCode: number; json?: JsonValue } {
  const { rollout, cells } = outcome;
  const effects = cellEffects(store, cells);
  const reports = variantReports(rollout, cells, effects);
  const metrics = metricsOf(cells);
  const failedGates = gates.flatMap((g) =>
    reports.flatMap((v) => {
      const s = v.metrics[g.metric];
      return s === undefined || s.mean === null || s.mean < g.min
        ? [{ ...g, team: v.team, variant: v.variant, value: s?.mean ?? null }]
        : [];
    }),
  );
  const unknownGate = gates.find((g) => !metrics.includes(g.metric));
  if (unknownGate !== undefined)
    throw new UserError(
      'E_USAGE',
      `--fail-under ${unknownGate.metric}=…: no cell was scored on '${unknownGate.metric}' (metrics: ${metrics.join(', ') || 'none'})`,
    );
  const exitCode = failedGates.length > 0 ? EXIT.failed : outcome.stopped !== null ? EXIT.interrupted : EXIT.ok;
  if (ctx.output.json) {
    return {
      exitCode,
      json: {
        rollout: rollout.id,
        name: rollout.name,
        status: rollout.status,
        stopped: outcome.stopped,
        cells: cells.map((c) => cellJson(c, effects)),
        ...summaryJson(cells, reports),
        model_override: overrideJson(rollout.options),
        gates: gates.map((g) => ({
          metric: g.metric,
          min: g.min,
          passed: !failedGates.some((f) => f.metric === g.metric),
        })),
      },
    };
  }
  if (ctx.output.interactive) ctx.output.line();
  const override = overrideLine(rollout.options);
  if (override !== undefined) ctx.output.line(paint(ctx.output.color, 'yellow', override));
  printSummary(ctx, cells, reports, width, rollout.options);
  const failed = cells.filter((c) => c.status === 'failed');
  for (const f of failed.slice(0, 5)) {
    // A cell's error may quote a model or a tool: shown, not obeyed.
    const error = terminalText(f.error ?? 'failed');
    const where = f.session === null ? '' : ` (session ${f.session})`;
    ctx.output.line(
      paint(ctx.output.color, 'red', `✗ ${f.team}/${f.variant}/${f.scenario} seed ${f.seed}: ${error}${where}`),
    );
  }
  if (failed.length > 5)
    ctx.output.line(
      paint(
        ctx.output.color,
        'red',
        `… and ${failed.length - 5} more failed cells (p2tui rollout show ${rollout.id} --cells)`,
      ),
    );
  for (const g of failedGates)
    ctx.output.line(
      paint(
        ctx.output.color,
        'red',
        `gate ${g.metric} ≥ ${g.min}: ${g.team}/${g.variant} has ${g.value === null ? 'no score' : g.value.toFixed(3)}`,
      ),
    );
  if (outcome.stopped !== null) {
    const budget = /budget/.test(outcome.stopped);
    ctx.output.line(
      paint(
        ctx.output.color,
        'yellow',
        budget
          ? `Stopped: ${outcome.stopped}. Raise it in the spec and run it again (a resume keeps the spec it started with).`
          : `Stopped (${outcome.stopped}); run the rest with: p2tui rollout resume ${rollout.id}`,
      ),
    );
  } else
    ctx.output.line(
      paint(
        ctx.output.color,
        'gray',
        `rollout ${rollout.id} · details: p2tui rollout show ${rollout.id} · the grid: p2tui, then R`,
      ),
    );
  return { exitCode };
}
