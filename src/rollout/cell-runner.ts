import { NO_TIMER, type Timer } from '../core/clock.ts';
import { messageOf } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import type { StoredEvent } from '../core/events.ts';
import type { App } from '../app/app.ts';
import { resolveBranch } from '../engine/branching.ts';
import type { SessionRuntime } from '../engine/session/runtime.ts';
import { latestTargetScores, meansByKey } from '../judge/aggregate.ts';
import { branchConversations, evaluatorTargets, inScopeTargets, isScoped } from '../judge/scope.ts';
import { queueEvaluation } from '../judge/jobs.ts';
import type { Evaluator } from '../judge/registry.ts';
import { decimal } from '../ledger/decimal.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import type { CellMetrics, CellRow, RolloutRow } from '../store/rollouts.ts';
import { LEDGER_TOOLS } from '../tools/builtin/ledger.ts';
import type { Cell } from './cells.ts';
import type { TeamEvaluators } from './evaluators.ts';
import type { RolloutSpec } from './spec.ts';
import { formatUsd } from '../core/money.ts';

const LEDGER_TOOL_NAMES = new Set(LEDGER_TOOLS.map((t) => t.name));

/** How a cell ended; `written`: its result's commit, when it is still on its way. */
export interface CellOutcome {
  readonly status: 'done' | 'failed';
  readonly metrics?: CellMetrics;
  readonly written?: Promise<void>;
}

/**
 * Runs one rollout cell in this process: its session (started, or forked from the spec's prefix), its wallets, its
 * budgets as its model calls commit, its judging, and the metrics recorded for it.
 */
export class CellRunner {
  private readonly app: App;
  private readonly watchers = new Map<string, (event: StoredEvent) => void>();
  private unlisten: (() => void) | undefined;

  constructor(app: App) {
    this.app = app;
  }

  /** Runs one cell to its end and records it; 'interrupted' when Ctrl-C detached it. */
  async run(
    row: RolloutRow,
    spec: RolloutSpec,
    cell: Cell,
    evaluators: TeamEvaluators,
    live: Map<string, SessionRuntime>,
    signal: AbortSignal | undefined,
    replayOf: CellRow | undefined,
    onSpend: (tokens: number, costUsd: number) => void = () => undefined,
    /** The cell's ledger scope when another process chose it (a queue's coordinator). */
    chosenScope?: string,
  ): Promise<CellOutcome | 'interrupted'> {
    const { engine } = this.app;
    const { store } = engine;
    const budgets = spec.raw.budgets;
    // Each attempt its own parties: a cell run again (after a failure or an interruption) starts from its starting
    // balances, not from what the earlier attempt left.
    const scope = chosenScope ?? (spec.raw.ledger.shared_ledger ? row.id : `${row.id}-${cell.id}-${randomId('', 4)}`);
    // `rollout run --model`: the rollout's model for every agent (a session option) and none of the variant's own.
    const { model, judgeModel } = row.options;
    const personas = model === undefined ? cell.personas : withModel(cell.personas, model);
    const aborted = (): boolean => signal?.aborted === true;
    let runtime: SessionRuntime | undefined;
    const begun = this.app.clock.now();
    let timer: Timer = NO_TIMER;
    let unsubscribe: (() => void) | undefined;
    let startedWrite: Promise<void> | undefined;
    try {
      const fork = spec.raw.fork_from;
      const wallets = fork === undefined ? await fundCell(this.app, spec, scope) : undefined;
      runtime =
        fork !== undefined
          ? await this.forkCell(row, spec, { ...cell, personas })
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
                // Journaled (a queue's worker): every attempt of the cell gives its effectful calls the same keys.
                ...(engine.ports.effects === undefined ? {} : { effectKeys: `${row.id}/${cell.id}` }),
                ...(cell.effects === undefined ? {} : { effects: cell.effects }),
                ...(model === undefined ? {} : { model }),
                ...(judgeModel === undefined ? {} : { judgeModel }),
                ...(replayOf?.session === undefined || replayOf.session === null
                  ? {}
                  : { replay: { from: replayOf.session, onMiss: 'fail' as const } }),
              }),
              overrides: { personas },
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
          overBudget = `over its cost budget (${formatUsd(tally.costUsd)} > $${budgets.cost_usd})`;
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
   * Where `fork_from` cells start, fixed when the rollout starts: the branch (default: the one checked out then) and
   * its newest entry (default), so later cells fork where the first did, not after the cells before them.
   */
  forkPoint(spec: RolloutSpec): { session: string; branch: string; seq: number } {
    const { store } = this.app;
    const from = spec.raw.fork_from!;
    const session = store.sessions.resolve(from.session);
    const branch = from.branch === undefined ? session.headBranch : resolveBranch(store, session, from.branch).id;
    const seq = from.seq ?? store.log.newestVisibleSeq(session.id, store.sessions.segments(branch));
    return { session: session.id, branch, seq };
  }

  /**
   * A cell of a `fork_from` rollout: a branch of the source session forked at the shared prefix with the variant's
   * overrides, checked out and attached here (the caller sends the scenario's message, or resumes).
   */
  private async forkCell(row: RolloutRow, spec: RolloutSpec, cell: Cell): Promise<SessionRuntime> {
    const { engine } = this.app;
    const from = row.options.fork ?? this.forkPoint(spec);
    const source = engine.store.sessions.resolve(from.session);
    await engine.fork(source.id, {
      from: from.branch,
      atSeq: from.seq,
      defaultLabel: `${row.name} ${cell.team}/${cell.variant}/${cell.scenario} seed ${cell.seed}`,
      // The cell's policy is its branch's: the source session's own policy is not the spec's to change.
      overrides: {
        personas: cell.personas,
        ...(cell.effects === undefined ? {} : { effects: cell.effects }),
        ...(row.options.model === undefined ? {} : { model: row.options.model }),
      },
      createdBy: `rollout ${row.id}`,
      checkout: true,
    });
    // Attached, not started: the caller starts it once it follows the branch's events.
    return engine.attach(source.id, {
      approval: spec.raw.approval,
      ...(spec.raw.budgets.steps === undefined ? {} : { maxSteps: spec.raw.budgets.steps }),
    });
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
    // The same scope as the automatic trigger and `eval run` (src/judge/scope.ts): an evaluator with `agents:`
    // scores each conversation of those agents in the cell, `on: artifact|milestone` what the cell made or marked;
    // one without any of these scores the cell's answer (its root).
    // Read only for an evaluator with `agents:` (the others score the branch): it reads the branch's whole history.
    const onBranch = evaluators.some((e) => isScoped(e.evaluator.config))
      ? branchConversations(store, session, branch)
      : [];
    // Queued and claimed in one group commit and judged at once, in the judge's slots (no poll): a cell's
    // assertions take no transaction of their own.
    const queue = (): string[] => {
      const now = this.app.clock.now();
      for (const { evaluator, metric } of evaluators) {
        const targets = evaluatorTargets(store, evaluator.config, { session, branch, conversations: onBranch });
        for (const target of targets)
          jobs.set(
            queueEvaluation(store, {
              session,
              branch,
              targetKind: target.kind,
              targetId: target.id,
              trigger: 'demand',
              evaluator,
              uptoSeq: null,
              now,
            }),
            metric,
          );
      }
      return [...jobs.keys()];
    };
    const judged = evaluators.length === 0 ? { scores: [], pending: [] } : await this.app.judge.judgeNow(queue, signal);
    // What is left to wait for: jobs no slot was free for, and those the workspace's automatic evaluators queued
    // as the cell's conversations finished.
    if (judged.pending.length > 0 || workspace.evaluators.list().some((e) => e.config.on !== 'demand'))
      await this.app.judge.drain(session, signal);
    // A metric's figure is the mean over its targets; with none (no listed agent ran in the cell) it is null, not 0.
    const scores: Record<string, number | null> = {};
    for (const { metric } of evaluators) scores[metric] = null;
    const written =
      judged.pending.length === 0 ? judged.scores : [...judged.scores, ...store.scores.scoresOfJobs(judged.pending)];
    const ours = latestTargetScores(written);
    for (const [metric, value] of meansByKey(ours, (t) => jobs.get(t.scores[0]!.job ?? '') ?? t.evaluator))
      scores[metric] = value;
    if (spec.raw.judge.workspace) {
      // The workspace's own evaluators (run when a conversation finished), by their ids, over the conversations in
      // their scope.
      const own = inScopeTargets(
        store,
        latestTargetScores(store.scores.scores({ session, branch })).filter(
          (t) =>
            t.targetKind === 'conversation' &&
            !(jobs.size > 0 && evaluators.some((e) => e.evaluator.id === t.evaluator)),
        ),
        (id) => workspace.evaluators.get(id)?.config,
      );
      for (const [id, value] of meansByKey(own, (t) => t.evaluator)) if (scores[id] === undefined) scores[id] = value;
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
    const { balances, netFlow, transfers } = await ledgerFigures(this.app, wallets, spec);
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
}

/** A cell's per-agent overrides with every agent's model replaced by the rollout's `--model`. */
function withModel(personas: Cell['personas'], model: string): Cell['personas'] {
  return Object.fromEntries(Object.entries(personas).map(([agent, o]) => [agent, { ...o, model }]));
}

/**
 * The cell's wallets, funded once: the spec's balances, else each persona's `balance:`. Undefined when no agent of
 * the workspace uses a ledger tool and the spec sets no balances (nothing to isolate). A queue's coordinator funds
 * a cell this way too, from the spec itself, never from what a worker says.
 */
export async function fundCell(app: App, spec: RolloutSpec, scope: string): Promise<WalletService | undefined> {
  const { workspace } = app;
  if (!cellUsesLedger(app, spec)) return undefined;
  const wallets = app.wallets.scoped(scope);
  for (const persona of workspace.personas.values()) {
    await wallets.createWallet(persona.id, spec.raw.ledger.balances[persona.id] ?? persona.balance);
  }
  return wallets;
}

/** A cell's balances, net flows (received minus paid) and transfers made, read from its wallets. */
export async function ledgerFigures(
  app: App,
  wallets: WalletService | undefined,
  spec: RolloutSpec,
): Promise<{ balances: Record<string, string>; netFlow: Record<string, string>; transfers: number }> {
  const { workspace } = app;
  const balances: Record<string, string> = {};
  const netFlow: Record<string, string> = {};
  let transfers = 0;
  // A shared ledger holds every cell's payments: only balances are this cell's to report then.
  const own = !spec.raw.ledger.shared_ledger;
  if (wallets !== undefined) {
    for (const agent of await wallets.agents()) {
      const view = await wallets.balance(agent);
      balances[agent] = view.balance;
      const start = decimal.canonical(spec.raw.ledger.balances[agent] ?? workspace.personas.get(agent)?.balance ?? '0');
      if (!own) continue;
      netFlow[agent] = decimal.sub(decimal.add(view.balance, view.locked), start);
      transfers += (await wallets.history(agent, 10_000)).filter(
        (l) => l.from === agent && l.from !== 'escrow' && l.reason !== 'initial balance',
      ).length;
    }
  }
  return { balances, netFlow, transfers };
}

/** Whether a cell's agents have wallets: some agent of the workspace uses a ledger tool, or the spec sets balances. */
export function cellUsesLedger(app: App, spec: RolloutSpec): boolean {
  return (
    [...app.workspace.personas.values()].some((p) => p.tools.some((t) => LEDGER_TOOL_NAMES.has(t))) ||
    Object.keys(spec.raw.ledger.balances).length > 0
  );
}
