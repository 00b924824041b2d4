import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { weatherWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/** Six metrics (the team's eval and five assert evaluators): one line of the statistics is 205 columns wide. */
const SPEC = [
  'teams:',
  '  weather_forecasts:',
  '    initial_message: What is the weather in Paris today?',
  '    base: { agent_id: forecaster }',
  '    variants: [{ id: plain, temperature: 0 }, { id: warm, temperature: 0.5 }]',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: The answer gives the weather in Paris. }',
  'repeats: 2',
  'judge:',
  '  workspace: false',
  '  evaluators:',
  '    - { id: finished, kind: assert, assert: [{ finished: true }] }',
  '    - { id: long_enough, kind: assert, assert: [{ length: { min: 10 } }] }',
  '    - { id: few_steps, kind: assert, assert: [{ max_steps: 5 }] }',
  '    - { id: short, kind: assert, assert: [{ length: { max: 400 } }] }',
  '    - { id: brief, kind: assert, assert: [{ max_steps: 3 }] }',
].join('\n');

const KEYS = 'team               variant           n';
const PLAIN = 'weather_forecasts  plain (baseline)  2';
const WARM = 'weather_forecasts  warm              2';

let ws: TempWorkspace;
let run: CliResult;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

/** The statistics of an output: from its header to the note under it. */
function statistics(stdout: string): string[] {
  const lines = stdout.trimEnd().split('\n');
  const from = lines.findIndex((l) => l.startsWith('team '));
  // The statistics end before the blank line ahead of the variants' table, or with their note.
  const end = lines.indexOf('Variants') - 1;
  const to = lines.slice(0, end).findIndex((l) => l.startsWith('('));
  return lines.slice(from, to === -1 ? end : to + 1);
}

beforeAll(async () => {
  ws = weatherWorkspace(SPEC);
  run = await p2tui('rollout', 'run', 'rollouts/weather.yaml');
}, 30_000);
afterAll(() => ws.cleanup());

describe('the rollout statistics table fits the width', () => {
  it('rollout run (no terminal: 120 columns) stacks the metrics into blocks that fit, every column kept', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(statistics(run.stdout)).toEqual([
      `${KEYS}  finished            long_enough         few_steps           cost       steps`,
      `${PLAIN}  1.00 ± 0.00         1.00 ± 0.00         1.00 ± 0.00         $0.000029  1.0`,
      `${WARM}  1.00 ± 0.00 Δ+0.00  1.00 ± 0.00 Δ+0.00  1.00 ± 0.00 Δ+0.00  $0.000029  1.0`,
      '',
      `${KEYS}  short               brief               score`,
      `${PLAIN}  1.00 ± 0.00         1.00 ± 0.00         0.69 ± 0.00`,
      `${WARM}  1.00 ± 0.00 Δ+0.00  1.00 ± 0.00 Δ+0.00  0.69 ± 0.00 Δ+0.00`,
      '(stacked to fit 120 columns; --wide for one table; scores: mean ± 95% CI)',
    ]);
    for (const line of run.stdout.split('\n').filter((l) => !l.startsWith('[')))
      expect(stringWidth(line)).toBeLessThanOrEqual(120);
  });

  it('rollout show --width 80: every line within 80 columns, each block naming its rows', async () => {
    const show = await p2tui('rollout', 'show', 'last', '--width', '80');
    expect(show.code, show.stderr).toBe(0);
    for (const line of show.stdout.trimEnd().split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(80);
    expect(statistics(show.stdout)).toEqual([
      `${KEYS}  finished            cost       steps`,
      `${PLAIN}  1.00 ± 0.00         $0.000029  1.0`,
      `${WARM}  1.00 ± 0.00 Δ+0.00  $0.000029  1.0`,
      '',
      `${KEYS}  long_enough         few_steps`,
      `${PLAIN}  1.00 ± 0.00         1.00 ± 0.00`,
      `${WARM}  1.00 ± 0.00 Δ+0.00  1.00 ± 0.00 Δ+0.00`,
      '',
      `${KEYS}  short               brief`,
      `${PLAIN}  1.00 ± 0.00         1.00 ± 0.00`,
      `${WARM}  1.00 ± 0.00 Δ+0.00  1.00 ± 0.00 Δ+0.00`,
      '',
      `${KEYS}  score`,
      `${PLAIN}  0.69 ± 0.00`,
      `${WARM}  0.69 ± 0.00 Δ+0.00`,
      '(stacked to fit 80 columns; --wide for one table; scores: mean ± 95% CI)',
    ]);
  });

  it('--wide shows every column in one table', async () => {
    const show = await p2tui('rollout', 'show', 'last', '--wide');
    expect(show.code, show.stderr).toBe(0);
    const metric = (m: string, width: number): string => `${m} (mean ± 95% CI)`.padEnd(width);
    expect(statistics(show.stdout)).toEqual([
      `${KEYS}  ${metric('finished', 24)}  ${metric('long_enough', 27)}  ${metric('few_steps', 25)}  ` +
        `${metric('short', 21)}  ${metric('brief', 21)}  ${metric('score', 21)}  cost       steps`,
      `${PLAIN}  ${'1.00 ± 0.00'.padEnd(24)}  ${'1.00 ± 0.00'.padEnd(27)}  ${'1.00 ± 0.00'.padEnd(25)}  ` +
        `${'1.00 ± 0.00'.padEnd(21)}  ${'1.00 ± 0.00'.padEnd(21)}  ${'0.69 ± 0.00'.padEnd(21)}  $0.000029  1.0`,
      `${WARM}  ${'1.00 ± 0.00 Δ+0.00'.padEnd(24)}  ${'1.00 ± 0.00 Δ+0.00'.padEnd(27)}  ${'1.00 ± 0.00 Δ+0.00'.padEnd(25)}  ` +
        `${'1.00 ± 0.00 Δ+0.00'.padEnd(21)}  ${'1.00 ± 0.00 Δ+0.00'.padEnd(21)}  ${'0.69 ± 0.00 Δ+0.00'.padEnd(21)}  $0.000029  1.0`,
    ]);
    expect(show.stdout).not.toContain('stacked');
  });

  it('at 180 columns the short headers fit in one table, and the note says what they mean', async () => {
    const show = await p2tui('rollout', 'show', 'last', '--width', '180');
    expect(show.code, show.stderr).toBe(0);
    const lines = statistics(show.stdout);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(
      `${KEYS}  finished            long_enough         few_steps           short               brief               score               cost       steps`,
    );
    expect(lines[3]).toBe('(--wide for the full headers; scores: mean ± 95% CI)');
    for (const line of show.stdout.trimEnd().split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(180);
  });

  it('rollout compare and rollout show --cells fit 80 columns too', async () => {
    const again = await p2tui('rollout', 'run', 'rollouts/weather.yaml', '--json');
    expect(again.code, again.stderr).toBe(0);
    const first = /rollout (ro_\w+) · details/.exec(run.stdout)![1]!;
    const compare = await p2tui('rollout', 'compare', first, 'last', '--width', '80');
    expect(compare.code, compare.stderr).toBe(0);
    const lines = compare.stdout.trimEnd().split('\n');
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(80);
    expect(lines.at(-1)).toBe('(stacked to fit 80 columns; --wide for one table)');
    expect(lines.filter((l) => l.startsWith('weather_forecasts  warm     score'))).toEqual([
      'weather_forecasts  warm     score        0.69 ± 0.00  0.69 ± 0.00  paired',
      'weather_forecasts  warm     score        +0.000 [0.000, 0.000]',
    ]);
    const cells = await p2tui('rollout', 'show', 'last', '--cells', '--width', '80');
    expect(cells.code, cells.stderr).toBe(0);
    for (const line of cells.stdout.trimEnd().split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(80);
    expect(cells.stdout).toMatch(/^cell {12}few_steps {2}short {2}brief {2}score {2}session {5}error$/m);
  }, 20_000);
});
