import { NO_TIMER, type Timer } from '../core/clock.ts';
import { UserError, messageOf } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import type { JsonValue } from '../core/json.ts';
import { THIS_HOST } from '../core/host.ts';
import type { App } from '../app/app.ts';
import type { SessionRuntime } from '../engine/session/runtime.ts';
import { latestTargetScores } from '../judge/aggregate.ts';
import type { EvaluatorConfig } from '../judge/config.ts';
import { queueEvaluation } from '../judge/jobs.ts';
import type { Evaluator } from '../judge/registry.ts';
import { decimal } from '../ledger/decimal.ts';
import { LEDGER_TOOLS } from '../tools/builtin/ledger.ts';
import type { WalletService } from '../ledger/wallet.ts';
import { resolveBranch } from '../engine/branching.ts';
import type { CellMetrics, CellRow, RolloutRow } from '../store/rollouts.ts';
import type { StoredEvent } from '../core/events.ts';
import { expandCells, type Cell } from './cells.ts';
import { isRubricId, parseRolloutSpec, type RolloutSpec } from './spec.ts';

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

/** How a cell ended; `written`: its result's commit, when it is still on its way. */
export interface CellOutcome {
  readonly status: 'done' | 'failed';
  readonly metrics?: CellMetrics;
  readonly written?: Promise<void>;
}

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

const LEDGER_TOOL_NAMES = new Set(LEDGER_TOOLS.map((t) => t.name));
const ROLLOUT_LEASE_MS = 30_000;

/**
 * Runs a rollout's cells in this process: each cell is a session (its own ledger parties unless the spec shares
 * them), at most `concurrency` at once, judged when it finishes. A cell that fails is recorded with its error and
 * never holds the others up; Ctrl-C stops starting cells and detaches the running ones (a resume runs them again).
 */
export class RolloutRunner {
  private readonly app: App;
  private readonly watchers = new Map<string, (event: StoredEvent) => void>();
  /** The evaluators each spec version registered, by its hash. */
  private readonly evaluators = new Map<string, Map<string, { evaluator: Evaluator; metric: string }[]>>();
  private unlisten: (() => void) | undefined;

  constructor(app: App) {
    this.app = app;
  }

  /** Records a new rollout of `spec` (every cell pending) and runs it. `replayOf`: serve every cell from that rollout's. */
  async start(spec: RolloutSpec, options: RunOptions & { replayOf?: string } = {}): Promise<RunOutcome> {
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
        throw new UserError(
          'E_USAGE',
          `rollout ${source.id} has no finished run of ${missing.length} of these cells (e.g. ${missing[0]!.team}/${missing[0]!.variant}/${missing[0]!.scenario} seed ${missing[0]!.seed})`,
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
        ...(spec.raw.fork_from === undefined ? {} : { fork: this.forkPoint(spec) }),
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
    return this.run(row, spec, options, replay);
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
    const store = this.app.store;
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
    throw new UserError('E_UNKNOWN_ROLLOUT', `no rollout '${ref}'`, { hint: 'See them with: p2tui rollout list' });
  }

  /** The spec a stored rollout ran, checked again against the workspace as it is now. */
  specOf(row: RolloutRow): RolloutSpec {
    // The stored spec is JSON, which is YAML: it goes through the same checks as the file did.
    return parseRolloutSpec(JSON.stringify(row.spec), `${row.file} (as rollout ${row.id} ran it)`, this.app.workspace);
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

  /**
   * One commit listener for every cell running here, dispatching events by session: a listener per cell would have
   * every commit's events read by every running cell.
   */
  private watch(session: string, fn: (event: StoredEvent) => void): () => void {
    if (this.watchers.size === 0) {
      this.unlisten = this.app.store.onCommit((events) => {
        for (const e of events) if (e.session !== null) this.watchers.get(e.session)?.(e);
      });
    }
    this.watchers.set(session, fn);
    return () => {
      this.watchers.delete(session);
      if (this.watchers.size === 0) {
        this.unlisten?.();
        this.unlisten = undefined;
      }
    };
  }

  private async runHeld(
    row: RolloutRow,
    spec: RolloutSpec,
    options: RunOptions,
    replay: Map<string, CellRow> | undefined,
  ): Promise<RunOutcome> {
    const { store } = this.app;
    const evaluators = this.registerEvaluators(spec);
    const byId = new Map(expandCells(spec).map((c) => [c.id, c]));
    const all = store.rollouts.cells(row.id);
    const remaining = all
      .filter((c) => c.status !== 'done')
      .map((c) => byId.get(c.id))
      .filter((c): c is Cell => c !== undefined);
    // Cells forked from one session are branches of it, and one process drives one branch of a session at a time.
    const concurrency =
      spec.raw.fork_from !== undefined && options.executor === undefined
        ? 1
        : Math.max(1, options.concurrency ?? spec.raw.concurrency);
    const started = this.app.clock.now();
    const budgets = spec.raw.budgets;
    let done = all.filter((c) => c.status === 'done').length;
    let failed = 0;
    let running = 0;
    let costUsd = all.reduce((a, c) => a + (c.metrics?.costUsd ?? 0), 0);
    let tokens = all.reduce((a, c) => a + (c.metrics?.tokens ?? 0), 0);
    let finishedHere = 0;
    let stopped: string | null = null;
    const live = new Map<string, SessionRuntime>();
    const progress = (): void => {
      const elapsedMs = this.app.clock.now() - started;
      const left = all.length - done - failed;
      // At the pace so far (cells finished per millisecond, with as many running at once as now).
      options.onProgress?.({
        total: all.length,
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
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (stopped !== null || options.signal?.aborted === true) return;
        if (budgets.total_cost_usd !== undefined && costUsd >= budgets.total_cost_usd)
          stopped ??= `the total cost budget of $${budgets.total_cost_usd} is spent`;
        if (budgets.total_tokens !== undefined && tokens >= budgets.total_tokens)
          stopped ??= `the total token budget of ${budgets.total_tokens} is spent`;
        if (stopped !== null) return;
        const cell = remaining[next++];
        if (cell === undefined) return;
        running += 1;
        progress();
        const outcome =
          options.executor !== undefined
            ? await options.executor(row, spec, cell, options.signal)
            : await this.runCell(row, spec, cell, evaluators, live, options.signal, replay?.get(cell.id), onSpend);
        running -= 1;
        if (outcome === 'interrupted') {
          store.write(() =>
            store.rollouts.finished(row.id, cell.id, { status: 'pending', error: 'interrupted' }, this.app.clock.now()),
          );
          continue;
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
        else writes.push(written.then(report, () => undefined));
        progress();
      }
    };
    const writes: Promise<void>[] = [];
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, remaining.length)) }, worker));
      // Every cell's result is stored before the rollout's status and results are read.
      await Promise.all(writes);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    const cells = store.rollouts.cells(row.id);
    const complete = cells.every((c) => c.status === 'done' || c.status === 'failed');
    const status = complete && stopped === null ? 'finished' : 'stopped';
    store.write(() => store.rollouts.setRolloutStatus(row.id, status, this.app.clock.now()));
    progress();
    return { rollout: store.rollouts.get(row.id)!, cells, stopped };
  }

  /**
   * Runs one cell of a rollout that lives elsewhere (a worker's job): its rows are made here if missing, and the
   * cell's session, status, error and metrics are returned.
   */
  async runStandalone(rollout: { id: string; name: string }, spec: RolloutSpec, cell: Cell): Promise<CellRow> {
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
            options: {},
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
    const outcome = await this.runCell(row, spec, cell, this.registerEvaluators(spec), new Map(), undefined, undefined);
    if (outcome !== 'interrupted') await outcome.written;
    return store.rollouts.cell(rollout.id, cell.id)!;
  }

  /** The spec's evaluators: each team's `eval` (as `<team>.<metric>`) and `judge.evaluators`, judged on demand. */
  private registerEvaluators(spec: RolloutSpec): Map<string, { evaluator: Evaluator; metric: string }[]> {
    // Once per spec version: a worker runs many cells of one rollout.
    const known = this.evaluators.get(spec.hash);
    if (known !== undefined) return known;
    const registered = this.buildEvaluators(spec);
    this.evaluators.set(spec.hash, registered);
    return registered;
  }

  private buildEvaluators(spec: RolloutSpec): Map<string, { evaluator: Evaluator; metric: string }[]> {
    const registry = this.app.workspace.evaluators;
    const shared = registry
      .register(
        spec.raw.judge.evaluators.map((e) => ({
          ...e,
          ...(spec.raw.judge.samples === undefined ? {} : { samples: spec.raw.judge.samples }),
        })),
        spec.file,
      )
      .map((evaluator) => ({ evaluator, metric: evaluator.id }));
    const out = new Map<string, { evaluator: Evaluator; metric: string }[]>();
    for (const team of spec.teams) {
      const list = [...shared];
      if (team.eval !== undefined) {
        const text =
          team.eval.rubric ?? 'The answer completes the task it was given: correct, complete and clearly stated.';
        const config: EvaluatorConfig = {
          // Per spec version: another spec (or an edited one) with the same team and metric is another evaluator.
          id: `${team.id}.${team.eval.metric}@${spec.hash.slice(0, 6)}`,
          kind: 'llm',
          // `gpt4_judge` (P2Engine's judge) is the rubric judge on whatever judge model is configured.
          rubric: isRubricId(text)
            ? text
            : { description: text, criteria: [{ id: 'overall', description: text, weight: 1 }] },
          on: 'demand',
          samples: spec.raw.judge.samples ?? 1,
          weight: 1,
        };
        list.push(
          ...registry.register([config], spec.file).map((evaluator) => ({ evaluator, metric: team.eval!.metric })),
        );
      }
      out.set(team.id, list);
    }
    return out;
  }

  /** Runs one cell to its end and records it; 'interrupted' when Ctrl-C detached it. */
  private async runCell(
    row: RolloutRow,
    spec: RolloutSpec,
    cell: Cell,
    evaluators: Map<string, { evaluator: Evaluator; metric: string }[]>,
    live: Map<string, SessionRuntime>,
    signal: AbortSignal | undefined,
    replayOf: CellRow | undefined,
    onSpend: (tokens: number, costUsd: number) => void = () => undefined,
  ): Promise<CellOutcome | 'interrupted'> {
    const { engine } = this.app;
    const { store } = engine;
    const budgets = spec.raw.budgets;
    // Each attempt its own parties: a cell run again (after a failure or an interruption) starts from its starting
    // balances, not from what the earlier attempt left.
    const scope = spec.raw.ledger.shared_ledger ? row.id : `${row.id}-${cell.id}-${randomId('', 4)}`;
    const aborted = (): boolean => signal?.aborted === true;
    let runtime: SessionRuntime | undefined;
    const begun = this.app.clock.now();
    let timer: Timer = NO_TIMER;
    let unsubscribe: (() => void) | undefined;
    let startedWrite: Promise<void> | undefined;
    try {
      const fork = spec.raw.fork_from;
      const wallets = fork === undefined ? await this.fund(spec, scope) : undefined;
      runtime =
        fork !== undefined
          ? await this.forkCell(row, spec, cell)
          : await engine.startGrouped({
              agent: cell.agent,
              message: cell.message,
              source: 'rollout',
              title: `${row.name} · ${cell.team}/${cell.variant}/${cell.scenario} · seed ${cell.seed}`,
              options: engine.sessionOptions({
                seed: cell.seed,
                approval: spec.raw.approval,
                ...(budgets.steps === undefined ? {} : { maxSteps: budgets.steps }),
                ...(wallets === undefined ? {} : { ledgerScope: scope }),
                ...(replayOf?.session === undefined || replayOf.session === null
                  ? {}
                  : { replay: { from: replayOf.session, onMiss: 'fail' as const } }),
              }),
              overrides: { personas: cell.personas },
            });
      const session = runtime.id;
      const branch = runtime.branch;
      live.set(cell.id, runtime);
      // Group-committed with the other cells' bookkeeping; the cell does not wait for it (its session is running).
      startedWrite = store.commit(() => store.rollouts.started(row.id, cell.id, session, this.app.clock.now()));
      // Awaited below; a cell that fails before that must not leave it unhandled.
      startedWrite.catch(() => undefined);
      // Budgets of one cell: its tokens and cost as its model calls commit, and its wall time.
      // What the cell's branch spends and does, tallied as it commits (no reading back afterwards).
      const tally = { steps: 0, tokens: 0, costUsd: 0, conversations: 0 };
      let overBudget: string | undefined;
      const current = runtime;
      unsubscribe = this.watch(session, (e) => {
        if (e.branch !== branch) return;
        if (e.type === 'conversation.created') tally.conversations += 1;
        if (e.type !== 'model.call') return;
        if (e.payload.status === 'ok') tally.steps += 1;
        tally.tokens += e.payload.tokensIn + e.payload.tokensOut;
        tally.costUsd += e.payload.costUsd;
        onSpend(e.payload.tokensIn + e.payload.tokensOut, e.payload.costUsd);
        if (overBudget === undefined && budgets.tokens !== undefined && tally.tokens > budgets.tokens)
          overBudget = `over its token budget (${tally.tokens} > ${budgets.tokens})`;
        if (overBudget === undefined && budgets.cost_usd !== undefined && tally.costUsd > budgets.cost_usd)
          overBudget = `over its cost budget ($${tally.costUsd.toFixed(4)} > $${budgets.cost_usd})`;
        if (overBudget !== undefined) void current.cancel(`the rollout cell went ${overBudget}`).catch(() => undefined);
      });
      if (fork !== undefined) {
        // From the prefix: the scenario's message, or on from where the prefix stopped.
        if (cell.message !== '') await runtime.send(cell.message);
        else runtime.resume();
      }
      if (budgets.timeout_s !== undefined) {
        timer = this.app.clock.timeout(
          () => {
            overBudget ??= `past its time limit of ${budgets.timeout_s} s`;
            void current.cancel(`the rollout cell ran ${overBudget}`).catch(() => undefined);
          },
          budgets.timeout_s * 1000,
          { keepAlive: true },
        );
      }
      const status = await runtime.idle();
      // The session is at rest: its time limit no longer applies (judging is not the cell's time).
      timer.cancel();
      live.delete(cell.id);
      if (aborted()) return 'interrupted';
      if (runtime.error !== undefined) throw runtime.error;
      if (!runtime.active) return 'interrupted';
      const latencyMs = this.app.clock.now() - begun;
      const scores =
        replayOf?.metrics?.scores ?? (await this.judge(session, branch, evaluators.get(cell.team) ?? [], spec, signal));
      if (aborted()) return 'interrupted';
      // Escrows the judge's scores settle are paid before the balances are read.
      await this.app.arbiter.settled();
      const metrics = await this.measure(
        wallets,
        spec,
        scores,
        latencyMs,
        status,
        tally,
        runtime.answer,
        fork === undefined ? undefined : branch,
      );
      const failedReason =
        overBudget !== undefined
          ? `the cell went ${overBudget}`
          : status === 'finished'
            ? undefined
            : `the session ended ${status}${store.sessions.get(session)?.statusReason === null ? '' : `: ${store.sessions.get(session)?.statusReason ?? ''}`}`;
      const outcome =
        failedReason === undefined
          ? ({ status: 'done' } as const)
          : ({ status: 'failed', error: failedReason } as const);
      await startedWrite;
      // Recorded in the next group commit; the slot goes to the next cell now (the run waits for it at its end).
      const written = store.commit(() =>
        store.rollouts.finished(row.id, cell.id, { ...outcome, metrics }, this.app.clock.now()),
      );
      written.catch(() => undefined);
      // At rest and recorded: its runtime need not stay in memory (thousands of cells would).
      engine.release(session);
      return { status: outcome.status, metrics, written };
    } catch (error) {
      if (runtime !== undefined) {
        live.delete(cell.id);
        engine.release(runtime.id);
      }
      if (aborted()) return 'interrupted';
      // After its "started" row, never before it (that would mark the failed cell running again).
      await startedWrite?.catch(() => undefined);
      // The cell's failure is its own: recorded with its error, the rollout goes on.
      store.write(() =>
        store.rollouts.finished(
          row.id,
          cell.id,
          { status: 'failed', error: messageOf(error), ...(runtime === undefined ? {} : { session: runtime.id }) },
          this.app.clock.now(),
        ),
      );
      return { status: 'failed' };
    } finally {
      timer.cancel();
      unsubscribe?.();
      // Whatever the cell's end, its "started" row is written before the caller records anything after it.
      await startedWrite?.catch(() => undefined);
    }
  }

  /**
   * A cell of a `fork_from` rollout: a branch of the source session forked at the shared prefix with the variant's
   * overrides, checked out and attached here (the caller sends the scenario's message, or resumes).
   */
  /**
   * Where `fork_from` cells start, fixed when the rollout starts: the branch (default: the one checked out then) and
   * its newest entry (default), so later cells fork where the first did, not after the cells before them.
   */
  private forkPoint(spec: RolloutSpec): { session: string; branch: string; seq: number } {
    const { store } = this.app;
    const from = spec.raw.fork_from!;
    const session = store.sessions.resolve(from.session);
    const branch = from.branch === undefined ? session.headBranch : resolveBranch(store, session, from.branch).id;
    const seq = from.seq ?? store.log.newestVisibleSeq(session.id, store.sessions.segments(branch));
    return { session: session.id, branch, seq };
  }

  private async forkCell(row: RolloutRow, spec: RolloutSpec, cell: Cell): Promise<SessionRuntime> {
    const { engine } = this.app;
    const from = row.options.fork ?? this.forkPoint(spec);
    const source = engine.store.sessions.resolve(from.session);
    await engine.fork(source.id, {
      from: from.branch,
      atSeq: from.seq,
      label: `${row.name} ${cell.team}/${cell.variant}/${cell.scenario} seed ${cell.seed}`,
      overrides: { personas: cell.personas },
      createdBy: `rollout ${row.id}`,
      checkout: true,
    });
    // Attached, not started: the caller starts it once it follows the branch's events.
    return engine.attach(source.id, {
      approval: spec.raw.approval,
      ...(spec.raw.budgets.steps === undefined ? {} : { maxSteps: spec.raw.budgets.steps }),
    });
  }

  /**
   * The cell's wallets, funded once: the spec's balances, else each persona's `balance:`. Undefined when no agent of
   * the workspace uses a ledger tool and the spec sets no balances (nothing to isolate).
   */
  private async fund(spec: RolloutSpec, scope: string): Promise<WalletService | undefined> {
    const { workspace } = this.app;
    const usesLedger =
      [...workspace.personas.values()].some((p) => p.tools.some((t) => LEDGER_TOOL_NAMES.has(t))) ||
      Object.keys(spec.raw.ledger.balances).length > 0;
    if (!usesLedger) return undefined;
    const wallets = this.app.wallets.scoped(scope);
    for (const persona of workspace.personas.values()) {
      await wallets.createWallet(persona.id, spec.raw.ledger.balances[persona.id] ?? persona.balance);
    }
    return wallets;
  }

  /** Queues the cell's evaluators on its branch, waits for every judgement of the session, and reads the means. */
  private async judge(
    session: string,
    branch: string,
    evaluators: readonly { evaluator: Evaluator; metric: string }[],
    spec: RolloutSpec,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, number | null>> {
    const { store, workspace } = this.app;
    // Nothing to judge: no evaluator of the spec, and none of the workspace's that this spec waits for.
    if (
      evaluators.length === 0 &&
      !(spec.raw.judge.workspace && workspace.evaluators.list().some((e) => e.config.on !== 'demand'))
    )
      return {};
    const jobs = new Map<string, string>();
    const now = this.app.clock.now();
    store.write(() => {
      for (const { evaluator, metric } of evaluators)
        jobs.set(
          queueEvaluation(store, {
            session,
            branch,
            targetKind: 'branch',
            targetId: branch,
            trigger: 'demand',
            evaluator,
            uptoSeq: null,
            now,
          }),
          metric,
        );
    });
    await this.app.judge.drain(session, signal);
    const scores: Record<string, number | null> = {};
    const ours = latestTargetScores(store.scores.scoresOfJobs([...jobs.keys()]));
    for (const t of ours)
      scores[evaluators.find((e) => e.evaluator.id === t.evaluator)?.metric ?? t.evaluator] = t.mean;
    if (spec.raw.judge.workspace) {
      // The workspace's own evaluators (run when the root conversation finished), by their ids.
      for (const t of latestTargetScores(store.scores.scores({ session, branch }))) {
        if (jobs.size > 0 && evaluators.some((e) => e.evaluator.id === t.evaluator)) continue;
        if (t.targetKind !== 'conversation' || scores[t.evaluator] !== undefined) continue;
        scores[t.evaluator] = t.mean;
      }
    }
    return scores;
  }

  private async measure(
    wallets: WalletService | undefined,
    spec: RolloutSpec,
    scores: Record<string, number | null>,
    latencyMs: number,
    status: string,
    tally: { steps: number; tokens: number; costUsd: number; conversations: number },
    answer: string,
    branch: string | undefined,
  ): Promise<CellMetrics> {
    const { workspace } = this.app;
    const balances: Record<string, string> = {};
    const netFlow: Record<string, string> = {};
    let transfers = 0;
    // A shared ledger holds every cell's payments: only balances are this cell's to report then.
    const own = !spec.raw.ledger.shared_ledger;
    if (wallets !== undefined) {
      for (const agent of await wallets.agents()) {
        const view = await wallets.balance(agent);
        balances[agent] = view.balance;
        const start = decimal.canonical(
          spec.raw.ledger.balances[agent] ?? workspace.personas.get(agent)?.balance ?? '0',
        );
        if (!own) continue;
        netFlow[agent] = decimal.sub(decimal.add(view.balance, view.locked), start);
        transfers += (await wallets.history(agent, 10_000)).filter(
          (l) => l.from === agent && l.from !== 'escrow' && l.reason !== 'initial balance',
        ).length;
      }
    }
    return {
      scores,
      steps: tally.steps,
      tokens: tally.tokens,
      costUsd: tally.costUsd,
      latencyMs,
      // Conversations created after the session started: its delegations (the root was created with the session).
      delegations: tally.conversations,
      transfers,
      netFlow,
      balances,
      status,
      answer,
      ...(branch === undefined ? {} : { branch }),
    };
  }
}
