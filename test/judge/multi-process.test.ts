import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { runCli } from '../helpers/cli.ts';
import { countRows, withRawDb } from '../helpers/raw-db.ts';

/**
 * Judges in several processes on one database: every process's judge claims whatever jobs are open, so a `run`'s own
 * jobs may be held by another process when it drains them before exiting.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A custom evaluator slow enough that another process is still judging when a `run` waits for its score. */
const SLOW_EVALUATOR = `import { defineEvaluator } from 'p2tui';
export const slow = defineEvaluator({
  id: 'slow', version: '1', description: 'Takes its time.',
  async evaluate() {
    await new Promise((r) => setTimeout(r, Number(process.env['SLOW_MS'] ?? 400)));
    return { value: 1, reasoning: 'took its time' };
  },
});
`;

function judgedWorkspace(): { ws: TempWorkspace; db: string } {
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({ judge: { evaluators: [{ id: 'slow', kind: 'custom', evaluator: 'slow' }] } }),
    'evaluators/slow.ts': SLOW_EVALUATOR,
  });
  cleanups.push(() => ws.cleanup());
  ws.persona({ id: 'w', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }] });
  return { ws, db: join(ws.dir, 'p.db') };
}

describe('judges in several processes', () => {
  it('6 concurrent runs all exit 0 with their score, and leave no lease and no open job behind', async () => {
    const { ws, db } = judgedWorkspace();
    // The database (and its schema) exists before the runs race to it.
    expect((await runCli(['session', 'list', '--db', db], { cwd: ws.dir })).code).toBe(0);
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runCli(['run', 'w', `question ${i}`, '--db', db], { cwd: ws.dir, env: { P2TUI_LEASE_MS: '1000' } }),
      ),
    );
    // Every run ended its own way (none in the middle of waiting for the judge), letting go of its session.
    expect(countRows(db, "SELECT count(*) AS n FROM leases WHERE owner != ''")).toBe(0);
    for (const run of runs) {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('The answer is 42.');
      expect(run.stdout).toContain('judge · slow 1.00');
    }
    const jobs = withRawDb(db, (raw) =>
      raw.prepare('SELECT status, count(*) AS n FROM eval_jobs GROUP BY status').all(),
    );
    expect(jobs).toEqual([{ status: 'done', n: 6 }]);
  }, 60_000);
});

describe("a rollout spec's own evaluator", () => {
  it('is judged only by the process running the rollout, never failed by another process that lacks it', async () => {
    const { ws, db } = judgedWorkspace();
    // Both processes judge one job at a time: the rollout's cells queue up, and the other process polls meanwhile.
    ws.write(
      'p2tui.yaml',
      stringify({
        judge: { concurrency: 1, evaluators: [{ id: 'checks', kind: 'assert', assert: [{ finished: true }] }] },
      }),
    );
    ws.write(
      'tools/nap.ts',
      `import { defineTool, z } from 'p2tui';
export const nap = defineTool({
  name: 'nap', description: 'Sleeps a while.', effect: 'pure', cacheTtlMs: 0, input: z.object({}),
  run: () => new Promise((r) => setTimeout(() => r({ rested: true }), 4500)),
});
`,
    );
    ws.persona({
      id: 'sleeper',
      description: 'Naps, then answers.',
      tools: ['nap'],
      script: [{ when: '.', steps: [{ call: 'nap', args: {} }, { reply: 'Rested.' }] }],
    });
    ws.write(
      'rollouts/own-judge.yaml',
      stringify({
        teams: { t: { base: { agent_id: 'w' }, initial_message: 'hi' } },
        repeats: 4,
        judge: { evaluators: [{ id: 'spec_slow', kind: 'custom', evaluator: 'slow' }] },
      }),
    );
    expect((await runCli(['session', 'list', '--db', db], { cwd: ws.dir })).code).toBe(0);
    const [rollout, other] = await Promise.all([
      runCli(['rollout', 'run', 'rollouts/own-judge.yaml', '--json', '--db', db], {
        cwd: ws.dir,
        env: { SLOW_MS: '1500' },
      }),
      runCli(['run', 'sleeper', 'rest', '--db', db], { cwd: ws.dir }),
    ]);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain('judge · checks 1.00');
    expect(rollout.code).toBe(0);
    const { cells } = JSON.parse(rollout.stdout) as {
      cells: { status: string; metrics: { scores: Record<string, number | null> } | null }[];
    };
    // Every cell judged by its own evaluator, in the rollout's process: done with a score, none failed by the other.
    expect(cells.map((c) => [c.status, c.metrics?.scores['spec_slow']])).toEqual(Array(4).fill(['done', 1]));
    const failed = withRawDb(db, (raw) =>
      raw.prepare("SELECT evaluator, error FROM eval_jobs WHERE status != 'done'").all(),
    );
    expect(failed).toEqual([]);
  }, 60_000);
});
