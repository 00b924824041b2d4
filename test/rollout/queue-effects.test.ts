import { haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { QueueCoordinator } from '../../src/rollout/queue/coordinator.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { tempStore, tempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { until } from '../helpers/manual-clock.ts';

/**
 * A distributed rollout whose worker dies mid-cell must not repeat the cell's effects when the cell runs again on
 * another worker. A real `redis-server`, two real `p2tui worker` processes, one killed with SIGKILL while it holds
 * cells; the cells' effectful tool appends "key pid" to a file each time its effect happens.
 */
const ROOT = join(import.meta.dirname, '../..');

/** The queue key the workers are given (the coordinator's queue.key holds the same). */
const SECRET = 'a1'.repeat(32);
const redis = redisForSuite();
const { children } = redis;

const CALLS = 4;
const CELLS = 6;

function countingWorkspace() {
  const ws = tempWorkspace({
    'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 150\n',
    'tools/count.ts': `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

export const count = defineTool({
  name: 'count', description: 'Counts once per call: an effect nobody can look up.', effect: 'effectful',
  input: z.object({ n: z.number() }),
  async run({ n }, ctx) {
    appendFileSync(join(ctx.workspace, 'effects.log'), ctx.key + ' ' + process.pid + '\\n');
    await new Promise((r) => setTimeout(r, 100));
    return { n };
  },
});
`,
  });
  ws.persona({
    id: 'counter',
    description: 'Counts, then pays.',
    tools: ['count', 'transfer_funds'],
    balance: 100,
    script: [
      {
        when: '.',
        steps: [
          { call: 'count', args: { n: '{{round}}' }, repeat: CALLS },
          { call: 'transfer_funds', args: { to: 'payee', amount: '5', reason: 'work' } },
          { reply: 'counted' },
        ],
      },
    ],
  });
  ws.persona({ id: 'payee', description: 'Is paid.', balance: 0 });
  return ws;
}

function worker(dir: string, log: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'src/cli/main.ts'),
      'worker',
      '--queue',
      redis.url,
      '--concurrency',
      '3',
      '--lock-ms',
      '1500',
      '--workspace',
      dir,
    ],
    { env: childEnv({ P2TUI_QUEUE_SECRET: SECRET }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(child);
  return child;
}

describe.skipIf(!haveRedis)('effects of a distributed rollout whose worker dies', () => {
  it('are at most once: a cell run again after kill -9 of its worker does not repeat what the dead attempt did', async () => {
    const ws = countingWorkspace();
    const made = tempStore();
    const workspace = await loadWorkspace(ws.dir);
    const app = new App({ workspace, store: made.store, judge: false });
    const effects = (): string[][] => {
      const file = join(ws.dir, 'effects.log');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' '));
    };
    try {
      const logA: string[] = [];
      const logB: string[] = [];
      const a = worker(ws.dir, logA);
      worker(ws.dir, logB);
      await until(
        () => logA.join('').includes('Ctrl-C stops') && logB.join('').includes('Ctrl-C stops'),
        'both workers',
        20_000,
      );
      writeFileSync(join(dirname(made.store.path), 'queue.key'), SECRET, { mode: 0o600 });
      const coordinator = await QueueCoordinator.connect(app, redis.url);
      await until(async () => (await coordinator.workers()) === 2, 'both workers on the queue', 10_000);
      const spec = parseRolloutSpec(
        'teams:\n  c:\n    initial_message: count\n    base: { agent_id: counter }\n    variants: [{ id: a }, { id: b }, { id: c }]\n' +
          'repeats: 2\njudge: { workspace: false }\n',
        'rollouts/c.yaml',
        workspace,
      );
      const rollout = new RolloutRunner(app).start(spec, { executor: coordinator.executor(), concurrency: CELLS });
      // Worker A dies (SIGKILL) in the middle of its cells: some of their effects done, the rest not yet.
      await until(
        () => effects().filter(([, pid]) => pid === String(a.pid)).length >= 3,
        'worker A to do some effects',
        20_000,
      );
      a.kill('SIGKILL');
      const outcome = await rollout;
      await coordinator.close();
      expect(outcome.cells.map((c) => c.status)).toEqual(Array(CELLS).fill('done'));
      const done = effects();
      const keys = done.map(([key]) => key!);
      // No key twice, and no more effects than the cells' calls: what A did is not done again by B.
      expect(keys.length - new Set(keys).size).toBe(0);
      expect(done.length).toBeLessThanOrEqual(CELLS * CALLS);
      // A's cells were finished by B: effects of both pids, with B taking over keys journaled by A.
      expect(new Set(done.map(([, pid]) => pid)).size).toBe(2);
      // Payments stay exactly once per cell, applied by the coordinator.
      for (const c of outcome.cells) {
        const scope = app.store.sessions.get(c.session!)?.options.ledgerScope;
        expect((await app.wallets.scoped(scope).balance('payee')).balance).toBe('5');
      }
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      app.close();
      made.cleanup();
      ws.cleanup();
    }
  }, 60_000);
});
