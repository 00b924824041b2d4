import { UserError } from '../../core/errors.ts';
import type { StoredEvent } from '../../core/events.ts';
import { approvalQuestion, approves } from '../approval.ts';
import type { Txn } from '../context.ts';
import type { ConversationRuntime } from '../conversation.ts';
import { outstanding } from '../fsm.ts';
import { duration, type SessionState, type ToolCallRef } from './state.ts';
import type { SessionWriter } from './writer.ts';

/** A person's (or a policy's) decision on a call; `why` says why it may not run. */
export interface Decision {
  readonly approved: boolean;
  readonly why: string;
}

/** A tool call waiting for a person's approval (answered through respond). */
interface PendingApproval {
  readonly conv: ConversationRuntime;
  readonly key: string;
  readonly tool: string;
  readonly reason: string;
  /** Takes the question (once): false when an answer, the timeout or a stop took it first. */
  claim(): boolean;
  resolve(decision: Decision | undefined): void;
}

type ApprovalEvent = Extract<StoredEvent, { type: 'approval.requested' | 'approval.decided' }>;

/**
 * Calls that wait for a person's yes before they run (a payment above a threshold, a tool under approve_tools).
 * The question is an `approval.requested` event, the answer an `approval.decided` one, so a decision given before a
 * crash or by another process is never asked again; unattended sessions are answered by their approval policy.
 */
export class Approvals {
  private readonly state: SessionState;
  private readonly writer: SessionWriter;
  /** Tool calls waiting for a person's approval, by call id. */
  private readonly pending = new Map<string, PendingApproval>();
  /**
   * Calls whose decision this runtime is recording or recorded (an answer, the timeout): a second answer is refused
   * rather than recorded after the first, even while the first one's commit is on its way.
   */
  private readonly decided = new Set<string>();

  constructor(state: SessionState, writer: SessionWriter) {
    this.state = state;
    this.writer = writer;
  }

  /** The calls waiting, by call id (the session's status is `waiting` while there are any). */
  get waiting(): ReadonlyMap<string, unknown> {
    return this.pending;
  }

  /** The open approvals as questions (with the words the CLI, the TUI and `session show` print). */
  questions(): { callId: string; conversation: string; agent: string; question: string; deadline: null }[] {
    return [...this.pending].map(([callId, a]) => ({
      callId,
      conversation: a.conv.id,
      agent: a.conv.agent,
      question: approvalQuestion(a.tool, a.reason),
      deadline: null,
    }));
  }

  /**
   * The decision on a call: one already recorded for its key, the approval policy's when it is not `ask`, or the
   * answer to a question the session waits on (until the persona's user timeout). Undefined when the session
   * stopped meanwhile (the call stays outstanding and is asked again on resume).
   */
  async decide(
    conv: ConversationRuntime,
    call: ToolCallRef,
    tool: string,
    reason: string,
  ): Promise<Decision | undefined> {
    const earlier = this.events().filter((e) => e.payload.key === call.key);
    const decided = earlier.find((e) => e.type === 'approval.decided');
    if (decided?.type === 'approval.decided') {
      return { approved: decided.payload.approved, why: `it was refused (${decided.payload.by}): ${reason}` };
    }
    const policy = this.state.row.options.approval;
    if (policy !== 'ask') {
      await this.writer.commit((tx) =>
        this.recordDecision(tx, conv, call.callId, call.key, policy === 'approve', 'policy', policy),
      );
      return { approved: policy === 'approve', why: `the session's approval policy (${policy}) refused it: ${reason}` };
    }
    if (earlier.length === 0) {
      const payload = { callId: call.callId, key: call.key, agent: conv.agent, tool, reason };
      await this.writer.commit((tx) => this.writer.event(tx, 'approval.requested', payload, conv.id));
    }
    if (conv.abort.signal.aborted) return undefined;
    return this.ask(conv, call, tool, reason);
  }

  /**
   * Answers an approval, if `callId` is one: waiting here, or asked before this runtime took over. Returns false
   * when it is not an approval (it may be a question); throws when it was decided already.
   */
  async answer(callId: string, text: string, by: 'user' | 'policy'): Promise<boolean> {
    if (this.decided.has(callId))
      throw new UserError('E_SESSION_STATE', `the approval '${callId}' was decided already`);
    const waiting = this.pending.get(callId);
    // Claimed before anything is awaited: a timeout or a second answer meanwhile decides nothing.
    const approval = waiting !== undefined ? (waiting.claim() ? waiting : undefined) : this.requested(callId);
    if (waiting !== undefined && approval === undefined) {
      throw new UserError('E_SESSION_STATE', `the approval '${callId}' was decided already`);
    }
    if (approval === undefined) return false;
    this.decided.add(callId);
    const approved = approves(text);
    const who = by === 'user' ? 'the user' : 'the approval policy';
    const decision = { approved, why: `${who} did not approve it (answered '${text.trim()}'): ${approval.reason}` };
    await this.writer.commit((tx) => this.recordDecision(tx, approval.conv, callId, approval.key, approved, by, text));
    if (waiting !== undefined) waiting.resolve(decision);
    else {
      // Asked meanwhile (a session attached a moment ago reaches its question after the answer was given).
      const late = this.pending.get(callId);
      if (late?.claim() === true) late.resolve(decision);
    }
    return true;
  }

  /** Waits for the person's answer, the timeout, or a stop, whichever comes first. */
  private ask(
    conv: ConversationRuntime,
    call: ToolCallRef,
    tool: string,
    reason: string,
  ): Promise<Decision | undefined> {
    const signal = conv.abort.signal;
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
          timer.cancel();
          signal.removeEventListener('abort', onAbort);
          this.pending.delete(call.callId);
          return true;
        },
        resolve,
      };
      const onAbort = (): void => {
        if (pending.claim()) resolve(undefined);
      };
      const timer = this.state.ctx.clock.timeout(() => {
        if (!pending.claim()) return;
        this.decided.add(call.callId);
        const within = duration(timeoutMs);
        void this.writer
          .commit((tx) =>
            this.recordDecision(tx, conv, call.callId, call.key, false, 'timeout', `no answer within ${within}`),
          )
          .then(
            () => resolve({ approved: false, why: `nobody approved it within ${within}: ${reason}` }),
            (error: unknown) => {
              this.state.loop.stop(error);
              resolve(undefined);
            },
          );
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(call.callId, pending);
      this.state.loop.updateStatus();
    });
  }

  /**
   * An approval asked before this runtime took over (another process, or before a restart) whose call is still
   * outstanding here: answerable at once, before the call reaches its question again (it then finds the decision).
   */
  private requested(callId: string): { conv: ConversationRuntime; key: string; reason: string } | undefined {
    const conv = [...this.state.conversations.values()].find(
      (c) =>
        outstanding(c.state).some((o) => o.kind === 'tool_call' && o.callId === callId) &&
        !c.pendingResults.has(callId),
    );
    if (conv === undefined) return undefined;
    let found: { conv: ConversationRuntime; key: string; reason: string } | undefined;
    for (const e of this.events()) {
      if (e.type === 'approval.requested' && e.payload.callId === callId && e.conversation === conv.id)
        found = { conv, key: e.payload.key, reason: e.payload.reason };
      if (e.type === 'approval.decided' && e.payload.key === found?.key) found = undefined;
    }
    return found;
  }

  /** The session's approval events, oldest first. */
  private events(): ApprovalEvent[] {
    const types = ['approval.requested', 'approval.decided'] as const;
    return this.state.ctx.store.log
      .read(0, { session: this.state.id, types }, 100_000)
      .filter((e): e is ApprovalEvent => e.type === 'approval.requested' || e.type === 'approval.decided');
  }

  private recordDecision(
    tx: Txn,
    conv: ConversationRuntime,
    callId: string,
    key: string,
    approved: boolean,
    by: 'user' | 'policy' | 'timeout',
    text: string,
  ): void {
    this.writer.event(tx, 'approval.decided', { callId, key, approved, by, text }, conv.id);
  }
}
