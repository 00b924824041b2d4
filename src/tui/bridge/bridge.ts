import type { Timer } from '../../core/clock.ts';
import type { StoredEvent } from '../../core/events.ts';
import { hostname } from 'node:os';
import { isP2Error, messageOf } from '../../core/errors.ts';
import type { App } from '../../app/app.ts';
import type { Engine } from '../../engine/engine.ts';
import { isHolderAlive } from '../../store/leases.ts';
import type { SessionRuntime } from '../../engine/session/runtime.ts';
import { SessionProjection } from '../projection.ts';
import { backToSessions, notify, openSession, setOverlay, type SessionSummary } from '../state.ts';
import { setSessions } from '../sessions-list.ts';
import type { TuiStore } from '../store.ts';
import { Branching } from './branching.ts';
import type { BridgeHost } from './host.ts';
import { checkoutByPolicy, policyCheckoutNotice } from './policy-checkout.ts';
import { RolloutGrid } from './rollout-grid.ts';
import { followWallets } from './wallets.ts';

/**
 * The TUI's link to the engine: it follows the log through the bus (never the database on a render), keeps the
 * sessions list and the open session's projection up to date in the store, and turns user actions into engine
 * commands. Sessions driven by another process are followed live and answered through control requests.
 */
export class TuiBridge implements BridgeHost {
  readonly app: App;
  readonly engine: Engine;
  readonly store: TuiStore;
  /** The open session's branches: forks, rewinds, checkouts, comparisons. */
  readonly branching: Branching;
  /** The rollouts overlay and grid. */
  readonly grid: RolloutGrid;
  private readonly stop = new AbortController();
  private openStop: AbortController | undefined;
  private listTimer: Timer | undefined;
  private orphanTimer: Timer | undefined;
  private adopting = false;
  /** A branch a score policy just checked out, until its policy.acted says why (the notice). */
  private policyBranch: string | undefined;
  /** Reads the open session's ledger again now (the Wallets pane changed what it shows). */
  private ledgerRefresh: () => void = () => undefined;

  constructor(app: App, store: TuiStore) {
    this.app = app;
    this.engine = app.engine;
    this.store = store;
    this.branching = new Branching(this);
    this.grid = new RolloutGrid(this);
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
    this.adoptOrphans();
    // Not only at start: a process that dies (or stops renewing its lease) while the TUI is open leaves its session
    // orphaned, so look again as often as leases are renewed (at most every second).
    this.orphanTimer = this.app.clock.interval(() => this.adoptOrphans(), Math.min(1000, this.engine.heartbeatMs));
  }

  /** Takes over the sessions whose driver is gone (its lease expired, or its process died on this host). */
  private adoptOrphans(): void {
    if (this.adopting || this.stop.signal.aborted) return;
    this.adopting = true;
    void this.engine
      .adoptOrphans()
      .then(({ adopted }) => {
        if (adopted.length === 0 || this.stop.signal.aborted) return;
        const count = `${adopted.length} session${adopted.length === 1 ? '' : 's'}`;
        this.store.set((s) => notify(s, `continuing ${count} left by a process that stopped`), true);
        this.scheduleListRefresh();
      })
      .catch(() => undefined)
      .finally(() => (this.adopting = false));
  }

  dispose(): void {
    this.stop.abort();
    this.grid.dispose();
    this.openStop?.abort();
    this.listTimer?.cancel();
    this.orphanTimer?.cancel();
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
      for (const event of batch) {
        projection.apply(event);
        this.announcePolicy(event);
      }
      cursor = batch[batch.length - 1]!.seq;
    }
    this.store.set((s) => openSession(s, projection, this.driverOf(sessionId)));
    this.ledgerRefresh = followWallets(this, projection, controller.signal);
    void (async () => {
      for await (const event of this.engine.bus.subscribe({
        fromSeq: cursor,
        filter: { session: sessionId },
        signal: controller.signal,
        pollMs: 100,
      })) {
        if (event.type === 'branch.checkout' && event.payload.branch !== head) {
          // A score policy switched the branch under the user's eyes: said once its policy.acted names the branch.
          if (checkoutByPolicy(this.engine.store, { ...event.payload, ts: event.ts }) !== undefined)
            this.policyBranch = event.payload.branch;
          this.open(sessionId);
          return;
        }
        projection.apply(event);
        this.announcePolicy(event);
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

  /** The notice for a checkout a score policy made (policyBranch), once its policy.acted is read. */
  private announcePolicy(event: StoredEvent): void {
    if (this.policyBranch === undefined) return;
    const said = policyCheckoutNotice(this.engine.store, event, this.policyBranch);
    if (said === undefined) return;
    this.policyBranch = undefined;
    this.store.set((s) => notify(s, said, 'warn'), true);
  }

  close(): void {
    this.openStop?.abort();
    this.openStop = undefined;
    const from = this.store.get().sessionFrom;
    this.store.set(backToSessions);
    // Opened from a rollout grid's cell: back to that grid, where it was, following the rollout live again.
    if (from?.kind === 'grid') {
      this.grid.openGrid(from.rollout);
      this.store.set((s) =>
        s.overlay?.kind === 'grid'
          ? setOverlay(s, { ...s.overlay, row: from.row, col: from.col, repeat: from.repeat })
          : s,
      );
      this.grid.regrid(() => from.options);
    }
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

  /**
   * Sends the user's next message: driving the session from here if nobody else does, else through the process that
   * drives it (a control request). While that session still works the message could not be taken: it stays in the
   * input, with the reason.
   */
  send(text: string): void {
    const open = this.store.get().open;
    if (open === null) return;
    const id = open.id;
    if (this.driverOf(id) === 'elsewhere') {
      if (open.status === 'running' || open.status === 'waiting' || open.status === 'paused') {
        this.store.set((s) =>
          notify(
            { ...s, input: { text, cursor: text.length } },
            `not sent: the session is ${open.status} in another process; send it when it has finished its work`,
            'warn',
          ),
        );
        return;
      }
      return this.act(() => this.control(id, { action: 'send', text }));
    }
    void this.actAsync(async () => {
      const runtime = await this.drive(id);
      if (runtime === undefined) return;
      try {
        await runtime.send(text);
      } catch (error) {
        if (!isP2Error(error) || error.code !== 'E_CONVERSATION_BUSY') throw error;
        // Busy with other work (a score policy retrying the last answer, say): the message goes back into the input
        // (unless something was typed since), never lost, to be sent once the answer is in.
        this.store.set((s) =>
          notify(
            s.input.text === '' ? { ...s, input: { text, cursor: text.length } } : s,
            `not sent: ${error.message}; your message is back in the input: send it when the answer is in`,
            'warn',
          ),
        );
      }
    });
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
    request:
      | { action: 'cancel' | 'pause' | 'resume' }
      | { action: 'respond'; callId: string; text: string }
      | { action: 'send'; text: string },
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
    this.store.set((s) =>
      notify(
        s,
        request.action === 'send'
          ? `sent the message through the process driving ${session}`
          : `asked the process driving ${session} to ${request.action}`,
      ),
    );
  }

  act(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.report(error);
    }
  }

  async actAsync(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.report(error);
    }
  }

  report(error: unknown): void {
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
