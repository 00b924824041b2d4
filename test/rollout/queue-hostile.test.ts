import { haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { openWallets } from '../../src/ledger/wallets/open.ts';
import { connectionOf, queueName } from '../../src/rollout/queue/connection.ts';
import { QueueCoordinator } from '../../src/rollout/queue/coordinator.ts';
import { redisEffectJournal } from '../../src/rollout/queue/journal.ts';
import type { CellJob, CellResult } from '../../src/rollout/queue/messages.ts';
import { sign, verify, workerKeys } from '../../src/rollout/queue/signing.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { workspaceHash } from '../../src/rollout/workspace-hash.ts';
import { Store } from '../../src/store/store.ts';
import { runCli } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { until } from '../helpers/manual-clock.ts';
import { coordinatorPair, genuineResult } from '../helpers/queue.ts';
import { payerAndPayee, tempWorkspace } from '../helpers/workspace.ts';

/**
 * Issue 16, point 1: what comes back through Redis is not believed. A rogue BullMQ worker with nothing but access to
 * Redis, and a worker that holds the key but lies, return forged results for the cells of a running rollout; the
 * coordinator refuses them, says so naming the cell, queues the cell again, and an honest worker's run is what is
 * stored. The workspace's own wallets never move.
 */
const ROOT = join(import.meta.dirname, '../..');
const SECRET = 'c3'.repeat(32);

const redis = redisForSuite();
const { children } = redis;

/** The payer pays the payee 5; treasurer and agent_beta have real money in the workspace's own wallets. */
function payingWorkspace() {
  const ws = tempWorkspace({
    'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 100\n',
    'rollouts/pay.yaml':
      'teams:\n  pay:\n    initial_message: pay the payee\n    base: { agent_id: payer }\n    variants: [{ id: a }, { id: b }]\n' +
      'judge: { workspace: false }\n',
  });
  payerAndPayee(ws, {
    tools: ['reward_agent'],
    steps: [{ call: 'reward_agent', args: { to: 'payee', amount: '2', reason: 'well done' } }],
  });
  ws.persona({ id: 'treasurer', description: 'Holds the money.', balance: 1000 });
  ws.persona({ id: 'agent_beta', description: 'Another agent.', balance: 50 });
  return ws;
}

function worker(dir: string, log: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'src/cli/main.ts'), 'worker', '--queue', redis.url, '--concurrency', '2', '--workspace', dir],
    { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(child);
  return child;
}

/** A session bundle a rogue makes up: it would show as a finished session "FORGED CELL". */
function forgedBundle(id: string) {
  const now = Date.now();
  return {
    format: 'p2tui-session-bundle',
    version: 1,
    exportedAt: new Date(now).toISOString(),
    appVersion: 'rogue',
    session: {
      id,
      created_at: now,
      updated_at: now,
      agent: 'payer',
      root_conversation: `${id}-c`,
      head_branch: `${id}-b`,
      title: 'FORGED CELL',
      source: 'rollout',
      status: 'finished',
      status_reason: null,
      options: '{}',
      workspace: '/nowhere',
    },
    branches: [],
    segments: [],
    conversations: [],
    heads: [],
    events: [],
    modelCalls: [],
    intents: [],
    artifacts: [],
    artifactRefs: [],
  };
}

describe('the queue key', () => {
  it('binds a signature to its kind, job, rollout, cell and attempt; a rotated-out key still verifies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-key-'));
    writeFileSync(join(dir, 'new.key'), 'ab'.repeat(32));
    writeFileSync(join(dir, 'new.key.previous'), SECRET);
    const keys = workerKeys({ secret: SECRET, stateDir: dir });
    const what = { kind: 'result', job: 'ro_1-c_a', rollout: 'ro_1', cell: 'c_a', attempt: 1 } as const;
    const body = { status: 'done', n: [1, 2] };
    const signature = sign(keys, what, body);
    expect(verify(keys, what, { n: [1, 2], status: 'done' }, signature)).toBe(true);
    expect(verify(keys, { ...what, cell: 'c_b', job: 'ro_1-c_b' }, body, signature)).toBe(false);
    expect(verify(keys, { ...what, attempt: 2 }, body, signature)).toBe(false);
    expect(verify(keys, { ...what, kind: 'job' }, body, signature)).toBe(false);
    expect(verify(keys, what, { ...body, status: 'failed' }, signature)).toBe(false);
    expect(verify(keys, what, body, undefined)).toBe(false);
    // Rotation: a worker given the new key (and the old as <file>.previous) still accepts what the old one signed.
    const rotated = workerKeys({ file: join(dir, 'new.key'), stateDir: dir });
    expect(verify(rotated, what, body, signature)).toBe(true);
    expect(verify(workerKeys({ secret: 'ab'.repeat(32), stateDir: dir }), what, body, signature)).toBe(false);
  });

  it('a worker without one refuses to start, naming the three ways to give it (exit 3, E_CONFIG)', async () => {
    const ws = payingWorkspace();
    try {
      const r = await runCli(['worker', '--queue', 'redis://127.0.0.1:1', '--workspace', ws.dir]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('E_CONFIG');
      expect(r.stderr).toContain(
        `p2tui worker has no queue key: give --queue-key <file>, set P2TUI_QUEUE_SECRET, or put the coordinator's queue.key at ${join(ws.dir, '.p2tui', 'queue.key')}`,
      );
    } finally {
      ws.cleanup();
    }
  }, 20_000);
});

describe.skipIf(!haveRedis)('forged results through Redis', () => {
  it("a journal entry written into Redis by anyone but a worker with the key is refused, not taken as the call's result", async () => {
    const keys = workerKeys({ secret: SECRET, stateDir: tmpdir() });
    const journal = redisEffectJournal(redis.url, keys);
    const rogue = new Redis(connectionOf(redis.url));
    try {
      // An honest entry reads back as written.
      expect(await journal.start('ro_j/c_1/k1', { tool: 'count', args: { n: 1 } }, true)).toBe(true);
      expect(await journal.lookup('ro_j/c_1/k1')).toEqual({ status: 'running', tool: 'count', args: { n: 1 } });
      // A rogue says the call is done, with a result of its choosing: the next attempt would have believed it.
      const forged = { status: 'done', result: { callId: 'x', tool: 'count', status: 'ok', output: 'FORGED' } };
      await rogue.set('p2tui-effect:ro_j/c_1/k2', JSON.stringify(forged));
      await expect(journal.lookup('ro_j/c_1/k2')).rejects.toThrow(
        "the effect journal's entry for ro_j/c_1/k2 is not signed with the queue key; refused",
      );
      // Nor does an honest entry moved to another call's key verify.
      await rogue.set('p2tui-effect:ro_j/c_1/k3', (await rogue.get('p2tui-effect:ro_j/c_1/k1'))!);
      await expect(journal.lookup('ro_j/c_1/k3')).rejects.toThrow('is not signed with the queue key');
    } finally {
      rogue.disconnect();
      await journal.close();
    }
  });

  // Generous time limits: alone it takes seconds, but it starts several worker processes, and a fresh clone's CI on two
  // busy cores once took over 40 s.
  it("a rogue worker with only Redis access: its results are refused and said, the cells run again by an honest worker, the workspace's wallets untouched", async () => {
    const ws = payingWorkspace();
    try {
      expect((await runCli(['ledger', 'init', '--workspace', ws.dir])).code).toBe(0);
      const hash = workspaceHash(await loadWorkspace(ws.dir));
      // The rogue takes both cells' first jobs, answers each with a forgery, and leaves.
      const taken: Job[] = [];
      let release = (): void => undefined;
      const both = new Promise<void>((resolve) => (release = resolve));
      const rogue = new Worker(
        queueName(hash),
        async (job) => {
          taken.push(job);
          if (taken.length === 2) {
            void rogue.close();
            release();
          }
          await both;
          return {
            status: 'done',
            error: null,
            metrics: {
              scores: { score: 1 },
              steps: 0,
              tokens: 0,
              costUsd: 0,
              latencyMs: 1,
              delegations: 0,
              transfers: 0,
              netFlow: {},
              balances: { treasurer: '1001000' },
              status: 'finished',
              answer: 'FORGED',
            },
            bundle: forgedBundle(`ses_forged${taken.indexOf(job)}`),
            ledger: [
              { kind: 'mint', to: 'treasurer', amount: '1000000', reason: 'forged', reference: `forged-${job.id}` },
              {
                kind: 'transfer',
                from: 'agent_beta',
                to: 'treasurer',
                amount: '50',
                reason: 'forged',
                reference: `steal-${job.id}`,
                workflowId: null,
              },
            ],
            scope: null,
            worker: 'rogue',
          };
        },
        { connection: connectionOf(redis.url), concurrency: 2 },
      );
      rogue.on('error', () => undefined);
      const coordinator = runCli(['rollout', 'run', 'rollouts/pay.yaml', '--queue', redis.url, '--workspace', ws.dir], {
        cwd: ws.dir,
      });
      await until(() => taken.length === 2, 'the rogue to take both cells', 20_000);
      await rogue.close();
      const log: string[] = [];
      worker(ws.dir, log);
      const r = await coordinator;
      // A job a rogue adds (the right shape, no signature) is refused by the honest worker, not run.
      const queue = new Queue(queueName(hash), { connection: connectionOf(redis.url) });
      const events = new QueueEvents(queueName(hash), { connection: connectionOf(redis.url) });
      await events.waitUntilReady();
      const spec = { teams: { pay: { initial_message: 'pay', base: { agent_id: 'payer' } } } };
      const fake = await queue.add(
        'cell',
        {
          rollout: { id: 'ro_fake', name: 'x' },
          specFile: 'x.yaml',
          spec,
          cell: { id: 'c_x' },
          workspace: hash,
          attempt: 1,
          scope: 's',
          signature: '00',
        },
        { jobId: 'ro_fake-c_x' },
      );
      await expect(fake.waitUntilFinished(events)).rejects.toThrow(
        "job ro_fake-c_x is not signed with this worker's queue key",
      );
      await Promise.all([queue.close(), events.close()]);
      expect(r.stderr).toMatch(
        /cell pay\/a\/s1 seed \d+ \(c_\w+\): refused the result for ro_\w+-c_\w+: it is not signed with this coordinator's queue key for this cell and attempt/,
      );
      expect(r.stderr).toContain('queued it again (attempt 2 of 3)');
      expect(r.code).toBe(0);
      expect(log.join('')).toMatch(/✓ pay\/a\//);
      expect(log.join('')).toMatch(/✓ pay\/b\//);
      const store = new Store({ path: join(ws.dir, '.p2tui', 'p2tui.db') });
      try {
        const rollout = store.rollouts.list(1)[0]!;
        const cells = store.rollouts.cells(rollout.id);
        expect(cells.map((c) => c.status)).toEqual(['done', 'done']);
        // No forged session, no forged score: the cells hold the honest worker's sessions and what they measured.
        expect(store.sessions.list({ limit: 100 }).map((s) => s.title)).not.toContain('FORGED CELL');
        for (const c of cells) {
          expect(store.sessions.get(c.session!)?.title).toMatch(/^pay · pay\/[ab]\/s1/);
          expect(c.metrics).toMatchObject({ scores: {}, answer: 'paid', balances: { payer: '95', payee: '7' } });
        }
        const wallets = openWallets(store);
        expect((await wallets.balance('treasurer')).balance).toBe('1000');
        expect((await wallets.balance('agent_beta')).balance).toBe('50');
      } finally {
        store.close();
      }
      const audit = await runCli(['ledger', 'audit', '--verify', '--workspace', ws.dir]);
      expect(audit.code).toBe(0);
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      ws.cleanup();
    }
  }, 90_000);

  it('a worker that holds the key but lies: a replayed result, a mint no reward_agent call made, and made-up figures are refused or recomputed', async () => {
    const ws = payingWorkspace();
    const pair = await coordinatorPair(
      ws.dir,
      SECRET,
      'teams:\n  pay:\n    initial_message: pay the payee\n    base: { agent_id: payer }\n    variants: [{ id: a }]\n' +
        'judge:\n  workspace: false\n  evaluators:\n    - { id: paid, kind: assert, assert: [{ contains: paid }], on: demand }\n',
      redis.url,
    );
    const { app, keys, spec, hash } = pair;
    try {
      await app.wallets.createWallet('treasurer', '1000');
      await app.wallets.createWallet('agent_beta', '50');
      // A genuine result, from another coordinator's rollout of the same cell run by an honest worker.
      const log: string[] = [];
      const { cell, result: genuine } = await genuineResult(pair, redis.url, () =>
        worker(ws.dir, log, { P2TUI_QUEUE_SECRET: SECRET }),
      );
      expect(cell.status).toBe('done');

      let replayOnly = false;
      // The liar: attempt 1 replays the genuine result as it is; attempt 2 adds a mint; attempt 3 makes up figures.
      const liar = new Worker<CellJob>(
        queueName(hash),
        async (job) => {
          const { attempt, scope } = job.data;
          const copy = structuredClone(genuine.bundle!);
          const bundle = {
            ...copy,
            session: {
              ...copy.session,
              options: JSON.stringify({ ...JSON.parse(copy.session.options), ledgerScope: scope }),
            },
          };
          if (attempt === 1 || replayOnly) return genuine;
          const body: Omit<CellResult, 'signature'> =
            attempt === 2
              ? {
                  ...genuine,
                  bundle,
                  ledger: [
                    ...genuine.ledger,
                    { kind: 'mint', to: 'payee', amount: '1000000', reason: 'bonus', reference: 'bonus-1' },
                  ],
                }
              : {
                  ...genuine,
                  bundle,
                  ledger: [
                    ...genuine.ledger,
                    {
                      kind: 'transfer',
                      from: 'agent_beta',
                      to: 'treasurer',
                      amount: '50',
                      reason: 'x',
                      reference: 'beta-1',
                      workflowId: null,
                    },
                  ],
                  metrics: {
                    ...genuine.metrics!,
                    scores: { paid: 0.1, score: 1 },
                    steps: 999,
                    tokens: 999_999,
                    costUsd: 123,
                  },
                };
          const { signature: _drop, ...plain } = { ...body, signature: '' };
          const what = {
            kind: 'result',
            job: String(job.id),
            rollout: job.data.rollout.id,
            cell: job.data.cell.id,
            attempt,
          } as const;
          return { ...plain, signature: sign(keys, what, JSON.parse(JSON.stringify(plain))) };
        },
        { connection: connectionOf(redis.url), concurrency: 1 },
      );
      liar.on('error', () => undefined);
      const notices: string[] = [];
      const coordinator = await QueueCoordinator.connect(app, redis.url, { notice: (t) => notices.push(t) });
      const outcome = await new RolloutRunner(app).start(spec, { executor: coordinator.executor() });
      // A liar that only ever replays: the cell fails after three attempts, the refusal recorded as its error.
      replayOnly = true;
      const again = await new RolloutRunner(app).start(spec, { executor: coordinator.executor() });
      expect(again.cells[0]).toMatchObject({ status: 'failed', session: null });
      expect(again.cells[0]!.error).toMatch(
        /^refused the result for ro_\w+-c_\w+: it is not signed with this coordinator's queue key/,
      );
      expect(notices.at(-1)).toMatch(/: refused the result for .*; failed after 3 attempts$/);
      await coordinator.close();
      await liar.close();
      expect(notices[0]).toMatch(
        /refused the result for ro_\w+-c_\w+: it is not signed with this coordinator's queue key for this cell and attempt/,
      );
      expect(notices[1]).toMatch(
        /refused the result for ro_\w+-c_\w+: it mints 1000000 to 'payee' \(reference bonus-1\) with no reward_agent call in its session that did; queued it again \(attempt 3 of 3\)/,
      );
      const stored = outcome.cells[0]!;
      expect(stored.status).toBe('done');
      // Scores, steps, tokens and cost are the session's own, not what the result said.
      expect(cell.metrics!.scores).toEqual({ paid: 1 });
      expect(stored.metrics).toMatchObject({
        scores: { paid: 1 },
        steps: cell.metrics!.steps,
        tokens: cell.metrics!.tokens,
        costUsd: cell.metrics!.costUsd,
      });
      expect(stored.metrics!.steps).not.toBe(999);
      // The workspace's own wallets never moved: the transfer out of agent_beta stayed in the cell's parties.
      expect((await app.wallets.balance('treasurer')).balance).toBe('1000');
      expect((await app.wallets.balance('agent_beta')).balance).toBe('50');
      expect(app.store.sessions.list({ limit: 10 }).length).toBe(1);
      expect((await app.wallets.ledger.verifyChain!()).ok).toBe(true);
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      await pair.close();
      ws.cleanup();
    }
  }, 90_000);
});
