import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadWorkspace } from '../../src/app/workspace.ts';
import type { ValidationError } from '../../src/core/errors.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { Store } from '../../src/store/store.ts';
import { p2tui, workspace } from './p2engine-setup.ts';

/*
 * A P2Engine-format team's `eval:` as P2Engine used it: an inline rubric's weights are criteria, `judge_version` is
 * recorded with every score and shown by rollout show and export, and `timeout_sec` bounds each judge call (a
 * real server that never answers stands for a slow judge).
 */

describe("P2Engine's eval settings: rubric weights, judge_version, timeout_sec", () => {
  it('judges an inline rubric by its weights, records judge_version with every score and shows it in show and export', async () => {
    const { server, ws } = await workspace();
    ws.write(
      'rollouts/judged.yaml',
      [
        'teams:',
        '  weather_team:',
        '    initial_message: What is the weather in Paris?',
        '    base: { agent_id: agent_alpha }',
        '    eval:',
        '      evaluator_id: gpt4_judge',
        '      metric: score',
        '      rubric: "accuracy (0.8), brevity (0.2)"',
        '      judge_version: "0.4"',
        '      timeout_sec: 5',
      ].join('\n'),
    );
    const verdict = {
      criteria: [
        { id: 'accuracy', score: 1, reason: 'right' },
        { id: 'brevity', score: 0, reason: 'long' },
      ],
      overall: 0.6,
    };
    server.queue({ kind: 'reply', text: 'Sunny in Paris.' }, { kind: 'reply', text: JSON.stringify(verdict) });
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/judged.yaml', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      rollout: string;
      cells: { session: string; metrics: { scores: Record<string, number> } }[];
    };
    // Two weighted criteria (1 × 0.8 + 0 × 0.2), not one criterion holding the whole text.
    expect(out.cells[0]!.metrics.scores['score']).toBe(0.8);
    const judgeCall = server.requests.find((q) => q.body['model'] === 'judge-model')!;
    expect(JSON.stringify(judgeCall.body['messages'])).toMatch(/accuracy[^]*brevity/);
    const store = new Store({ path: join(ws.dir, '.p2tui', 'p2tui.db') });
    try {
      const scores = store.scores.scores({ session: out.cells[0]!.session });
      expect(scores.map((x) => x.evaluatorVersion)).toEqual([expect.stringMatching(/^llm@\w+ judge_version=0\.4$/)]);
    } finally {
      store.close();
    }
    const show = await p2tui(ws, 'rollout', 'show', out.rollout);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('eval weather_team.score (gpt4_judge): judge_version 0.4, timeout 5 s');
    const json = await p2tui(ws, 'rollout', 'export', out.rollout, '--format', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      evals: [{ team: 'weather_team', metric: 'score', judge_version: '0.4', timeout_sec: 5 }],
    });
    const csv = await p2tui(ws, 'rollout', 'export', out.rollout, '--format', 'csv');
    const [header, row] = csv.stdout.trim().split('\n');
    expect(header!.split(',').at(-1)).toBe('judge_version');
    expect(row!.split(',').at(-1)).toBe('0.4');
  });

  it('fails the score of a judge call that outlasts eval.timeout_sec, with the reason, long before judge.timeout_ms', async () => {
    const { server, ws } = await workspace({ timeout_ms: 20_000 });
    ws.write(
      'rollouts/slow.yaml',
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        '    base: { agent_id: agent_alpha }',
        '    eval: { evaluator_id: gpt4_judge, rubric: "The answer is right.", timeout_sec: 0.5 }',
      ].join('\n'),
    );
    server.queue({ kind: 'reply', text: 'Hello.' }, { kind: 'hang' });
    const started = Date.now();
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/slow.yaml', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const out = JSON.parse(r.stdout) as {
      cells: { status: string; session: string; metrics: { scores: Record<string, number | null> } }[];
    };
    expect(out.cells[0]).toMatchObject({ status: 'done', metrics: { scores: { score: null } } });
    const store = new Store({ path: join(ws.dir, '.p2tui', 'p2tui.db') });
    try {
      const [score] = store.scores.scores({ session: out.cells[0]!.session });
      expect(score).toMatchObject({ status: 'failed', value: null });
      expect(score!.reasoning).toMatch(/within 500 ms \(the time limit of evaluator t\.score@\w+: 0\.5 s\)/);
    } finally {
      store.close();
    }
  });

  it('refuses bad weights in an inline rubric, naming the field (exit 3)', async () => {
    const { ws } = await workspace();
    const spec = (rubric: string): string =>
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        '    base: { agent_id: agent_alpha }',
        `    eval: { evaluator_id: gpt4_judge, rubric: "${rubric}" }`,
      ].join('\n');
    ws.write('rollouts/w.yaml', spec('accuracy (1.5), clarity (0.3)'));
    const r = await p2tui(ws, 'rollout', 'validate', 'rollouts/w.yaml');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('E_ROLLOUT_SPEC');
    expect(r.stderr).toMatch(/rollouts\/w\.yaml:5:\d+: teams\.t\.eval\.rubric: /);
    expect(r.stderr).toContain("criterion 'accuracy' has weight 1.5: a weight is a number above 0 and at most 1");
    const loaded = await loadWorkspace(ws.dir);
    for (const [rubric, message] of [
      ['accuracy (0.5), clarity (-0.5)', "criterion 'clarity' has weight -0.5"],
      ['accuracy (0.5), clarity (0.5.5)', "criterion 'clarity' has weight 0.5.5"],
      ['- accuracy (0.5)\\n- clarity', "criterion '- clarity' has no weight"],
    ] as const) {
      try {
        parseRolloutSpec(spec(rubric), 'rollouts/w.yaml', loaded);
        expect.unreachable(`accepted ${rubric}`);
      } catch (error) {
        expect((error as ValidationError).issues).toEqual([
          expect.objectContaining({ field: 'teams.t.eval.rubric', message: expect.stringContaining(message) }),
        ]);
      }
    }
    // Weights that do not sum to 1 count by their share, and the spec says so.
    const partial = parseRolloutSpec(spec('accuracy (0.5), clarity (0.3)'), 'rollouts/w.yaml', loaded);
    expect(partial.teams[0]!.inlineRubric!.criteria.map((c) => [c.id, c.weight])).toEqual([
      ['accuracy', 0.5],
      ['clarity', 0.3],
    ]);
    expect(partial.notes.join('\n')).toContain('weights sum to 0.8, not 1; each criterion counts by its share');
  });

  it("reads a number in parentheses inside a sentence as prose, not a weight (p2tui init's example rollout runs)", async () => {
    const { ws } = await workspace();
    const loaded = await loadWorkspace(ws.dir);
    const prose = (rubric: string) =>
      parseRolloutSpec(
        [
          'teams:',
          '  t:',
          '    initial_message: hi',
          '    base: { agent_id: agent_alpha }',
          `    eval: { evaluator_id: gpt4_judge, rubric: "${rubric}" }`,
        ].join('\n'),
        'rollouts/w.yaml',
        loaded,
      ).teams[0]!.inlineRubric;
    // Before, "(9)" here was a weight of 9 and the spec was refused.
    const sentence = 'The answer states the word count (9) correctly.';
    expect(prose(sentence)!.criteria).toEqual([{ id: 'overall', description: sentence, weight: 1 }]);
    expect(prose('accuracy (0.5), clarity (0.5): with sources')!.criteria.map((c) => c.weight)).toEqual([0.5, 0.5]);
    const init = await p2tui(ws, 'init', 'fresh');
    expect(init.code, init.stderr).toBe(0);
    const validate = await p2tui(ws, '--workspace', 'fresh', 'rollout', 'validate', 'fresh/rollouts/example.yaml');
    expect(validate.code, validate.stderr).toBe(0);
  });
});
