import type { Timer } from '../core/clock.ts';
import { hostname } from 'node:os';
import { isP2Error, messageOf } from '../core/errors.ts';
import type { App } from '../app/app.ts';
import type { Engine } from '../engine/engine.ts';
import { isHolderAlive } from '../store/leases.ts';
import type { SessionRuntime } from '../engine/session/runtime.ts';
import { SessionProjection } from './projection.ts';
import { UserError } from '../core/errors.ts';
import { branchSummaries, describeOverrides } from '../engine/branching.ts';
import { scoreByBranch } from '../judge/aggregate.ts';
import { diffBranches } from '../commands/session/branch-diff.ts';
import { artifactLines, comparableArtifacts } from '../commands/session/artifacts.ts';
import { diffSequences } from '../core/diff.ts';
import {
  backToSessions,
  notify,
  openSession,
  setOverlay,
  setSessions,
  type BranchItem,
  type LedgerPaneState,
  type Overlay,
  type RolloutItem,
  type SessionSummary,
  type TuiState,
} from './state.ts';
import { gridOf, type Grid } from '../rollout/grid.ts';
import { formatAge } from '../commands/render/text.ts';
import type { AuditReport } from '../ledger/types.ts';
import type { TuiStore } from './store.ts';

/**
 * The TUI's link to the engine: it follows the log through the bus (never the database on a render), keeps the
 * sessions list and the open session's projection up to date in the store, and turns user actions into engine
 * commands. Sessions driven by another process are followed live and answered through control requests.
 */
export class TuiBridge {
  readonly app: App;
  readonly engine: Engine;
  private readonly store: TuiStore;
  private readonly stop = new AbortController();
  private openStop: AbortController | undefined;
  private listTimer: Timer | undefined;
  private gridTimer: Timer | undefined;
  /** Reads the open session's ledger again now (the Wallets pane changed what it shows). */
  private ledgerRefresh: () => void = () => undefined;

  constructor(app: App, store: TuiStore) {
    this.app = app;
    this.engine = app.engine;
    this.store = store;
  }

  /** Starts following the log for the sessions list, and adopts sessions whose driver is gone. */
  start(): void {
    this.refreshSessions();
    void (async () => {
      const fromSeq = this.engine.store.log.lastSeq();
      for await (const event of this.engine.bus.subscribe({
        fromSeq,
        filter: { types: ['session.created', 'session.status'] },
        signal: this.stop.signal,
        pollMs: 250,
      })) {
        void event;
        this.scheduleListRefresh();
      }
    })().catch(() => undefined);
    void this.engine
      .adoptOrphans()
      .then(({ adopted }) => {
        if (adopted.length > 0)
          this.store.set(
            (s) =>
              notify(
                s,
                `continuing ${adopted.length} session${adopted.length === 1 ? '' : 's'} left by a process that stopped`,
              ),
            true,
          );
        this.scheduleListRefresh();
      })
      .catch(() => undefined);
  }

  dispose(): void {
    this.stop.abort();
    this.openStop?.abort();
    this.listTimer?.cancel();
  }

  refreshSessions(): void {
    const store = this.engine.store;
    const now = this.app.clock.now();
    const rows = store.sessions.list({ limit: 500 });
    const sessions: SessionSummary[] = rows.map((r) => {
      let driver: SessionSummary['driver'] = 'none';
      if (this.engine.get(r.id) !== undefined) driver = 'here';
      else {
        const lease = store.leases.holder(r.id);
        if (isHolderAlive(lease, now)) driver = 'elsewhere';
      }
      return {
        id: r.id,
        status: r.status,
        agent: r.agent,
        title: r.title,
        source: r.source,
        createdAt: r.createdAt,
        driver,
      };
    });
    this.store.set((s) => setSessions(s, sessions), true);
  }

  /** Opens a session: replays its events into a projection, then follows it live (and its streaming text). */
  open(sessionId: string): void {
    this.openStop?.abort();
    const controller = new AbortController();
    this.openStop = controller;
    // The checked-out branch's history only; a checkout (here or in another terminal) reopens the session.
    const head = this.engine.store.sessions.get(sessionId)?.headBranch;
    const projection = new SessionProjection(
      sessionId,
      head === undefined ? undefined : this.engine.store.sessions.segments(head),
    );
    // What is stored so far, at once, so the screen opens complete; then the bus from there on.
    let cursor = 0;
    for (;;) {
      const batch = this.engine.store.log.read(cursor, { session: sessionId }, 5000);
      if (batch.length === 0) break;
      for (const event of batch) projection.apply(event);
      cursor = batch[batch.length - 1]!.seq;
    }
    this.store.set((s) => openSession(s, projection, this.driverOf(sessionId)));
    this.followWallets(projection, controller.signal);
    void (async () => {
      for await (const event of this.engine.bus.subscribe({
        fromSeq: cursor,
        filter: { session: sessionId },
        signal: controller.signal,
        pollMs: 100,
      })) {
        if (event.type === 'branch.checkout' && event.payload.branch !== head) {
          this.open(sessionId);
          return;
        }
        projection.apply(event);
        this.store.touch();
        if (event.type === 'session.status')
          this.store.set((s) => (s.open === projection ? { ...s, driver: this.driverOf(sessionId) } : s), true);
      }
    })().catch(() => undefined);
    void (async () => {
      for await (const delta of this.engine.bus.deltas({ session: sessionId }, controller.signal)) {
        projection.applyDelta(delta);
        this.store.touch();
      }
    })().catch(() => undefined);
  }

  /**
   * Keeps the Wallets pane current: the balances of the open session's agents, read again whenever the ledger's end
   * moves (a payment here, or in another process) or an agent joins the session.
   */
  private followWallets(projection: SessionProjection, signal: AbortSignal): void {
    const wallets = this.app.wallets;
    let seen = '';
    let reading = false;
    let chain: LedgerPaneState['chain'] = null;
    const read = async (): Promise<void> => {
      if (signal.aborted || this.engine.store.isClosed || reading) return;
      reading = true;
      try {
        const state = this.store.get();
        const agents = [...new Set([...projection.conversations.values()].map((c) => c.agent))].sort();
        const key = `${await wallets.ledger.ledgerEnd()}\n${agents.join(',')}\n${state.ledger.view}\n${state.ledger.verifying}`;
        if (key === seen) return;
        seen = key;
        const rows: { agent: string; balance: string; locked: string }[] = [];
        const recent = new Map<string, LedgerPaneState['recent'][number]>();
        for (const a of agents) {
          if (!(await wallets.has(a))) continue;
          const v = await wallets.balance(a);
          rows.push({ agent: a, balance: v.balance, locked: v.locked });
          for (const l of await wallets.history(a, 6))
            recent.set(`${l.offset}:${l.transferId}:${l.to}`, {
              offset: l.offset,
              from: l.from,
              to: l.to,
              amount: l.amount,
              reason: l.reason,
            });
        }
        // The chain: once per opening, the newest full verification's verdict and the updates since (cheap); the
        // whole chain when asked (v). A payment refused later for a broken chain says so itself.
        if (state.ledger.verifying && wallets.ledger.verifyChain !== undefined)
          chain = { ...summary(await wallets.ledger.verifyChain()), full: true };
        else if (chain === null && wallets.ledger.chainStatus !== undefined)
          chain = { ...summary(await wallets.ledger.chainStatus()), full: false };
        else if (chain !== null && chain.ok && wallets.ledger.chainStatus !== undefined) {
          // New updates since: the head moves on (their links are checked as they are written).
          const now = await wallets.ledger.chainStatus();
          chain = { ...summary(now), full: chain.full && now.ok };
        }
        const trail =
          state.ledger.view === 'trail' && wallets.ledger.auditTrail !== undefined
            ? (await wallets.ledger.auditTrail(50)).map((t) => ({
                offset: t.offset,
                hash: t.hash,
                prevHash: t.prevHash,
                command: t.commandId,
                at: t.effectiveAt,
              }))
            : [];
        const shownChain = chain;
        const broken = chain === null || chain.ok ? null : chain.reason;
        this.store.set(
          (s) =>
            s.open === projection
              ? {
                  ...s,
                  wallets: rows,
                  ledgerBroken: broken,
                  ledger: {
                    ...s.ledger,
                    recent: [...recent.values()].sort((x, y) => y.offset - x.offset).slice(0, 8),
                    chain: shownChain,
                    trail,
                    verifying: false,
                  },
                }
              : s,
          true,
        );
      } catch {
        // A busy database or an unreachable participant: the next tick reads again.
      } finally {
        reading = false;
      }
    };
    void read();
    // Every second, and at once when the pane asks (the trail view toggled, a full verification requested).
    const timer = this.app.clock.interval(() => void read(), 1_000);
    this.ledgerRefresh = () => void read();
    signal.addEventListener('abort', () => timer.cancel(), { once: true });
  }

  close(): void {
    this.openStop?.abort();
    this.openStop = undefined;
    this.store.set(backToSessions);
    this.refreshSessions();
  }

  /** Starts a session with an agent and opens it. */
  startSession(agent: string, message: string): void {
    this.act(() => {
      const runtime = this.engine.start({ agent, message, source: 'tui', options: this.engine.sessionOptions() });
      this.open(runtime.id);
      this.refreshSessions();
    });
  }

  /** Sends the user's next message (driving the session from here if nobody else does). */
  send(text: string): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      const runtime = await this.drive(id);
      if (runtime === undefined) return;
      await runtime.send(text);
    });
  }

  /** Rollouts of this workspace, newest first. */
  rollouts(): RolloutItem[] {
    const store = this.engine.store;
    return store.rollouts.list(100).map((r) => {
      const cells = store.rollouts.cells(r.id);
      return {
        id: r.id,
        name: r.name,
        status: r.status,
        cells: cells.length,
        done: cells.filter((c) => c.status === 'done').length,
        failed: cells.filter((c) => c.status === 'failed').length,
        age: formatAge(this.app.clock.now() - r.createdAt),
      };
    });
  }

  /** Opens a rollout's grid, and keeps it current while it shows (a running rollout fills in live). */
  openGrid(rollout: string): void {
    const row = this.engine.store.rollouts.get(rollout);
    if (row === undefined) return;
    const options = { by: 'scenarios' as const, sort: 'spec' as const };
    this.store.set((s) =>
      setOverlay(s, {
        kind: 'grid',
        rollout,
        title: `${row.name} (${row.id})`,
        grid: gridOf(this.engine.store.rollouts.cells(rollout), options),
        row: 0,
        col: 0,
        repeat: 0,
        options,
      }),
    );
    this.gridTimer?.cancel();
    this.gridTimer = this.app.clock.interval(() => {
      const s = this.store.get();
      if (s.overlay?.kind !== 'grid' || s.overlay.rollout !== rollout || this.engine.store.isClosed) {
        this.gridTimer?.cancel();
        return;
      }
      this.regrid((o) => o);
    }, 500);
  }

  /** Rebuilds the open grid with changed options (metric, columns, sort), from the cells as they are now. */
  regrid(
    change: (
      options: Extract<Overlay, { kind: 'grid' }>['options'],
      grid: Grid,
    ) => Extract<Overlay, { kind: 'grid' }>['options'],
  ): void {
    const s = this.store.get();
    if (s.overlay?.kind !== 'grid') return;
    const options = change(s.overlay.options, s.overlay.grid);
    const grid = gridOf(this.engine.store.rollouts.cells(s.overlay.rollout), options);
    const row = Math.min(s.overlay.row, Math.max(0, grid.rows.length - 1));
    const col = Math.min(s.overlay.col, Math.max(0, grid.columns.length - 1));
    this.store.set((x) => (x.overlay?.kind === 'grid' ? setOverlay(x, { ...x.overlay, options, grid, row, col }) : x));
  }

  /** Opens the session of the grid cell under the cursor (its repeat chosen with `.`). */
  openGridCell(s: TuiState): void {
    if (s.overlay?.kind !== 'grid') return;
    const cell = s.overlay.grid.rows[s.overlay.row]?.cells[s.overlay.col];
    const runs = cell?.runs.filter((r) => r.session !== null) ?? [];
    if (runs.length === 0) {
      this.store.set((x) => notify(x, 'that cell has no session yet (not started)', 'warn'));
      return;
    }
    const run = runs[s.overlay.repeat % runs.length]!;
    this.store.set((x) => setOverlay(x, null));
    this.open(run.session!);
  }

  /** The Wallets pane: toggles between balances with payments and the audit trail. */
  toggleLedgerView(): void {
    this.store.set((s) => ({ ...s, ledger: { ...s.ledger, view: s.ledger.view === 'wallets' ? 'trail' : 'wallets' } }));
    this.ledgerRefresh();
  }

  /** The Wallets pane: verifies every link of the audit chain again (and the contracts against it). */
  verifyLedger(): void {
    this.store.set((s) => ({ ...s, ledger: { ...s.ledger, verifying: true } }));
    this.ledgerRefresh();
  }

  /** Answers a question an agent asked, wherever the session is driven. */
  answer(callId: string, text: string): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      if (this.driverOf(id) === 'elsewhere') return this.control(id, { action: 'respond', callId, text });
      const runtime = await this.drive(id);
      await runtime?.respond(callId, text);
    });
  }

  cancel(): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      if (this.driverOf(id) === 'elsewhere') return this.control(id, { action: 'cancel' });
      const runtime = await this.drive(id);
      await runtime?.cancel('cancelled from the TUI');
    });
  }

  /** Pauses a running session, or resumes a paused one. */
  togglePause(): void {
    const open = this.store.get().open;
    if (open === null) return;
    const pausing = open.status !== 'paused';
    void this.actAsync(async () => {
      if (this.driverOf(open.id) === 'elsewhere')
        return this.control(open.id, { action: pausing ? 'pause' : 'resume' });
      const runtime = await this.drive(open.id);
      if (runtime === undefined) return;
      if (pausing) runtime.pause();
      else runtime.resume();
    });
  }

  /** The open session's branches, as a tree (children under their parent, in creation order). */
  branches(): BranchItem[] {
    const id = this.store.get().open?.id;
    if (id === undefined) return [];
    const session = this.engine.store.sessions.resolve(id);
    const list = branchSummaries(this.engine.store, session);
    const weights = new Map(this.app.workspace.evaluators.list().map((e) => [e.id, e.config.weight]));
    const scores = scoreByBranch(this.engine.store.scores.scores({ session: session.id }), (m) => weights.get(m) ?? 1);
    const children = new Map<string | null, typeof list>();
    for (const b of list) children.set(b.branch.parent, [...(children.get(b.branch.parent) ?? []), b]);
    const out: BranchItem[] = [];
    const walk = (parent: string | null, depth: number): void => {
      for (const b of children.get(parent) ?? []) {
        const overrides = describeOverrides(b.branch.overrides);
        out.push({
          id: b.branch.id,
          label: b.branch.label,
          forkSeq: b.branch.forkSeq,
          entries: b.entries,
          checkedOut: b.checkedOut,
          depth,
          overrides,
          score: scores.get(b.branch.id) ?? null,
        });
        walk(b.branch.id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  /**
   * Forks the open session at an entry (its seq); with `checkout`, this is a rewind: the new branch is checked out
   * and the panels follow it (the session rests until resumed with p).
   */
  fork(atSeq: number, step: string, checkout: boolean): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      const made = await this.engine.fork(id, {
        atSeq,
        label: checkout ? `rewind to ${step}` : `fork at ${step}`,
        createdBy: 'tui',
        checkout,
      });
      const compensable = made.effects.find((e) => e.compensable);
      const undone =
        made.effects.length === 0
          ? ''
          : `; ${made.effects.length} effectful call${made.effects.length === 1 ? '' : 's'} after that point (${made.effects.map((e) => e.tool).join(', ')}) not undone${compensable === undefined ? '' : ` (: session compensate ${id} ${compensable.key} undoes it)`}`;
      this.store.set((s) =>
        notify(
          s,
          checkout
            ? `rewound to ${step}: branch ${made.branch.id} checked out, p continues it${undone}`
            : `forked at ${step}: branch ${made.branch.id} (b lists branches)${undone}`,
          made.effects.length > 0 ? 'warn' : 'info',
        ),
      );
      this.refreshSessions();
    });
  }

  /** Compares a branch with the checked-out one, for the diff overlay. */
  diff(branch: string): Overlay | undefined {
    const id = this.store.get().open?.id;
    if (id === undefined) return undefined;
    try {
      const session = this.engine.store.sessions.resolve(id);
      const result = diffBranches(this.engine.store, session, branch, session.headBranch);
      return {
        kind: 'diff',
        title: `${branch} → ${session.headBranch} (checked out)`,
        divergesAt: result.divergesAt,
        sections: result.sections,
        mode: 'side',
        scroll: 0,
      };
    } catch (error) {
      this.report(error);
      return undefined;
    }
  }

  /** The open session's artifacts and comparable entries. */
  artifacts(): { ref: string; label: string }[] {
    const id = this.store.get().open?.id;
    if (id === undefined) return [];
    try {
      return comparableArtifacts(this.engine.store, id);
    } catch (error) {
      this.report(error);
      return [];
    }
  }

  /** Two artifacts (or entries) compared, for the diff overlay. */
  diffArtifacts(a: { ref: string; label: string }, b: { ref: string; label: string }): Overlay | undefined {
    try {
      const ops = diffSequences(artifactLines(this.engine.store, a.ref), artifactLines(this.engine.store, b.ref));
      const same = ops.every((op) => op.kind === 'same');
      return {
        kind: 'diff',
        title: `${a.label} → ${b.label}`,
        divergesAt: same ? null : 'content',
        sections: same ? [] : [{ title: `${a.ref} → ${b.ref}`, ops }],
        mode: 'side',
        scroll: 0,
      };
    } catch (error) {
      this.report(error);
      return undefined;
    }
  }

  /** Forks at a step with the overrides of the fork form (empty fields change nothing) and checks the branch out. */
  forkWith(atSeq: number, step: string, agent: string, values: readonly string[]): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    const [model = '', temperature = '', system = '', label = ''] = values.map((v) => v.trim());
    void this.actAsync(async () => {
      if (model !== '' && !/^[^/\s]+\/\S+$/.test(model))
        throw new UserError('E_USAGE', `model '${model}' is not of the form provider/name`, {
          hint: 'For example scripted/default or openai/gpt-4o-mini.',
        });
      const t = temperature === '' ? undefined : Number(temperature);
      if (t !== undefined && (!Number.isFinite(t) || t < 0 || t > 2))
        throw new UserError('E_USAGE', `temperature '${temperature}' is not a number from 0 to 2`);
      const overrides = {
        ...(model === '' ? {} : { model }),
        ...(t === undefined ? {} : { temperature: t }),
        ...(system === '' ? {} : { personas: { [agent]: { system } } }),
      };
      const made = await this.engine.fork(id, {
        atSeq,
        label: label === '' ? `fork at ${step}` : label,
        overrides,
        createdBy: 'tui',
        checkout: true,
      });
      this.store.set((s) =>
        notify(
          s,
          `forked at ${step} with ${describeOverrides(made.branch.overrides) || 'no changes'}: branch ${made.branch.id} checked out, p continues it`,
        ),
      );
      this.refreshSessions();
    });
  }

  /** Checks a branch of the open session out; the panels follow it. */
  checkout(branch: string): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      const done = await this.engine.checkout(id, branch);
      this.store.set((s) =>
        notify(
          s,
          `checked out ${done.branch.id}${done.branch.label === null ? '' : ` (${done.branch.label})`}; session ${done.status}`,
        ),
      );
      this.refreshSessions();
    });
  }

  /** Tries again what failed in a resumable way. */
  retry(): void {
    const id = this.store.get().open?.id;
    if (id === undefined) return;
    void this.actAsync(async () => {
      if (this.driverOf(id) === 'elsewhere') {
        this.store.set((s) => notify(s, 'another process drives this session; retry there', 'warn'));
        return;
      }
      const runtime = await this.drive(id, true);
      const count = runtime?.retry() ?? 0;
      this.store.set((s) =>
        notify(s, count === 0 ? 'nothing to retry' : `retrying ${count} conversation${count === 1 ? '' : 's'}`),
      );
    });
  }

  private driverOf(sessionId: string): 'here' | 'elsewhere' | 'none' {
    if (this.engine.get(sessionId) !== undefined) return 'here';
    return isHolderAlive(this.engine.store.leases.holder(sessionId), this.app.clock.now()) ? 'elsewhere' : 'none';
  }

  /** The runtime driving a session from this process, taking it over when nobody drives it. */
  private async drive(sessionId: string, retryFailed = false): Promise<SessionRuntime | undefined> {
    const here = this.engine.get(sessionId);
    if (here !== undefined) return here;
    if (this.driverOf(sessionId) === 'elsewhere') {
      this.store.set((s) =>
        notify(
          s,
          'another process drives this session: you can watch it, answer its questions, pause or cancel it',
          'warn',
        ),
      );
      return undefined;
    }
    const runtime = await this.engine.attach(sessionId, { retryFailed });
    this.store.set((s) => (s.open?.id === sessionId ? { ...s, driver: 'here' } : s));
    return runtime;
  }

  private control(
    session: string,
    request: { action: 'cancel' | 'pause' | 'resume' } | { action: 'respond'; callId: string; text: string },
  ): void {
    const store = this.engine.store;
    store.write(() =>
      store.append(
        {
          type: 'session.control',
          payload: { ...request, from: `${hostname()}:${process.pid} (tui)` },
          session,
          branch: null,
          conversation: null,
        },
        this.app.clock.now(),
      ),
    );
    this.store.set((s) => notify(s, `asked the process driving ${session} to ${request.action}`));
  }

  private act(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.report(error);
    }
  }

  private async actAsync(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    const text = isP2Error(error)
      ? `${error.code}: ${error.message}${error.hint === undefined ? '' : ` — ${error.hint}`}`
      : messageOf(error);
    this.store.set((s) => notify(s, text, 'error'));
  }

  private scheduleListRefresh(): void {
    if (this.listTimer !== undefined) return;
    this.listTimer = this.app.clock.timeout(
      () => {
        this.listTimer = undefined;
        this.refreshSessions();
      },
      200,
      { keepAlive: true },
    );
  }
}

/** The chain's report as the Wallets pane shows it. */
function summary(report: AuditReport): Omit<NonNullable<LedgerPaneState['chain']>, 'full'> {
  return {
    ok: report.ok,
    entries: report.entries,
    head: report.head?.hash ?? null,
    reason: report.ok ? null : `offset ${report.firstBad ?? '?'}: ${report.reason ?? ''}`,
  };
}
