import type { Persona } from '../agents/persona.ts';
import type { SessionOptions, SessionStatus } from '../core/events.ts';
import type { EntryDraft, EntryPayloads } from '../core/entries.ts';
import { P2Error, StoreError, UserError, messageOf } from '../core/errors.ts';
import { newBranchId, newConversationId, newModelCallId, newSessionId, nextEventId } from '../core/ids.ts';
import type { JobTrigger, TargetKind } from '../store/scores.ts';
import type { JsonValue } from '../core/json.ts';
import { Recording } from './replay.ts';
import { overriddenPersona, type BranchOverrides, type PersonaOverride } from './branching.ts';
import type { ModelResponse } from '../models/provider.ts';
import type { SessionRow } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import type { EvaluatorRef } from './ports.ts';
import type { EngineContext, StartSession, Txn } from './context.ts';
import type { ControlRequest } from './control.ts';
import { ConversationRuntime } from './conversation.ts';
import type { CallPlan, Plan } from './decide.ts';
import { apply, outstanding } from './fsm.ts';
import { modelFailure, planResponse, prepareCall, type Failure, type PreparedCall } from './model-step.ts';
import { rebuildConversations, type Rebuilt } from './rebuild.ts';
import { deriveStatus } from './status.ts';
import { approvalQuestion, approves } from './approval.ts';
import type { Tool, ToolContext } from '../tools/define.ts';
import { cacheKey, runTool, type ToolRun } from './tool-runner.ts';

export type { EngineContext, StartSession, StepTiming } from './context.ts';

/** A tool call waiting for a person's approval (answered through respond). */
interface PendingApproval {
  readonly conv: ConversationRuntime;
  readonly key: string;
  readonly tool: string;
  readonly reason: string;
  /** Takes the question (once): false when an answer, the timeout or a stop took it first. */
  claim(): boolean;
  resolve(decision: { approved: boolean; why: string } | undefined): void;
}

const POLICY_ANSWERS = {
  approve: 'Yes. (Answered by the approval policy: no user is at a terminal.)',
  deny: 'No. (Answered by the approval policy: no user is at a terminal; continue without the user.)',
} as const;

interface ToolCallRef {
  readonly callId: string;
  readonly key: string;
  readonly tool: string;
  readonly args: JsonValue;
  readonly effect: 'pure' | 'idempotent' | 'effectful';
  readonly duplicateOf?: string;
}

/**
 * Drives one session in this process: holds its lease, keeps an in-memory projection of its conversations, runs
 * their steps when the scheduler says so, and writes every change through two-phase commits (decide: the model
 * call, its entries and an intent per call; settle: results), so a process killed at any instant loses nothing
 * committed and repeats no effect.
 */
export class SessionRuntime {
  readonly id: string;
  /** The branch this runtime writes to (changes only by switchBranch, at a fork of the live head). */
  branch: string;
  /** Set when the runtime stopped on an error it cannot continue past (a lost lease, a failed commit). */
  error: P2Error | undefined;
  private readonly ctx: EngineContext;
  private row: SessionRow;
  private conversations = new Map<string, ConversationRuntime>();
  private root!: ConversationRuntime;
  private readonly abort = new AbortController();
  private paused = false;
  private detached = false;
  /** The reason, while a cancel is being committed. */
  private cancelled: string | undefined;
  private sending = false;
  /** A rewind left calls outstanding that `settleAfterRewind` settles. */
  private settling = false;
  /** Commits queued and not yet flushed. */
  private queuedCommits = 0;
  private statusWaiters: (() => void)[] = [];
  private totalSteps = 0;
  private status: SessionStatus;
  private idleWaiters: (() => void)[] = [];
  /** The recording this session replays (`--replay-from`), when it does. */
  private readonly recording: Recording | undefined;
  /** Personas as this branch's overrides change them (another system prompt or tools), by agent id. */
  private readonly personaOverrides: Readonly<Record<string, PersonaOverride>>;
  private readonly personaCache = new Map<string, Persona>();
  /** Tool calls waiting for a person's approval, by call id (answered through respond). */
  private readonly approvals = new Map<string, PendingApproval>();

  /** `overrides`: the checked-out branch's (a new session's main branch has none). */
  private constructor(ctx: EngineContext, row: SessionRow, overrides: BranchOverrides = {}) {
    this.ctx = ctx;
    this.id = row.id;
    this.branch = row.headBranch;
    this.row = row;
    this.status = row.status;
    this.personaOverrides = overrides.personas ?? {};
    const replay = row.options.replay;
    this.recording =
      replay === undefined ? undefined : Recording.load(ctx.store, { session: replay.from, onMiss: replay.onMiss });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Creating and loading

  /** Starts a session: its row, main branch, root conversation and first user message, in one commit. */
  static start(ctx: EngineContext, spec: StartSession): SessionRuntime {
    const { runtime, write } = SessionRuntime.prepareStart(ctx, spec);
    ctx.store.write(write);
    runtime.ctx.scheduler.enqueue(runtime, runtime.row.rootConversation);
    return runtime;
  }

  /**
   * `start` with its first commit shared with whatever else commits in the same tick (many sessions started at
   * once: a rollout's cells). The session exists once this resolves.
   */
  static async startGrouped(ctx: EngineContext, spec: StartSession): Promise<SessionRuntime> {
    const { runtime, write } = SessionRuntime.prepareStart(ctx, spec);
    await ctx.store.commit(write);
    runtime.ctx.scheduler.enqueue(runtime, runtime.row.rootConversation);
    return runtime;
  }

  private static prepareStart(ctx: EngineContext, spec: StartSession): { runtime: SessionRuntime; write: () => void } {
    const persona = overriddenPersona(ctx.ports.personas.get(spec.agent), spec.overrides?.personas?.[spec.agent]);
    const now = ctx.clock.now();
    const branch = newBranchId();
    const row: SessionRow = {
      id: newSessionId(),
      createdAt: now,
      updatedAt: now,
      agent: persona.id,
      rootConversation: newConversationId(),
      headBranch: branch,
      title: spec.title ?? spec.message.split('\n')[0]!.slice(0, 80),
      source: spec.source,
      status: 'running',
      statusReason: null,
      options: spec.options,
      workspace: ctx.ports.root,
    };
    const overrides = spec.overrides ?? {};
    const runtime = new SessionRuntime(ctx, row, overrides);
    const { store } = ctx;
    const write = (): void => {
      runtime.claimLease(now);
      store.sessions.createSession(row);
      store.sessions.createBranch(
        {
          id: branch,
          session: row.id,
          parent: null,
          forkSeq: null,
          label: 'main',
          overrides: overrides as Record<string, unknown>,
          createdBy: spec.source,
          createdAt: now,
        },
        [],
      );
      store.append(
        {
          type: 'session.created',
          payload: {
            agent: persona.id,
            conversation: row.rootConversation,
            title: row.title,
            source: spec.source,
            workspace: ctx.ports.root,
            options: spec.options,
          },
          session: row.id,
          branch,
          conversation: null,
        },
        now,
      );
      const tx: Txn = { now, touched: new Set(), after: [], jobs: [] };
      runtime.root = runtime.createConversation(tx, row.rootConversation, persona, null, null);
      runtime.appendEntry(tx, runtime.root, { kind: 'user_message', payload: { text: spec.message } });
      runtime.writeHeads(tx);
    };
    return { runtime, write };
  }

  /**
   * Loads a session from the store and takes it over: rebuilds every conversation from the log, then settles what
   * a crash interrupted (pure and idempotent calls run again; effectful ones are reconciled or settled as unknown).
   */
  static async load(
    ctx: EngineContext,
    sessionId: string,
    options: { retryFailed?: boolean; maxSteps?: number; approval?: SessionOptions['approval'] } = {},
    prebuilt?: Rebuilt,
  ): Promise<SessionRuntime> {
    let row = ctx.store.sessions.require(sessionId);
    const changed = options.maxSteps !== undefined || options.approval !== undefined;
    if (changed) {
      row = {
        ...row,
        options: {
          ...row.options,
          ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
          ...(options.approval === undefined ? {} : { approval: options.approval }),
        },
      };
    }
    // A branch forked with overrides (another model or temperature) runs its steps with them; the session's own
    // options stay as they are for its other branches.
    const overrides = (ctx.store.sessions.branch(row.headBranch)?.overrides ?? {}) as BranchOverrides;
    const branchOptions = {
      ...(overrides.model === undefined ? {} : { model: overrides.model }),
      ...(overrides.temperature === undefined ? {} : { temperature: overrides.temperature }),
    };
    const runtime = new SessionRuntime(ctx, { ...row, options: { ...row.options, ...branchOptions } }, overrides);
    ctx.store.write(() => {
      runtime.claimLease(ctx.clock.now());
      if (changed) ctx.store.sessions.setOptions(row.id, row.options);
    });
    try {
      // A checkout just rebuilt this branch (and nothing was written since): no second pass over the log.
      const rebuilt = prebuilt ?? rebuildConversations(ctx.store, ctx.personas, row, (id) => runtime.persona(id));
      runtime.conversations = rebuilt.conversations;
      runtime.root = rebuilt.root;
      runtime.totalSteps = rebuilt.totalSteps;
    } catch (error) {
      runtime.releaseLease();
      throw error;
    }
    if (row.status === 'paused') runtime.paused = true;
    if (row.status === 'cancelled') return runtime;
    await runtime.recover(options.retryFailed ?? false);
    runtime.updateStatus();
    return runtime;
  }

  /** Settles what an interrupted run left outstanding, then queues every runnable conversation. */
  private async recover(retryFailed: boolean): Promise<void> {
    const { store, ports } = this.ctx;
    const toRun: { conv: ConversationRuntime; call: ToolCallRef }[] = [];
    const toReconcile: { conv: ConversationRuntime; call: ToolCallRef }[] = [];
    await this.commit((tx) => {
      for (const conv of this.conversations.values()) {
        if (conv.state.phase !== 'waiting') continue;
        for (const call of outstanding(conv.state)) {
          const key = conv.callKeys.get(call.callId);
          const intent = key === undefined ? undefined : store.calls.intent(key);
          if (call.kind === 'agent_call') {
            // From the child as this branch has it, never from the intent: after a rewind into a delegation the
            // intent holds the answer of the child on the old branch, and the child here goes on from the cut.
            const child = conv.childByCall.get(call.callId);
            if (child?.state.phase === 'finished') this.propagate(tx, child, 'ok');
            else if (child?.state.phase === 'failed' && !child.state.retryable)
              this.propagate(tx, child, 'failed', 'the delegated agent failed');
            else this.armDelegationTimer(tx, conv, call.callId);
          } else if (intent?.status === 'done' && intent.result !== null) {
            conv.pendingResults.set(call.callId, intent.result);
          } else if (call.kind === 'tool_call') {
            if (intent === undefined || key === undefined) continue;
            const ref: ToolCallRef = {
              callId: call.callId,
              key,
              tool: intent.tool,
              args: intent.args,
              effect: intent.effect,
            };
            if (ports.tools.get(intent.tool) === undefined) {
              this.settleInTx(tx, conv, call.callId, {
                kind: 'tool_result',
                payload: {
                  callId: call.callId,
                  tool: intent.tool,
                  status: 'error',
                  error: `tool '${intent.tool}' no longer exists in this workspace`,
                },
              });
            } else if (intent.effect !== 'effectful' || intent.status === 'pending') {
              // Pure and idempotent calls run again; an effectful one that never started may start now.
              toRun.push({ conv, call: ref });
            } else {
              toReconcile.push({ conv, call: ref });
            }
          } else {
            this.answerByPolicyOrWait(tx, conv, call.callId);
          }
        }
        this.release(tx, conv);
      }
    });
    for (const { conv, call } of toRun) void this.runToolCall(conv, call);
    for (const { conv, call } of toReconcile) void this.reconcileToolCall(conv, call);
    for (const conv of this.conversations.values()) {
      if (conv.state.phase === 'ready' || (retryFailed && conv.state.phase === 'failed' && conv.state.retryable))
        this.enqueue(conv);
    }
  }

  /**
   * Continues on a branch forked at this runtime's current head, without replaying the log: the state in memory is
   * exactly the new branch's. Only while nothing is in flight (in-flight work belongs to the source branch); the
   * caller writes the branch row in the same transaction. Returns false when it cannot switch now.
   */
  switchBranch(branch: string, options: { model?: string; temperature?: number }, now: number): boolean {
    if (!this.canSwitchBranch()) return false;
    this.branch = branch;
    this.row = { ...this.row, headBranch: branch, options: { ...this.row.options, ...options } };
    for (const conv of this.conversations.values()) {
      this.ctx.store.setHead({
        branch,
        conversation: conv.id,
        session: this.id,
        headSeq: conv.headSeq,
        phase: conv.state.phase,
        updatedAt: now,
      });
    }
    return true;
  }

  /**
   * Continues on a branch forked at an earlier point of this runtime's branch (a rewind) without replaying the log:
   * each conversation goes back in memory to how it was after its last entry at or before `seq` (what came after
   * is undone, so the cost is the length of the part cut off, not of the history), and conversations started after
   * it are dropped. The caller writes the branch row and the checkout in the same transaction, then calls
   * `settleAfterRewind`. Like a checkout, it leaves the session paused when the branch has work to do.
   */
  rewindTo(branch: string, seq: number, options: { model?: string; temperature?: number }, now: number): boolean {
    if (!this.canRewind(seq)) return false;
    for (const conv of this.conversations.values()) {
      // Deadlines and delegation timers belong to the old branch; settling the new one arms its own.
      conv.clearTimers();
      if (!conv.rewindTo(seq)) this.conversations.delete(conv.id);
      // A conversation cancelled after the cut (a delegation timeout, say) is not cancelled on the new branch.
      else if (conv.abort.signal.aborted) conv.abort = new AbortController();
    }
    let total = 0;
    for (const conv of this.conversations.values()) {
      total += conv.steps;
      // Links to conversations that do not exist at the cut go with them (a rebuild would not make them).
      for (const [callId, child] of conv.childByCall)
        if (!this.conversations.has(child.id)) conv.childByCall.delete(callId);
      for (const [agent, children] of conv.childrenByAgent) {
        const kept = children.filter((c) => this.conversations.has(c.id));
        if (kept.length === 0) conv.childrenByAgent.delete(agent);
        else if (kept.length !== children.length) conv.childrenByAgent.set(agent, kept);
      }
      this.ctx.store.setHead({
        branch,
        conversation: conv.id,
        session: this.id,
        headSeq: conv.headSeq,
        phase: conv.state.phase,
        updatedAt: now,
      });
    }
    this.totalSteps = total;
    this.branch = branch;
    this.row = { ...this.row, headBranch: branch, options: { ...this.row.options, ...options } };
    this.settling = [...this.conversations.values()].some((c) => c.state.phase === 'waiting');
    if (this.settling) {
      // Outstanding calls are settled by `settleAfterRewind`, which then decides.
      this.paused = true;
    } else {
      // Nothing to settle: the status goes in the same transaction.
      this.paused =
        deriveStatus(this.conversations.values(), this.root, { paused: false }, this.approvals).status === 'running';
      const { status, reason } = deriveStatus(
        this.conversations.values(),
        this.root,
        { paused: this.paused },
        this.approvals,
      );
      if (status !== this.status) {
        this.status = status;
        this.writeStatus(status, reason, now);
      }
    }
    return true;
  }

  /**
   * After `rewindTo` has committed: what a load does for calls left outstanding at the cut (recorded results taken,
   * questions asked again), then the session rests paused if the branch has work to do, like a checkout.
   */
  async settleAfterRewind(): Promise<void> {
    if (!this.settling) return;
    this.settling = false;
    await this.recover(false);
    this.paused =
      deriveStatus(this.conversations.values(), this.root, { paused: false }, this.approvals).status === 'running';
    this.updateStatus();
  }

  /**
   * Whether a rewind to `seq` can happen in memory: nothing in flight or half-delivered, no cancel or message on its
   * way, and every conversation still keeps marks that far back.
   */
  canRewind(seq: number): boolean {
    if (
      !this.active ||
      this.sending ||
      this.queuedCommits > 0 ||
      this.cancelled !== undefined ||
      this.status === 'cancelled'
    )
      return false;
    for (const conv of this.conversations.values()) {
      if (
        conv.inFlight ||
        conv.runningTools.size > 0 ||
        conv.pendingResults.size > 0 ||
        conv.effectsNotStarted.size > 0 ||
        !conv.canRewindTo(seq)
      )
        return false;
    }
    return true;
  }

  /** Whether nothing is in flight, so a fork at the head can continue in this runtime. */
  canSwitchBranch(): boolean {
    if (!this.active || this.paused || this.queuedCommits > 0) return false;
    for (const conv of this.conversations.values())
      if (conv.inFlight || conv.runningTools.size > 0 || conv.pendingResults.size > 0 || conv.state.phase === 'ready')
        return false;
    return true;
  }

  /** A persona as this branch sees it. */
  private persona(id: string): Persona {
    let persona = this.personaCache.get(id);
    if (persona === undefined) {
      persona = overriddenPersona(this.ctx.ports.personas.get(id), this.personaOverrides[id]);
      this.personaCache.set(id, persona);
    }
    return persona;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading

  get session(): SessionRow {
    return { ...this.row, status: this.status };
  }

  /** The conversations as this runtime holds them (read them, never change them: the log is the truth). */
  get projection(): ReadonlyMap<string, ConversationRuntime> {
    return this.conversations;
  }

  get currentStatus(): SessionStatus {
    return this.status;
  }

  /** Aborts the session and every conversation's own calls (they listen to their conversation's signal). */
  private abortAll(reason: unknown): void {
    this.abort.abort(reason);
    for (const conv of this.conversations.values()) conv.abort.abort(reason);
  }

  /** Whether this process still drives the session (not detached, not stopped by an error). */
  get active(): boolean {
    return !this.detached && this.error === undefined;
  }

  /** The root conversation's latest answer. */
  get answer(): string {
    return this.root.state.phase === 'finished' ? this.root.lastAnswer : '';
  }

  /** Questions agents are waiting on, oldest first. */
  pendingQuestions(): {
    callId: string;
    conversation: string;
    agent: string;
    question: string;
    deadline: number | null;
  }[] {
    const out: { callId: string; conversation: string; agent: string; question: string; deadline: number | null }[] =
      [];
    for (const conv of this.conversations.values()) {
      for (const [callId, q] of conv.questions) {
        if (!conv.pendingResults.has(callId))
          out.push({ callId, conversation: conv.id, agent: conv.agent, question: q.question, deadline: q.deadline });
      }
    }
    for (const [callId, a] of this.approvals)
      out.push({
        callId,
        conversation: a.conv.id,
        agent: a.conv.agent,
        question: approvalQuestion(a.tool, a.reason),
        deadline: null,
      });
    return out;
  }

  /** Resolves when nothing is running or runnable: finished, waiting for the user, failed, paused or cancelled. */
  idle(): Promise<SessionStatus> {
    if (this.isIdle()) return Promise.resolve(this.status);
    return new Promise((resolve) => this.idleWaiters.push(() => resolve(this.status)));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Commands

  /** The user's next message to the root conversation (it must have finished, failed, or be new). */
  async send(text: string): Promise<void> {
    this.assertDrivable();
    const phase = this.root.state.phase;
    // The flag covers the time until the commit lands, so two messages sent at once cannot both pass.
    if (this.sending || (phase !== 'finished' && phase !== 'failed' && phase !== 'idle')) {
      throw new UserError('E_CONVERSATION_BUSY', `session ${this.id} is still working on the last message (${phase})`, {
        hint: 'Wait for it to finish, answer its question, or cancel it.',
      });
    }
    this.sending = true;
    try {
      await this.commit((tx) => this.appendEntry(tx, this.root, { kind: 'user_message', payload: { text } }));
    } finally {
      this.sending = false;
    }
  }

  /** Tries again every conversation that failed in a resumable way (a provider error, a timeout, the budget). */
  retry(): number {
    this.assertDrivable();
    let count = 0;
    for (const conv of this.conversations.values()) {
      if (conv.state.phase === 'failed' && conv.state.retryable) {
        this.enqueue(conv);
        count += 1;
      }
    }
    return count;
  }

  /** Answers a question an agent asked. */
  async respond(callId: string, text: string, by: 'user' | 'policy' = 'user'): Promise<void> {
    this.assertDrivable();
    const waiting = this.approvals.get(callId);
    // Claimed before anything is awaited: a timeout or a second answer meanwhile decides nothing.
    const approval = waiting !== undefined ? (waiting.claim() ? waiting : undefined) : this.requestedApproval(callId);
    if (waiting !== undefined && approval === undefined)
      throw new UserError('E_SESSION_STATE', `the approval '${callId}' was decided already`);
    if (approval !== undefined) {
      const approved = approves(text);
      const decision = {
        approved,
        why: `${by === 'user' ? 'the user' : 'the approval policy'} did not approve it (answered '${text.trim()}'): ${approval.reason}`,
      };
      await this.commit((tx) => this.appendDecision(tx, approval.conv, callId, approval.key, approved, by, text));
      if (waiting !== undefined) waiting.resolve(decision);
      else {
        // Asked meanwhile (a session attached a moment ago reaches its question after the answer was given).
        const late = this.approvals.get(callId);
        if (late?.claim() === true) late.resolve(decision);
      }
      // No longer waiting for the user: the call runs (or is settled as not approved) now.
      this.updateStatus();
      return;
    }
    const conv = [...this.conversations.values()].find((c) => c.questions.has(callId) && !c.pendingResults.has(callId));
    if (conv === undefined) {
      throw new UserError('E_SESSION_STATE', `no question '${callId}' is waiting in session ${this.id}`, {
        hint: 'See the open questions with: p2tui session show <id>',
      });
    }
    await this.commit((tx) =>
      this.settleInTx(tx, conv, callId, { kind: 'user_response', payload: { callId, text, by } }),
    );
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.updateStatus();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const conv of this.conversations.values()) if (conv.state.phase === 'ready') this.enqueue(conv);
    this.updateStatus();
  }

  /** Stops every step and call, settles what is outstanding as cancelled, and marks the session cancelled. */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    if (this.cancelled !== undefined || this.status === 'cancelled') return;
    this.cancelled = reason;
    this.abortAll(new UserError('E_CANCELLED', reason));
    try {
      // The entries that end every conversation and the status go in one commit: no reader sees a cancelled
      // session whose stacks still say working.
      await this.commit((tx) => {
        for (const conv of this.conversations.values()) this.cancelConversation(tx, conv, reason);
        this.writeStatus('cancelled', reason, tx.now);
      });
      this.status = 'cancelled';
    } finally {
      this.cancelled = undefined;
      this.notifyIdle();
    }
  }

  /** Stops driving without changing the session: in-flight work is dropped uncommitted and picked up on resume. */
  detach(options: { groupedRelease?: boolean } = {}): void {
    if (this.detached) return;
    this.detached = true;
    this.abortAll(new UserError('E_CANCELLED', 'detached'));
    for (const conv of this.conversations.values()) conv.clearTimers();
    this.releaseLease(options.groupedRelease === true);
    this.notifyIdle();
    const waiters = this.statusWaiters;
    this.statusWaiters = [];
    waiters.forEach((wake) => wake());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The step

  canStep(conversation: string): boolean {
    const conv = this.conversations.get(conversation);
    // An aborted runtime (cancelled, detached, stopped) must never step again: an aborted model call returns at
    // once, and re-running it would spin without yielding.
    if (conv === undefined || this.paused || this.abort.signal.aborted || this.error !== undefined) return false;
    return steppable(conv);
  }

  async step(conversation: string, modelDone: () => void = () => undefined): Promise<void> {
    const conv = this.conversations.get(conversation);
    if (conv === undefined || conv.inFlight) return;
    conv.inFlight = true;
    const started = performance.now();
    try {
      await this.stepConversation(conv, started, modelDone);
    } catch (error) {
      this.stop(error);
    } finally {
      conv.inFlight = false;
      // Results that arrived during this step (answered at once by policy, say) made it ready again.
      if (conv.state.phase === 'ready') this.enqueue(conv);
      this.updateStatus();
    }
  }

  private async stepConversation(conv: ConversationRuntime, started: number, modelDone: () => void): Promise<void> {
    const { ctx } = this;
    const budgetFailure = this.budgetFailure(conv);
    if (budgetFailure !== undefined) return this.commit((tx) => this.fail(tx, conv, budgetFailure));
    const call = prepareCall(conv, this.row.options, ctx.ports.models, ctx.personas);
    const modelCall = newModelCallId();
    this.totalSteps += 1;
    conv.steps = call.ordinal;
    if (ctx.bus.hasDeltaListeners)
      ctx.bus.emit({
        type: 'step.started',
        session: this.id,
        conversation: conv.id,
        agent: conv.agent,
        ordinal: call.ordinal,
      });
    const timeoutMs = conv.persona.policies.model_timeout_ms;
    // The conversation's signal is aborted by a cancel of the session as well as of the conversation alone.
    const convAbort = conv.abort.signal;
    const callAbort = new AbortController();
    const onAbort = (): void => callAbort.abort(convAbort.reason);
    convAbort.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const startedAt = ctx.clock.now();
    let modelStarted = performance.now();
    let response: ModelResponse;
    const replayed = this.recording?.model(conv.path, call.ordinal, call.requestHash, call.rendered.messages);
    if (replayed !== undefined && 'miss' in replayed && this.recording?.source.onMiss === 'fail') {
      modelDone();
      convAbort.removeEventListener('abort', onAbort);
      this.totalSteps -= 1;
      conv.steps = call.ordinal - 1;
      const miss: Failure = {
        code: 'E_REPLAY_MISS',
        message: `no recording for this model call: ${replayed.miss}`,
        retryable: true,
        hint: 'Run it again with --on-miss live to call the model where the recording has no answer.',
      };
      return this.commit((tx) => this.fail(tx, conv, miss));
    }
    if (replayed !== undefined && 'hit' in replayed) {
      // Served from the recording: no provider, no slot, no cost.
      convAbort.removeEventListener('abort', onAbort);
      response = replayed.hit;
      modelStarted = performance.now();
    } else
      try {
        response = await ctx.scheduler.provider(call.provider.id).run(() => {
          // The timeout starts when the call does, not while it waits for a slot of the provider. A provider that
          // retries times each attempt itself (its rate-limit waits and backoffs are not the model's slowness).
          if (call.provider.timesAttempts !== true) {
            timer = setTimeout(() => {
              timedOut = true;
              callAbort.abort(new UserError('E_MODEL_TIMEOUT', `no answer within ${duration(timeoutMs)}`));
            }, timeoutMs);
          }
          modelStarted = performance.now();
          return call.provider.complete(call.request, {
            signal: callAbort.signal,
            attemptTimeoutMs: timeoutMs,
            // Always offered: a listener may arrive while the model is working (a TUI opening the session).
            onDelta: (d) => {
              if (!ctx.bus.hasDeltaListeners) return;
              if ('text' in d)
                ctx.bus.emit({
                  type: 'delta',
                  session: this.id,
                  conversation: conv.id,
                  agent: conv.agent,
                  modelCall,
                  text: d.text,
                });
              else
                ctx.bus.emit({
                  type: 'tool.delta',
                  session: this.id,
                  conversation: conv.id,
                  agent: conv.agent,
                  modelCall,
                  callId: d.toolCall.id,
                  name: d.toolCall.name,
                  argumentsDelta: d.toolCall.argumentsDelta,
                });
            },
            onRetry: (notice) => {
              if (ctx.bus.hasDeltaListeners)
                ctx.bus.emit({
                  type: 'model.retry',
                  session: this.id,
                  conversation: conv.id,
                  agent: conv.agent,
                  modelCall,
                  ...notice,
                });
            },
          });
        });
      } catch (error) {
        modelDone();
        this.totalSteps -= 1;
        conv.steps = call.ordinal - 1;
        // Cancelled, detached, or the conversation was stopped meanwhile: nothing to record.
        if (this.abort.signal.aborted || convAbort.aborted) return;
        const failure = modelFailure(error, timedOut, call.modelRef, timeoutMs, this.id);
        const latencyMs = Math.round(performance.now() - modelStarted);
        return this.commit((tx) => {
          this.recordModelCall(tx, conv, call, modelCall, {
            response: null,
            latencyMs,
            startedAt,
            error: failure.message,
          });
          this.fail(tx, conv, failure);
        });
      } finally {
        clearTimeout(timer);
        convAbort.removeEventListener('abort', onAbort);
      }
    modelDone();
    const modelMs = performance.now() - modelStarted;
    const fromRecording = replayed !== undefined && 'hit' in replayed;
    if (ctx.bus.hasDeltaListeners)
      ctx.bus.emit({ type: 'stream.end', session: this.id, conversation: conv.id, modelCall });
    if (this.abort.signal.aborted || convAbort.aborted || !steppable(conv)) {
      // The conversation was cancelled (a delegation timeout, say) while the model worked: drop the answer.
      this.totalSteps -= 1;
      conv.steps = call.ordinal - 1;
      return;
    }
    const plan = planResponse(conv, response, modelCall, ctx.ports.tools, ctx.clock.now());
    await this.commit((tx) => {
      this.recordModelCall(tx, conv, call, modelCall, {
        response,
        latencyMs: Math.round(modelMs),
        startedAt,
        error: null,
        replayed: fromRecording,
      });
      this.applyPlan(tx, conv, plan);
    });
    ctx.onStepTiming?.({ totalMs: performance.now() - started, modelMs });
  }

  /** A step the budgets forbid: the session's (resumable with more) or the persona's per-conversation limit. */
  private budgetFailure(conv: ConversationRuntime): Failure | undefined {
    const budget = this.row.options.maxSteps;
    if (this.totalSteps >= budget) {
      return {
        code: 'E_STEP_BUDGET',
        message: `the session used its step budget of ${budget} model calls`,
        retryable: true,
        hint: `Resume with a larger budget: p2tui session resume ${this.id} --max-steps ${budget * 2}`,
      };
    }
    const limit = conv.persona.policies.max_steps;
    if (conv.steps >= limit) {
      return {
        code: 'E_STEP_BUDGET',
        message: `${conv.agent} reached its limit of ${limit} model calls in one conversation (policies.max_steps)`,
        retryable: false,
        hint: `Raise policies.max_steps in ${conv.persona.source} if the task really needs more steps.`,
      };
    }
    return undefined;
  }

  /** The decide commit's body: the entries of a response, an intent per call, children started, results known now. */
  private applyPlan(tx: Txn, conv: ConversationRuntime, plan: Plan): void {
    const byEntry = new Map<string, CallPlan>(plan.calls.map((c) => [c.entryId, c]));
    for (const planned of plan.entries) {
      this.appendEntry(tx, conv, planned.draft, planned.id);
      const call = byEntry.get(planned.id);
      if (call !== undefined) this.addIntent(tx, conv, call);
    }
    for (const call of plan.calls) {
      if (call.kind === 'tool' && call.immediate === undefined) {
        const ref: ToolCallRef = {
          callId: call.callId,
          key: call.key,
          tool: call.tool,
          args: call.args,
          effect: call.effect,
          ...(call.duplicateOf === undefined ? {} : { duplicateOf: call.duplicateOf }),
        };
        tx.after.push(() => void this.runToolCall(conv, ref));
      } else if (call.kind === 'agent') {
        this.startDelegation(tx, conv, call);
      } else if (call.kind === 'user') {
        this.answerByPolicyOrWait(tx, conv, call.callId);
      }
    }
    this.release(tx, conv);
    if (conv.state.phase === 'finished') this.propagate(tx, conv, 'ok');
  }

  private addIntent(tx: Txn, conv: ConversationRuntime, call: CallPlan): void {
    const immediate = call.kind === 'tool' ? call.immediate : undefined;
    this.ctx.store.calls.addIntent({
      key: call.key,
      session: this.id,
      branch: this.branch,
      conversation: conv.id,
      callId: call.callId,
      entryId: call.entryId,
      kind: call.kind,
      tool: call.kind === 'tool' ? call.tool : call.kind === 'agent' ? 'delegate' : 'ask_user',
      effect: call.kind === 'tool' ? call.effect : 'pure',
      args:
        call.kind === 'tool'
          ? call.args
          : call.kind === 'agent'
            ? { agent: call.agent, message: call.message }
            : { question: call.question },
      status: immediate === undefined ? 'pending' : 'done',
      result: immediate ?? null,
      createdAt: tx.now,
    });
    if (immediate !== undefined) conv.pendingResults.set(call.callId, immediate);
  }

  private startDelegation(tx: Txn, parent: ConversationRuntime, call: Extract<CallPlan, { kind: 'agent' }>): void {
    const persona = this.persona(call.agent);
    const child =
      (call.reuse ? this.conversations.get(call.child) : undefined) ??
      this.createConversation(tx, call.child, persona, parent, call.callId);
    // Tagged with the parent's head (the response's last entry): a rewind to before the response unlinks them.
    parent.linkChild(call.callId, child, parent.headSeq);
    this.appendEntry(tx, child, { kind: 'user_message', payload: { text: call.message } });
    if (call.refusal !== undefined) {
      this.appendEntry(tx, child, {
        kind: 'failed',
        payload: { code: call.refusal.code, message: call.refusal.message, retryable: false },
      });
      this.propagate(tx, child, 'failed', call.refusal.message);
      return;
    }
    this.armDelegationTimer(tx, parent, call.callId);
  }

  /** A child's finish (or final failure) pops back to its caller as an agent_result, in the same commit. */
  private propagate(tx: Txn, child: ConversationRuntime, status: 'ok' | 'failed', error?: string): void {
    const parent = child.parent;
    const callId = child.parentCallId;
    if (parent === null || callId === null) return;
    const payload: EntryPayloads['agent_result'] = {
      callId,
      agent: child.agent,
      child: child.id,
      status,
      text: status === 'ok' ? child.lastAnswer : '',
      ...(error === undefined ? {} : { error }),
    };
    this.settleInTx(tx, parent, callId, { kind: 'agent_result', payload });
  }

  private fail(tx: Txn, conv: ConversationRuntime, failure: Failure): void {
    this.appendEntry(tx, conv, { kind: 'failed', payload: failure });
    // A retryable failure waits for a resume; a final one pops back to the caller, which decides what to do.
    if (!failure.retryable) this.propagate(tx, conv, 'failed', failure.message);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Tools

  private async runToolCall(conv: ConversationRuntime, call: ToolCallRef): Promise<void> {
    const { ctx } = this;
    const tool = ctx.ports.tools.get(call.tool);
    const signal = conv.abort.signal;
    if (tool === undefined || signal.aborted) return;
    if (this.recording !== undefined) {
      const recorded = this.recording.result(conv.path, call.callId, call.tool, call.args);
      // Replayed: the recorded result, and the tool does not run (no effect happens twice). With --on-miss live a
      // call the recording lacks runs for real; otherwise it is settled as an error saying so.
      if (recorded !== undefined || this.recording.source.onMiss === 'fail') {
        const result: EntryDraft = recorded ?? {
          kind: 'tool_result',
          payload: {
            callId: call.callId,
            tool: call.tool,
            status: 'error',
            error: `replay: the recording of ${this.recording.source.session} has no result for this call`,
          },
        };
        try {
          await this.commit((tx) => {
            // A recorded output kept as an artifact: this session refers to it too, so it outlives the source.
            const hash = result.kind === 'tool_result' ? result.payload.artifact : undefined;
            const ref =
              hash === undefined
                ? undefined
                : ctx.store.artifacts.reference(
                    hash,
                    {
                      kind: 'tool_output',
                      name: `${call.tool}-output`,
                      session: this.id,
                      branch: this.branch,
                      conversation: conv.id,
                      entry: call.key,
                    },
                    tx.now,
                  );
            if (ref !== undefined) {
              ctx.store.append(
                {
                  type: 'artifact.created',
                  payload: {
                    hash: ref.hash,
                    kind: ref.kind,
                    name: ref.name,
                    mime: ref.mime,
                    size: ref.size,
                    entry: call.key,
                  },
                  session: this.id,
                  branch: this.branch,
                  conversation: conv.id,
                },
                tx.now,
              );
            }
            this.settleInTx(tx, conv, call.callId, result);
          });
        } catch (error) {
          this.stop(error);
        } finally {
          this.updateStatus();
        }
        return;
      }
    }
    // A call that needs a person's yes waits for it (or the approval policy's answer) before anything runs.
    let approved = false;
    const reason = await this.approvalReason(conv, tool, call);
    if (reason !== undefined) {
      const decision = await this.approval(conv, call, tool.name, reason);
      if (decision === undefined || signal.aborted || this.detached) return;
      if (!decision.approved) {
        try {
          await this.commit((tx) =>
            this.settleInTx(tx, conv, call.callId, {
              kind: 'tool_result',
              payload: { callId: call.callId, tool: tool.name, status: 'error', error: `not run: ${decision.why}` },
            }),
          );
        } catch (error) {
          this.stop(error);
        } finally {
          this.updateStatus();
        }
        return;
      }
      approved = true;
    }
    try {
      if (call.effect === 'effectful') {
        // The at-most-once line: once this is durable, a crash leaves the call to reconciliation, never to a rerun.
        let started = false;
        await this.commit((tx) => {
          started = ctx.store.calls.markRunning(call.key, tx.now);
          // Marked as started, not started yet: a cancel in the meantime knows the effect did not happen.
          if (started) conv.effectsNotStarted.add(call.callId);
        });
        const settled =
          conv.pendingResults.has(call.callId) || !outstanding(conv.state).some((c) => c.callId === call.callId);
        conv.effectsNotStarted.delete(call.callId);
        // Settled meanwhile (cancelled, timed out) or stopped: the effect must not start now.
        if (!started || signal.aborted || settled) return;
      }
      const cached =
        tool.effect === 'pure' && tool.cacheTtlMs > 0
          ? ctx.store.toolCache.get(cacheKey(call.tool, call.args), ctx.clock.now())
          : undefined;
      let run: ToolRun;
      if (cached !== undefined) {
        run = {
          result: {
            kind: 'tool_result',
            payload: { callId: call.callId, tool: tool.name, status: 'ok', output: cached, cached: true, latencyMs: 0 },
          },
          attachments: [],
        };
      } else {
        if (ctx.bus.hasDeltaListeners)
          ctx.bus.emit({
            type: 'tool.started',
            session: this.id,
            conversation: conv.id,
            callId: call.callId,
            tool: tool.name,
          });
        conv.runningTools.add(call.callId);
        try {
          run = await runTool(tool, call.args, {
            ...this.toolContext(conv, call),
            ...(approved ? { approved: true } : {}),
            signal,
            timeoutMs: tool.timeoutMs ?? conv.persona.policies.tool_timeout_ms,
            now: () => ctx.clock.now(),
          });
        } finally {
          conv.runningTools.delete(call.callId);
        }
      }
      if (this.detached) return;
      // A tool that echoes a configured key (an MCP server given it in its environment, say) must not store it.
      if (ctx.ports.redactor.active) {
        const redactor = ctx.ports.redactor;
        run = {
          ...run,
          result: redactor.json(run.result),
          attachments: run.attachments.map((a) =>
            typeof a.data === 'string' ? { ...a, data: redactor.redact(a.data) } : a,
          ),
          ...(run.cache === undefined ? {} : { cache: { ...run.cache, output: redactor.json(run.cache.output) } }),
        };
      }
      if (call.duplicateOf !== undefined)
        run = {
          ...run,
          result: { kind: 'tool_result', payload: { ...run.result.payload, duplicateOf: call.duplicateOf } },
        };
      await this.commit((tx) => {
        if (run.cache !== undefined)
          ctx.store.toolCache.put(run.cache.key, tool.name, run.cache.output, run.cache.expiresAt);
        for (const a of run.attachments) {
          const ref = ctx.store.artifacts.put(
            a.data,
            {
              mime: a.mime,
              kind: a.kind,
              name: a.name,
              session: this.id,
              branch: this.branch,
              conversation: conv.id,
              entry: call.key,
            },
            tx.now,
          );
          ctx.store.append(
            {
              type: 'artifact.created',
              payload: { hash: ref.hash, kind: a.kind, name: a.name, mime: a.mime, size: ref.size, entry: call.key },
              session: this.id,
              branch: this.branch,
              conversation: conv.id,
            },
            tx.now,
          );
          for (const e of ctx.ports.evaluations.onArtifact(a.kind))
            this.addJob(tx, e, 'artifact', ref.hash, 'artifact.created');
        }
        for (const m of run.milestones ?? []) {
          ctx.store.append(
            {
              type: 'milestone',
              payload: { name: m.name, detail: m.detail, tool: tool.name, entry: call.key },
              session: this.id,
              branch: this.branch,
              conversation: conv.id,
            },
            tx.now,
          );
          for (const e of ctx.ports.evaluations.onMilestone(m.name)) this.addJob(tx, e, 'step', call.key, 'milestone');
        }
        this.settleInTx(tx, conv, call.callId, run.result);
      });
    } catch (error) {
      this.stop(error);
    } finally {
      this.updateStatus();
    }
  }

  /** What a tool knows about its call, besides its signal, timeout and attachments. */
  private toolContext(
    conv: ConversationRuntime,
    call: ToolCallRef,
  ): Omit<ToolContext, 'attach' | 'milestone' | 'signal'> {
    const { ctx } = this;
    return {
      session: this.id,
      branch: this.branch,
      conversation: conv.id,
      agent: conv.agent,
      callId: call.callId,
      key: call.key,
      workspace: ctx.ports.root,
      ...(ctx.ports.wallets === undefined ? {} : { wallets: ctx.ports.wallets.scoped(this.row.options.ledgerScope) }),
      ...(conv.persona.policies.spend === undefined
        ? {}
        : {
            spending: {
              policy: conv.persona.policies.spend,
              approval: this.row.options.approval,
              source: conv.persona.source,
            },
          }),
    };
  }

  /** Why this call needs a person's approval (its persona guards the tool, or the tool says so), if it does. */
  private async approvalReason(conv: ConversationRuntime, tool: Tool, call: ToolCallRef): Promise<string | undefined> {
    const parsed = tool.input.safeParse(call.args);
    // Invalid arguments never run: the tool runner reports them without asking anyone.
    if (!parsed.success) return undefined;
    let own: string | undefined;
    try {
      own = await tool.approval?.(parsed.data, {
        ...this.toolContext(conv, call),
        signal: conv.abort.signal,
        attach: () => undefined,
      });
    } catch {
      // The tool cannot tell (its ledger is unreachable, say): the call runs and reports that itself.
      own = undefined;
    }
    if (own !== undefined) return own;
    if (conv.persona.policies.approve_tools?.includes(tool.name) === true) {
      const args = JSON.stringify(call.args);
      return `${conv.agent} calls ${tool.name} ${args.length > 200 ? `${args.slice(0, 200)}…` : args} (policies.approve_tools in ${conv.persona.source})`;
    }
    return undefined;
  }

  /**
   * A person's decision on a call: one already recorded for its key (given before a crash or by another process),
   * the approval policy's when it is not `ask`, or the answer to a question the session waits on. Undefined when the
   * session stopped meanwhile (the call stays outstanding and is asked again on resume).
   */
  private async approval(
    conv: ConversationRuntime,
    call: ToolCallRef,
    tool: string,
    reason: string,
  ): Promise<{ approved: boolean; why: string } | undefined> {
    const { ctx } = this;
    const earlier = ctx.store.log
      .read(0, { session: this.id, types: ['approval.requested', 'approval.decided'] }, 100_000)
      .filter((e) => (e.type === 'approval.requested' || e.type === 'approval.decided') && e.payload.key === call.key);
    const decided = earlier.find((e) => e.type === 'approval.decided');
    if (decided?.type === 'approval.decided')
      return { approved: decided.payload.approved, why: `it was refused (${decided.payload.by}): ${reason}` };
    const policy = this.row.options.approval;
    if (policy !== 'ask') {
      await this.commit((tx) =>
        this.appendDecision(tx, conv, call.callId, call.key, policy === 'approve', 'policy', policy),
      );
      return { approved: policy === 'approve', why: `the session's approval policy (${policy}) refused it: ${reason}` };
    }
    if (earlier.length === 0) {
      await this.commit((tx) =>
        ctx.store.append(
          {
            type: 'approval.requested',
            payload: { callId: call.callId, key: call.key, agent: conv.agent, tool, reason },
            session: this.id,
            branch: this.branch,
            conversation: conv.id,
          },
          tx.now,
        ),
      );
    }
    const signal = conv.abort.signal;
    if (signal.aborted) return undefined;
    const timeoutMs = conv.persona.policies.user_timeout_ms;
    return new Promise((resolve) => {
      let open = true;
      const pending: PendingApproval = {
        conv,
        key: call.key,
        tool,
        reason,
        // Exactly one decision: whoever claims the question first (an answer, the timeout, a stop) settles it.
        claim: () => {
          if (!open) return false;
          open = false;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.approvals.delete(call.callId);
          return true;
        },
        resolve,
      };
      const onAbort = (): void => {
        if (pending.claim()) resolve(undefined);
      };
      const timer = setTimeout(() => {
        if (!pending.claim()) return;
        void this.commit((tx) =>
          this.appendDecision(
            tx,
            conv,
            call.callId,
            call.key,
            false,
            'timeout',
            `no answer within ${duration(timeoutMs)}`,
          ),
        ).then(
          () => resolve({ approved: false, why: `nobody approved it within ${duration(timeoutMs)}: ${reason}` }),
          (error: unknown) => {
            this.stop(error);
            resolve(undefined);
          },
        );
      }, timeoutMs);
      timer.unref();
      signal.addEventListener('abort', onAbort, { once: true });
      this.approvals.set(call.callId, pending);
      this.updateStatus();
    });
  }

  /**
   * An approval asked before this runtime took over (another process, or before a restart) whose call is still
   * outstanding here: answerable at once, before the call reaches its question again (it then finds the decision).
   */
  private requestedApproval(callId: string): { conv: ConversationRuntime; key: string; reason: string } | undefined {
    const conv = [...this.conversations.values()].find(
      (c) =>
        outstanding(c.state).some((o) => o.kind === 'tool_call' && o.callId === callId) &&
        !c.pendingResults.has(callId),
    );
    if (conv === undefined) return undefined;
    let found: { conv: ConversationRuntime; key: string; reason: string } | undefined;
    for (const e of this.ctx.store.log.read(
      0,
      { session: this.id, types: ['approval.requested', 'approval.decided'] },
      100_000,
    )) {
      if (e.type === 'approval.requested' && e.payload.callId === callId && e.conversation === conv.id)
        found = { conv, key: e.payload.key, reason: e.payload.reason };
      if (e.type === 'approval.decided' && e.payload.key === found?.key) found = undefined;
    }
    return found;
  }

  private appendDecision(
    tx: Txn,
    conv: ConversationRuntime,
    callId: string,
    key: string,
    approved: boolean,
    by: 'user' | 'policy' | 'timeout',
    text: string,
  ): void {
    this.ctx.store.append(
      {
        type: 'approval.decided',
        payload: { callId, key, approved, by, text },
        session: this.id,
        branch: this.branch,
        conversation: conv.id,
      },
      tx.now,
    );
  }

  /** After a crash: an effectful call that had started is looked up by its key, or settled as unknown. */
  private async reconcileToolCall(conv: ConversationRuntime, call: ToolCallRef): Promise<void> {
    const tool = this.ctx.ports.tools.get(call.tool);
    let outcome: { found: JsonValue } | 'absent' | { unknown: string };
    if (tool?.reconcile === undefined) {
      outcome = {
        unknown:
          'the process stopped while this effectful call was running, and the tool has no way to look up what happened; it was not run again',
      };
    } else {
      try {
        const found = await tool.reconcile(tool.input.parse(call.args), {
          ...this.toolContext(conv, call),
          signal: this.abort.signal,
          attach: () => undefined,
        });
        outcome =
          found === null || found === undefined ? 'absent' : { found: JSON.parse(JSON.stringify(found)) as JsonValue };
      } catch (error) {
        outcome = {
          unknown: `the process stopped while this call was running and reconciling it failed: ${messageOf(error)}; it was not run again`,
        };
      }
    }
    // The effect provably did not happen: running it now is still at most once.
    if (outcome === 'absent') return this.runToolCall(conv, call);
    const payload: EntryPayloads['tool_result'] =
      'found' in outcome
        ? { callId: call.callId, tool: call.tool, status: 'ok', output: outcome.found }
        : { callId: call.callId, tool: call.tool, status: 'unknown', error: outcome.unknown };
    try {
      await this.commit((tx) => this.settleInTx(tx, conv, call.callId, { kind: 'tool_result', payload }));
    } catch (error) {
      this.stop(error);
    } finally {
      this.updateStatus();
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Settling, timers, cancellation

  /** Stores a call's result and appends every result now releasable, in call order. */
  private settleInTx(tx: Txn, conv: ConversationRuntime, callId: string, result: EntryDraft): void {
    const key = conv.callKeys.get(callId);
    if (key === undefined || conv.pendingResults.has(callId)) return;
    if (!outstanding(conv.state).some((c) => c.callId === callId)) return;
    // Already settled (a timeout won the race): the late result is dropped. Not so for a delegation: its child on
    // this branch decides its result, and the same call may have been settled on the branch this one forked from.
    if (!this.ctx.store.calls.settle(key, result, tx.now) && result.kind !== 'agent_result') return;
    conv.pendingResults.set(callId, result);
    const timer = conv.timers.get(callId);
    if (timer !== undefined) {
      tx.after.push(() => {
        clearTimeout(timer);
        conv.timers.delete(callId);
      });
    }
    this.release(tx, conv);
  }

  private release(tx: Txn, conv: ConversationRuntime): void {
    for (const call of outstanding(conv.state)) {
      const result = conv.pendingResults.get(call.callId);
      if (result === undefined) return;
      conv.pendingResults.delete(call.callId);
      this.appendEntry(tx, conv, result);
    }
  }

  private answerByPolicyOrWait(tx: Txn, conv: ConversationRuntime, callId: string): void {
    const question = conv.questions.get(callId)?.question;
    const recorded =
      question === undefined ? undefined : this.recording?.result(conv.path, callId, 'ask_user', { question });
    if (recorded !== undefined) {
      // Replayed: the answer given in the recorded session (by the user, a policy or a timeout).
      this.settleInTx(tx, conv, callId, recorded);
      return;
    }
    const approval = this.row.options.approval;
    if (approval !== 'ask') {
      this.settleInTx(tx, conv, callId, {
        kind: 'user_response',
        payload: { callId, text: POLICY_ANSWERS[approval], by: 'policy' },
      });
      return;
    }
    const deadline = conv.questions.get(callId)?.deadline ?? null;
    if (deadline === null) return;
    const within = duration(conv.persona.policies.user_timeout_ms);
    tx.after.push(() =>
      this.armTimer(conv, callId, deadline - this.ctx.clock.now(), () => ({
        kind: 'user_response',
        payload: { callId, text: `No answer arrived within ${within}; proceed without it.`, by: 'timeout' },
      })),
    );
  }

  private armDelegationTimer(tx: Txn, parent: ConversationRuntime, callId: string): void {
    const timeoutMs = parent.persona.policies.delegation_timeout_ms;
    const result = (): EntryDraft => {
      const child = parent.childByCall.get(callId);
      return {
        kind: 'agent_result',
        payload: {
          callId,
          agent: child?.agent ?? '',
          child: child?.id ?? '',
          status: 'timeout',
          text: '',
          error: `no answer within ${duration(timeoutMs)}`,
        },
      };
    };
    const cancelChild = (tx2: Txn): void => {
      const child = parent.childByCall.get(callId);
      if (child !== undefined) this.cancelConversation(tx2, child, 'the delegating agent stopped waiting (timeout)');
    };
    tx.after.push(() => this.armTimer(parent, callId, timeoutMs, result, cancelChild));
  }

  private armTimer(
    conv: ConversationRuntime,
    callId: string,
    delayMs: number,
    result: () => EntryDraft,
    also?: (tx: Txn) => void,
  ): void {
    if (this.abort.signal.aborted) return;
    const timer = setTimeout(
      () => {
        conv.timers.delete(callId);
        void this.commit((tx) => {
          also?.(tx);
          this.settleInTx(tx, conv, callId, result());
        })
          .catch((error: unknown) => this.stop(error))
          .finally(() => this.updateStatus());
      },
      Math.max(0, delayMs),
    );
    timer.unref();
    clearTimeout(conv.timers.get(callId));
    conv.timers.set(callId, timer);
  }

  private cancelConversation(tx: Txn, conv: ConversationRuntime, reason: string): void {
    const phase = conv.state.phase;
    if (phase === 'finished' || phase === 'idle' || (phase === 'failed' && !conv.state.retryable)) return;
    conv.abort.abort(new UserError('E_CANCELLED', reason));
    for (const call of outstanding(conv.state)) {
      if (conv.pendingResults.has(call.callId)) continue;
      const child = conv.childByCall.get(call.callId);
      if (call.kind === 'agent_call' && child !== undefined) this.cancelConversation(tx, child, reason);
      const intent =
        call.kind === 'tool_call' ? this.ctx.store.calls.intent(conv.callKeys.get(call.callId) ?? '') : undefined;
      // An effectful call already running may have taken effect: say so rather than call it cancelled.
      const mayHaveRun =
        intent?.effect === 'effectful' && intent.status === 'running' && !conv.effectsNotStarted.has(call.callId);
      const result: EntryDraft =
        call.kind === 'tool_call'
          ? {
              kind: 'tool_result',
              payload: mayHaveRun
                ? {
                    callId: call.callId,
                    tool: intent.tool,
                    status: 'unknown',
                    error: `${reason} while it was running; it may or may not have taken effect`,
                  }
                : { callId: call.callId, tool: intent?.tool ?? '', status: 'cancelled', error: reason },
            }
          : call.kind === 'agent_call'
            ? {
                kind: 'agent_result',
                payload: {
                  callId: call.callId,
                  agent: child?.agent ?? '',
                  child: child?.id ?? '',
                  status: 'cancelled',
                  text: '',
                  error: reason,
                },
              }
            : { kind: 'user_response', payload: { callId: call.callId, text: `(cancelled: ${reason})`, by: 'policy' } };
      this.settleInTx(tx, conv, call.callId, result);
    }
    conv.clearTimers();
    if (conv.state.phase === 'ready' || conv.state.phase === 'failed') {
      this.appendEntry(tx, conv, {
        kind: 'failed',
        payload: { code: 'E_CANCELLED', message: reason, retryable: false },
      });
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Writing

  /** A group commit with this session's bookkeeping: lease check, heads, then queueing what became runnable. */
  private async commit(fn: (tx: Txn) => void): Promise<void> {
    if (this.detached) throw new UserError('E_CANCELLED', 'the session was detached from this process');
    let tx: Txn | undefined;
    // Queued writes run at the next flush, on whatever memory holds then: a rewind waits until none is queued.
    this.queuedCommits += 1;
    try {
      await this.ctx.store.commit(() => {
        tx = { now: this.ctx.clock.now(), touched: new Set(), after: [], jobs: [] };
        this.ctx.leases.assert(this.id, tx.now);
        fn(tx);
        if (tx.jobs.length > 0) {
          const upto = this.ctx.store.log.lastSeq();
          for (const queue of tx.jobs) queue(upto);
        }
        this.writeHeads(tx);
      });
    } catch (error) {
      // The store rolled this write back, but the projection in memory may already show it: stop driving (a
      // resume rebuilds from the log, which is the truth).
      this.stop(error);
      throw error;
    } finally {
      this.queuedCommits -= 1;
    }
    if (tx === undefined) return;
    for (const action of tx.after) action();
    for (const conv of tx.touched) if (conv.state.phase === 'ready') this.enqueue(conv);
    this.updateStatus();
  }

  private appendEntry(tx: Txn, conv: ConversationRuntime, draft: EntryDraft, id: string = nextEventId()): void {
    const next = apply(conv.state, draft);
    if (draft.kind === 'user_message' && conv.abort.signal.aborted) conv.abort = new AbortController();
    const event = this.ctx.store.append(
      {
        type: 'entry',
        kind: draft.kind,
        payload: draft.payload,
        session: this.id,
        branch: this.branch,
        conversation: conv.id,
      } as Parameters<Store['append']>[0],
      tx.now,
      id,
    );
    conv.state = next;
    conv.observe({ ...draft, id, seq: event.seq } as Parameters<ConversationRuntime['observe']>[0]);
    tx.touched.add(conv);
    // The judge's jobs go in the commit that finishes the conversation: durable, and never waited for here.
    if (draft.kind === 'finished')
      for (const e of this.ctx.ports.evaluations.onFinished(conv.agent, conv.parent === null))
        this.addJob(tx, e, 'conversation', conv.id, 'conversation.finished');
  }

  private addJob(
    tx: Txn,
    evaluator: EvaluatorRef,
    targetKind: TargetKind,
    targetId: string,
    trigger: JobTrigger,
  ): void {
    // Judged as the branch is at the end of this commit (a later message must not change what this job scores).
    tx.jobs.push((uptoSeq) =>
      this.ctx.ports.evaluations.queue({
        session: this.id,
        branch: this.branch,
        targetKind,
        targetId,
        trigger,
        evaluator,
        uptoSeq,
        now: tx.now,
      }),
    );
  }

  private createConversation(
    tx: Txn,
    id: string,
    persona: Persona,
    parent: ConversationRuntime | null,
    parentCallId: string | null,
  ): ConversationRuntime {
    const siblings = parent?.childrenByAgent.get(persona.id) ?? [];
    const path = parent === null ? persona.id : `${parent.path}/${persona.id}#${siblings.length + 1}`;
    const depth = parent === null ? 0 : parent.depth + 1;
    const conv = new ConversationRuntime(
      id,
      persona,
      parent,
      parentCallId,
      depth,
      path,
      this.ctx.personas.for(persona).system,
    );
    this.ctx.store.sessions.createConversation({
      id,
      session: this.id,
      branch: this.branch,
      agent: persona.id,
      parent: parent?.id ?? null,
      parentCallId,
      depth,
      path,
      createdAt: tx.now,
    });
    this.ctx.store.append(
      {
        type: 'conversation.created',
        payload: { agent: persona.id, parent: parent?.id ?? null, parentCallId, depth, path },
        session: this.id,
        branch: this.branch,
        conversation: id,
      },
      tx.now,
    );
    this.conversations.set(id, conv);
    if (parent !== null) parent.childrenByAgent.set(persona.id, [...siblings, conv]);
    return conv;
  }

  /** The model call's record (request hash and rendered entries, response, usage, cost) and its log event. */
  private recordModelCall(
    tx: Txn,
    conv: ConversationRuntime,
    call: PreparedCall,
    id: string,
    outcome: {
      response: ModelResponse | null;
      latencyMs: number;
      startedAt: number;
      error: string | null;
      replayed?: boolean;
    },
  ): void {
    const { response } = outcome;
    const tokensIn = response?.usage.inputTokens ?? 0;
    const tokensOut = response?.usage.outputTokens ?? 0;
    const estimated = response?.usage.estimated ?? true;
    // A call served from a recording cost nothing now; its tokens are kept so the two sessions compare.
    const costUsd = outcome.replayed === true ? 0 : this.ctx.ports.models.cost(call.modelRef, tokensIn, tokensOut);
    const provider = outcome.replayed === true ? 'replay' : call.provider.id;
    const status = response === null ? 'error' : 'ok';
    this.ctx.store.calls.recordModelCall({
      id,
      session: this.id,
      branch: this.branch,
      conversation: conv.id,
      ordinal: call.ordinal,
      provider,
      model: call.modelRef,
      requestHash: call.requestHash,
      request: { params: call.params, rendered: call.rendered },
      response:
        response === null
          ? null
          : {
              text: response.text,
              toolCalls: response.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
              finishReason: response.finishReason,
            },
      tokensIn,
      tokensOut,
      estimated,
      costUsd,
      latencyMs: outcome.latencyMs,
      status,
      error: outcome.error,
      ts: outcome.startedAt,
    });
    const recorded = this.ctx.store.append(
      {
        type: 'model.call',
        payload: {
          id,
          ordinal: call.ordinal,
          provider,
          model: call.modelRef,
          simulated: call.provider.simulated,
          tokensIn,
          tokensOut,
          estimated,
          costUsd,
          latencyMs: outcome.latencyMs,
          requestHash: call.requestHash,
          status,
          ...(outcome.error === null ? {} : { error: outcome.error }),
          ...(call.rendered.omitted === undefined ? {} : { omitted: call.rendered.omitted }),
        },
        session: this.id,
        branch: this.branch,
        conversation: conv.id,
      },
      tx.now,
    );
    if (status === 'ok') conv.countModelCall(recorded.seq);
  }

  private writeHeads(tx: Txn): void {
    for (const conv of tx.touched) {
      this.ctx.store.setHead({
        branch: this.branch,
        conversation: conv.id,
        session: this.id,
        headSeq: conv.headSeq,
        phase: conv.state.phase,
        updatedAt: tx.now,
      });
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Status, leases, plumbing

  private updateStatus(): void {
    if (this.detached || this.ctx.store.isClosed || this.error !== undefined) {
      this.notifyIdle();
      return;
    }
    // A cancel writes its status in its own commit.
    if (this.cancelled !== undefined || this.status === 'cancelled') return;
    const { status, reason } = deriveStatus(
      this.conversations.values(),
      this.root,
      { paused: this.paused },
      this.approvals,
    );
    if (status !== this.status) {
      this.status = status;
      try {
        this.ctx.store.write(() => {
          const now = this.ctx.clock.now();
          this.ctx.leases.assert(this.id, now);
          this.writeStatus(status, reason, now);
        });
      } catch (error) {
        this.stop(error);
      }
    }
    if (this.isIdle()) this.notifyIdle();
  }

  private writeStatus(status: SessionStatus, reason: string | null, now: number): void {
    this.ctx.store.sessions.setStatus(this.id, status, reason, now);
    this.ctx.store.append(
      {
        type: 'session.status',
        payload: { status, ...(reason === null ? {} : { reason }) },
        session: this.id,
        branch: this.branch,
        conversation: null,
      },
      now,
    );
    const waiters = this.statusWaiters;
    this.statusWaiters = [];
    // After the commit, on the next turn of the loop.
    if (waiters.length > 0) setImmediate(() => waiters.forEach((wake) => wake()));
  }

  /** Resolves at the next change of status (for a front end following a paused session, say). */
  nextStatus(): Promise<SessionStatus> {
    return new Promise((resolve) => this.statusWaiters.push(() => resolve(this.status)));
  }

  private isIdle(): boolean {
    if (this.detached || this.error !== undefined) return true;
    if (this.status === 'running' || this.cancelled !== undefined) return false;
    for (const conv of this.conversations.values()) if (conv.inFlight) return false;
    return true;
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private enqueue(conv: ConversationRuntime): void {
    if (this.paused || this.abort.signal.aborted) return;
    this.ctx.scheduler.enqueue(this, conv.id);
  }

  private claimLease(now: number): void {
    this.ctx.leases.claim(this.id, now, (error) => this.stop(error));
    this.ctx.control.watch(this.id, (request) => this.onControl(request));
  }

  private releaseLease(grouped = false): void {
    this.ctx.control.unwatch(this.id);
    this.ctx.leases.release(this.id, grouped);
  }

  /** Requests other processes wrote to this session's log. */
  private onControl(request: ControlRequest): void {
    const run = async (): Promise<void> => {
      if (request.action === 'respond') await this.respond(request.callId, request.text);
      else if (request.action === 'cancel') await this.cancel(`cancelled from another process (${request.from})`);
      else if (request.action === 'pause') this.pause();
      else this.resume();
    };
    run().catch(() => undefined);
  }

  /** Stops driving after an error the runtime cannot continue past; the store keeps everything committed. */
  private stop(error: unknown): void {
    if (this.error !== undefined || this.detached) return;
    this.error =
      error instanceof P2Error
        ? error
        : new StoreError('E_INTERNAL', `session ${this.id} stopped: ${messageOf(error)}`, {
            cause: error,
            hint: `Resume it with: p2tui session resume ${this.id}`,
          });
    this.abortAll(this.error);
    for (const conv of this.conversations.values()) conv.clearTimers();
    // Let another process take over at once instead of after the lease expires.
    if (this.error.code !== 'E_LEASE_LOST') this.releaseLease();
    else this.ctx.control.unwatch(this.id);
    this.notifyIdle();
    const waiters = this.statusWaiters;
    this.statusWaiters = [];
    waiters.forEach((wake) => wake());
  }

  private assertDrivable(): void {
    if (this.error !== undefined) throw this.error;
    if (this.detached) throw new UserError('E_SESSION_STATE', `session ${this.id} is no longer driven by this process`);
    if (this.status === 'cancelled')
      throw new UserError('E_SESSION_STATE', `session ${this.id} was cancelled`, { hint: 'Start a new session.' });
  }
}

/** Whether a conversation wants a model call: ready, or failed in a way a retry may fix. */
function steppable(conv: ConversationRuntime): boolean {
  return conv.state.phase === 'ready' || (conv.state.phase === 'failed' && conv.state.retryable);
}

/** "250 ms", "30 s", "10 min". */
function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
