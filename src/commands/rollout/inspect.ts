import type { CellRow } from '../../store/rollouts.ts';
import { defineCommand } from '../define.ts';
import { TABLE_OPTIONS, tableWidth, type Column } from '../render/columns.ts';
import { formatAge, table } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** Reading rollouts: the list, one rollout's statistics and cells, and two rollouts side by side. */

export const rolloutListCommand = defineCommand({
  path: ['rollout', 'list'],
  summary: 'Rollouts run in this workspace, newest first',
  options: {
    limit: { type: 'number', integer: true, min: 1, value: '<n>', description: 'How many (default 20)' },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const rows = store.rollouts.list(input.options.limit ?? 20).map((r) => {
      const cells = store.rollouts.cells(r.id);
      return {
        r,
        done: cells.filter((c) => c.status === 'done').length,
        failed: cells.filter((c) => c.status === 'failed').length,
        total: cells.length,
      };
    });
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: rows.map(({ r, done, failed, total }) => ({
          id: r.id,
          name: r.name,
          file: r.file,
          status: r.status,
          created_at: r.createdAt,
          cells: total,
          done,
          failed,
        })),
      };
    if (rows.length === 0) ctx.output.line('no rollouts yet (run one with: p2tui rollout run rollouts/<spec>.yaml)');
    for (const line of table(
      rows.map(({ r, done, failed, total }) => [
        r.id,
        r.name,
        r.status,
        `${done}/${total}${failed > 0 ? ` (${failed} failed)` : ''}`,
        formatAge(ctx.clock.now() - r.createdAt),
      ]),
      ['rollout', 'name', 'status', 'cells done', 'started'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

export const rolloutShowCommand = defineCommand({
  path: ['rollout', 'show'],
  summary:
    "A rollout's summary as rollout run ends with it (statistics per variant, what each variant is and used, " +
    "each team's aggregate), and with --cells every cell",
  args: {
    rollout: { description: 'Rollout id, unique prefix, or "last"', required: true },
  },
  options: {
    cells: { type: 'boolean', description: 'List every cell with its status, scores and session' },
    ...TABLE_OPTIONS,
  },
  async run(ctx, input) {
    const [
      { RolloutRunner },
      report,
      { printFitted, printSummary, summaryJson, overrideLine, overrideJson },
      { describeEvals, evalSettings },
    ] = await Promise.all([
      import('../../rollout/runner.ts'),
      import('../../rollout/report.ts'),
      import('./print.ts'),
      import('../../rollout/eval-settings.ts'),
    ]);
    const { anyNotLive, cellEffects, cellJson, metricsOf, variantReports } = report;
    const app = await ctx.app();
    const { engine } = app;
    const rollout = new RolloutRunner(app).require(input.args.rollout);
    const cells = engine.store.rollouts.cells(rollout.id);
    const effects = cellEffects(engine.store, cells);
    const reports = variantReports(rollout, cells, effects);
    const metrics = metricsOf(cells);
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: {
          rollout: rollout.id,
          name: rollout.name,
          status: rollout.status,
          file: rollout.file,
          cells: cells.map((c) => cellJson(c, effects)),
          ...summaryJson(cells, reports),
          evals: evalSettings(rollout),
          model_override: overrideJson(rollout.options),
        },
      };
    const pending = cells.filter((c) => c.status === 'pending' || c.status === 'running').length;
    const notDone = pending > 0 ? ` (${pending} not done: p2tui rollout resume ${rollout.id})` : '';
    ctx.output.line(
      `${rollout.id} · ${rollout.name} (${rollout.file}) · ${rollout.status} · ${cells.length} cells${notDone}`,
    );
    for (const line of describeEvals(evalSettings(rollout))) ctx.output.line(line);
    const override = overrideLine(rollout.options);
    if (override !== undefined) ctx.output.line(override);
    const width = tableWidth(input.options);
    // The same summary `rollout run` ended with.
    printSummary(ctx, cells, reports, width, rollout.options);
    if (input.options.cells) {
      const column = (header: string, cell: (c: CellRow) => string, key = false): Column => ({
        header,
        cells: cells.map(cell),
        key,
      });
      ctx.output.line();
      printFitted(
        ctx,
        [
          column('cell', (c) => c.id, true),
          column('team/variant/scenario', (c) => `${c.team}/${c.variant}/${c.scenario}`),
          column('seed', (c) => String(c.seed)),
          column('status', (c) => c.status),
          // Which effects policy each cell ran under, when some cell did not run live.
          ...(anyNotLive(effects) ? [column('effects', (c) => effects.get(c.id) ?? '')] : []),
          ...metrics.map((m) => column(m, (c) => formatScore(c, m))),
          column('session', (c) => c.session ?? ''),
          column('error', (c) => terminalText(c.error ?? '')),
        ],
        width,
      );
    }
    return { exitCode: EXIT.ok };
  },
});

function formatScore(c: CellRow, metric: string): string {
  const v = c.metrics?.scores[metric];
  return v === undefined ? '' : v === null ? 'judge failed' : v.toFixed(2);
}

export const rolloutCompareCommand = defineCommand({
  path: ['rollout', 'compare'],
  summary: 'Compare two rollouts (run at different times): per variant and metric, B − A with a 95% interval',
  args: {
    a: { description: 'The earlier rollout (id, prefix)', required: true },
    b: { description: 'The later rollout', required: true },
  },
  options: TABLE_OPTIONS,
  async run(ctx, input) {
    const [{ RolloutRunner }, { compareRollouts }, { formatMeanCi }, { printFitted }] = await Promise.all([
      import('../../rollout/runner.ts'),
      import('../../rollout/report.ts'),
      import('../../rollout/stats.ts'),
      import('./print.ts'),
    ]);
    const app = await ctx.app();
    const { engine } = app;
    const runner = new RolloutRunner(app);
    const a = runner.require(input.args.a);
    const b = runner.require(input.args.b);
    const rows = compareRollouts(engine.store.rollouts.cells(a.id), engine.store.rollouts.cells(b.id));
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: {
          a: a.id,
          b: b.id,
          rows: rows.map((r) => ({
            team: r.team,
            variant: r.variant,
            metric: r.metric,
            a: r.a.mean,
            b: r.b.mean,
            diff: r.diff.mean,
            ci95: r.diff.ci === null ? null : [r.diff.ci[0], r.diff.ci[1]],
            significant: r.diff.significant,
            paired: r.paired,
          })),
        },
      };
    }
    ctx.output.line(`B − A: ${b.id} (${b.name}) against ${a.id} (${a.name})`);
    type Row = (typeof rows)[number];
    const column = (header: string, cell: (r: Row) => string, key = false): Column => ({
      header,
      cells: rows.map(cell),
      key,
    });
    const diff = (r: Row): string =>
      r.diff.mean === null
        ? '–'
        : `${r.diff.mean >= 0 ? '+' : ''}${r.diff.mean.toFixed(3)}` +
          (r.diff.ci === null ? '' : ` [${r.diff.ci[0].toFixed(3)}, ${r.diff.ci[1].toFixed(3)}]`) +
          (r.diff.significant ? ' *' : '');
    printFitted(
      ctx,
      [
        column('team', (r) => r.team, true),
        column('variant', (r) => r.variant, true),
        column('metric', (r) => r.metric, true),
        column('A', (r) => formatMeanCi(r.a)),
        column('B', (r) => formatMeanCi(r.b)),
        column('B − A (95% CI)', diff),
        column('', (r) => (r.paired ? 'paired' : 'independent')),
      ],
      tableWidth(input.options),
    );
    if (rows.length === 0) ctx.output.line('nothing in common to compare (no team and variant scored in both)');
    return { exitCode: EXIT.ok };
  },
});
