import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { App } from '../../src/app/app.ts';
import { loadWorkspace, type Workspace } from '../../src/app/workspace.ts';
import { connectionOf, queueName } from '../../src/rollout/queue/connection.ts';
import { QueueCoordinator } from '../../src/rollout/queue/coordinator.ts';
import type { CellResult } from '../../src/rollout/queue/messages.ts';
import { workerKeys, type QueueKeys } from '../../src/rollout/queue/signing.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec, type RolloutSpec } from '../../src/rollout/spec.ts';
import { workspaceHash } from '../../src/rollout/workspace-hash.ts';
import { tempStore } from './workspace.ts';

/**
 * Two coordinators of one workspace, each with its own database and both holding `secret` as their queue key: `other`
 * runs the cell with an honest worker, so a test has a genuine signed result to replay or forge against `app`.
 */
export interface CoordinatorPair {
  readonly workspace: Workspace;
  /** The coordinator under attack. */
  readonly app: App;
  /** The coordinator whose rollout produces the genuine result. */
  readonly other: App;
  readonly keys: QueueKeys;
  readonly spec: RolloutSpec;
  readonly hash: string;
  readonly queue: Queue;
  close(): Promise<void>;
}

export async function coordinatorPair(
  dir: string,
  secret: string,
  specYaml: string,
  url: string,
): Promise<CoordinatorPair> {
  const made = tempStore();
  const first = tempStore();
  const workspace = await loadWorkspace(dir);
  const app = new App({ workspace, store: made.store, judge: false });
  const other = new App({ workspace, store: first.store, judge: false });
  for (const s of [made, first]) writeFileSync(join(dirname(s.store.path), 'queue.key'), secret, { mode: 0o600 });
  const hash = workspaceHash(workspace);
  const queue = new Queue(queueName(hash), { connection: connectionOf(url) });
  return {
    workspace,
    app,
    other,
    keys: workerKeys({ secret, stateDir: dir }),
    spec: parseRolloutSpec(specYaml, 'rollouts/one.yaml', workspace),
    hash,
    queue,
    async close() {
      await queue.close();
      app.close();
      other.close();
      made.cleanup();
      first.cleanup();
    },
  };
}

/** A cell of a rollout run, as the runner returns it. */
type RolloutCell = Awaited<ReturnType<RolloutRunner['start']>>['cells'][number];

/** `other`'s rollout of the spec, its one cell run by the honest worker `start` spawns: the cell and its signed result. */
export async function genuineResult(
  pair: CoordinatorPair,
  url: string,
  start: () => ChildProcess,
): Promise<{ cell: RolloutCell; result: CellResult }> {
  const honest = start();
  const earlier = await QueueCoordinator.connect(pair.other, url);
  const run = await new RolloutRunner(pair.other).start(pair.spec, { executor: earlier.executor() });
  await earlier.close();
  honest.kill('SIGKILL');
  const cell = run.cells[0]!;
  const job = await Job.fromId(pair.queue, `${run.rollout.id}-${cell.id}`);
  return { cell, result: job!.returnvalue as CellResult };
}
