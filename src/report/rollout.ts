import { stringify } from 'yaml';
import { formatUsd } from '../core/money.ts';
import { describeEvals, evalSettings } from '../rollout/eval-settings.ts';
import {
  anyNotLive,
  cellEffects,
  metricsOf,
  variantReports,
  type CellEffects,
  type VariantReport,
} from '../rollout/report.ts';
import type { CellRow, RolloutRow } from '../store/rollouts.ts';
import type { Store } from '../store/store.ts';
import type { Html } from './html.ts';
import { html } from './html.ts';
import { renderPage } from './page.ts';
import { costFigure, diffsFigure, meansFigure } from './rollout/figures.ts';
import { flakySection, gridSection } from './rollout/grid.ts';
import { capped, when } from './rollout/text.ts';
import { transcriptsSection } from './rollout/transcripts.ts';

/**
 * The rollout report: one self-contained page, read from the database alone. What ran (status, counts, override,
 * effects), every variant's mean and 95% interval per metric, the paired differences to each team's baseline, score
 * against cost, the grid with every repeat, the flaky places, the spec as it ran, and each cell's transcript.
 */

const SECTIONS = [
  ['means', 'Scores per variant'],
  ['diffs', 'Differences to the baseline'],
  ['cost', 'Score against cost'],
  ['grid', 'Grid'],
  ['flaky', 'Flaky scenarios'],
  ['spec', 'Spec as run'],
  ['transcripts', 'Transcripts'],
] as const;

const STATUS_NOTE: Readonly<Record<RolloutRow['status'], string>> = {
  running: 'still running (or stopped without saying so): this report shows the cells finished when it was made',
  finished: 'finished',
  stopped: 'stopped by its total budget: the cells not run are missing',
  interrupted: 'interrupted (Ctrl-C or a signal): p2tui rollout resume runs the rest',
};

function header(
  rollout: RolloutRow,
  cells: readonly CellRow[],
  reports: readonly VariantReport[],
  effects: CellEffects,
): Html {
  const count = (s: CellRow['status']): number => cells.filter((c) => c.status === s).length;
  const { replayOf, queue, fork } = rollout.options;
  const how = [
    ...(replayOf === undefined ? [] : [`a replay of rollout ${replayOf} (no model calls)`]),
    ...(queue === undefined ? [] : [`cells run by the workers of queue ${queue}`]),
    ...(fork === undefined
      ? []
      : [`each cell a branch of session ${fork.session} (${fork.branch} at seq ${fork.seq})`]),
  ];
  const description = (rollout.spec as { description?: unknown }).description;
  const cost = cells.reduce((a, c) => a + (c.metrics?.costUsd ?? 0), 0);
  const override = [
    ...(rollout.options.model === undefined
      ? []
      : [`every agent of every cell ran on ${rollout.options.model} (--model)`]),
    ...(rollout.options.judgeModel === undefined ? [] : [`judge: ${rollout.options.judgeModel}`]),
  ];
  const evals = describeEvals(evalSettings(rollout));
  return html`<table class="facts">
      <tr><th>rollout</th><td>${rollout.name} <span class="muted">${rollout.id}</span></td></tr>
      ${typeof description === 'string' && description !== '' ? html`<tr><th>about</th><td>${capped(description, 2_000)}</td></tr>` : ''}
      <tr><th>spec file</th><td>${rollout.file} <span class="muted">sha256 ${rollout.specHash.slice(0, 12)}</span></td></tr>
      <tr>
        <th>status</th>
        <td class="${rollout.status === 'finished' ? '' : 'warn'}">${rollout.status}${
          rollout.status === 'finished' ? '' : ` — ${STATUS_NOTE[rollout.status]}`
        }</td>
      </tr>
      <tr>
        <th>cells</th>
        <td>${cells.length} · <span class="good">${count('done')} done</span> ·
          <span class="${count('failed') > 0 ? 'bad' : ''}">${count('failed')} failed</span>${
            count('running') + count('pending') > 0
              ? ` · ${count('running')} running · ${count('pending')} pending`
              : ''
          }</td>
      </tr>
      <tr><th>started</th><td>${when(rollout.createdAt)}</td></tr>
      <tr><th>finished</th><td>${when(rollout.finishedAt)}</td></tr>
      <tr><th>cost</th><td>${formatUsd(cost)}</td></tr>
      ${how.length === 0 ? '' : html`<tr><th>how</th><td>${how.join('; ')}</td></tr>`}
      ${override.length === 0 ? '' : html`<tr><th>model override</th><td class="warn">${override.join('; ')}</td></tr>`}
      ${evals.length === 0 ? '' : html`<tr><th>judge</th><td>${evals.join('; ')}</td></tr>`}
      ${
        anyNotLive(effects)
          ? html`<tr>
              <th>effects</th>
              <td class="warn">Not every cell ran live (effectful tools were simulated or skipped):
                ${reports.map((v, i) => html`${i > 0 ? '; ' : ''}${v.team}/${v.variant}: ${v.effects ?? 'not run'}`)}</td>
            </tr>`
          : ''
      }
    </table>
    ${count('done') + count('failed') === 0 ? html`<p class="warn">No cell has finished yet.</p>` : ''}`;
}

export async function rolloutReport(store: Store, rollout: RolloutRow, generatedAt: Date): Promise<string> {
  const cells = store.rollouts.cells(rollout.id);
  const metrics = metricsOf(cells);
  const main = metrics[0] ?? null;
  const effects = cellEffects(store, cells);
  const reports = variantReports(rollout, cells, effects);
  const [means, diffs, cost] = await Promise.all([
    meansFigure(reports, metrics),
    diffsFigure(reports, metrics),
    costFigure(cells, reports, main),
  ]);
  const body = html`${header(rollout, cells, reports, effects)}
    <nav class="toc">${SECTIONS.map(([id, title]) => html`<a href="#${id}">${title}</a>`)}</nav>
    <h2 id="means">Scores per variant</h2>
    ${metrics.length === 0 ? html`<p class="muted">No cell was scored (the rollout has no judge, or none ran).</p>` : means}
    <h2 id="diffs">Differences to the baseline</h2>
    <p class="muted">Each variant minus its team's baseline, paired over the same scenario and seed.</p>
    ${diffs}
    <h2 id="cost">Score against cost</h2>
    ${cost}
    <h2 id="grid">Grid</h2>
    ${gridSection(rollout, cells, main)}
    <h2 id="flaky">Flaky scenarios</h2>
    ${flakySection(cells, reports, metrics)}
    <h2 id="spec">Spec as run</h2>
    <p class="muted">As the rollout stored it when it started (${rollout.file}); the file may have changed since.</p>
    <pre class="spec">${capped(stringify(rollout.spec), 100_000)}</pre>
    <h2 id="transcripts">Transcripts</h2>
    ${transcriptsSection(store, cells, main)}`;
  return renderPage({
    kind: 'rollout',
    title: `Rollout ${rollout.name}`,
    subtitle: `${rollout.id} · ${rollout.status} · ${cells.length} cells · report made ${generatedAt.toISOString()}`,
    body,
  });
}
