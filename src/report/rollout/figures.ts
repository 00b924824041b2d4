import { formatUsd, roundMeasured } from '../../core/money.ts';
import type { VariantReport } from '../../rollout/report.ts';
import { formatMeanCi, type Summary } from '../../rollout/stats.ts';
import type { CellRow } from '../../store/rollouts.ts';
import type { Html } from '../html.ts';
import { html } from '../html.ts';
import { renderPlot, type PlotSpec } from '../plot.ts';
import { fixed } from './text.ts';

/**
 * The rollout report's three plots, each with the table of its figures: every variant's mean and 95% interval per
 * metric (the numbers `rollout show` prints, from the same variantReports), the paired differences to each team's
 * baseline as a forest plot, and each cell's score against its cost.
 */

export const CAPTIONS = {
  means: 'Mean score per variant with its 95% confidence interval',
  diffs: "Paired difference to the team's baseline (mean and 95% confidence interval; the line at 0 is no difference)",
  cost: 'Score against cost, one point per finished cell',
} as const;

/** A variant's name as the plots and tables show it: with its team when the rollout has several. */
export function variantLabel(v: { team: string; variant: string }, teams: number): string {
  return teams > 1 ? `${v.team} / ${v.variant}` : v.variant;
}

const r = (n: number): number => roundMeasured(Number(n.toFixed(6)));

/** One dot-and-whisker row: the interval (or the mean alone below two values). */
function whisker(s: Summary): { mean: number; lo: number; hi: number } | null {
  if (s.mean === null) return null;
  return { mean: r(s.mean), lo: r(s.ci?.[0] ?? s.mean), hi: r(s.ci?.[1] ?? s.mean) };
}

/** Dot-and-whisker layers over rows named by `y`, one panel per metric when there are several. */
function dotWhisker(
  values: readonly Record<string, string | number>[],
  x: string,
  metrics: readonly string[],
  zero: boolean,
): PlotSpec {
  // The rows name themselves (and the caption says what they are): a rotated axis title would only take room.
  const yEnc = { field: 'label', type: 'nominal', title: null, sort: null } as const;
  const layers = [
    ...(zero ? [{ mark: { type: 'rule', color: '#9aa3af', strokeDash: [4, 3] }, encoding: { x: { datum: 0 } } }] : []),
    {
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: {
        y: yEnc,
        x: { field: 'lo', type: 'quantitative', title: x },
        x2: { field: 'hi' },
        color: { field: 'label', type: 'nominal', legend: null },
      },
    },
    {
      mark: { type: 'point', filled: true, size: 70 },
      encoding: {
        y: yEnc,
        x: { field: 'mean', type: 'quantitative', title: x },
        color: { field: 'label', type: 'nominal', legend: null },
      },
    },
  ];
  const width = 520;
  // A row per variant, tall enough to read its label; the panel grows with the variants.
  const height = { step: 28 };
  if (metrics.length <= 1) return { data: { values: [...values] }, width, height, layer: layers } as PlotSpec;
  return {
    data: { values: [...values] },
    // One panel per metric, in the order rollout show lists them.
    facet: {
      row: {
        field: 'metric',
        type: 'nominal',
        title: null,
        sort: [...metrics],
        header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' },
      },
    },
    spec: { width, height, layer: layers },
  } as PlotSpec;
}

export async function meansFigure(reports: readonly VariantReport[], metrics: readonly string[]): Promise<Html> {
  const teams = new Set(reports.map((v) => v.team)).size;
  const rows = reports.flatMap((v) =>
    metrics.map((metric) => ({ v, metric, s: v.metrics[metric] ?? { n: 0, mean: null, sd: null, ci: null } })),
  );
  const table = html`<table class="figures">
    <tr>
      <th>variant</th><th>metric</th><th class="num">n</th><th class="num">mean ± 95% CI</th>
      <th class="num">95% CI</th><th class="num">sd</th><th class="num">failed cells</th>
    </tr>
    ${rows.map(
      ({ v, metric, s }) => html`<tr>
        <td>${variantLabel(v, teams)}${v.baseline ? html` <span class="tag">baseline</span>` : ''}</td>
        <td>${metric}</td><td class="num">${s.n}</td><td class="num">${formatMeanCi(s)}</td>
        <td class="num">${s.ci === null ? '–' : `[${fixed(s.ci[0], 3)}, ${fixed(s.ci[1], 3)}]`}</td>
        <td class="num">${fixed(s.sd, 3)}</td><td class="num">${v.failed}</td>
      </tr>`,
    )}
  </table>`;
  const values = rows.flatMap(({ v, metric, s }) => {
    const w = whisker(s);
    return w === null ? [] : [{ label: variantLabel(v, teams), metric, ...w }];
  });
  if (values.length === 0) return html`<p class="muted">No cell has a score yet.</p>${table}`;
  return renderPlot(dotWhisker(values, 'score', metrics, false), CAPTIONS.means, table);
}

export async function diffsFigure(reports: readonly VariantReport[], metrics: readonly string[]): Promise<Html> {
  const teams = new Set(reports.map((v) => v.team)).size;
  const baselineOf = new Map(reports.filter((v) => v.baseline).map((v) => [v.team, v.variant]));
  const rows = reports
    .filter((v) => !v.baseline)
    .flatMap((v) =>
      metrics.flatMap((metric) => (v.vsBaseline[metric] === undefined ? [] : [{ v, metric, d: v.vsBaseline[metric] }])),
    );
  if (rows.length === 0) return html`<p class="muted">No variant to compare: each team has its baseline only.</p>`;
  const label = (v: VariantReport): string => `${variantLabel(v, teams)} − ${baselineOf.get(v.team) ?? 'baseline'}`;
  const table = html`<table class="figures">
    <tr>
      <th>variant − baseline</th><th>metric</th><th class="num">n pairs</th><th class="num">mean difference</th>
      <th class="num">95% CI</th><th>interval excludes 0</th>
    </tr>
    ${rows.map(
      ({ v, metric, d }) => html`<tr>
        <td>${label(v)}</td><td>${metric}</td><td class="num">${d.pairs}</td>
        <td class="num">${d.mean === null ? '–' : `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(3)}`}</td>
        <td class="num">${d.ci === null ? '–' : `[${fixed(d.ci[0], 3)}, ${fixed(d.ci[1], 3)}]`}</td>
        <td class="${d.significant ? 'good' : 'muted'}">${d.ci === null ? 'too few pairs' : d.significant ? 'yes' : 'no'}</td>
      </tr>`,
    )}
  </table>`;
  const values = rows.flatMap(({ v, metric, d }) => {
    const w = whisker(d);
    return w === null ? [] : [{ label: label(v), metric, ...w }];
  });
  if (values.length === 0)
    return html`<p class="muted">No matched pairs (same scenario and seed) were scored yet.</p>${table}`;
  return renderPlot(dotWhisker(values, 'difference in score', metrics, true), CAPTIONS.diffs, table);
}

export async function costFigure(
  cells: readonly CellRow[],
  reports: readonly VariantReport[],
  metric: string | null,
): Promise<Html> {
  const teams = new Set(reports.map((v) => v.team)).size;
  const done = cells.filter((c) => c.status === 'done' && c.metrics !== null);
  const points = done.flatMap((c) => {
    const score = metric === null ? undefined : c.metrics!.scores[metric];
    return typeof score === 'number'
      ? [{ variant: variantLabel(c, teams), cost: roundMeasured(c.metrics!.costUsd), score: r(score), cell: c.id }]
      : [];
  });
  const table = html`<table class="figures">
    <tr><th>variant</th><th class="num">cells</th><th class="num">total cost</th><th class="num">mean cost per cell</th>
    <th class="num">mean ${metric ?? 'score'}</th></tr>
    ${reports.map(
      (v) => html`<tr>
        <td>${variantLabel(v, teams)}</td><td class="num">${v.cost.n}</td>
        <td class="num">${v.cost.mean === null ? '–' : formatUsd(v.cost.mean * v.cost.n)}</td>
        <td class="num">${v.cost.mean === null ? '–' : formatUsd(v.cost.mean)}</td>
        <td class="num">${fixed(metric === null ? null : v.metrics[metric]?.mean, 3)}</td>
      </tr>`,
    )}
  </table>`;
  if (metric === null || points.length === 0)
    return html`<p class="muted">No finished cell has a score yet.</p>${table}`;
  const free = done.every((c) => c.metrics!.costUsd === 0);
  const caption = free
    ? `${CAPTIONS.cost}: every cell cost $0 (scripted or free models), so all points sit at 0 and only the scores differ`
    : `${CAPTIONS.cost} (${metric})`;
  const spec = {
    data: { values: points },
    width: 520,
    height: 260,
    mark: { type: 'point', filled: true, size: 60, opacity: 0.75 },
    encoding: {
      x: { field: 'cost', type: 'quantitative', title: 'cost per cell (USD)' },
      y: { field: 'score', type: 'quantitative', title: metric },
      color: { field: 'variant', type: 'nominal', title: 'variant' },
    },
  } as PlotSpec;
  return renderPlot(spec, caption, table);
}
