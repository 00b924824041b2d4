import { hostname } from 'node:os';
import { UnrecoverableError, Worker } from 'bullmq';
import { whenAborted } from '../../core/abort.ts';
import { messageOf } from '../../core/errors.ts';
import type { App } from '../../app/app.ts';
import { expandCells, type Cell } from '../cells.ts';
import { RolloutRunner } from '../runner.ts';
import { parseRolloutSpec, type RolloutSpec } from '../spec.ts';
import { workspaceHash } from '../workspace-hash.ts';
import { connectionOf, probe, queueName } from './connection.ts';
import { ledgerOpsOf } from './ledger-ops.ts';
import { parseCellJob, type CellJob, type CellResult, type LedgerOp } from './messages.ts';
import { sign, verify, type QueueKeys } from './signing.ts';

/**
 * `p2tui worker`: runs cells from the queue of this workspace's hash, each on this process's in-memory store, and
 * returns their bundles. Stops when `signal` fires (its running cells go back to the queue when their lock lapses).
 */
export async function runWorker(
  app: App,
  url: string,
  options: {
    /** The queue's key: jobs that do not verify are refused, results are signed. */
    keys: QueueKeys;
    concurrency: number;
    signal: AbortSignal;
    lockMs?: number;
    onCell?: (cell: Cell, result: CellResult) => void;
    /** Called once the worker is connected and takes jobs. */
    onReady?: (hash: string) => void;
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
      // Anyone with access to Redis can add jobs: only the coordinator's (signed with the queue key) are run.
      const jobId = String(job.id);
      const { signature, ...signed } = data;
      const what = { job: jobId, rollout: data.rollout.id, cell: data.cell.id, attempt: data.attempt };
      if (!verify(options.keys, { kind: 'job', ...what }, signed, signature)) {
        throw new UnrecoverableError(
          `job ${jobId} is not signed with this worker's queue key (${options.keys.source}); it was refused`,
        );
      }
      let known = specs.get(data.rollout.id);
      if (known === undefined) {
        const spec = parseRolloutSpec(JSON.stringify(data.spec), data.specFile, app.workspace, {
          modelOverride: data.models?.model,
        });
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
      // The parties the coordinator chose for this attempt: the cell's agents pay from these and no others.
      const cellRow = await runner.runStandalone(data.rollout, spec, cell, data.scope, data.models);
      const scope = cellRow.session === null ? undefined : app.store.sessions.get(cellRow.session)?.options.ledgerScope;
      let ledger: LedgerOp[] = [];
      if (scope !== undefined) {
        const wallets = ledgerApi.scoped(scope);
        ledger = ledgerOpsOf(
          wallets,
          await wallets.ledger.updates('*', { afterOffset: from, limit: 100_000 }),
          await wallets.operator(),
        )
          // Not the starting balances: the coordinator funds the cell from the spec itself.
          .filter((op) => !(op.kind === 'mint' && op.reference === `init:${op.to}`));
      }
      const bundle =
        cellRow.session === null ? null : app.store.bundles.export(cellRow.session, 'worker', app.clock.now());
      // Handed over: this process's copy goes, so a long-running worker's memory stays flat.
      if (cellRow.session !== null) app.store.bundles.remove(cellRow.session);
      const body: Omit<CellResult, 'signature'> = {
        status: cellRow.status,
        error: cellRow.error,
        metrics: cellRow.metrics,
        bundle,
        ledger,
        worker: me,
      };
      // As it travels (JSON): what the coordinator verifies is exactly what was signed.
      const plain = JSON.parse(JSON.stringify(body)) as Omit<CellResult, 'signature'>;
      const result: CellResult = { ...plain, signature: sign(options.keys, { kind: 'result', ...what }, plain) };
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
  await worker.waitUntilReady();
  options.onReady?.(hash);
  await whenAborted(options.signal, undefined);
  // Running cells finish first (a second Ctrl-C kills the process; its cells go back to the queue when its lock lapses).
  await worker.close();
  return { hash, processed };
}
