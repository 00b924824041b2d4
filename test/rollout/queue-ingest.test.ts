import { haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { connectionOf, queueName } from '../../src/rollout/queue/connection.ts';
import { QueueCoordinator } from '../../src/rollout/queue/coordinator.ts';
import type { CellJob } from '../../src/rollout/queue/messages.ts';
import { sign } from '../../src/rollout/queue/signing.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { runCli } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { coordinatorPair, genuineResult } from '../helpers/queue.ts';
import { payerAndPayee, tempWorkspace } from '../helpers/workspace.ts';

/**
 * Issue 16, point 1: ingest is all or nothing on the embedded ledger. A result whose payments apply but whose session
 * cannot be imported leaves nothing behind: no funding, no payment, no party, no ledger update, no session, the
 * chain still verifying; and the next result for the cell is ingested as usual.
 */
const ROOT = join(import.meta.dirname, '../..');
const SECRET = 'd4'.repeat(32);

const redis = redisForSuite();
const { children } = redis;

function payingWorkspace() {
  const ws = tempWorkspace({ 'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 10\n' });
  payerAndPayee(ws, {
    tools: ['reward_agent'],
    steps: [{ call: 'reward_agent', args: { to: 'payee', amount: '2', reason: 'well done' } }],
  });
  return ws;
}

describe.skipIf(!haveRedis)('ingest on the embedded ledger', () => {
  it('a result whose payments apply but whose session cannot be imported leaves no payment; the next one is ingested', async () => {
    const ws = payingWorkspace();
    const pair = await coordinatorPair(
      ws.dir,
      SECRET,
      'teams:\n  pay:\n    initial_message: pay the payee\n    base: { agent_id: payer }\n    variants: [{ id: a }]\n' +
        'judge: { workspace: false }\n',
      redis.url,
    );
    const { app, keys, spec, hash } = pair;
    let worker: Worker<CellJob> | undefined;
    try {
      await app.wallets.createWallet('payer', '100');
      // A genuine result for the cell, from another coordinator's rollout run by an honest worker.
      const { cell: ran, result: genuine } = await genuineResult(pair, redis.url, () => {
        const honest = spawn(
          process.execPath,
          [join(ROOT, 'src/cli/main.ts'), 'worker', '--queue', redis.url, '--concurrency', '1', '--workspace', ws.dir],
          { env: childEnv({ P2TUI_QUEUE_SECRET: SECRET }), stdio: 'ignore' },
        );
        children.push(honest);
        return honest;
      });
      expect(ran.status).toBe('done');
      expect(genuine.ledger.length).toBeGreaterThan(0);

      // Answers each job with the genuine run, moved to the job's scope and signed for it (a worker with the key).
      // Broken: under another session id, with the rows (events, branches) of a session this database holds already:
      // the result is sound and its payments apply, and the import then refuses the ids that collide.
      app.store.bundles.import(genuine.bundle!);
      let broken = true;
      worker = new Worker<CellJob>(
        queueName(hash),
        async (job) => {
          const original = genuine.bundle!;
          const copy = broken
            ? (JSON.parse(
                JSON.stringify(original).replaceAll(original.session.id, `s_elsewhere${job.data.attempt}`),
              ) as typeof original)
            : structuredClone(original);
          const session = {
            ...copy.session,
            options: JSON.stringify({ ...JSON.parse(copy.session.options), ledgerScope: job.data.scope }),
          };
          const { signature: _drop, ...plain } = { ...genuine, bundle: { ...copy, session } };
          const what = {
            kind: 'result',
            job: String(job.id),
            rollout: job.data.rollout.id,
            cell: job.data.cell.id,
            attempt: job.data.attempt,
          } as const;
          return { ...plain, signature: sign(keys, what, JSON.parse(JSON.stringify(plain))) };
        },
        { connection: connectionOf(redis.url), concurrency: 1 },
      );
      worker.on('error', () => undefined);
      const notices: string[] = [];
      const coordinator = await QueueCoordinator.connect(app, redis.url, { notice: (t) => notices.push(t) });
      const ledger = app.wallets.ledger;
      const end = await ledger.ledgerEnd();
      const parties = (await ledger.parties()).length;

      const failed = await new RolloutRunner(app).start(spec, { executor: coordinator.executor() });
      expect(failed.cells[0]).toMatchObject({ status: 'failed', session: null });
      expect(failed.cells[0]!.error).toMatch(
        /is already in this database \(a row of another session\); nothing was imported$/,
      );
      expect(notices.at(-1)).toMatch(/failed after 3 attempts$/);
      // Three attempts funded their scopes and paid, each rolled back with the failed import: nothing is left.
      expect(await ledger.ledgerEnd()).toBe(end);
      expect((await ledger.parties()).length).toBe(parties);
      expect(app.store.sessions.list({ limit: 10 }).map((s) => s.id)).toEqual([genuine.bundle!.session.id]);
      expect((await app.wallets.balance('payer')).balance).toBe('100');
      expect((await ledger.verifyChain!()).ok).toBe(true);
      const audit = await runCli(['ledger', 'audit', '--verify', '--workspace', ws.dir, '--db', app.store.path]);
      expect(audit.stdout + audit.stderr).toContain('chain ok');
      expect(audit.code).toBe(0);

      // The next result for the cell is ingested as usual: its funding, payments, session and row, all of them.
      app.store.bundles.remove(genuine.bundle!.session.id);
      broken = false;
      const ok = await new RolloutRunner(app).start(spec, { executor: coordinator.executor() });
      await coordinator.close();
      const cell = ok.cells[0]!;
      expect(cell.status).toBe('done');
      expect(cell.metrics).toMatchObject({ answer: 'paid', balances: { payer: '95', payee: '7' } });
      expect(app.store.sessions.get(cell.session!)).toBeDefined();
      expect(await ledger.ledgerEnd()).toBeGreaterThan(end);
      expect((await ledger.verifyChain!()).ok).toBe(true);
    } finally {
      await worker?.close();
      for (const c of children.splice(0)) c.kill('SIGKILL');
      await pair.close();
      ws.cleanup();
    }
  }, 40_000);
});
