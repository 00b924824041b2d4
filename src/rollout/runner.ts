// Long because one runner holds a rollout's whole run here or through a queue's executor: start, resume, the lease,
// the lanes of cells, progress, the total budgets and a worker's standalone cell.
import { UserError, unknownIdHint } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import type { JsonValue } from '../core/json.ts';
import { THIS_HOST } from '../core/host.ts';
import type { App } from '../app/app.ts';
import type { SessionRuntime } from '../engine/session/runtime.ts';
import type { CellRow, RolloutRow } from '../store/rollouts.ts';
import type { Store } from '../store/store.ts';
import { expandCells, startingPoint, type Cell } from './cells.ts';
import { CellRunner, type CellOutcome } from './cell-runner.ts';
import { buildEvaluators, type TeamEvaluators } from './evaluators.ts';
import { parseRolloutSpec, type RolloutSpec } from './spec.ts';

export interface Progress {
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  readonly running: number;
  readonly elapsedMs: number;
  /** Estimated time left at the pace so far; null before the first cell ends. */
  readonly etaMs: number | null;
  readonly costUsd: number;
}

/** Runs one cell somewhere else (a worker through a queue) and records it here; 'interrupted' on Ctrl-C. */
export type CellExecutor = (
  row: RolloutRow,
  spec: RolloutSpec,
  cell: Cell,
  signal: AbortSignal | undefined,
) => Promise<CellOutcome | 'interrupted'>;

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Where cells run (default: in this process). */
  readonly executor?: CellExecutor;
  readonly onProgress?: (progress: Progress) => void;
  /** Called as each cell ends (done or failed). */
  readonly onCell?: (cell: CellRow) => void;
  /** Cells at once (default: the spec's `concurrency`). */
  readonly concurrency?: number;
}

export interface RunOutcome {
  readonly rollout: RolloutRow;
  readonly cells: readonly CellRow[];
  /** Why it stopped early (Ctrl-C, a total budget), if it did. */
  readonly stopped: string | null;
}

const ROLLOUT_LEASE_MS = 30_000;

/**
 * Runs a rollout's cells in this process: each cell is a session (its own ledger parties unless the spec shares
 * them), at most `concurrency` at once, judged when it finishes. A cell that fails is recorded with its error and
 * never holds the others up; Ctrl-C stops starting cells and detaches the running ones (a resume runs them again).
 */
export class RolloutRunner {
  private readonly app: App;
  private readonly cells: CellRunner;
  /** The evaluators each spec version registered, by its hash. */
  private readonly evaluators = new Map<string, TeamEvaluators>();

  constructor(app: App) {
    this.app = app;
    this.cells = new CellRunner(app);
  }

  /**
   * Records a new rollout of `spec` (every cell pending) and runs it. `replayOf`: serve every cell from that rollout's;
   * `models`: every agent (and the judge) on these models, recorded with the rollout so a resume and workers use them.
   */
  async start(
    spec: RolloutSpec,
    options: RunOptions & { replayOf?: string; models?: ModelOverride } = {},
  ): Promise<RunOutcome> {
    // Recorded apart: the spec's expansion is not kept in this frame while the cells run.
    const { row, replay } = this.record(spec, options);
    return this.run(row, spec, options, replay);
  }

  /** Records a new rollout of `spec`, every cell pending; with `replayOf`, the cells each is served from. */
  private record(
    spec: RolloutSpec,
    options: { replayOf?: string; models?: ModelOverride },
  ): { row: RolloutRow; replay: Map<string, CellRow> | undefined } {
    const store = this.app.store;
    const cells = expandCells(spec);
    const id = `ro_${randomId('', 10)}`;
    let replay: Map<string, CellRow> | undefined;
    if (options.replayOf !== undefined) {
      const source = this.require(options.replayOf);
      replay = new Map(
        store.rollouts
          .cells(source.id)
          .filter((c) => c.status === 'done' && c.session !== null)
          .map((c) => [c.id, c]),
      );
      const missing = cells.filter((c) => !replay!.has(c.id));
      if (missing.length > 0) {
        const first = missing[0]!;
        const example = `${first.team}/${first.variant}/${first.scenario} seed ${first.seed}`;
        throw new UserError(
          'E_USAGE',
          `rollout ${source.id} has no finished run of ${missing.length} of these cells (e.g. ${example})`,
          {
            hint: 'Replay the spec it ran (or resume it first: p2tui rollout resume).',
          },
        );
      }
    }
    const row: RolloutRow = {
      id,
      name: spec.name,
      file: spec.file,
      spec: spec.raw as unknown as JsonValue,
      specHash: spec.hash,
      status: 'running',
      createdAt: this.app.clock.now(),
      finishedAt: null,
      options: {
        ...(options.replayOf === undefined ? {} : { replayOf: options.replayOf }),
        ...(spec.raw.fork_from === undefined ? {} : { fork: this.cells.forkPoint(spec) }),
        ...modelOptions(options.models),
      },
    };
    store.write(() =>
      store.rollouts.create(
        row,
        cells.map((c, ordinal) => ({
          id: c.id,
          ordinal,
          team: c.team,
          variant: c.variant,
          scenario: c.scenario,
          repeat: c.repeat,
          seed: c.seed,
        })),
      ),
    );
    return { row, replay };
  }

  /** Runs the cells of a rollout that are not done (pending, interrupted or failed). */
  async resume(rolloutRef: string, options: RunOptions = {}): Promise<RunOutcome> {
    const row = this.require(rolloutRef);
    const spec = this.specOf(row);
    let replay: Map<string, CellRow> | undefined;
    if (row.options.replayOf !== undefined)
      replay = new Map(
        this.app.store.rollouts
          .cells(row.options.replayOf)
          .filter((c) => c.status === 'done')
          .map((c) => [c.id, c]),
      );
    this.app.store.write(() => this.app.store.rollouts.setRolloutStatus(row.id, 'running', null));
    return this.run({ ...row, status: 'running' }, spec, options, replay);
  }

  /** A stored rollout by id or unique prefix ('last': the newest). */
  require(ref: string): RolloutRow {
    return findRollout(this.app.store, ref);
  }

  /** The spec a stored rollout ran, checked again against the workspace as it is now. */
  specOf(row: RolloutRow): RolloutSpec {
    // The stored spec is JSON, which is YAML: it goes through the same checks as the file did.
    return parseRolloutSpec(JSON.stringify(row.spec), `${row.file} (as rollout ${row.id} ran it)`, this.app.workspace, {
      modelOverride: row.options.model,
    });
  }

  private async run(
    row: RolloutRow,
    spec: RolloutSpec,
    options: RunOptions,
    replay: Map<string, CellRow> | undefined,
  ): Promise<RunOutcome> {
    const { store } = this.app;
    // One process runs a rollout at a time (two resumes at once would run its pending cells twice): a lease on it,
    // renewed while it runs, let go at the end (or by its expiry, when the process is killed).
    const lease = `rollout:${row.id}`;
    const owner = `rollout:${THIS_HOST}:${process.pid}:${randomId('', 6)}`;
    const got = store.write(() =>
      store.leases.acquire(lease, { owner, host: THIS_HOST, pid: process.pid }, ROLLOUT_LEASE_MS, this.app.clock.now()),
    );
    if (!got.ok) {
      throw new UserError(
        'E_SESSION_STATE',
        `rollout ${row.id} is being run by pid ${got.holder.pid} on ${got.holder.host}`,
        { hint: 'Wait for it, or stop it there (Ctrl-C); a killed run lets go of it within 30 s.' },
      );
    }
    const beat = this.app.clock.interval(() => {
      try {
        if (!store.isClosed)
          store.write(() => store.leases.heartbeat(lease, owner, ROLLOUT_LEASE_MS, this.app.clock.now()));
      } catch {
        // A busy database: the next beat (a third of the lease later) tries again.
      }
    }, ROLLOUT_LEASE_MS / 3);
    try {
      return await this.runHeld(row, spec, options, replay);
    } finally {
      beat.cancel();
      if (!store.isClosed) store.write(() => store.leases.release(lease, owner));
    }
  }

  private async runHeld(
    row: RolloutRow,
    spec: RolloutSpec,
    options: RunOptions,
    replay: Map<string, CellRow> | undefined,
  ): Promise<RunOutcome> {
    const { store } = this.app;
    const evaluators = this.registerEvaluators(spec);
    const start = startingPoint(store.rollouts.cells(row.id), spec);
    const { remaining, total } = start;
    // Cells forked from one session are branches of it, and one process drives one branch of a session at a time.
    const concurrency =
      spec.raw.fork_from !== undefined && options.executor === undefined
        ? 1
        : Math.max(1, options.concurrency ?? spec.raw.concurrency);
    const started = this.app.clock.now();
    const budgets = spec.raw.budgets;
    let done = start.done;
    let failed = 0;
    let running = 0;
    let { costUsd, tokens } = start;
    let finishedHere = 0;
    let stopped: string | null = null;
    const live = new Map<string, SessionRuntime>();
    const progress = (): void => {
      const elapsedMs = this.app.clock.now() - started;
      const left = total - done - failed;
      // At the pace so far (cells finished per millisecond, with as many running at once as now).
      options.onProgress?.({
        total,
        done,
        failed,
        running,
        elapsedMs,
        etaMs: finishedHere === 0 ? null : Math.round((elapsedMs / finishedHere) * left),
        costUsd,
      });
    };
    const onAbort = (): void => {
      stopped ??= 'interrupted';
      // Cancelled, not left running: nothing else (the TUI, an adopting process) takes a cell's session over, and a
      // resume runs the cell again in a new one.
      for (const runtime of live.values())
        void runtime.cancel('the rollout was interrupted').catch(() => runtime.detach());
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // The total budgets, as model calls commit: once spent, running cells are cancelled and no new one starts.
    const onSpend = (t: number, c: number): void => {
      tokens += t;
      costUsd += c;
      const over =
        budgets.total_cost_usd !== undefined && costUsd >= budgets.total_cost_usd
          ? `the total cost budget of $${budgets.total_cost_usd} is spent`
          : budgets.total_tokens !== undefined && tokens >= budgets.total_tokens
            ? `the total token budget of ${budgets.total_tokens} is spent`
            : undefined;
      if (over === undefined || stopped !== null) return;
      stopped = over;
      for (const runtime of live.values())
        void runtime.cancel(`the rollout stopped: ${over}`).catch(() => runtime.detach());
    };
    progress();
    // Results still on their way to the database (a finished cell's slot goes to the next one at once): a set that
    // forgets each as it lands, so nothing of a finished cell stays in memory.
    const writes = new Set<Promise<void>>();
    const runOne = async (cell: Cell): Promise<void> => {
      if (stopped !== null || options.signal?.aborted === true) return;
      if (budgets.total_cost_usd !== undefined && costUsd >= budgets.total_cost_usd)
        stopped ??= `the total cost budget of $${budgets.total_cost_usd} is spent`;
      if (budgets.total_tokens !== undefined && tokens >= budgets.total_tokens)
        stopped ??= `the total token budget of ${budgets.total_tokens} is spent`;
      if (stopped !== null) return;
      running += 1;
      progress();
      const outcome =
        options.executor !== undefined
          ? await options.executor(row, spec, cell, options.signal)
          : await this.cells.run(row, spec, cell, evaluators, live, options.signal, replay?.get(cell.id), onSpend);
      running -= 1;
      if (outcome === 'interrupted') {
        store.write(() =>
          store.rollouts.finished(row.id, cell.id, { status: 'pending', error: 'interrupted' }, this.app.clock.now()),
        );
        return;
      }
      finishedHere += 1;
      if (outcome.status === 'done') done += 1;
      else failed += 1;
      // Spend of cells run here was counted as it happened (onSpend); a queue's comes with its results.
      if (options.executor !== undefined) {
        costUsd += outcome.metrics?.costUsd ?? 0;
        tokens += outcome.metrics?.tokens ?? 0;
      }
      const report = (): void => {
        if (options.onCell === undefined) return;
        const stored = store.rollouts.cell(row.id, cell.id);
        if (stored !== undefined) options.onCell(stored);
      };
      const written = outcome.written;
      if (written === undefined) report();
      else {
        const landing = written.then(report, () => undefined).finally(() => writes.delete(landing));
        writes.add(landing);
      }
      progress();
    };
    // At most `concurrency` cells at once, started in order, by as many lanes each taking the next cell when its
    // own ends (one promise per lane, not one per cell); a stop (Ctrl-C, a spent total budget) lets the running ones
    // end and starts no more.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < remaining.length) {
        const cell = remaining[next]!;
        // Taken off the list: the lane holds it while it runs, nothing does after.
        remaining[next++] = undefined;
        await runOne(cell);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, remaining.length) }, lane));
      // Every cell's result is stored before the rollout's status and results are read.
      while (writes.size > 0) await Promise.all(writes);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    const cells = store.rollouts.cells(row.id);
    const complete = cells.every((c) => c.status === 'done' || c.status === 'failed');
    // Stopped by a signal (Ctrl-C, SIGTERM): interrupted, resumable; by a spent budget: stopped.
    const status =
      complete && stopped === null
        ? 'finished'
        : (stopped as string | null) === 'interrupted'
          ? 'interrupted'
          : 'stopped';
    store.write(() => store.rollouts.setRolloutStatus(row.id, status, this.app.clock.now()));
    progress();
    return { rollout: store.rollouts.get(row.id)!, cells, stopped };
  }

  /**
   * Runs one cell of a rollout that lives elsewhere (a worker's job): its rows are made here if missing, and the
   * cell's session, status, error and metrics are returned.
   */
  async runStandalone(
    rollout: { id: string; name: string },
    spec: RolloutSpec,
    cell: Cell,
    scope?: string,
    /** The coordinator's `--model` and judge model (from its signed job). */
    models?: ModelOverride,
  ): Promise<CellRow> {
    const { store } = this.app;
    if (store.rollouts.get(rollout.id) === undefined) {
      store.write(() =>
        store.rollouts.create(
          {
            id: rollout.id,
            name: rollout.name,
            file: spec.file,
            spec: spec.raw as unknown as JsonValue,
            specHash: spec.hash,
            status: 'running',
            createdAt: this.app.clock.now(),
            options: modelOptions(models),
          },
          [],
        ),
      );
    }
    store.write(() =>
      store.rollouts.addCell(rollout.id, {
        id: cell.id,
        ordinal: 0,
        team: cell.team,
        variant: cell.variant,
        scenario: cell.scenario,
        repeat: cell.repeat,
        seed: cell.seed,
      }),
    );
    const row = store.rollouts.get(rollout.id)!;
    const outcome = await this.cells.run(
      row,
      spec,
      cell,
      this.registerEvaluators(spec),
      new Map(),
      undefined,
      undefined,
      undefined,
      scope,
    );
    if (outcome !== 'interrupted') await outcome.written;
    return store.rollouts.cell(rollout.id, cell.id)!;
  }

  /** The spec's evaluators: each team's `eval` (as `<team>.<metric>`) and `judge.evaluators`, judged on demand. */
  private registerEvaluators(spec: RolloutSpec): TeamEvaluators {
    // Once per spec version: a worker runs many cells of one rollout.
    const known = this.evaluators.get(spec.hash);
    if (known !== undefined) return known;
    const registered = buildEvaluators(this.app.workspace.evaluators, spec);
    this.evaluators.set(spec.hash, registered);
    return registered;
  }
}

/** `rollout run --model` and the judge model it implies (or `--judge-model`). */
export interface ModelOverride {
  readonly model?: string | undefined;
  readonly judgeModel?: string | undefined;
}

/** The override as a rollout's options store it (absent keys: nothing overridden). */
function modelOptions(models: ModelOverride | undefined): { model?: string; judgeModel?: string } {
  return {
    ...(models?.model === undefined ? {} : { model: models.model }),
    ...(models?.judgeModel === undefined ? {} : { judgeModel: models.judgeModel }),
  };
}

/** A stored rollout by id or unique prefix ('last': the newest). */
export function findRollout(store: Store, ref: string): RolloutRow {
  if (ref === 'last') {
    const last = store.rollouts.list(1)[0];
    if (last === undefined)
      throw new UserError('E_UNKNOWN_ROLLOUT', 'no rollouts yet', {
        hint: 'Run one with: p2tui rollout run rollouts/<spec>.yaml',
      });
    return last;
  }
  const exact = store.rollouts.get(ref);
  if (exact !== undefined) return exact;
  const matches = store.rollouts.matching(ref);
  if (matches.length === 1) return store.rollouts.get(matches[0]!)!;
  if (matches.length > 1)
    throw new UserError('E_AMBIGUOUS_ID', `'${ref}' matches several rollouts: ${matches.join(', ')}`, {
      hint: 'Give more of the id.',
    });
  throw new UserError('E_UNKNOWN_ROLLOUT', `no rollout '${ref}'`, {
    hint: unknownIdHint(
      ref,
      store.rollouts.list(1000).map((r) => r.id),
      'p2tui rollout list',
    ),
  });
}
