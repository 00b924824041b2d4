import type { SessionStatus } from '../../core/events.ts';
import { UserError, type P2Error } from '../../core/errors.ts';
import type { SessionRow } from '../../store/sessions.ts';
import type { Persona } from '../../agents/persona.ts';
import type { BranchOverrides } from '../branching.ts';
import type { EngineContext, Txn } from '../context.ts';
import type { ControlRequest } from '../control.ts';
import type { ConversationRuntime } from '../conversation.ts';
import type { Rebuilt } from '../rebuild.ts';
import { deriveStatus } from '../status.ts';
import { Approvals } from './approvals.ts';
import { BranchMoves, type BranchOptions } from './branch-moves.ts';
import { ModelSteps } from './model-steps.ts';
import { endOnFault, stopError } from './failure.ts';
import { recover } from './recovery.ts';
import { Settlement } from './settlement.ts';
import { SessionState, steppable, type SessionLoop } from './state.ts';
import { ToolCalls } from './tool-calls.ts';
import { Waiters } from './waiters.ts';
import { keepSnapshots } from '../snapshot.ts';
import { SessionWriter } from './writer.ts';

/** A question a session waits on: an agent's (`ask_user`), or a call that needs a person's approval. */
export interface PendingQuestion {
  readonly callId: string;
  readonly conversation: string;
  readonly agent: string;
  readonly question: string;
  readonly deadline: number | null;
}

/**
 * Drives one session in this process: holds its lease, keeps the in-memory projection of its conversations, runs
 * their steps when the scheduler says so, and writes every change through two-phase commits (decide: the model
 * call, its entries and an intent per call; settle: results), so a process killed at any instant loses nothing
 * committed and repeats no effect. The work is done by its parts (model steps, tool calls, approvals, settlement,
 * recovery, branch moves), which share its state and write through one writer; this is their loop and the face
 * front ends call.
 */
export class SessionRuntime implements SessionLoop {
  readonly id: string;
  private readonly state: SessionState;
  private readonly writer: SessionWriter;
  private readonly settlement: Settlement;
  private readonly approvals: Approvals;
  private readonly tools: ToolCalls;
  private readonly steps: ModelSteps;
  private readonly moves: BranchMoves;
  private readonly waiters: Waiters;

  /** `overrides`: the checked-out branch's (a new session's main branch has none). */
  private constructor(ctx: EngineContext, row: SessionRow, overrides: BranchOverrides = {}) {
    this.id = row.id;
    this.state = new SessionState(ctx, row, overrides, this);
    this.writer = new SessionWriter(this.state);
    this.settlement = new Settlement(this.state, this.writer);
    this.approvals = new Approvals(this.state, this.writer);
    this.tools = new ToolCalls(this.state, this.writer, this.settlement, this.approvals);
    this.steps = new ModelSteps(this.state, this.writer, this.settlement, this.tools);
    this.moves = new BranchMoves(this.state, this.writer, this.approvals);
    this.waiters = new Waiters(this.state);
  }

  /** A runtime for a session row; `startSession` and `loadSession` (open.ts) make and start it. */
  static create(ctx: EngineContext, row: SessionRow, overrides: BranchOverrides = {}): SessionRuntime {
    return new SessionRuntime(ctx, row, overrides);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Opening (for open.ts): each inside the session's first write or right after it

  /** Takes the session's lease and follows its control requests; inside a write. */
  claimLease(now: number): void {
    this.state.ctx.leases.claim(this.id, now, (error) => this.stop(error));
    this.state.ctx.control.watch(this.id, (request) => this.onControl(request));
  }

  /** A new session's first commit: its `session.created` event, root conversation and first message. */
  begin(tx: Txn, persona: Persona, message: string): void {
    const { state, writer } = this;
    const { row } = state;
    const { title, source, options } = row;
    const created = { agent: persona.id, conversation: row.rootConversation, title, source, options };
    writer.event(tx, 'session.created', { ...created, workspace: row.workspace });
    state.root = writer.conversation(tx, row.rootConversation, persona, null, null);
    writer.entry(tx, state.root, { kind: 'user_message', payload: { text: message } });
    writer.heads(tx);
  }

  /**
   * A loaded session's projection (rebuilt from the log), then what an interrupted run left outstanding settled;
   * a cancelled session is only read.
   */
  async adopt(rebuilt: Rebuilt, retryFailed: boolean): Promise<void> {
    const { state } = this;
    state.conversations = rebuilt.conversations;
    state.root = rebuilt.root;
    state.totalSteps = rebuilt.totalSteps;
    if (state.row.status === 'paused') state.paused = true;
    if (state.row.status === 'cancelled') return;
    await this.recover(retryFailed);
    this.updateStatus();
  }

  /** A persona as this session's branch sees it (its overrides applied). */
  persona(id: string): Persona {
    return this.state.persona(id);
  }

  private recover(retryFailed: boolean): Promise<void> {
    return recover(
      { state: this.state, writer: this.writer, settlement: this.settlement, tools: this.tools },
      retryFailed,
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Branch moves (the engine writes the branch row and the checkout in the same transaction)

  /** Continues on a branch forked at the current head, in memory; false when something is in flight. */
  switchBranch(branch: string, options: BranchOptions, now: number): boolean {
    return this.moves.switchTo(branch, options, now);
  }

  /** Continues on a branch forked at an earlier point, in memory; false when it cannot (see canRewind). */
  rewindTo(branch: string, seq: number, options: BranchOptions, now: number): boolean {
    if (!this.moves.canRewind(seq)) return false;
    const settling = this.moves.rewindTo(branch, seq, options, now);
    if (!settling) this.writeStatus(now);
    return true;
  }

  /**
   * After `rewindTo` has committed: what a load does for calls left outstanding at the cut (recorded results taken,
   * questions asked again), then the session rests paused if the branch has work to do, like a checkout.
   */
  async settleAfterRewind(): Promise<void> {
    if (!this.state.settling) return;
    this.state.settling = false;
    await this.recover(false);
    this.state.paused = this.moves.hasWork();
    this.updateStatus();
  }

  canRewind(seq: number): boolean {
    return this.moves.canRewind(seq);
  }

  canSwitchBranch(): boolean {
    return this.moves.canSwitch();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading

  /** The branch this runtime writes to. */
  get branch(): string {
    return this.state.branch;
  }

  get session(): SessionRow {
    return { ...this.state.row, status: this.state.status };
  }

  /** Set when the runtime stopped on an error it cannot continue past (a lost lease, a failed commit). */
  get error(): P2Error | undefined {
    return this.state.error;
  }

  /** The conversations as this runtime holds them (read them, never change them: the log is the truth). */
  get projection(): ReadonlyMap<string, ConversationRuntime> {
    return this.state.conversations;
  }

  get currentStatus(): SessionStatus {
    return this.state.status;
  }

  /** Whether this process still drives the session (not detached, not stopped by an error). */
  get active(): boolean {
    return this.state.active;
  }

  /** Whether a person's message is on its way into the log (sent, not yet committed). */
  get sending(): boolean {
    return this.state.sending;
  }

  /** The root conversation's latest answer. */
  get answer(): string {
    const { root } = this.state;
    return root.state.phase === 'finished' ? root.lastAnswer : '';
  }

  /** Questions agents are waiting on, oldest first, then calls waiting for approval. */
  pendingQuestions(): PendingQuestion[] {
    const out: PendingQuestion[] = [];
    for (const conv of this.state.conversations.values()) {
      for (const [callId, q] of conv.questions) {
        if (conv.pendingResults.has(callId)) continue;
        out.push({ callId, conversation: conv.id, agent: conv.agent, question: q.question, deadline: q.deadline });
      }
    }
    return [...out, ...this.approvals.questions()];
  }

  /** Resolves when nothing is running or runnable: finished, waiting for the user, failed, paused or cancelled. */
  idle(): Promise<SessionStatus> {
    return this.waiters.idle();
  }

  /** Resolves at the next change of status (for a front end following a paused session, say). */
  nextStatus(): Promise<SessionStatus> {
    return this.waiters.nextStatus();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Commands

  /** The user's next message to the root conversation (it must have finished, failed, or be new). */
  async send(text: string): Promise<void> {
    this.assertDrivable();
    const { state } = this;
    const phase = state.root.state.phase;
    // The flag covers the time until the commit lands, so two messages sent at once cannot both pass.
    if (state.sending || (phase !== 'finished' && phase !== 'failed' && phase !== 'idle')) {
      throw new UserError('E_CONVERSATION_BUSY', `session ${this.id} is still working on the last message (${phase})`, {
        hint: 'Wait for it to finish, answer its question, or cancel it.',
      });
    }
    state.sending = true;
    try {
      await this.writer.commit((tx) => this.writer.entry(tx, state.root, { kind: 'user_message', payload: { text } }));
    } finally {
      state.sending = false;
    }
  }

  /** Tries again every conversation that failed in a resumable way (a provider error, a timeout, the budget). */
  retry(): number {
    this.assertDrivable();
    let count = 0;
    for (const conv of this.state.conversations.values()) {
      if (conv.state.phase === 'failed' && conv.state.retryable) {
        this.enqueue(conv);
        count += 1;
      }
    }
    return count;
  }

  /** Answers a question an agent asked, or decides a call that waits for approval. */
  async respond(callId: string, text: string, by: 'user' | 'policy' = 'user'): Promise<void> {
    this.assertDrivable();
    if (await this.approvals.answer(callId, text, by)) {
      // No longer waiting for the user: the call runs (or is settled as not approved) now.
      this.updateStatus();
      return;
    }
    const conv = this.state.askedBy(callId);
    if (conv === undefined) {
      throw new UserError('E_SESSION_STATE', `no question '${callId}' is waiting in session ${this.id}`, {
        hint: 'See the open questions with: p2tui session show <id>',
      });
    }
    const result = { kind: 'user_response', payload: { callId, text, by } } as const;
    await this.writer.commit((tx) => this.settlement.settle(tx, conv, callId, result));
  }

  pause(): void {
    if (this.state.paused) return;
    this.state.paused = true;
    this.updateStatus();
  }

  resume(): void {
    if (!this.state.paused) return;
    this.state.paused = false;
    for (const conv of this.state.conversations.values()) if (conv.state.phase === 'ready') this.enqueue(conv);
    this.updateStatus();
  }

  /** Stops every step and call, settles what is outstanding as cancelled, and marks the session cancelled. */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    const { state } = this;
    if (state.cancelled !== undefined || state.status === 'cancelled') return;
    state.cancelled = reason;
    state.abortAll(new UserError('E_CANCELLED', reason));
    try {
      // The entries that end every conversation and the status go in one commit: no reader sees a cancelled
      // session whose stacks still say working.
      await this.writer.commit((tx) => {
        for (const conv of state.conversations.values()) this.settlement.cancel(tx, conv, reason);
        this.recordStatus({ status: 'cancelled', reason }, tx.now);
      });
      state.status = 'cancelled';
    } finally {
      state.cancelled = undefined;
      this.waiters.wakeIdle();
    }
  }

  /** Stops driving without changing the session: in-flight work is dropped uncommitted and picked up on resume. */
  detach(options: { groupedRelease?: boolean } = {}): void {
    const { state } = this;
    if (state.detached) return;
    state.detached = true;
    // What this process built in memory saves the next one a replay (not after a failed commit: memory may be ahead).
    if (state.error === undefined && state.queuedCommits === 0)
      keepSnapshots(state.ctx.store, state.id, state.conversations.values());
    state.abortAll(new UserError('E_CANCELLED', 'detached'));
    for (const conv of state.conversations.values()) conv.clearTimers();
    this.releaseLease(options.groupedRelease === true);
    this.waiters.wakeIdle();
    this.waiters.wakeStatus();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The loop: the scheduler's steps, status, leases

  /** Whether the scheduler may run a step of this conversation now. */
  canStep(conversation: string): boolean {
    const { state } = this;
    const conv = state.conversations.get(conversation);
    // An aborted runtime (cancelled, detached, stopped) must never step again: an aborted model call returns at
    // once, and re-running it would spin without yielding.
    if (conv === undefined || state.paused || state.abort.signal.aborted || state.error !== undefined) return false;
    return steppable(conv);
  }

  async step(conversation: string, modelDone: () => void = () => undefined): Promise<void> {
    const conv = this.state.conversations.get(conversation);
    if (conv === undefined || conv.inFlight) return;
    conv.inFlight = true;
    try {
      await this.steps.take(conv, this.state.ctx.clock.monotonic(), modelDone);
    } catch (error) {
      this.stop(error, conversation);
    } finally {
      conv.inFlight = false;
      // Results that arrived during this step (answered at once by policy, say) made it ready again.
      if (conv.state.phase === 'ready') this.enqueue(conv);
      this.updateStatus();
    }
  }

  enqueue(conv: ConversationRuntime): void {
    const { state } = this;
    if (state.paused || state.abort.signal.aborted) return;
    state.ctx.scheduler.enqueue(this, conv.id);
  }

  updateStatus(): void {
    const { state } = this;
    if (state.detached || state.ctx.store.isClosed || state.error !== undefined) {
      this.waiters.wakeIdle();
      return;
    }
    // A cancel writes its status in its own commit.
    if (state.cancelled !== undefined || state.status === 'cancelled') return;
    const next = this.derivedStatus();
    if (next.status !== state.status) {
      state.status = next.status;
      try {
        state.ctx.store.write(() => {
          const now = state.ctx.clock.now();
          state.ctx.leases.assert(state.id, now);
          this.recordStatus(next, now);
        });
      } catch (error) {
        this.stop(error);
      }
    }
    if (this.waiters.isIdle()) this.waiters.wakeIdle();
  }

  /** Inside a write that holds the lease: the status, written when it changed. */
  private writeStatus(now: number): void {
    const next = this.derivedStatus();
    if (next.status === this.state.status) return;
    this.state.status = next.status;
    this.recordStatus(next, now);
  }

  private derivedStatus(): { status: SessionStatus; reason: string | null } {
    const { state } = this;
    return deriveStatus(state.conversations.values(), state.root, state, this.approvals.waiting);
  }

  /** The status's row and event, and (once committed) whoever waits for a change. */
  private recordStatus(next: { status: SessionStatus; reason: string | null }, now: number): void {
    this.writer.status(next.status, next.reason, now);
    this.waiters.wakeStatus(true);
  }

  /**
   * Stops driving after an error. An internal fault (in `conversation`'s step, when known) ends the session `failed`
   * with the error before the lease goes, so it is never left `running` with nobody driving it, and a resume does not
   * run the same step into the same fault again.
   */
  stop(error: unknown, conversation?: string): void {
    const { state } = this;
    if (state.error !== undefined || state.detached) return;
    const stopped = stopError(this.id, error);
    state.error = stopped;
    state.abortAll(stopped);
    for (const conv of state.conversations.values()) conv.clearTimers();
    const ended = endOnFault({ state, writer: this.writer, settlement: this.settlement }, error, conversation);
    // Let another process take over at once instead of after the lease expires.
    if (stopped.code !== 'E_LEASE_LOST') this.releaseLease();
    else state.ctx.control.unwatch(this.id);
    this.waiters.wakeIdle();
    this.waiters.wakeStatus(ended);
  }

  /** Lets go of the lease (and the control requests); at once, or (`grouped`) in the next group commit. */
  releaseLease(grouped = false): void {
    this.state.ctx.control.unwatch(this.id);
    this.state.ctx.leases.release(this.id, grouped);
  }

  /** Requests other processes wrote to this session's log. */
  private onControl(request: ControlRequest): void {
    const run = async (): Promise<void> => {
      if (request.action === 'respond') await this.respond(request.callId, request.text);
      else if (request.action === 'send') await this.send(request.text);
      else if (request.action === 'cancel') await this.cancel(`cancelled from another process (${request.from})`);
      else if (request.action === 'pause') this.pause();
      else this.resume();
    };
    run().catch(() => undefined);
  }

  private assertDrivable(): void {
    const { state } = this;
    if (state.error !== undefined) throw state.error;
    if (state.detached)
      throw new UserError('E_SESSION_STATE', `session ${this.id} is no longer driven by this process`);
    if (state.status === 'cancelled')
      throw new UserError('E_SESSION_STATE', `session ${this.id} was cancelled`, { hint: 'Start a new session.' });
  }
}
