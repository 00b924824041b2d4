import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace, type Workspace } from '../../src/app/workspace.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { expandCells } from '../../src/rollout/cells.ts';
import { compareRollouts, variantReports } from '../../src/rollout/report.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { pairedDiff, summarize, welchDiff } from '../../src/rollout/stats.ts';
import { tempStore } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { countRows } from '../helpers/raw-db.ts';

const ROOT = join(import.meta.dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

let demo: Workspace | undefined;
/** The demo workspace (the repository root) on a fresh database. */
async function demoApp(): Promise<App> {
  demo ??= await loadWorkspace(ROOT);
  const made = tempStore();
  const app = new App({ workspace: demo, store: made.store });
  cleanups.push(() => {
    app.close();
    made.cleanup();
  });
  return app;
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError)
      return error.issues.map((i) => `${i.line ?? '?'}:${i.column ?? '?'} ${i.field} ${i.message}`);
    throw error;
  }
  throw new Error('expected the spec to be refused');
}

describe('rollout specs', () => {
  it("reads P2Engine's format as it is: a dict of lists is a cross product, ignored keys are reported, variants are numbered", async () => {
    const app = await demoApp();
    const spec = parseRolloutSpec(
      [
        'teams:',
        '  solvers:',
        '    initial_message: What is 6 * 7?',
        '    base: { agent_id: agent_beta, max_tokens: 100 }',
        '    variants:',
        '      temperature: [0, 0.5, 1.0]',
        '      tools: [[calculate], [calculate, get_league_leader]]',
        '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpfulness, prompts: [ignored] }',
      ].join('\n'),
      'rollouts/p2.yaml',
      app.workspace,
    );
    const team = spec.teams[0]!;
    expect(team.variants.map((v) => v.id)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
    expect(team.variants[3]!.personas).toEqual({
      // P2Engine's tools list without `delegate`: this variant's agent does not delegate.
      agent_beta: { temperature: 0.5, max_tokens: 100, tools: ['calculate', 'get_league_leader'], agents: [] },
    });
    expect(spec.notes.join('\n')).toContain('max_tokens: P2Engine ignored this key; p2tui applies it');
    expect(expandCells(spec)).toHaveLength(6);
  });

  it('names the line, column and key of every error, and catches unknown agents, tools and rubrics before anything runs', async () => {
    const app = await demoApp();
    const issues = issuesOf(() =>
      parseRolloutSpec(
        [
          'teams:',
          '  t:',
          '    initial_message: hi',
          '    base: { agent_id: agent_alpah }',
          '    variants:',
          '      - { temperature: 0 }',
          '  u:',
          '    initial_message: hi',
          '    base: { agent_id: agent_beta, tools: [calculater] }',
          '    eval: { evaluator_id: gpt4_judge, rubric: helpfulnes }',
          'repeats: many',
        ].join('\n'),
        'rollouts/bad.yaml',
        app.workspace,
      ),
    );
    expect(issues).toEqual(['11:10 repeats must be a number, got "many"']);
    const again = issuesOf(() =>
      parseRolloutSpec(
        [
          'teams:',
          '  t:',
          '    initial_message: hi',
          '    base: { agent_id: agent_alpah }',
          '  u:',
          '    initial_message: hi',
          '    base: { agent_id: agent_beta, tools: [calculater] }',
          '    eval: { evaluator_id: gpt4_judge, rubric: helpfulnes }',
        ].join('\n'),
        'rollouts/bad.yaml',
        app.workspace,
      ),
    );
    expect(again).toEqual([
      expect.stringMatching(
        /^4:\d+ teams\.t\.variants\[0\]\.agent_id unknown agent 'agent_alpah' \(did you mean agent_alpha\?\)/,
      ),
      expect.stringMatching(
        /^7:\d+ teams\.u\.variants\[0\]\.tools\[0\] unknown tool 'calculater' \(did you mean calculate\?\)/,
      ),
      expect.stringMatching(/^8:\d+ teams\.u\.eval\.rubric unknown rubric 'helpfulnes' \(did you mean helpfulness\?\)/),
    ]);
  });

  it('refuses a seed given twice (those repeats would be one cell)', async () => {
    const app = await demoApp();
    expect(
      issuesOf(() =>
        parseRolloutSpec(
          'teams:\n  w:\n    initial_message: hi\n    base: { agent_id: agent_helper }\nrepeats: 3\nseeds: [7, 8, 7]\n',
          'r.yaml',
          app.workspace,
        ),
      ),
    ).toEqual([expect.stringMatching(/^6:\d+ seeds a seed is given twice/)]);
  });

  it('gives cells stable ids from their content: a changed variant changes its cells only', async () => {
    const app = await demoApp();
    const text = (t: number) =>
      `teams:\n  w:\n    initial_message: What's the weather in Paris?\n    base: { agent_id: agent_helper }\n    variants: [{ temperature: 0 }, { temperature: ${t} }]\nrepeats: 2\n`;
    const a = expandCells(parseRolloutSpec(text(0.5), 'r.yaml', app.workspace));
    const b = expandCells(parseRolloutSpec(text(0.9), 'r.yaml', app.workspace));
    expect(a.map((c) => c.id)).toEqual(
      expandCells(parseRolloutSpec(text(0.5), 'r.yaml', app.workspace)).map((c) => c.id),
    );
    expect(a.slice(0, 2).map((c) => c.id)).toEqual(b.slice(0, 2).map((c) => c.id));
    expect(a.slice(2).map((c) => c.id)).not.toEqual(b.slice(2).map((c) => c.id));
    expect(new Set(a.map((c) => c.id)).size).toBe(4);
  });
});

describe('statistics', () => {
  it('mean, standard deviation and a 95% t interval; paired differences over matched keys; Welch for unmatched', () => {
    expect(summarize([1, 2, 3, 4])).toMatchObject({ n: 4, mean: 2.5 });
    const s = summarize([1, 2, 3, 4]);
    expect(s.sd).toBeCloseTo(1.291, 3);
    // t(3) = 3.182: 2.5 ± 3.182 · 1.291 / 2
    expect(s.ci![0]).toBeCloseTo(0.446, 3);
    expect(s.ci![1]).toBeCloseTo(4.554, 3);
    expect(summarize([0.7])).toEqual({ n: 1, mean: 0.7, sd: null, ci: null });
    const d = pairedDiff(
      new Map([
        ['a', 0.9],
        ['b', 0.8],
        ['c', 0.85],
        ['x', 0],
      ]),
      new Map([
        ['a', 0.5],
        ['b', 0.45],
        ['c', 0.5],
      ]),
    );
    expect(d).toMatchObject({ pairs: 3, significant: true });
    expect(d.mean).toBeCloseTo(0.3667, 3);
    expect(welchDiff([0.5, 0.6, 0.55], [0.5, 0.6, 0.55]).significant).toBe(false);
  });
});

describe('running rollouts', () => {
  it('shows real differences on the embedded defaults: warmer variants score lower and their repeats spread; each cell is its own session', async () => {
    const app = await demoApp();
    const spec = parseRolloutSpec(
      [
        'teams:',
        '  c:',
        '    base: { agent_id: agent_alpha }',
        '    variants: [{ id: cold, temperature: 0 }, { id: hot, temperature: 1.6 }]',
        '    scenarios: ["What\'s the weather in Paris and in Oslo?", "Who leads the Premier League?"]',
        '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpfulness }',
        'repeats: 6',
        'concurrency: 6',
        'judge: { workspace: false }',
      ].join('\n'),
      'rollouts/t.yaml',
      app.workspace,
    );
    const progress: number[] = [];
    const outcome = await new RolloutRunner(app).start(spec, {
      onProgress: (p) => progress.push(p.done + p.failed),
    });
    expect(outcome.rollout.status).toBe('finished');
    expect(outcome.cells).toHaveLength(24);
    expect(outcome.cells.every((c) => c.status === 'done' && c.session !== null)).toBe(true);
    expect(new Set(outcome.cells.map((c) => c.session)).size).toBe(24);
    expect(progress.at(-1)).toBe(24);
    const [cold, hot] = variantReports(outcome.rollout, outcome.cells);
    expect(cold).toMatchObject({ variant: 'cold', baseline: true });
    // At temperature 0 the simulator is exact: the repeats of a scenario agree.
    expect(cold!.flaky).toEqual([]);
    expect(hot!.metrics['score']!.mean!).toBeLessThan(cold!.metrics['score']!.mean!);
    expect(hot!.vsBaseline['score']).toMatchObject({ pairs: 12 });
    expect(hot!.vsBaseline['score']!.mean!).toBeLessThan(0);
    const hotScores = outcome.cells.filter((c) => c.variant === 'hot').map((c) => c.metrics!.scores['score']);
    expect(new Set(hotScores).size).toBeGreaterThan(1);
  }, 60_000);

  it('records a failing cell with its error and goes on; a budget stops a cell; resume runs only what is not done; a replay makes no model calls', async () => {
    const app = await demoApp();
    const { engine } = app;
    const spec = parseRolloutSpec(
      [
        'teams:',
        '  w:',
        '    initial_message: "What\'s the weather in Paris and who leads the Premier League?"',
        '    base: { agent_id: agent_alpha }',
        '    variants: [{ id: ok }, { id: broken, model: openai/nowhere-model }, { id: tight, personas: { agent_alpha: { temperature: 0 } } }]',
        'repeats: 2',
        'budgets: { tokens: 400 }',
        'judge: { workspace: false }',
      ].join('\n'),
      'rollouts/f.yaml',
      app.workspace,
    );
    const runner = new RolloutRunner(app);
    const first = await runner.start(spec);
    const broken = first.cells.filter((c) => c.variant === 'broken');
    expect(broken.map((c) => c.status)).toEqual(['failed', 'failed']);
    // A model its provider cannot serve (here: no key): the cell fails at run time (an unknown provider is refused
    // before anything runs, test/rollout/p2engine-configs.test.ts).
    expect(broken[0]!.error).toContain('agent_alpha failed');
    // The token budget of a cell: a session of ~6 model calls goes over 400 tokens and is stopped.
    expect(
      first.cells
        .filter((c) => c.variant === 'ok')
        .every((c) => c.status === 'failed' && /over its token budget/.test(c.error ?? '')),
    ).toBe(true);
    expect(first.rollout.status).toBe('finished');

    // Interrupted after its first cells: resume runs only the rest.
    const calm = parseRolloutSpec(
      "teams:\n  w:\n    initial_message: What's the weather in Paris?\n    base: { agent_id: agent_helper }\n    variants: [{ temperature: 0 }, { temperature: 1.2 }]\nrepeats: 3\nconcurrency: 1\njudge: { workspace: false }\n",
      'rollouts/c.yaml',
      app.workspace,
    );
    const stop = new AbortController();
    let seen = 0;
    const partial = await runner.start(calm, {
      signal: stop.signal,
      onCell: () => (++seen === 2 ? stop.abort() : undefined),
    });
    expect(partial.stopped).toBe('interrupted');
    expect(partial.rollout.status).toBe('interrupted');
    const doneBefore = partial.cells.filter((c) => c.status === 'done').map((c) => `${c.id}:${c.session}`);
    expect(doneBefore.length).toBeGreaterThanOrEqual(2);
    // One run at a time: a second resume while the first runs is refused.
    const running = runner.resume(partial.rollout.id);
    await expect(runner.resume(partial.rollout.id)).rejects.toThrow(
      `rollout ${partial.rollout.id} is being run by pid ${process.pid}`,
    );
    const resumed = await running;
    expect(resumed.rollout.status).toBe('finished');
    expect(resumed.cells.every((c) => c.status === 'done')).toBe(true);
    // Cells done before kept their sessions: they were not run again.
    for (const d of doneBefore) expect(resumed.cells.map((c) => `${c.id}:${c.session}`)).toContain(d);

    // A replay of the finished rollout: the same answers and scores, no model call costs anything.
    const paidCalls = (): number =>
      countRows(engine.store.path, 'SELECT count(*) AS n FROM model_calls WHERE cost_usd > 0');
    const callsBefore = paidCalls();
    const replayed = await runner.start(calm, { replayOf: resumed.rollout.id });
    expect(replayed.cells.map((c) => c.metrics!.answer)).toEqual(resumed.cells.map((c) => c.metrics!.answer));
    expect(replayed.cells.map((c) => c.metrics!.costUsd)).toEqual(replayed.cells.map(() => 0));
    expect(paidCalls()).toBe(callsBefore);
    expect(compareRollouts(resumed.cells, replayed.cells).every((r) => r.diff.mean === 0)).toBe(true);
  }, 60_000);

  it('stops at a total budget as model calls commit: running cells are cancelled, no new one starts', async () => {
    const app = await demoApp();
    const spec = parseRolloutSpec(
      "teams:\n  w:\n    initial_message: What's the weather in Paris and in Oslo?\n    base: { agent_id: agent_helper }\nrepeats: 8\nconcurrency: 2\nbudgets: { total_tokens: 600 }\njudge: { workspace: false }\n",
      'rollouts/budget.yaml',
      app.workspace,
    );
    const outcome = await new RolloutRunner(app).start(spec);
    expect(outcome.stopped).toBe('the total token budget of 600 is spent');
    expect(outcome.rollout.status).toBe('stopped');
    expect(outcome.cells.filter((c) => c.status === 'pending').length).toBeGreaterThan(0);
    const spent = outcome.cells.reduce((a, c) => a + (c.metrics?.tokens ?? 0), 0);
    // Over by at most what the two running cells spent after the line was crossed: well under another round.
    expect(spent).toBeLessThan(600 + 2 * 400);
  });

  it('gives each cell its own wallets: payments of one cell never show in another, and the results carry balances and net flows', async () => {
    const app = await demoApp();
    const spec = parseRolloutSpec(
      'teams:\n  pay:\n    initial_message: transfer 15 to agent_helper\n    base: { agent_id: treasurer }\n    variants: [{ temperature: 0 }]\nrepeats: 3\nledger: { balances: { treasurer: 200, agent_helper: 0 } }\njudge: { workspace: false }\n',
      'rollouts/pay.yaml',
      app.workspace,
    );
    const outcome = await new RolloutRunner(app).start(spec);
    for (const c of outcome.cells) {
      expect(c.status).toBe('done');
      expect(c.metrics).toMatchObject({
        transfers: 1,
        balances: { treasurer: '185', agent_helper: '15' },
        netFlow: { treasurer: '-15', agent_helper: '15' },
      });
    }
    // The workspace's own wallets were not touched.
    expect(await app.wallets.agents()).toEqual([]);
  }, 60_000);
});

describe('fork_from', () => {
  it('runs every variant from a shared prefix of a session: each cell is a branch of it, measured on its own branch', async () => {
    const app = await demoApp();
    const { engine } = app;
    const source = engine.start({
      agent: 'agent_alpha',
      message: "What's the weather in Paris?",
      source: 'api',
      options: engine.sessionOptions({ seed: 3, approval: 'deny' }),
    });
    expect(await source.idle()).toBe('finished');
    const prefixCalls = engine.store.calls.usage(source.id).total.calls;
    engine.release(source.id);
    const spec = parseRolloutSpec(
      `teams:\n  follow_up:\n    base: { agent_id: agent_alpha }\n    variants: [{ id: cold, temperature: 0 }, { id: hot, temperature: 1.6 }]\n    scenarios: ["And who leads the Premier League?"]\nrepeats: 2\nfork_from: { session: ${source.id} }\njudge: { workspace: false }\n`,
      'rollouts/fork.yaml',
      app.workspace,
    );
    const outcome = await new RolloutRunner(app).start(spec);
    expect(outcome.cells.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(new Set(outcome.cells.map((c) => c.session))).toEqual(new Set([source.id]));
    const branches = engine.store.sessions.branches(source.id);
    expect(branches).toHaveLength(1 + 4);
    expect(new Set(outcome.cells.map((c) => c.metrics!.branch)).size).toBe(4);
    const allCalls = engine.store.calls.usage(source.id).total.calls;
    for (const c of outcome.cells) {
      // Its own calls only: the follow-up's, not the prefix's nor its sibling branches'.
      expect(c.metrics!.steps).toBeGreaterThan(0);
      expect(c.metrics!.steps).toBeLessThanOrEqual(allCalls - prefixCalls - 3);
      expect(c.metrics!.answer).toMatch(/league|Premier/i);
    }
    expect(branches.find((b) => b.id === outcome.cells[0]!.metrics!.branch)?.label).toContain('follow_up/cold/s1');
  }, 60_000);
});

describe('rollout commands', () => {
  it('run --json prints one object (the id, every cell with its metrics, the per-variant statistics); --fail-under exits 1; list, show, compare and export work on it', () => {
    const db = join(tempStore().store.path);
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ROOT,
        encoding: 'utf8',
        env: childEnv(),
      });
    const r = p2tui('rollout', 'run', 'rollouts/p2engine-payments.yaml', '--json', '--fail-under', 'score=0.99');
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as {
      rollout: string;
      cells: {
        id: string;
        variant: string;
        scenario: string;
        seed: number;
        status: string;
        metrics: { scores: Record<string, number> };
      }[];
      variants: {
        team: string;
        variant: string;
        metrics: Record<string, { mean: number; ci95: number[] | null; n: number }>;
      }[];
      gates: { passed: boolean }[];
    };
    expect(out.rollout).toMatch(/^ro_/);
    expect(out.cells).toHaveLength(12);
    expect(out.cells[0]).toMatchObject({ variant: 'v1', scenario: 's1', seed: 1, status: 'done' });
    expect(out.variants).toHaveLength(4);
    expect(out.variants[0]!.metrics['score']).toMatchObject({ n: 3 });
    expect(out.gates).toEqual([{ metric: 'score', min: 0.99, passed: false }]);
    expect(r.stderr).toContain('max_tokens: P2Engine ignored this key; p2tui applies it');
    expect(p2tui('rollout', 'list').stdout).toContain(out.rollout);
    expect(p2tui('rollout', 'show', out.rollout.slice(0, 6)).stdout).toMatch(
      /payment_coordinator\s+v1 \(baseline\)\s+3/,
    );
    const csv = p2tui('rollout', 'export', out.rollout, '--format', 'csv').stdout.trim().split('\n');
    expect(csv).toHaveLength(13);
    expect(csv[0]).toContain('score:score');
    const again = p2tui('rollout', 'run', 'rollouts/p2engine-payments.yaml', '--json');
    expect(again.status).toBe(0);
    const second = (JSON.parse(again.stdout) as { rollout: string }).rollout;
    const compared = JSON.parse(p2tui('rollout', 'compare', out.rollout, second, '--json').stdout) as {
      rows: { paired: boolean; diff: number }[];
    };
    expect(compared.rows.length).toBeGreaterThan(0);
    expect(compared.rows.every((row) => row.paired && row.diff === 0)).toBe(true);
    const invalid = p2tui('rollout', 'validate', 'personas/agent_alpha.yaml');
    expect(invalid.status).toBe(3);
    expect(invalid.stderr).toMatch(/personas\/agent_alpha\.yaml:\d+:\d+/);
  }, 120_000);
});
