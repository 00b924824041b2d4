import { Job, Queue, QueueEvents } from 'bullmq';
import { abortable } from '../../core/abort.ts';
import { deadlineSignal } from '../../core/clock.ts';
import { UserError, messageOf } from '../../core/errors.ts';
import type { App } from '../../app/app.ts';
import type { CellMetrics, RolloutRow } from '../../store/rollouts.ts';
import type { Cell } from '../cells.ts';
import type { CellExecutor } from '../runner.ts';
import { workspaceHash } from '../workspace-hash.ts';
import { connectionOf, probe, queueName } from './connection.ts';
import { applyLedgerOps } from './ledger-ops.ts';
import { assertQueueable } from './queueable.ts';
import { parseCellResult, resultIsDone, type CellJob, type CellResult } from './messages.ts';

/** The coordinator's side: enqueue cells, wait for their bundles, ingest each once. */
export class QueueCoordinator {
  readonly hash: string;
  private readonly app: App;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly url: string;
  private constructor(app: App, url: string, hash: string, queue: Queue, events: QueueEvents) {
    this.app = app;
    this.url = url;
    this.hash = hash;
    this.queue = queue;
    this.events = events;
  }

  static async connect(app: App, url: string): Promise<QueueCoordinator> {
    const connection = connectionOf(url);
    await probe(url);
    const hash = workspaceHash(app.workspace);
    const queue = new Queue(queueName(hash), { connection });
    const events = new QueueEvents(queueName(hash), { connection });
    // A dropped connection is retried by the client; its errors are not the user's to read one by one.
    queue.on('error', () => undefined);
    events.on('error', () => undefined);
    // One waiter per cell in flight (thousands at once, on purpose): not a leak.
    queue.setMaxListeners(0);
    events.setMaxListeners(0);
    try {
      const deadline = deadlineSignal(app.clock, 10_000, () => new Error(`Redis at ${url} did not answer within 10 s`));
      await abortable(Promise.all([queue.waitUntilReady(), events.waitUntilReady()]), deadline.signal).finally(() =>
        deadline.cancel(),
      );
    } catch (error) {
      await Promise.allSettled([queue.close(), events.close()]);
      throw new UserError('E_QUEUE', `cannot reach the queue at ${url}: ${messageOf(error)}`, {
        hint: 'Start Redis (redis-server), or check the --queue URL.',
      });
    }
    return new QueueCoordinator(app, url, hash, queue, events);
  }

  /** Workers of this workspace connected to the queue now. */
  workers(): Promise<number> {
    return this.queue.getWorkersCount();
  }

  executor(): CellExecutor {
    return async (row, spec, cell, signal) => {
      const { store } = this.app;
      assertQueueable(spec);
      const jobId = `${row.id}-${cell.id}`;
      await store.commit(() => store.rollouts.queued(row.id, cell.id, this.app.clock.now()));
      const data: CellJob = {
        rollout: { id: row.id, name: row.name },
        specFile: spec.file,
        spec: spec.raw,
        cell,
        workspace: this.hash,
      };
      // The same id for the same cell: a resumed coordinator finds the job (and its result) instead of adding it twice.
      let job = (await Job.fromId(this.queue, jobId)) as Job<CellJob, CellResult> | undefined;
      // A job that failed, or whose cell failed, is run again (this cell is not done); a finished one is picked up.
      if (
        job !== undefined &&
        ((await job.isFailed()) || ((await job.isCompleted()) && !resultIsDone(job.returnvalue)))
      ) {
        await job.remove();
        job = undefined;
      }
      job ??= (await this.queue.add('cell', data, {
        jobId,
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 86_400 },
      })) as Job<CellJob, CellResult>;
      let returned: unknown;
      try {
        returned = await abortable(
          (await job.isCompleted()) ? Promise.resolve(job.returnvalue) : job.waitUntilFinished(this.events),
          signal,
        );
      } catch (error) {
        if (signal?.aborted === true) {
          // Not started by a worker yet: taken off the queue, so nothing runs (and spends) after Ctrl-C. A cell
          // already running finishes, and a resume picks its result up.
          if (await job.isWaiting().catch(() => false)) await job.remove().catch(() => undefined);
          return 'interrupted';
        }
        // The worker refused or failed the job itself (not the cell's own failure, which comes back as a result).
        const message = `the worker failed this cell: ${messageOf(error)}`;
        await store.commit(() =>
          store.rollouts.finished(row.id, cell.id, { status: 'failed', error: message }, this.app.clock.now()),
        );
        return { status: 'failed' };
      }
      try {
        // From another process through Redis: believed only once it parses.
        return await this.ingest(row, cell, parseCellResult(returned, jobId));
      } catch (error) {
        // One result that cannot be stored fails its cell, not the rollout.
        const message = `the coordinator could not ingest this cell: ${messageOf(error)}`;
        await store.commit(() =>
          store.rollouts.finished(row.id, cell.id, { status: 'failed', error: message }, this.app.clock.now()),
        );
        return { status: 'failed' };
      }
    };
  }

  /** Applies a cell's payments (idempotent), then stores its session and results in one transaction: once per cell. */
  private async ingest(
    row: RolloutRow,
    cell: Cell,
    result: CellResult,
  ): Promise<{ status: 'done' | 'failed'; metrics?: CellMetrics }> {
    const { store } = this.app;
    const known = store.rollouts.cell(row.id, cell.id);
    if (known !== undefined && (known.status === 'done' || known.status === 'failed') && known.finishedAt !== null) {
      return { status: known.status, ...(known.metrics === null ? {} : { metrics: known.metrics }) };
    }
    const wallets = this.app.wallets.scoped(result.scope ?? `${row.id}-${cell.id}`);
    // The cell's wallets as the worker had them (an agent paid nothing still has one), then its payments.
    for (const agent of Object.keys(result.metrics?.balances ?? {})) await wallets.partyOf(agent);
    await applyLedgerOps(wallets, result.ledger);
    const session = result.bundle?.session.id;
    store.write(() => {
      if (result.bundle !== null && store.sessions.get(session!) === undefined) store.bundles.import(result.bundle);
      const status = result.status === 'done' ? 'done' : 'failed';
      store.rollouts.finished(
        row.id,
        cell.id,
        {
          status,
          ...(result.error === null ? {} : { error: result.error }),
          ...(result.metrics === null ? {} : { metrics: result.metrics }),
          ...(session === undefined ? {} : { session }),
        },
        this.app.clock.now(),
      );
    });
    return {
      status: result.status === 'done' ? 'done' : 'failed',
      ...(result.metrics === null ? {} : { metrics: result.metrics }),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  toString(): string {
    return `${this.url} (queue ${queueName(this.hash)})`;
  }
}
