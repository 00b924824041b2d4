import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { rolloutShowCommand } from '../../../src/commands/rollout/inspect.ts';
import { rolloutRunCommand, rolloutValidateCommand } from '../../../src/commands/rollout/run.ts';
import { ValidationError } from '../../../src/core/errors.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const RUBRIC = stringify({
  description: 'Useful answers.',
  criteria: [
    { id: 'relevance', weight: 0.6, description: 'The answer addresses the weather question asked.' },
    { id: 'concise', weight: 0.4, description: 'The answer is concise.' },
  ],
});

/** Two variants of one scripted agent, two repeats each, judged with a rubric of the workspace: four cells. */
const SPEC = [
  'teams:',
  '  weather:',
  '    initial_message: What is the weather in Paris today?',
  '    base: { agent_id: forecaster }',
  '    variants: [{ id: plain, temperature: 0 }, { id: warm, temperature: 0.5 }]',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpful }',
  'repeats: 2',
  'judge: { workspace: false }',
].join('\n');

/** A workspace with the spec under rollouts/ (the commands are given its absolute path: tests do not chdir). */
function workspace(spec: string = SPEC): { ctx: TestContext; file: string } {
  const ws = tempWorkspace({ 'rubrics/helpful.yaml': RUBRIC, 'rollouts/weather.yaml': spec });
  ws.persona({
    id: 'forecaster',
    description: 'Weather.',
    script: [{ when: '.', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] }],
  });
  cleanups.push(() => ws.cleanup());
  const ctx = commandContext(ws.dir, { dbPath: join(ws.dir, 'p.db') });
  cleanups.push(() => ctx.close());
  return { ctx, file: join(ws.dir, 'rollouts/weather.yaml') };
}

describe('rollout validate', () => {
  it('names the line and key of an unknown agent, with the agent it meant', async () => {
    const { ctx, file } = workspace(SPEC.replace('agent_id: forecaster', 'agent_id: forecastr'));
    const error = await ctx.run(rolloutValidateCommand, [file]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    const refused = error as ValidationError;
    expect(refused.code).toBe('E_ROLLOUT_SPEC');
    expect(refused.issues.map((i) => [i.line, i.field, i.message])).toEqual([
      [
        4,
        'teams.weather.variants[0].agent_id',
        "unknown agent 'forecastr' (did you mean forecaster?); personas: forecaster",
      ],
      [
        4,
        'teams.weather.variants[1].agent_id',
        "unknown agent 'forecastr' (did you mean forecaster?); personas: forecaster",
      ],
    ]);
    expect(refused.message).toContain(`${file}:4:`);
  });

  it('describes a valid spec: its cells, teams and variants', async () => {
    const { ctx, file } = workspace();
    const valid = await ctx.run(rolloutValidateCommand, [file]);
    expect(valid.exitCode).toBe(0);
    expect(valid.lines[0]).toBe(`${file}: valid · 4 cells`);
    expect(valid.lines[1]).toBe('  team weather: 2 variants × 1 scenario × 2 repeats (baseline plain)');
  });
});

describe('rollout run and show', () => {
  it('run --json gives every cell with its scores and each variant’s statistics; show prints them per variant', async () => {
    const { ctx, file } = workspace();
    const run = await ctx.run(rolloutRunCommand, [file, '--json', '--fail-under', 'score=0.1']);
    expect(run.exitCode).toBe(0);
    // With --json, the progress goes to stderr and stdout keeps the one JSON value.
    expect(run.lines).toEqual([]);
    // The bar shrinks to fit the line in 80 columns (no terminal here).
    expect(run.warnings.at(-1)).toMatch(/^\[█{8,24}\] 4\/4 cells · 4 done · 0 failed/);
    const out = run.json as {
      rollout: string;
      status: string;
      stopped: string | null;
      cells: { variant: string; seed: number; status: string; metrics: { scores: Record<string, number> } }[];
      variants: { variant: string; baseline: boolean; metrics: Record<string, { mean: number; n: number }> }[];
      gates: { metric: string; min: number; passed: boolean }[];
    };
    expect(out.rollout).toMatch(/^ro_/);
    expect(out).toMatchObject({ status: 'finished', stopped: null });
    expect(out.cells.map((c) => [c.variant, c.seed, c.status])).toEqual([
      ['plain', 1, 'done'],
      ['plain', 2, 'done'],
      ['warm', 1, 'done'],
      ['warm', 2, 'done'],
    ]);
    for (const cell of out.cells) expect(cell.metrics.scores['score']).toBeGreaterThan(0.1);
    expect(out.variants.map((v) => [v.variant, v.baseline, v.metrics['score']!.n])).toEqual([
      ['plain', true, 2],
      ['warm', false, 2],
    ]);
    // Temperature 0: the simulator is exact, so both repeats of a variant score the same.
    expect(out.variants[0]!.metrics['score']!.mean).toBe(out.cells[0]!.metrics.scores['score']);
    expect(out.gates).toEqual([{ metric: 'score', min: 0.1, passed: true }]);

    const show = await ctx.run(rolloutShowCommand, [out.rollout.slice(0, 8), '--cells']);
    expect(show.exitCode).toBe(0);
    expect(show.lines[0]).toBe(`${out.rollout} · weather (${file}) · finished · 4 cells`);
    expect(show.stdout).toMatch(/weather\s+plain \(baseline\)\s+2\s+0\.\d+/);
    expect(show.stdout).toMatch(/weather\s+warm\s+2\s+0\.\d+/);
    expect(
      show.lines.filter((l) => /^c_\S+\s+weather\/(plain|warm)\/s1\s+[12]\s+done\s+0\.\d\d\s+s_/.test(l)),
    ).toHaveLength(4);
  });
});
