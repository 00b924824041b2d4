import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { evalRunCommand } from '../../../src/commands/eval/run.ts';
import { evalShowCommand } from '../../../src/commands/eval/show.ts';
import { rubricsLintCommand } from '../../../src/commands/eval/rubrics.ts';
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

/** A workspace with a weather persona, a rubric judge and an assertion, both on demand; one finished session. */
async function judged(files: Record<string, string> = {}): Promise<{ ctx: TestContext; session: string }> {
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      judge: {
        evaluators: [
          { id: 'quality', kind: 'llm', rubric: 'helpful', on: 'demand' },
          { id: 'checks', kind: 'assert', on: 'demand', assert: [{ contains: 'sunny' }] },
        ],
      },
    }),
    'rubrics/helpful.yaml': RUBRIC,
    ...files,
  });
  ws.persona({
    id: 'w',
    description: 'Weather.',
    script: [{ when: '.', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] }],
  });
  cleanups.push(() => ws.cleanup());
  const ctx = commandContext(ws.dir);
  cleanups.push(() => ctx.close());
  const { engine } = await ctx.app();
  const run = engine.start({
    agent: 'w',
    message: 'weather in Paris today?',
    source: 'api',
    options: engine.sessionOptions({ seed: 1 }),
  });
  expect(await run.idle()).toBe('finished');
  return { ctx, session: run.id };
}

describe('eval run', () => {
  it('scores the branch with every evaluator and exits 0 when each --fail-under gate passes', async () => {
    const { ctx, session } = await judged();
    const run = await ctx.run(evalRunCommand, [
      'last',
      '--criteria',
      '--fail-under',
      'checks=1',
      '--fail-under',
      'quality=0.1',
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.warnings).toEqual([]);
    expect(run.lines[0]).toMatch(/^judging branch \S+ with quality, checks…$/);
    expect(run.stdout).toMatch(/branch b_\S+\s+quality\s+0\.\d\d\s+scripted judge/);
    expect(run.stdout).toMatch(/branch b_\S+\s+checks\s+1\.00\s+assertions/);
    // --criteria: the rubric's criteria, each with its score.
    expect(run.stdout).toMatch(/ {2}relevance {10}\d\.\d\d ×0\.6 {2}/);
    expect(run.lines).toContain('pass  checks 1.000 ≥ 1');
    expect(run.lines.some((l) => /^pass {2}quality 0\.\d{3} ≥ 0\.1$/.test(l))).toBe(true);
    expect(session).toMatch(/^s_/);
  });

  it('exits 1 and says FAIL when a metric is below its gate; a gate on an evaluator the run leaves out is refused', async () => {
    const { ctx } = await judged();
    const run = await ctx.run(evalRunCommand, ['last', '--evaluator', 'quality', '--fail-under', 'quality=0.99']);
    expect(run.exitCode).toBe(1);
    expect(run.lines.some((l) => /^FAIL {2}quality 0\.\d{3} < 0\.99$/.test(l))).toBe(true);
    expect(run.stdout).not.toContain('checks');
    await expect(
      ctx.run(evalRunCommand, ['last', '--evaluator', 'quality', '--fail-under', 'checks=1']),
    ).rejects.toMatchObject({
      code: 'E_USAGE',
      message: '--fail-under checks=… names an evaluator this run does not use (--evaluator quality)',
    });
    // The range of --samples is the declaration's: the parser refuses it before anything is judged.
    await expect(ctx.run(evalRunCommand, ['last', '--samples', '21'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: '--samples must be between 1 and 20, got 21',
    });
  });
});

describe('eval show', () => {
  it('--json gives every target’s newest score with its evaluator, judge, criteria and samples', async () => {
    const { ctx, session } = await judged();
    expect((await ctx.run(evalRunCommand, [session, '--samples', '2'])).exitCode).toBe(0);
    const show = await ctx.run(evalShowCommand, [session.slice(0, 6), '--json']);
    expect(show.exitCode).toBe(0);
    expect(show.lines).toEqual([]);
    const json = show.json as {
      session: string;
      openJobs: number;
      failedJobs: unknown[];
      scores: {
        evaluator: string;
        metric: string;
        value: number;
        samples: number;
        judge: string;
        target: { kind: string; label: string };
        scores: { status: string; criteria: { id: string; weight?: number }[] }[];
      }[];
    };
    expect(json.session).toBe(session);
    expect(json.openJobs).toBe(0);
    expect(json.failedJobs).toEqual([]);
    const byEvaluator = Object.fromEntries(json.scores.map((s) => [s.evaluator, s]));
    expect(Object.keys(byEvaluator).sort()).toEqual(['checks', 'quality']);
    expect(byEvaluator['checks']).toMatchObject({ metric: 'checks', value: 1, samples: 2, judge: 'assertions' });
    expect(byEvaluator['quality']).toMatchObject({ judge: 'scripted judge', samples: 2, target: { kind: 'branch' } });
    expect(byEvaluator['quality']!.value).toBeGreaterThan(0);
    expect(byEvaluator['quality']!.scores[0]!.criteria.map((c) => [c.id, c.weight])).toEqual([
      ['relevance', 0.6],
      ['concise', 0.4],
    ]);
  });
});

describe('rubrics lint', () => {
  it('names the file, line and field of each problem and exits 1; good rubrics pass', async () => {
    const { ctx } = await judged({
      'rubrics/broken.md': '# Broken\n\n## Criteria\n- only (0.5): Half.\n- empty (0.5): \n',
    });
    const lint = await ctx.run(rubricsLintCommand);
    expect(lint.exitCode).toBe(1);
    expect(lint.lines).toEqual([
      'rubrics/broken.md:5:1: criteria.empty: the criterion has no description: the judge would not know what to score',
      '1 problem in 1 of 2 rubrics',
    ]);
    const json = await ctx.run(rubricsLintCommand, ['--json']);
    expect(json.exitCode).toBe(1);
    expect(json.json).toMatchObject({
      files: ['rubrics/broken.md', 'rubrics/helpful.yaml'],
      issues: [{ file: 'rubrics/broken.md', line: 5, field: 'criteria.empty' }],
    });
  });
});
