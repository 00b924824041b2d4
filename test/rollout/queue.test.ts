import { freePort, haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { connectionOf, queueName } from '../../src/rollout/queue/connection.ts';
import { QueueCoordinator } from '../../src/rollout/queue/coordinator.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { workspaceHash } from '../../src/rollout/workspace-hash.ts';
import { payerAndPayee, tempStore, tempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { until } from '../helpers/manual-clock.ts';

/**
 * Distributed rollouts against a real Redis: `redis-server` (Debian's package; `.ci/run` installs it) is started on
 * a free port, workers are real `p2tui worker` processes, and the coordinator runs here.
 */
const ROOT = join(import.meta.dirname, '../..');

/** The queue key the workers are given (the coordinator's queue.key holds the same). */
const SECRET = 'a1'.repeat(32);
const redis = redisForSuite();
const { children } = redis;

/** A workspace whose payer pays its payee 5 and answers, each model call taking 250 ms (cells last ~1 s). */
function payingWorkspace(extra: Record<string, string> = {}) {
  const ws = tempWorkspace({
    'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 250\n',
    ...extra,
  });
  payerAndPayee(ws);
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
      '2',
      '--lock-ms',
      '2000',
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

describe('an unreachable queue', () => {
  it('is said at once, with what to do, for the coordinator and for a worker', async () => {
    const port = await freePort();
    const made = tempStore();
    const workspace = await loadWorkspace(ROOT);
    const app = new App({ workspace, store: made.store, judge: false });
    try {
      await expect(QueueCoordinator.connect(app, `redis://127.0.0.1:${port}`)).rejects.toThrow(
        `cannot reach Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED`,
      );
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'src/cli/main.ts'), 'worker', '--queue', `redis://127.0.0.1:${port}`],
        { cwd: ROOT, env: childEnv({ P2TUI_QUEUE_SECRET: SECRET }), encoding: 'utf8', timeout: 20_000 },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('hint: Start Redis (redis-server), or check the --queue URL.');
    } finally {
      app.close();
      made.cleanup();
    }
  }, 30_000);
});

describe.skipIf(!haveRedis)('distributed rollouts through BullMQ on a real redis-server', () => {
  it('workers run the cells; one killed mid-cell has its cells retried by the other; the coordinator ingests each cell once and pays once', async () => {
    const ws = payingWorkspace();
    const made = tempStore();
    const workspace = await loadWorkspace(ws.dir);
    const app = new App({ workspace, store: made.store, judge: false });
    const engine = app.engine;
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
      // Both said they take jobs; Redis lists a worker's connections as they register.
      let workers = 0;
      await until(async () => (workers = await coordinator.workers()) === 2, 'both workers on the queue', 10_000);
      expect(workers).toBe(2);
      const spec = parseRolloutSpec(
        'teams:\n  pay:\n    initial_message: pay the payee\n    base: { agent_id: payer }\n    variants: [{ id: a }, { id: b }]\nrepeats: 4\njudge: { workspace: false }\n',
        'rollouts/q.yaml',
        workspace,
      );
      let killed = false;
      const outcome = await new RolloutRunner(app).start(spec, {
        executor: coordinator.executor(),
        concurrency: 8,
        // Worker A dies (SIGKILL: no goodbye) while it holds cells: they come back to the queue when its lock lapses.
        onCell: () => {
          if (!killed) {
            killed = true;
            a.kill('SIGKILL');
          }
        },
      });
      await coordinator.close();
      expect(outcome.cells).toHaveLength(8);
      expect(outcome.cells.map((c) => c.status)).toEqual(Array(8).fill('done'));
      // Ingested once each: one session per cell in the coordinator's store, none twice.
      const sessions = outcome.cells.map((c) => c.session);
      expect(new Set(sessions).size).toBe(8);
      expect(engine.store.sessions.list({ limit: 100 }).length).toBe(8);
      // Paid once per cell, by the coordinator, in the cell's own parties.
      for (const c of outcome.cells) {
        // The parties the worker's attempt paid from, under the same name here.
        const scope = engine.store.sessions.get(c.session!)?.options.ledgerScope;
        expect(scope).toMatch(new RegExp(`^${outcome.rollout.id}-${c.id}-`));
        const wallets = app.wallets.scoped(scope);
        expect((await wallets.balance('payee')).balance).toBe('5');
        expect((await wallets.balance('payer')).balance).toBe('95');
        expect(c.metrics).toMatchObject({ transfers: 1, balances: { payer: '95', payee: '5' } });
      }
      expect((await app.wallets.ledger.verifyChain!()).ok).toBe(true);
      // B ran everything A did not finish before it died, the cell A held included (or the rollout would never end).
      const finishedByA = (logA.join('').match(/✓ pay\//g) ?? []).length;
      expect(finishedByA).toBeLessThan(4);
      expect((logB.join('').match(/✓ pay\//g) ?? []).length).toBeGreaterThanOrEqual(8 - finishedByA);
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      app.close();
      made.cleanup();
      ws.cleanup();
    }
  }, 90_000);

  it('a worker of another workspace never takes the cells, and a job naming another workspace is refused', async () => {
    const ours = payingWorkspace();
    const theirs = payingWorkspace({ 'personas/extra.yaml': 'id: extra\ndescription: Another persona.\n' });
    try {
      const a = await loadWorkspace(ours.dir);
      const b = await loadWorkspace(theirs.dir);
      expect(workspaceHash(a)).not.toBe(workspaceHash(b));
      const log: string[] = [];
      worker(theirs.dir, log);
      await until(() => log.join('').includes('Ctrl-C stops'), 'the worker', 20_000);
      // Their worker listens on their workspace's queue: ours has no worker.
      const connection = connectionOf(redis.url);
      const queue = new Queue(queueName(workspaceHash(b)), { connection });
      const events = new QueueEvents(queueName(workspaceHash(b)), { connection });
      await events.waitUntilReady();
      const ourQueue = new Queue(queueName(workspaceHash(a)), { connection });
      expect(await ourQueue.getWorkersCount()).toBe(0);
      // A job on their queue that names our workspace: refused, not run.
      const job = await queue.add(
        'cell',
        { workspace: workspaceHash(a), rollout: { id: 'ro_x', name: 'x' }, specFile: 'x', spec: {}, cell: {} },
        { jobId: 'ro_x-c_x' },
      );
      await expect(job.waitUntilFinished(events)).rejects.toThrow(
        /has workspace [0-9a-f]{16}, the job needs [0-9a-f]{16} \(other personas or tools\); it was refused/,
      );
      await Promise.all([queue.close(), events.close(), ourQueue.close()]);
    } finally {
      ours.cleanup();
      theirs.cleanup();
    }
  }, 60_000);
});
