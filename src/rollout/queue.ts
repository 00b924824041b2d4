import { NO_TIMER, type Clock, type Timer } from '../core/clock.ts';
import { hostname } from 'node:os';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { UserError, messageOf } from '../core/errors.ts';
import type { App } from '../app/app.ts';
import { TEMPLATES } from '../ledger/templates.ts';
import type { WalletService } from '../ledger/wallet.ts';
import type { LedgerTransaction } from '../ledger/types.ts';
import type { CellMetrics, RolloutRow } from '../store/rollouts.ts';
import { expandCells, type Cell } from './cells.ts';
import {
  parseCellJob,
  parseCellResult,
  resultIsDone,
  type CellJob,
  type CellResult,
  type LedgerOp,
} from './queue-messages.ts';
import { RolloutRunner, type CellExecutor } from './runner.ts';
import { parseRolloutSpec, type RolloutSpec } from './spec.ts';
import { workspaceHash } from './workspace-hash.ts';

/**
 * Distributed rollouts through BullMQ on Redis. The coordinator puts cells on a queue named after its workspace's
 * hash; `p2tui worker` processes of the same workspace run them on an in-memory store and return each cell's bundle
 * (its session's events, artifacts and scores, and the cell's ledger operations). The coordinator alone writes the
 * SQLite store: it ingests each cell once and applies the cell's payments itself, idempotently by their references,
 * so a cell retried after a worker died never pays twice.
 */

export function queueName(hash: string): string {
  return `p2tui-cells-${hash}`;
}

/** ioredis options from `redis://[:password@]host[:port][/db]`. */
export function connectionOf(url: string): {
  host: string;
  port: number;
  password?: string;
  db?: number;
  maxRetriesPerRequest: null;
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('E_USAGE', `--queue '${url}' is not a URL`, {
      hint: 'Give it as redis://host:port, e.g. redis://127.0.0.1:6379',
    });
  }
  if (parsed.protocol !== 'redis:')
    throw new UserError('E_USAGE', `--queue '${url}' is not a redis:// URL`, { hint: 'Give it as redis://host:port' });
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(db === undefined || Number.isNaN(db) ? {} : { db }),
    // BullMQ's workers block on Redis: commands must wait for a reconnect rather than fail.
    maxRetriesPerRequest: null,
  };
}

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
      await withTimeout(
        Promise.all([queue.waitUntilReady(), events.waitUntilReady()]),
        10_000,
        `Redis at ${url} did not answer within 10 s`,
        app.clock,
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
      if (spec.raw.fork_from !== undefined)
        throw new UserError(
          'E_USAGE',
          'a rollout with fork_from cannot run on a queue (its cells are branches of a session in this database)',
          { hint: 'Run it without --queue.' },
        );
      if (spec.raw.ledger.shared_ledger)
        throw new UserError(
          'E_USAGE',
          'a rollout with shared_ledger: true cannot run on a queue (its cells would pay from one ledger in several places)',
          { hint: 'Run it without --queue.' },
        );
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

/** Replays a cell's payments on the coordinator's ledger, in order; each is idempotent on its reference. */
export async function applyLedgerOps(wallets: WalletService, ops: readonly LedgerOp[]): Promise<void> {
  for (const op of ops) {
    switch (op.kind) {
      case 'mint':
        await wallets.partyOf(op.to);
        await wallets.mint(op.to, op.amount, op.reason, op.reference);
        break;
      case 'transfer':
        await wallets.partyOf(op.from);
        await wallets.partyOf(op.to);
        await wallets.transfer({
          from: op.from,
          to: op.to,
          amount: op.amount,
          reason: op.reason,
          reference: op.reference,
          ...(op.workflowId === null ? {} : { workflowId: op.workflowId }),
        });
        break;
      case 'escrow':
        await wallets.partyOf(op.payer);
        await wallets.partyOf(op.payee);
        await wallets.openEscrow({
          payer: op.payer,
          payee: op.payee,
          amount: op.amount,
          reference: op.reference,
          ...(op.workflowId === null ? {} : { workflowId: op.workflowId }),
        });
        break;
      case 'settle':
        await wallets.settleEscrow(op.reference, op.outcome, op.payer);
        break;
    }
  }
}

/** The payments of one scope's wallets in some updates, as operations another ledger can apply. */
export function ledgerOpsOf(
  wallets: WalletService,
  updates: readonly LedgerTransaction[],
  operator: string,
): LedgerOp[] {
  const ops: LedgerOp[] = [];
  // Parties of this scope's wallets (`agent-<scope>.<agent>::…`), not the operator's nor another cell's.
  const ours = (party: unknown): boolean => typeof party === 'string' && party.startsWith(`agent-${wallets.scope}.`);
  for (const tx of updates) {
    const root = tx.events[0];
    const created = tx.events.filter(
      (e): e is Extract<LedgerTransaction['events'][number], { kind: 'created' }> => e.kind === 'created',
    );
    const record = created.find((e) => e.templateId === TEMPLATES.record)?.payload;
    if (root?.kind === 'created' && record !== undefined && record['sender'] === operator && ours(record['receiver'])) {
      ops.push({
        kind: 'mint',
        to: wallets.nameOf(String(record['receiver'])),
        amount: String(record['value']),
        reason: String(record['reason']),
        reference: String(record['transferId']),
      });
    } else if (
      root?.kind === 'exercised' &&
      root.templateId === TEMPLATES.holding &&
      root.choice === 'Transfer' &&
      record !== undefined &&
      ours(record['sender'])
    ) {
      ops.push({
        kind: 'transfer',
        from: wallets.nameOf(String(record['sender'])),
        to: wallets.nameOf(String(record['receiver'])),
        amount: String(record['value']),
        reason: String(record['reason']),
        reference: String(record['transferId']),
        workflowId: tx.workflowId,
      });
    } else if (root?.kind === 'exercised' && root.templateId === TEMPLATES.holding && root.choice === 'Lock') {
      const escrow = created.find((e) => e.templateId === TEMPLATES.escrow)?.payload;
      if (escrow !== undefined && ours(escrow['payer'])) {
        ops.push({
          kind: 'escrow',
          payer: wallets.nameOf(String(escrow['payer'])),
          payee: wallets.nameOf(String(escrow['payee'])),
          amount: String(escrow['amount']),
          reference: String(escrow['reference']),
          workflowId: tx.workflowId,
        });
      }
    } else if (
      root?.kind === 'exercised' &&
      root.templateId === TEMPLATES.escrow &&
      (root.choice === 'Release' || root.choice === 'Refund') &&
      record !== undefined &&
      ours(record['sender'])
    ) {
      ops.push({
        kind: 'settle',
        payer: wallets.nameOf(String(record['sender'])),
        reference: String(record['transferId']).replace(/^escrow (release|refund):/, ''),
        outcome: root.choice === 'Release' ? 'release' : 'refund',
      });
    }
  }
  return ops;
}

/**
 * `p2tui worker`: runs cells from the queue of this workspace's hash, each on this process's in-memory store, and
 * returns their bundles. Stops when `signal` fires (its running cells go back to the queue when their lock lapses).
 */
export async function runWorker(
  app: App,
  url: string,
  options: {
    concurrency: number;
    signal: AbortSignal;
    lockMs?: number;
    onCell?: (cell: Cell, result: CellResult) => void;
  },
): Promise<{ hash: string; processed: number }> {
  await probe(url);
  const hash = workspaceHash(app.workspace);
  const runner = new RolloutRunner(app);
  const me = `${hostname()}:${process.pid}`;
  let processed = 0;
  // Every cell of a rollout carries the same spec: checked once per rollout, not once per cell.
  const specs = new Map<string, { spec: RolloutSpec; cells: Map<string, Cell> }>();
  const worker = new Worker<CellJob, CellResult>(
    queueName(hash),
    async (job) => {
      // Another experiment (other personas, tools or code): running it here would measure something else.
      const claimed: unknown = (job.data as { workspace?: unknown } | null)?.workspace;
      if (claimed !== hash) {
        throw new UnrecoverableError(
          `worker ${me} has workspace ${hash}, the job needs ${String(claimed)} (other personas or tools); it was refused`,
        );
      }
      let data: CellJob;
      try {
        data = parseCellJob(job.data, String(job.id));
      } catch (error) {
        throw new UnrecoverableError(messageOf(error));
      }
      let known = specs.get(data.rollout.id);
      if (known === undefined) {
        const spec = parseRolloutSpec(JSON.stringify(data.spec), data.specFile, app.workspace);
        known = { spec, cells: new Map(expandCells(spec).map((c) => [c.id, c])) };
        if (specs.size > 100) specs.clear();
        specs.set(data.rollout.id, known);
      }
      const { spec } = known;
      // The cell as the spec defines it (its agent, message, seed and overrides), never as the job describes it.
      const cell = known.cells.get(data.cell.id);
      if (cell === undefined) {
        throw new UnrecoverableError(`job ${String(job.id)} names cell ${data.cell.id}, which its spec does not have`);
      }
      const ledgerApi = app.wallets;
      const from = await ledgerApi.ledger.ledgerEnd();
      const cellRow = await runner.runStandalone(data.rollout, spec, cell);
      // The parties this attempt paid from (each attempt has its own), and what it paid.
      const scope = cellRow.session === null ? undefined : app.store.sessions.get(cellRow.session)?.options.ledgerScope;
      let ledger: LedgerOp[] = [];
      if (scope !== undefined) {
        const wallets = ledgerApi.scoped(scope);
        ledger = ledgerOpsOf(
          wallets,
          await wallets.ledger.updates('*', { afterOffset: from, limit: 100_000 }),
          await wallets.operator(),
        );
      }
      const bundle =
        cellRow.session === null ? null : app.store.bundles.export(cellRow.session, 'worker', app.clock.now());
      // Handed over: this process's copy goes, so a long-running worker's memory stays flat.
      if (cellRow.session !== null) app.store.bundles.remove(cellRow.session);
      const result: CellResult = {
        status: cellRow.status,
        error: cellRow.error,
        metrics: cellRow.metrics,
        bundle,
        ledger,
        scope: scope ?? null,
        worker: me,
      };
      processed += 1;
      options.onCell?.(cell, result);
      return result;
    },
    {
      connection: connectionOf(url),
      concurrency: options.concurrency,
      lockDuration: options.lockMs ?? 30_000,
      stalledInterval: Math.max(1_000, Math.floor((options.lockMs ?? 30_000) / 2)),
      maxStalledCount: 3,
    },
  );
  worker.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    options.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  // Running cells finish first (a second Ctrl-C kills the process; its cells go back to the queue when its lock lapses).
  await worker.close();
  return { hash, processed };
}

/**
 * One PING, no retries: an unreachable Redis is said at once and plainly (BullMQ's clients would retry for ever and
 * print every failed attempt).
 */
async function probe(url: string): Promise<void> {
  const client = new Redis({
    ...connectionOf(url),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
    enableOfflineQueue: false,
  });
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    // The socket's own error (ECONNREFUSED, a DNS failure) says more than the client's "connection is closed".
    throw new UserError('E_QUEUE', `cannot reach Redis at ${url}: ${messageOf(cause ?? error)}`, {
      hint: 'Start Redis (redis-server), or check the --queue URL.',
    });
  } finally {
    client.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string, clock: Clock): Promise<T> {
  let timer: Timer = NO_TIMER;
  return Promise.race([
    promise,
    new Promise<never>(
      (_, reject) => (timer = clock.timeout(() => reject(new Error(message)), ms, { keepAlive: true })),
    ),
  ]).finally(() => timer.cancel());
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(new Error('interrupted'));
    const onAbort = (): void => reject(new Error('interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
