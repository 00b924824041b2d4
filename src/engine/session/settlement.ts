import type { EntryDraft, EntryPayloads } from '../../core/entries.ts';
import { UserError } from '../../core/errors.ts';
import type { Txn } from '../context.ts';
import type { ConversationRuntime } from '../conversation.ts';
import { outstanding, type TurnCall } from '../fsm.ts';
import type { Failure } from '../model-step.ts';
import { duration, type SessionState } from './state.ts';
import type { SessionWriter } from './writer.ts';

const POLICY_ANSWERS = {
  approve: 'Yes. (Answered by the approval policy: no user is at a terminal.)',
  deny: 'No. (Answered by the approval policy: no user is at a terminal; continue without the user.)',
} as const;

/**
 * How calls end: their results stored and appended in call order, a child's answer popped back to its caller, the
 * timers that settle a question or a delegation nobody answered, and cancellation of everything outstanding.
 */
export class Settlement {
  private readonly state: SessionState;
  private readonly writer: SessionWriter;

  constructor(state: SessionState, writer: SessionWriter) {
    this.state = state;
    this.writer = writer;
  }

  /** Stores a call's result and appends every result now releasable, in call order. */
  settle(tx: Txn, conv: ConversationRuntime, callId: string, result: EntryDraft): void {
    const key = conv.callKeys.get(callId);
    if (key === undefined || conv.pendingResults.has(callId)) return;
    if (!outstanding(conv.state).some((c) => c.callId === callId)) return;
    // Already settled (a timeout won the race): the late result is dropped. Not so for a delegation: its child on
    // this branch decides its result, and the same call may have been settled on the branch this one forked from.
    if (!this.state.ctx.store.calls.settle(key, result, tx.now) && result.kind !== 'agent_result') return;
    conv.pendingResults.set(callId, result);
    const timer = conv.timers.get(callId);
    if (timer !== undefined) {
      tx.after.push(() => {
        timer.cancel();
        conv.timers.delete(callId);
      });
    }
    this.release(tx, conv);
  }

  /** Appends the results that are next in call order (a result waits for its earlier siblings'). */
  release(tx: Txn, conv: ConversationRuntime): void {
    for (const call of outstanding(conv.state)) {
      const result = conv.pendingResults.get(call.callId);
      if (result === undefined) return;
      conv.pendingResults.delete(call.callId);
      this.writer.entry(tx, conv, result);
    }
  }

  /** A child's finish (or final failure) pops back to its caller as an agent_result, in the same commit. */
  propagate(tx: Txn, child: ConversationRuntime, status: 'ok' | 'failed', error?: string): void {
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
    this.settle(tx, parent, callId, { kind: 'agent_result', payload });
  }

  /** A `failed` entry; a final failure pops back to the caller, which decides what to do (a retryable one waits). */
  fail(tx: Txn, conv: ConversationRuntime, failure: Failure): void {
    this.writer.entry(tx, conv, { kind: 'failed', payload: failure });
    if (!failure.retryable) this.propagate(tx, conv, 'failed', failure.message);
  }

  /**
   * A question to the user: answered from the recording when replaying, by the approval policy when it is not
   * `ask`, or left waiting for a person (until its deadline, when it has one).
   */
  answerByPolicyOrWait(tx: Txn, conv: ConversationRuntime, callId: string): void {
    const { state } = this;
    const question = conv.questions.get(callId)?.question;
    const recorded =
      question === undefined ? undefined : state.recording?.result(conv.path, callId, 'ask_user', { question });
    if (recorded !== undefined) {
      // Replayed: the answer given in the recorded session (by the user, a policy or a timeout).
      this.settle(tx, conv, callId, recorded);
      return;
    }
    const approval = state.row.options.approval;
    if (approval !== 'ask') {
      const payload = { callId, text: POLICY_ANSWERS[approval], by: 'policy' } as const;
      this.settle(tx, conv, callId, { kind: 'user_response', payload });
      return;
    }
    const deadline = conv.questions.get(callId)?.deadline ?? null;
    if (deadline === null) return;
    const within = duration(conv.persona.policies.user_timeout_ms);
    tx.after.push(() =>
      this.armTimer(conv, callId, deadline - state.ctx.clock.now(), () => ({
        kind: 'user_response',
        payload: { callId, text: `No answer arrived within ${within}; proceed without it.`, by: 'timeout' },
      })),
    );
  }

  /** The caller stops waiting for a delegation after its persona's delegation timeout, and cancels the child. */
  armDelegationTimer(tx: Txn, parent: ConversationRuntime, callId: string): void {
    const timeoutMs = parent.persona.policies.delegation_timeout_ms;
    const result = (): EntryDraft => noAnswer(parent, callId, 'timeout', `no answer within ${duration(timeoutMs)}`);
    const cancelChild = (later: Txn): void => {
      const child = parent.childByCall.get(callId);
      if (child !== undefined) this.cancel(later, child, 'the delegating agent stopped waiting (timeout)');
    };
    tx.after.push(() => this.armTimer(parent, callId, timeoutMs, result, cancelChild));
  }

  /**
   * Ends a conversation and everything it waits on: outstanding calls settled as cancelled (an effectful call that
   * may have run as unknown), its delegated children cancelled too, and a final `failed` entry when it was working.
   */
  cancel(tx: Txn, conv: ConversationRuntime, reason: string): void {
    const phase = conv.state.phase;
    if (phase === 'finished' || phase === 'idle' || (phase === 'failed' && !conv.state.retryable)) return;
    conv.abort.abort(new UserError('E_CANCELLED', reason));
    for (const call of outstanding(conv.state)) {
      if (conv.pendingResults.has(call.callId)) continue;
      const child = conv.childByCall.get(call.callId);
      if (call.kind === 'agent_call' && child !== undefined) this.cancel(tx, child, reason);
      this.settle(tx, conv, call.callId, this.cancelled(conv, call, reason));
    }
    conv.clearTimers();
    if (conv.state.phase === 'ready' || conv.state.phase === 'failed') {
      this.writer.entry(tx, conv, {
        kind: 'failed',
        payload: { code: 'E_CANCELLED', message: reason, retryable: false },
      });
    }
  }

  /** The result a cancelled call gets. */
  private cancelled(conv: ConversationRuntime, call: TurnCall, reason: string): EntryDraft {
    const { callId } = call;
    if (call.kind === 'agent_call') return noAnswer(conv, callId, 'cancelled', reason);
    if (call.kind !== 'tool_call') {
      return { kind: 'user_response', payload: { callId, text: `(cancelled: ${reason})`, by: 'policy' } };
    }
    const intent = this.state.ctx.store.calls.intent(conv.callKeys.get(callId) ?? '');
    // An effectful call already running may have taken effect: say so rather than call it cancelled.
    const mayHaveRun =
      intent?.effect === 'effectful' && intent.status === 'running' && !conv.effectsNotStarted.has(callId);
    return {
      kind: 'tool_result',
      payload: mayHaveRun
        ? {
            callId,
            tool: intent.tool,
            status: 'unknown',
            error: `${reason} while it was running; it may or may not have taken effect`,
          }
        : { callId, tool: intent?.tool ?? '', status: 'cancelled', error: reason },
    };
  }

  /** Settles a call with `result()` after `delayMs` unless something settles it first (a timer per call). */
  private armTimer(
    conv: ConversationRuntime,
    callId: string,
    delayMs: number,
    result: () => EntryDraft,
    also?: (tx: Txn) => void,
  ): void {
    if (this.state.abort.signal.aborted) return;
    const timer = this.state.ctx.clock.timeout(() => {
      conv.timers.delete(callId);
      void this.writer.commitOrStop((tx) => {
        also?.(tx);
        this.settle(tx, conv, callId, result());
      });
    }, delayMs);
    conv.timers.get(callId)?.cancel();
    conv.timers.set(callId, timer);
  }
}

/** The result of a delegation that ended without the child's answer (the caller stopped waiting, or cancelled). */
function noAnswer(
  parent: ConversationRuntime,
  callId: string,
  status: 'timeout' | 'cancelled',
  error: string,
): EntryDraft {
  const child = parent.childByCall.get(callId);
  return {
    kind: 'agent_result',
    payload: { callId, agent: child?.agent ?? '', child: child?.id ?? '', status, text: '', error },
  };
}
