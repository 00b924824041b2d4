import { dirname } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { abortable } from '../../core/abort.ts';
import { deadlineSignal } from '../../core/clock.ts';
import { UserError, messageOf } from '../../core/errors.ts';
import { randomId } from '../../core/ids.ts';
import type { App } from '../../app/app.ts';
import { EmbeddedLedger } from '../../ledger/embedded/ledger.ts';
import { WalletService } from '../../ledger/wallets/service.ts';
import type { CellMetrics, RolloutRow } from '../../store/rollouts.ts';
import { Store } from '../../store/store.ts';
import type { Cell } from '../cells.ts';
import { cellUsesLedger, fundCell, ledgerFigures, type CellOutcome } from '../cell-runner.ts';
import { buildEvaluators, type TeamEvaluators } from '../evaluators.ts';
import type { CellExecutor } from '../runner.ts';
import type { RolloutSpec } from '../spec.ts';
import { workspaceHash } from '../workspace-hash.ts';
import { connectionOf, probe, queueName } from './connection.ts';
import { recomputedMetrics, vetResult } from './ingest.ts';
import { applyLedgerOps } from './ledger-ops.ts';
import { assertQueueable } from './queueable.ts';
import {
  parseCellJob,
  parseCellResult,
  resultIsDone,
  type CellJob,
  type CellResult,
  type LedgerOp,
} from './messages.ts';
import { coordinatorKeys, sign, verify, type QueueKeys } from './signing.ts';

/** How many times a cell is queued before a refused or failed result fails it (a lost job is not counted). */
const ATTEMPTS = 3;
/** How often a job in flight is looked up in Redis (a job gone from it was lost: Redis restarted, or was emptied). */
const POLL_MS = 1_000;

type Waited =
  { kind: 'result'; value: unknown } | { kind: 'failed'; reason: string } | { kind: 'lost' } | { kind: 'interrupted' };

/**
 * The coordinator's side: enqueue signed cells, wait for their results, verify and ingest each once. It decides each
 * attempt's ledger scope and funds it from the spec; a result it cannot verify, or whose contents it refuses, is
 * reported and the cell queued again.
 */
export class QueueCoordinator {
  readonly hash: string;
  /** Where the queue key is (said to the user: workers need a copy). */
  readonly keyFile: string;
  private readonly app: App;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly url: string;
  private readonly keys: QueueKeys;
  private readonly notice: (text: string) => void;
  private readonly evaluators = new Map<string, TeamEvaluators>();
  /** A private ledger where a result's payments are tried first: they go to the real one only if all of them apply. */
  private scratch: { store: Store; wallets: WalletService } | undefined;
  /** Whether the embedded ledger was made ready (its seal) before the first ingest's transaction. */
  private ledgerReady = false;
  private constructor(
    app: App,
    url: string,
    hash: string,
    queue: Queue,
    events: QueueEvents,
    keys: QueueKeys,
    notice: (text: string) => void,
  ) {
    this.app = app;
    this.url = url;
    this.hash = hash;
    this.queue = queue;
    this.events = events;
    this.keys = keys;
    this.keyFile = keys.source;
    this.notice = notice;
  }

  /**
   * Connects to the queue; the key is `<state folder>/queue.key` (written now if missing). `notice`: where refusals
   * and lost jobs are said.
   */
  static async connect(
    app: App,
    url: string,
    options: { notice?: (text: string) => void; stateDir?: string } = {},
  ): Promise<QueueCoordinator> {
    const connection = connectionOf(url);
    const keys = coordinatorKeys(options.stateDir ?? dirname(app.store.path));
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
    return new QueueCoordinator(app, url, hash, queue, events, keys, options.notice ?? (() => undefined));
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
      const where = `cell ${cell.team}/${cell.variant}/${cell.scenario} seed ${cell.seed} (${cell.id})`;
      await store.commit(() => store.rollouts.queued(row.id, cell.id, this.app.clock.now()));
      // The same id for the same cell: a resumed coordinator finds the job (and its result) instead of adding it twice.
      let job = (await Job.fromId(this.queue, jobId)) as Job<CellJob, CellResult> | undefined;
      let data = job === undefined ? undefined : this.ownJob(jobId, job.data);
      let attempt = data?.attempt ?? 0;
      // A job that failed, or whose cell failed, is run again (this cell is not done); a finished one is picked up.
      if (
        job !== undefined &&
        (data === undefined || (await job.isFailed()) || ((await job.isCompleted()) && !resultIsDone(job.returnvalue)))
      ) {
        // Locked by a worker still running it (someone else's job under this id): it is refused when it ends.
        await job.remove().catch(() => undefined);
        job = undefined;
      }
      let refusals = 0;
      let losses = 0;
      for (;;) {
        if (job === undefined || data === undefined) {
          attempt += 1;
          data = this.jobFor(row, spec, cell, jobId, attempt);
          job = (await this.queue.add('cell', data, {
            jobId,
            removeOnComplete: { age: 86_400 },
            removeOnFail: { age: 86_400 },
          })) as Job<CellJob, CellResult>;
        }
        const waited = await this.wait(job, jobId, signal);
        if (waited.kind === 'interrupted') {
          // Not started by a worker yet: taken off the queue, so nothing runs (and spends) after Ctrl-C. A cell
          // already running finishes, and a resume picks its result up.
          if (await job.isWaiting().catch(() => false)) await job.remove().catch(() => undefined);
          return 'interrupted';
        }
        if (waited.kind === 'lost') {
          losses += 1;
          if (losses > 10) return this.fail(row, cell, `its job was lost from the queue ${losses} times`);
          this.notice(`${where}: its job is gone from the queue (Redis restarted or was emptied); queued it again`);
          // Another job under its id (not the one this coordinator signed) would stand in the new one's way.
          await job.remove().catch(() => undefined);
          job = undefined;
          continue;
        }
        let problem: string;
        if (waited.kind === 'failed') problem = `the worker failed this cell: ${waited.reason}`;
        else {
          try {
            return await this.ingest(row, spec, cell, jobId, data, waited.value);
          } catch (error) {
            problem = messageOf(error);
          }
        }
        refusals += 1;
        if (refusals >= ATTEMPTS) {
          this.notice(`${where}: ${problem}; failed after ${ATTEMPTS} attempts`);
          return this.fail(row, cell, problem);
        }
        this.notice(`${where}: ${problem}; queued it again (attempt ${refusals + 1} of ${ATTEMPTS})`);
        await job.remove().catch(() => undefined);
        job = undefined;
      }
    };
  }

  /** The job as this coordinator signed it (a job someone else put under this id is not ours: undefined). */
  private ownJob(jobId: string, value: unknown): CellJob | undefined {
    try {
      const data = parseCellJob(value, jobId);
      const { signature, ...body } = data;
      const what = {
        kind: 'job',
        job: jobId,
        rollout: data.rollout.id,
        cell: data.cell.id,
        attempt: data.attempt,
      } as const;
      return verify(this.keys, what, body, signature) ? data : undefined;
    } catch {
      return undefined;
    }
  }

  /** A signed job for one attempt of a cell, in a ledger scope of its own (so no attempt pays into another's). */
  private jobFor(row: RolloutRow, spec: RolloutSpec, cell: Cell, jobId: string, attempt: number): CellJob {
    const body = JSON.parse(
      JSON.stringify({
        rollout: { id: row.id, name: row.name },
        specFile: spec.file,
        spec: spec.raw,
        cell: { id: cell.id },
        workspace: this.hash,
        attempt,
        scope: `${row.id}-${cell.id}-${randomId('', 4)}`,
        // Only when the rollout has them: jobs of other rollouts stay as they were.
        ...(row.options.model === undefined && row.options.judgeModel === undefined
          ? {}
          : { models: { model: row.options.model, judgeModel: row.options.judgeModel } }),
      }),
    ) as Omit<CellJob, 'signature'>;
    const what = { kind: 'job', job: jobId, rollout: row.id, cell: cell.id, attempt } as const;
    return { ...body, signature: sign(this.keys, what, body) };
  }

  /** Waits for the job's end; a job gone from Redis while waited for is 'lost' (events alone would wait for ever). */
  private async wait(job: Job<CellJob, CellResult>, jobId: string, signal: AbortSignal | undefined): Promise<Waited> {
    const finished = job.waitUntilFinished(this.events).then(
      (value: unknown): Waited => ({ kind: 'result', value }),
      (error: unknown): Waited => ({ kind: 'failed', reason: messageOf(error) }),
    );
    let onAbort = (): void => undefined;
    const stop = new Promise<'stop'>((resolve) => (onAbort = () => resolve('stop')));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted === true) return { kind: 'interrupted' };
        const ticker = new AbortController();
        const tick = this.app.clock.sleep(POLL_MS, ticker.signal).then(
          () => undefined,
          () => undefined,
        );
        const first = await Promise.race([finished, tick, stop]);
        ticker.abort();
        if (first === 'stop') return { kind: 'interrupted' };
        if (first !== undefined) return first;
        const now = await Job.fromId(this.queue, jobId).catch(() => 'unknown' as const);
        if (now === 'unknown') continue;
        if (now === undefined) return { kind: 'lost' };
        if (now.data?.signature !== job.data.signature) return { kind: 'lost' };
        if (await now.isCompleted().catch(() => false)) return { kind: 'result', value: now.returnvalue };
        if (await now.isFailed().catch(() => false)) return { kind: 'failed', reason: now.failedReason };
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async fail(row: RolloutRow, cell: Cell, error: string): Promise<CellOutcome> {
    const { store } = this.app;
    await store.commit(() =>
      store.rollouts.finished(row.id, cell.id, { status: 'failed', error }, this.app.clock.now()),
    );
    return { status: 'failed' };
  }

  /**
   * Verifies a result against the job it answers, checks it, tries its payments on a private ledger, then funds the
   * cell from the spec, applies them (each idempotent by its reference) and stores the session, its scores and the
   * cell: on the embedded ledger all of it one transaction. Throws (the cell is queued again) when anything is refused.
   */
  private async ingest(
    row: RolloutRow,
    spec: RolloutSpec,
    cell: Cell,
    jobId: string,
    job: CellJob,
    returned: unknown,
  ): Promise<CellOutcome> {
    const { store } = this.app;
    const known = store.rollouts.cell(row.id, cell.id);
    if (known !== undefined && (known.status === 'done' || known.status === 'failed') && known.finishedAt !== null) {
      return { status: known.status, ...(known.metrics === null ? {} : { metrics: known.metrics }) };
    }
    const what = { kind: 'result', job: jobId, rollout: row.id, cell: cell.id, attempt: job.attempt } as const;
    const { signature, ...body } = (returned ?? {}) as { signature?: unknown };
    if (!verify(this.keys, what, body, signature))
      throw new UserError(
        'E_QUEUE',
        `refused the result for ${jobId}: it is not signed with this coordinator's queue key for this cell and attempt ` +
          '(forged, replayed from another cell, or from a worker with another key)',
        { hint: `Give workers the coordinator's ${this.keyFile} (--queue-key).` },
      );
    const result = parseCellResult(returned, jobId);
    const usesLedger = cellUsesLedger(this.app, spec);
    const ops = vetResult(this.app, jobId, job, cell, result, usesLedger);
    // Everything is decided before anything is written: the payments are tried on a private ledger (its balances are
    // the cell's figures), the metrics are read from the bundle; a refusal leaves nothing behind.
    const figures = usesLedger
      ? await this.tryPayments(spec, job.scope, ops, jobId)
      : { balances: {}, netFlow: {}, transfers: 0 };
    const bundle = result.bundle;
    const metrics =
      bundle === null
        ? undefined
        : recomputedMetrics(this.app, jobId, spec, cell, bundle, this.evaluatorsOf(spec), result.metrics, figures);
    const status = result.status === 'done' ? 'done' : 'failed';
    const write = async (): Promise<void> => {
      const wallets = usesLedger ? await fundCell(this.app, spec, job.scope) : undefined;
      if (wallets !== undefined) await applyLedgerOps(wallets, ops);
      store.write(() => {
        if (bundle !== null && store.sessions.get(bundle.session.id) === undefined) store.bundles.import(bundle);
        store.rollouts.finished(
          row.id,
          cell.id,
          {
            status,
            ...(result.error === null ? {} : { error: result.error }),
            ...(metrics === undefined ? {} : { metrics }),
            ...(bundle === null ? {} : { session: bundle.session.id }),
          },
          this.app.clock.now(),
        );
      });
    };
    // On the embedded ledger, the funding, payments, session and cell row are one transaction of the store: a crash
    // or a failure anywhere leaves none of them. On a Canton ledger the payments cannot join it: each is idempotent
    // by its reference, and the cell is done only once all of them applied. A failure (the disk, a participant's
    // connection) is tried again with the same scope and references: nothing is paid twice.
    const embedded = usesLedger && this.app.wallets.ledger.backend === 'embedded';
    if (embedded && !this.ledgerReady) {
      // Sealed (or an earlier p2tui's chain linked under a key) on its own, not inside a transaction that may roll back.
      await this.app.wallets.ledger.chainStatus?.();
      this.ledgerReady = true;
    }
    for (let tries = 1; ; tries++) {
      try {
        if (embedded) await store.exclusive(write);
        else await write();
        return { status, ...(metrics === undefined ? {} : { metrics }) };
      } catch (error) {
        if (tries >= 3) throw error;
        await this.app.clock.sleep(250 * tries);
      }
    }
  }

  /**
   * The payments on a private ledger, funded the same way: a refused one refuses the result before any is real, and
   * the balances they leave are the cell's figures.
   */
  private async tryPayments(
    spec: RolloutSpec,
    scope: string,
    ops: readonly LedgerOp[],
    jobId: string,
  ): Promise<Pick<CellMetrics, 'balances' | 'netFlow' | 'transfers'>> {
    if (this.scratch === undefined) {
      const scratchStore = new Store({ path: ':memory:' });
      this.scratch = { store: scratchStore, wallets: new WalletService(new EmbeddedLedger(scratchStore)) };
    }
    const wallets = this.scratch.wallets.scoped(scope);
    try {
      for (const persona of this.app.workspace.personas.values())
        await wallets.createWallet(persona.id, spec.raw.ledger.balances[persona.id] ?? persona.balance);
      await applyLedgerOps(wallets, ops);
    } catch (error) {
      throw new UserError('E_QUEUE', `refused the result for ${jobId}: its payments do not apply: ${messageOf(error)}`);
    }
    return ledgerFigures(this.app, wallets, spec);
  }

  private evaluatorsOf(spec: RolloutSpec): TeamEvaluators {
    let known = this.evaluators.get(spec.hash);
    if (known === undefined) {
      known = buildEvaluators(this.app.workspace.evaluators, spec);
      this.evaluators.set(spec.hash, known);
    }
    return known;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    this.scratch?.store.close();
  }

  toString(): string {
    return `${this.url} (queue ${queueName(this.hash)})`;
  }
}
