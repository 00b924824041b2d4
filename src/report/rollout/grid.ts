import type { VariantReport } from '../../rollout/report.ts';
import { isFlaky } from '../../rollout/stats.ts';
import type { CellRow, RolloutRow } from '../../store/rollouts.ts';
import type { Html } from '../html.ts';
import { anchorId, html } from '../html.ts';
import { capped, LIMITS } from './text.ts';

/**
 * The grid of a rollout as a table per team: one row per scenario, one column per variant, and in each place every
 * repeat (its seed, score or status, a failed one in red with its error), each a link to its cell's transcript.
 * Then the flaky places: where the repeats of one variant on one scenario disagree (stats.ts isFlaky).
 */

/** The id of a cell's transcript on the page, which the grid links to. */
export function cellAnchor(cell: Pick<CellRow, 'id'>): string {
  return anchorId('cell', cell.id);
}

/** Per `team\nscenario id`: the task's text as the stored spec wrote it (scenarios, else the team's initial message). */
export function scenarioTexts(rollout: RolloutRow): Map<string, string> {
  type Team = { initial_message?: unknown; scenarios?: unknown };
  const spec = rollout.spec as { teams?: Record<string, Team> };
  const out = new Map<string, string>();
  for (const [team, t] of Object.entries(spec.teams ?? {})) {
    const list = Array.isArray(t.scenarios) ? (t.scenarios as unknown[]) : [];
    list.forEach((s, i) => {
      const obj = typeof s === 'object' && s !== null ? (s as { id?: unknown; message?: unknown }) : undefined;
      const id = typeof obj?.id === 'string' ? obj.id : `s${i + 1}`;
      const message = typeof s === 'string' ? s : typeof obj?.message === 'string' ? obj.message : '';
      out.set(`${team}\n${id}`, message);
    });
    if (list.length === 0 && typeof t.initial_message === 'string') out.set(`${team}\ns1`, t.initial_message);
  }
  return out;
}

function scoreText(c: CellRow, metric: string | null): string {
  if (c.status !== 'done') return c.status;
  const v = metric === null ? undefined : c.metrics?.scores[metric];
  return v === undefined ? 'done' : v === null ? 'judge failed' : v.toFixed(2);
}

/** One repeat in the grid: a link to its transcript, coloured by its status, a failed one with its error. */
function run(c: CellRow, metric: string | null): Html {
  const value = metric === null ? undefined : c.metrics?.scores[metric];
  // A low score stands out from the passing ones (amber; red is for a cell that failed to run).
  const status = c.status === 'done' ? (typeof value === 'number' && value < 0.5 ? 'ok low' : 'ok') : c.status;
  return html`<li class="run ${status}">
    <a href="#${cellAnchor(c)}">seed ${c.seed}: ${scoreText(c, metric)}</a>
    ${c.status === 'failed' && c.error !== null ? html`<div class="error">${capped(c.error, LIMITS.gridErrorChars)}</div>` : ''}
  </li>`;
}

export function gridSection(rollout: RolloutRow, cells: readonly CellRow[], metric: string | null): Html {
  const texts = scenarioTexts(rollout);
  const teams = [...new Set(cells.map((c) => c.team))];
  const byPlace = new Map<string, CellRow[]>();
  for (const c of cells) {
    const key = `${c.team}\n${c.scenario}\n${c.variant}`;
    byPlace.set(key, [...(byPlace.get(key) ?? []), c]);
  }
  const tables = teams.map((team) => {
    const mine = cells.filter((c) => c.team === team);
    const variants = [...new Set(mine.map((c) => c.variant))];
    const scenarios = [...new Set(mine.map((c) => c.scenario))];
    return html`${teams.length > 1 ? html`<h3>Team ${team}</h3>` : ''}
      <table class="grid">
        <tr><th>scenario</th>${variants.map((v) => html`<th>${v}</th>`)}</tr>
        ${scenarios.map(
          (s) => html`<tr>
            <th class="scenario">${s}<div class="muted text">${capped(texts.get(`${team}\n${s}`) ?? '', 300)}</div></th>
            ${variants.map(
              (v) =>
                html`<td><ul class="runs">${(byPlace.get(`${team}\n${s}\n${v}`) ?? []).map((c) => run(c, metric))}</ul></td>`,
            )}
          </tr>`,
        )}
      </table>`;
  });
  return html`<p class="muted">
      Each repeat: its seed and ${metric === null ? 'status' : html`its <b>${metric}</b> score`}; a link to its
      transcript below. Scores below 0.5 are amber; failed cells red, with their error.
    </p>
    ${tables}`;
}

export function flakySection(
  cells: readonly CellRow[],
  reports: readonly VariantReport[],
  metrics: readonly string[],
): Html {
  const rows = reports.flatMap((v) =>
    v.flaky.map((scenario) => {
      const repeats = cells.filter(
        (c) => c.team === v.team && c.variant === v.variant && c.scenario === scenario && c.status === 'done',
      );
      // The metrics on which these repeats disagree (isFlaky, as rollout show decides it).
      const spread = metrics.filter((m) =>
        isFlaky(repeats.flatMap((c) => (typeof c.metrics?.scores[m] === 'number' ? [c.metrics.scores[m]] : []))),
      );
      return { v, scenario, repeats, spread };
    }),
  );
  if (rows.length === 0)
    return html`<p class="muted">None: on every scenario the repeats of each variant agree within 0.3.</p>`;
  return html`<p class="muted">The repeats of these variants on these scenarios disagree by more than 0.3: one run of them says
      little.</p>
    <table class="flaky">
      <tr><th>team</th><th>variant</th><th>scenario</th><th>metric</th><th>repeats (seed: score)</th></tr>
      ${rows.flatMap(({ v, scenario, repeats, spread }) =>
        spread.map(
          (m) => html`<tr>
            <td>${v.team}</td><td>${v.variant}</td><td>${scenario}</td><td>${m}</td>
            <td>${repeats.map(
              (c, i) => html`${i > 0 ? ', ' : ''}<a href="#${cellAnchor(c)}">${c.seed}: ${scoreText(c, m)}</a>`,
            )}</td>
          </tr>`,
        ),
      )}
    </table>`;
}
