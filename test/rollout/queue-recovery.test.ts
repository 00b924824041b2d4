import { haveRedis, freePort } from '../helpers/host-tools.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { connectionOf, queueName } from '../../src/rollout/queue/connection.ts';
import { workspaceHash } from '../../src/rollout/workspace-hash.ts';
import { MAIN, runCli } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { until } from '../helpers/manual-clock.ts';
import { payerAndPayee, tempWorkspace } from '../helpers/workspace.ts';

/**
 * Issue 16, point 8 (third part) and the queue key's rotation: a coordinator stopped by SIGTERM leaves its rollout
 * `interrupted` (and a resume picks up what the workers finished meanwhile, signed with a key since rotated out), and
 * a Redis restarted empty mid-rollout does not freeze the coordinator: it sees its jobs are gone and queues them again.
 */
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A redis-server on `port`, with nothing saved: killed and started again on the same port, it is empty. */
async function redisOn(port: number): Promise<ChildProcess> {
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  children.push(redis);
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG')
      return redis;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

function cli(args: string[], log: string[], cwd?: string): ChildProcess {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(child);
  return child;
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));

/** Three cells of a payer paying its payee, each model call taking `latency` ms. */
function workspace(latency: number) {
  const ws = tempWorkspace({
    'p2tui.yaml': `approval: deny\nproviders:\n  scripted:\n    latency_ms: ${latency}\n`,
    'rollouts/pay.yaml':
      'teams:\n  pay:\n    initial_message: pay the payee\n    base: { agent_id: payer }\n    variants: [{ id: a }, { id: b }, { id: c }]\n' +
      'judge: { workspace: false }\n',
  });
  payerAndPayee(ws);
  return ws;
}

async function rolloutList(dir: string): Promise<{ id: string; status: string; done: number }[]> {
  const r = await runCli(['rollout', 'list', '--json', '--workspace', dir]);
  return JSON.parse(r.stdout) as { id: string; status: string; done: number }[];
}

describe.skipIf(!haveRedis)('a coordinator stopped, a Redis emptied', () => {
  it('SIGTERM leaves the rollout interrupted; a resume after the key was rotated picks up what the workers finished', async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const url = `redis://127.0.0.1:${port}`;
    const ws = workspace(1000);
    const queue = new Queue(queueName(workspaceHash(await loadWorkspace(ws.dir))), { connection: connectionOf(url) });
    try {
      const log: string[] = [];
      const coordinator = cli(
        ['rollout', 'run', 'rollouts/pay.yaml', '--queue', url, '--workspace', ws.dir],
        log,
        ws.dir,
      );
      await until(async () => (await queue.getWaitingCount()) === 3, 'the three cells on the queue', 20_000);
      // The worker finds the key the coordinator wrote in the workspace's state folder.
      const workerLog: string[] = [];
      const worker = cli(['worker', '--queue', url, '--concurrency', '3', '--workspace', ws.dir], workerLog);
      await until(async () => (await queue.getActiveCount()) === 3, 'the worker to take the three cells', 20_000);
      coordinator.kill('SIGTERM');
      expect(await exited(coordinator)).toBe(130);
      expect(log.join('')).toContain('Stopping (SIGTERM)');
      const [stopped] = await rolloutList(ws.dir);
      expect(stopped).toMatchObject({ status: 'interrupted' });
      // The worker finishes the cells it holds; their results wait in Redis, signed with the key of then.
      await until(async () => (await queue.getCompletedCount()) === 3, 'the worker to finish', 20_000);
      worker.kill('SIGKILL');
      // The key is rotated: the old one becomes queue.key.previous, the resume writes a new queue.key.
      renameSync(join(ws.dir, '.p2tui', 'queue.key'), join(ws.dir, '.p2tui', 'queue.key.previous'));
      const resumed = await runCli(['rollout', 'resume', stopped!.id, '--queue', url, '--workspace', ws.dir]);
      expect(resumed.code).toBe(0);
      expect(await rolloutList(ws.dir)).toMatchObject([{ id: stopped!.id, status: 'finished', done: 3 }]);
    } finally {
      await queue.close();
      for (const c of children.splice(0)) c.kill('SIGKILL');
      redis.kill('SIGKILL');
      ws.cleanup();
    }
  }, 60_000);

  it('Redis restarted empty mid-rollout: the coordinator says its jobs are gone, queues them again and finishes', async () => {
    const port = await freePort();
    let redis = await redisOn(port);
    const url = `redis://127.0.0.1:${port}`;
    const ws = workspace(400);
    try {
      const log: string[] = [];
      const coordinator = cli(
        ['rollout', 'run', 'rollouts/pay.yaml', '--queue', url, '--workspace', ws.dir],
        log,
        ws.dir,
      );
      await until(() => log.join('').includes('queue key:'), 'the coordinator to queue the cells', 20_000);
      const workerLog: string[] = [];
      cli(['worker', '--queue', url, '--concurrency', '1', '--workspace', ws.dir], workerLog);
      await until(() => /✓ pay\//.test(workerLog.join('')), 'the first cell', 20_000);
      redis.kill('SIGKILL');
      await exited(redis);
      redis = await redisOn(port);
      expect(await exited(coordinator)).toBe(0);
      expect(log.join('')).toMatch(
        /its job is gone from the queue \(Redis restarted or was emptied\); queued it again/,
      );
      expect(await rolloutList(ws.dir)).toMatchObject([{ status: 'finished', done: 3 }]);
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      redis.kill('SIGKILL');
      ws.cleanup();
    }
  }, 60_000);
});
